"""The ``Exchange`` and ``OptionsVenue`` protocols: the one shape every market-data edge has.

Implementations:

* :class:`resources.exchange.replay.ReplayExchange` — the bundled real sample (default).
* :class:`resources.exchange.ccxt_exchange.CcxtExchange` — live venues through ccxt.
* :class:`resources.exchange.deribit.DeribitHttp` — Deribit options over httpx (``OptionsVenue``).

Conventions shared by every implementation:

* Windows are half-open ``[start, end)`` of timezone-aware UTC datetimes. Nothing stamped at or
  after ``end`` is ever returned (the lookahead guard of every backtest).
* Symbols are ccxt unified perpetual symbols: ``"BTC/USDT:USDT"``.
* Frames follow :mod:`quant.frames`; "no data" is an empty frame with the right columns.
* Failures are :class:`resources.exchange.errors.ExchangeError` subclasses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Exchange(Protocol):
    """Market data for perpetual futures venues."""

    def venues(self) -> list[str]:
        """Venue ids this exchange edge serves (``"binance"``, ``"bybit"`` …)."""
        ...

    def symbols(self, venue: str) -> list[str]:
        """Perpetual symbols listed on ``venue``."""
        ...

    def candles(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """1h bars whose open time is in ``[start, end)`` (``quant.frames.CANDLES``)."""
        ...

    def funding_history(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Realised settlements with raw timestamp in ``[start, end)`` (``quant.frames.FUNDING``)."""
        ...

    def open_interest_history(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Hourly open interest in USD in ``[start, end)`` (``quant.frames.OPEN_INTEREST``)."""
        ...

    def tickers_24h(self, venue: str, as_of: datetime) -> pd.DataFrame:
        """24h ticker per symbol as of ``as_of`` (``quant.frames.TICKERS``)."""
        ...

    def mark_index(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Mark / index price observations in ``[start, end)`` (``quant.frames.MARK_INDEX``)."""
        ...

    def trades(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Public trades in ``[start, end)`` (``quant.frames.TRADES``)."""
        ...


@runtime_checkable
class OptionsVenue(Protocol):
    """An options venue (Deribit): instruments, chain summaries, tickers, books."""

    def instruments(self, currency: str, *, expired: bool = False) -> list[dict[str, Any]]:
        """``public/get_instruments`` rows."""
        ...

    def book_summary(self, currency: str, kind: str = "option") -> pd.DataFrame:
        """``public/get_book_summary_by_currency``: one row per instrument."""
        ...

    def ticker(self, instrument_name: str) -> dict[str, Any]:
        """``public/ticker`` for one instrument (mark/bid/ask IV and greeks)."""
        ...

    def order_book(self, instrument_name: str, depth: int = 10) -> dict[str, Any]:
        """``public/get_order_book`` for one instrument."""
        ...


def require_utc(name: str, value: datetime) -> datetime:
    """Reject naive datetimes at the edge: every datetime in Perpetua is timezone-aware UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware UTC, got naive {value!r}")
    return value


def check_window(start: datetime, end: datetime) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Validate a half-open window and return it as UTC ``pd.Timestamp``s."""
    require_utc("start", start)
    require_utc("end", end)
    s, e = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    if e <= s:
        raise ValueError(f"empty window: end {e} is not after start {s}")
    return s, e
