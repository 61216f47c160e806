"""``CcxtExchange``: the :class:`~resources.exchange.base.Exchange` protocol over ccxt (live venues).

Public endpoints only (no keys needed for market data); no order methods yet. Every read runs
inside :func:`~resources.exchange.errors.retry_read`, with ccxt's exceptions translated at the
boundary (:mod:`resources.exchange.ccxt_errors`) and long windows paged explicitly
(:mod:`resources.exchange.paging`), never through ccxt's own ``paginate`` option, so the number
of requests and what happens at the window edges are ours to test.

Choices worth knowing:

* ``mark_index`` reads 1h mark-price and index-price klines and reports each bar's **open** at
  the bar's open time: the price observed at ``ts``. (A bar's close is only known an hour
  later; stamping it at ``ts`` would leak the future.)
* ``funding_history`` fills ``interval_hours`` from the spacing to the previous settlement,
  rounded to whole hours (the settlement grid; the raw timestamps carry millisecond jitter).
  It reads from :data:`FUNDING_LOOKBACK` before ``start`` so the first row has a predecessor;
  NaN where none exists.
* ``tickers_24h`` can only answer "now": it raises ``ValueError`` for an ``as_of`` further than
  :data:`TICKER_AS_OF_TOLERANCE` from the clock.
* ``urls_override`` points every REST host of a venue at one base URL, keeping each path
  (:func:`~resources.exchange.ccxt_profiles.rewrite_urls`): tests run ccxt's true code path
  against a loopback server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from quant.frames import CANDLES, FUNDING, MARK_INDEX, OPEN_INTEREST, TICKERS, TRADES, conform
from resources.exchange.base import check_window, require_utc
from resources.exchange.ccxt_reader import DEFAULT_TIMEOUT_S, DEFAULT_VENUES, CcxtReader
from resources.exchange.errors import MalformedResponse
from resources.exchange.paging import HOUR_MS, PageSpec

__all__ = ["DEFAULT_TIMEOUT_S", "DEFAULT_VENUES", "CcxtExchange"]

TIMEFRAME = "1h"
#: Longest funding interval any venue uses (8h) plus slack for timestamp jitter.
FUNDING_LOOKBACK = timedelta(hours=9)
#: Funding settlements sit on a grid of at least this many hours (4h and 8h venues).
FUNDING_GRID_HOURS = 4
TICKER_AS_OF_TOLERANCE = timedelta(hours=2)


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _stamp(row: Mapping[str, Any]) -> int:
    return int(row["timestamp"])


def _utc(ms: pd.Series) -> pd.Series:
    """Epoch milliseconds -> ``datetime64[ns, UTC]``."""
    return pd.to_datetime(ms.astype("int64"), unit="ms", utc=True)


class CcxtExchange(CcxtReader):
    """Market data from live venues through ccxt (:class:`~resources.exchange.base.Exchange`).

    Constructed like :class:`~resources.exchange.ccxt_reader.CcxtReader`::

        CcxtExchange(venues=DEFAULT_VENUES, *, api_key=None, api_secret=None,
                     urls_override=None, timeout_s=10.0, enable_rate_limit=True, read_attempts=4,
                     sleep=time.sleep, clock=<utc now>, page_limits=None, max_retry_after_s=60.0)
    """

    # -- Exchange protocol ---------------------------------------------------------------------
    def candles(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """1h bars with open time in ``[start, end)`` (``quant.frames.CANDLES``)."""
        s, e = check_window(start, end)
        bars = self._ohlcv(venue, symbol, s, e, price=None)
        frame = pd.DataFrame(bars, columns=list(CANDLES), dtype="float64")
        frame["ts"] = _utc(frame["ts"])
        return conform(frame, CANDLES, name=f"{venue} candles {symbol}")

    def _ohlcv(self, venue: str, symbol: str, s: pd.Timestamp, e: pd.Timestamp, *, price: str | None) -> list[list]:
        limit = self._limit(venue, "ohlcv")
        spec = PageSpec(limit, limit * HOUR_MS, HOUR_MS)
        extra = {} if price is None else {"price": price}
        bars = self._history(venue, "fetch_ohlcv", lambda c, since, n, until: c.fetch_ohlcv(
            symbol, TIMEFRAME, since, n, {**extra, "until": until}), rows="klines", ts_of=lambda bar: int(bar[0]),
            start_ms=_ms(s), end_ms=_ms(e), spec=spec)
        unique = {int(bar[0]): bar for bar in bars}  # venues may repeat a bar at a page edge
        return [unique[ts][:6] for ts in sorted(unique)]

    def funding_history(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Settlements with raw timestamp in ``[start, end)`` (``quant.frames.FUNDING``)."""
        s, e = check_window(start, end)
        self._require_swap(venue, "fetch_funding_rate_history")
        profile, limit = self._profile(venue), self._limit(venue, "funding")
        grid_hours = FUNDING_GRID_HOURS if profile.oldest_first else 1
        spec = PageSpec(limit, (limit - 1) * grid_hours * HOUR_MS or HOUR_MS, HOUR_MS)
        rows = self._history(venue, "fetch_funding_rate_history", lambda c, since, n, until: (
            c.fetch_funding_rate_history(symbol, since, n, {"until": until})), rows="funding settlements",
            ts_of=_stamp, start_ms=_ms(s - FUNDING_LOOKBACK), end_ms=_ms(e), spec=spec)
        frame = pd.DataFrame({"ts": [int(r["timestamp"]) for r in rows],
                              "funding_rate": [_num(r.get("fundingRate")) for r in rows]})
        frame = frame.drop_duplicates("ts").sort_values("ts", kind="stable")
        frame["interval_hours"] = np.round(frame["ts"].diff() / HOUR_MS)
        frame["ts"] = _utc(frame["ts"])
        frame = frame[frame["ts"] >= s]
        return conform(frame, FUNDING, name=f"{venue} funding {symbol}")

    def open_interest_history(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Hourly open interest in USD (``openInterestValue``) in ``[start, end)``.

        NaN where the venue reports only a contract amount (Bybit linear): converting needs a
        price, which is the caller's decision, not the edge's.
        """
        s, e = check_window(start, end)
        self._require_swap(venue, "fetch_open_interest_history")
        limit = self._limit(venue, "oi")
        spec = PageSpec(limit, limit * HOUR_MS, HOUR_MS)
        rows = self._history(venue, "fetch_open_interest_history", lambda c, since, n, until: (
            c.fetch_open_interest_history(symbol, TIMEFRAME, since, n, {"until": until})), rows="open interest",
            ts_of=_stamp, start_ms=_ms(s), end_ms=_ms(e), spec=spec)
        frame = pd.DataFrame({"ts": [int(r["timestamp"]) for r in rows],
                              "oi_usd": [_num(r.get("openInterestValue")) for r in rows]})
        frame = frame.drop_duplicates("ts").sort_values("ts", kind="stable")
        frame["ts"] = _utc(frame["ts"])
        return conform(frame, OPEN_INTEREST, name=f"{venue} open interest {symbol}")

    def tickers_24h(self, venue: str, as_of: datetime) -> pd.DataFrame:
        """Rolling 24h tickers of every listed symbol, as the venue reports them now."""
        at = pd.Timestamp(require_utc("as_of", as_of)).tz_convert("UTC")
        now = pd.Timestamp(self._clock())
        if abs(at - now) > TICKER_AS_OF_TOLERANCE:
            raise ValueError(f"a live venue only knows 'now' ({now}); as_of={at} is further than "
                             f"{TICKER_AS_OF_TOLERANCE} away: use ReplayExchange for history")
        tickers = self._read(venue, "fetch_tickers", lambda c: c.fetch_tickers(), rows="24h tickers")
        listed = set(self.symbols(venue))
        rows = [
            {"symbol": sym, "ts": int(t.get("timestamp") or _ms(now)), "last": _num(t.get("last")),
             "quote_volume_24h": _num(t.get("quoteVolume"))}
            for sym, t in sorted(tickers.items()) if sym in listed
        ]
        frame = pd.DataFrame(rows, columns=list(TICKERS))
        frame["ts"] = _utc(frame["ts"])
        return conform(frame, TICKERS, name=f"{venue} tickers")

    def mark_index(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Mark and index price at each hour open in ``[start, end)`` (open of the 1h klines)."""
        s, e = check_window(start, end)
        self._require_swap(venue, "mark_index")
        mark = {int(b[0]): _num(b[1]) for b in self._ohlcv(venue, symbol, s, e, price="mark")}
        index = {int(b[0]): _num(b[1]) for b in self._ohlcv(venue, symbol, s, e, price="index")}
        stamps = sorted(mark.keys() | index.keys())
        frame = pd.DataFrame({
            "ts": _utc(pd.Series(stamps, dtype="int64")),
            "mark_price": [mark.get(t, math.nan) for t in stamps],
            "index_price": [index.get(t, math.nan) for t in stamps],
        })
        return conform(frame, MARK_INDEX, name=f"{venue} mark/index {symbol}")

    def trades(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Public trades in ``[start, end)``, one row per venue trade id (Binance: aggregate id).

        ``is_buyer_maker`` is True when the taker sold (ccxt ``side == "sell"``). Needs a venue
        with time-ranged trade history and integer ids (Binance).
        """
        s, e = check_window(start, end)
        spec = PageSpec(self._limit(venue, "trades"), HOUR_MS, 0)
        rows = self._history(venue, "fetch_trades", lambda c, since, n, until: c.fetch_trades(
            symbol, since, n, {"until": until}), rows="trades", ts_of=_stamp, start_ms=_ms(s), end_ms=_ms(e),
            spec=spec)
        try:
            ids = [int(t["id"]) for t in rows]
        except (TypeError, ValueError) as exc:
            raise MalformedResponse(f"trade ids are not integers ({exc})",
                                    call=f"{self._ccxt_id(venue)}.fetch_trades") from exc
        frame = pd.DataFrame({
            "ts": [int(t["timestamp"]) for t in rows], "trade_id": ids,
            "price": [_num(t.get("price")) for t in rows], "qty": [_num(t.get("amount")) for t in rows],
            "is_buyer_maker": [t.get("side") == "sell" for t in rows],
        }, columns=list(TRADES))
        frame = frame.drop_duplicates("trade_id").sort_values(["ts", "trade_id"], kind="stable")
        frame["ts"] = _utc(frame["ts"])
        return conform(frame, TRADES, name=f"{venue} trades {symbol}")
