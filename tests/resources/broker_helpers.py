"""Shared pieces of the broker tests: the planted credentials, intents, and a broker on the loopback venue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from quant.book.orders import OrderIntent
from resources.broker.ccxt_broker import CcxtBroker
from resources.broker.journal import OrderJournal
from tests.support.order_exchange import OrderExchange, loopback_session

#: Planted credentials: they must never show up in a log line, an error, a journal row or a report.
KEY = "PLANTEDkey7f3a9c2e51d84b06aa1e"
SECRET = "PLANTEDsecret0c9d8e7f6a5b4c3d2e1f"
BTC = "BTC/USDT:USDT"
HOUR = pd.Timestamp("2025-09-30 12:00", tz="UTC")
#: Generous, so a slow CI box never times out by accident (the timeout tests set their own).
TIMEOUT_S = 5.0
SHORT_TIMEOUT_S = 0.3


def intent(leg: str = "perp", *, side: str = "buy", qty: float = 0.01, order_type: str = "market",
           limit: float | None = None, layer: str = "L1", symbol: str = BTC, hour: pd.Timestamp = HOUR) -> OrderIntent:
    return OrderIntent(hour, "binance", symbol, side, qty, order_type, limit, layer, leg, f"test {leg}")


def make_broker(venue: OrderExchange, journal: OrderJournal, sleeps: list[float] | None = None,
                **overrides: Any) -> CcxtBroker:
    options: dict[str, Any] = dict(
        venues={"binance": "binanceusdm"}, api_key=KEY, api_secret=SECRET, timeout_s=TIMEOUT_S,
        hard_timeout_s=2 * TIMEOUT_S, sleep=(sleeps if sleeps is not None else []).append,
        http_session=lambda: loopback_session(venue.url), enable_rate_limit=False)
    options.update(overrides)
    return CcxtBroker(journal, **options)


def venue_fixture(**kwargs: Any) -> Iterator[OrderExchange]:
    with OrderExchange(KEY, SECRET, **kwargs) as exchange:
        yield exchange
        assert exchange.errors == []
        assert exchange.unmatched == []


def journal_at(tmp_path: Path) -> Iterator[OrderJournal]:
    journal = OrderJournal(f"sqlite:///{tmp_path / 'orders.db'}")
    yield journal
    journal.dispose()
