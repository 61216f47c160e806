"""CcxtExchange on Bybit v5 (newest-first history, errors inside HTTP 200 envelopes), against a
loopback server serving the bundled real Bybit candles and funding."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from resources.exchange.ccxt_exchange import CcxtExchange
from resources.exchange.errors import PermanentExchangeError, RateLimited
from tests.support.binance_shapes import frame
from tests.support.bybit_shapes import envelope, install_bybit, kline
from tests.support.replay_server import ReplayServer

BTC = "BTC/USDT:USDT"
KLINE = "/v5/market/kline"
T0 = datetime(2025, 3, 10, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        install_bybit(srv)
        yield srv
        assert srv.errors == []
        assert srv.unmatched == []


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def bybit(server: ReplayServer, sleeps: list[float]) -> CcxtExchange:
    return CcxtExchange({"bybit": "bybit"}, urls_override=server.url, enable_rate_limit=False,
                        read_attempts=3, sleep=sleeps.append)


def sample(kind: str, coin: str, start: datetime, end: datetime) -> pd.DataFrame:
    df = frame(kind, "bybit")
    return df[(df["coin"] == coin) & (df["timestamp"] >= start) & (df["timestamp"] < end)]


def test_symbols_are_the_listed_linear_perpetuals(bybit: CcxtExchange) -> None:
    assert bybit.symbols("bybit") == [BTC, "DOGE/USDT:USDT", "ETH/USDT:USDT", "HYPE/USDT:USDT", "SOL/USDT:USDT"]


def test_candles_page_a_newest_first_venue_without_gaps(bybit: CcxtExchange, server: ReplayServer) -> None:
    end = T0 + timedelta(hours=3000)
    got = bybit.candles("bybit", BTC, T0, end)
    expected = sample("candles", "BTC", T0, end)
    assert got["ts"].tolist() == expected["timestamp"].tolist()
    assert got["close"].tolist() == expected["c"].tolist()
    assert got["volume"].tolist() == expected["v"].tolist()
    assert len(server.requests_to(KLINE)) == 3


def test_funding_pages_a_newest_first_venue(bybit: CcxtExchange, server: ReplayServer) -> None:
    start, end = datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
    got = bybit.funding_history("bybit", BTC, start, end)
    expected = sample("funding", "BTC", start, end)
    assert got["ts"].tolist() == expected["timestamp"].tolist()
    assert got["funding_rate"].tolist() == expected["funding_rate"].tolist()
    assert (got["interval_hours"] == 8.0).all()
    assert len(server.requests_to("/v5/market/funding/history")) > 1


def test_rate_limit_in_a_200_envelope_is_retried(bybit: CcxtExchange, server: ReplayServer,
                                                 sleeps: list[float]) -> None:
    server.route(KLINE, envelope({}, 10006, "Too many visits!"), kline)
    assert len(bybit.candles("bybit", BTC, T0, T0 + timedelta(hours=2))) == 2
    assert len(server.requests_to(KLINE)) == 2
    assert len(sleeps) == 1


def test_rate_limit_that_never_clears_is_reported_as_such(bybit: CcxtExchange, server: ReplayServer) -> None:
    server.route(KLINE, envelope({}, 10006, "Too many visits!"))
    with pytest.raises(RateLimited, match=r"bybit\.fetch_ohlcv: .*after 3 attempts"):
        bybit.candles("bybit", BTC, T0, T0 + timedelta(hours=2))


def test_parameter_errors_are_permanent(bybit: CcxtExchange, server: ReplayServer) -> None:
    server.route(KLINE, envelope({}, 10001, "params error: Symbol Invalid"))
    with pytest.raises(PermanentExchangeError, match="Symbol Invalid"):
        bybit.candles("bybit", BTC, T0, T0 + timedelta(hours=2))
    assert len(server.requests_to(KLINE)) == 1


@pytest.mark.live
def test_live_bybit_funding() -> None:
    now = datetime.now(UTC)
    got = CcxtExchange({"bybit": "bybit"}).funding_history("bybit", BTC, now - timedelta(days=2), now)
    assert len(got) >= 5
    assert got["interval_hours"].dropna().isin([1.0, 2.0, 4.0, 8.0]).all()
