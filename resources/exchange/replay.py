"""``ReplayExchange``: the ``Exchange`` protocol over the bundled real sample in ``data/sample``.

It is the default edge wherever no keys are configured, and it is the lookahead guard of every
backtest: every method answers strictly inside the half-open window asked for, and where the
sample has nothing (no open interest before 2025-12-07, no candles for the 36-symbol funding set,
nothing at all in the withheld months between the two windows) it returns an empty frame rather
than inventing numbers.

The sample holds two separate windows of real data (``SAMPLE_WINDOWS``), one file per window for
candles and funding; how each dataset is read (concatenated, exact copies dropped where windows
touch, funding intervals inferred inside each file) is ``resources.exchange.replay_files``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from quant import frames
from quant.frames import SourceFrameError
from resources.exchange.base import check_window, require_utc
from resources.exchange.errors import BadSymbol
from resources.exchange.replay_files import (
    CANDLES_FILE,
    CANDLES_FILES,
    DEFAULT_SAMPLE_DIR,
    FUNDING_36_FILE,
    FUNDING_36_FILES,
    FUNDING_FILE,
    FUNDING_FILES,
    LAYOUT_HINT,
    OI_FILE,
    REQUIRED_FILES,
    SAMPLE_WINDOWS,
    TRADES_FILES,
    VENUE_QUOTE,
    _dataset,
    _load_trades,
    _Series,
    coin_symbol,
    require_files,
    venue_symbol_to_unified,
)

#: The folder layout and the symbol mapping live in ``replay_files``; named here too, for callers of the exchange.
__all__ = [
    "CANDLES_FILE", "CANDLES_FILES", "DEFAULT_SAMPLE_DIR", "FUNDING_36_FILE", "FUNDING_36_FILES", "FUNDING_FILE",
    "FUNDING_FILES", "LAYOUT_HINT", "OI_FILE", "REQUIRED_FILES", "SAMPLE_WINDOWS", "TRADES_FILES", "VENUE_QUOTE",
    "ReplayExchange", "coin_symbol", "require_files", "venue_symbol_to_unified",
]

#: Hours in a 24h ticker window.
TICKER_WINDOW_H = 24


class ReplayExchange:
    """Replay data (the bundled sample, or a folder laid out like it) as an exchange. Loaded once per folder and shared."""

    def __init__(self, sample_dir: str | Path | None = None) -> None:
        self.sample_dir = Path(sample_dir) if sample_dir else DEFAULT_SAMPLE_DIR
        require_files(self.sample_dir)

    # Each dataset is read on first use, so a broken candles file fails the candles, not the funding.
    @property
    def _candles(self) -> dict[tuple[str, str], _Series]:
        return _dataset(str(self.sample_dir), "candles")

    @property
    def _funding(self) -> dict[tuple[str, str], _Series]:
        return _dataset(str(self.sample_dir), "funding")

    @property
    def _oi(self) -> dict[tuple[str, str], _Series]:
        return _dataset(str(self.sample_dir), "open_interest")

    @property
    def _mark(self) -> dict[tuple[str, str], _Series]:
        return _dataset(str(self.sample_dir), "mark_index")

    # -- catalogue -------------------------------------------------------------------------
    def _keys(self) -> set[tuple[str, str]]:
        """Every (venue, symbol) of the datasets that can be read (a broken one fails its own calls)."""
        keys: set[tuple[str, str]] = set()
        for name in ("candles", "funding", "open_interest"):
            try:
                keys |= set(_dataset(str(self.sample_dir), name))
            except SourceFrameError:
                continue
        return keys

    def venues(self) -> list[str]:
        return sorted({v for v, _ in self._keys()})

    def symbols(self, venue: str) -> list[str]:
        return sorted(s for v, s in self._keys() if v == venue)

    def _known(self, venue: str, symbol: str) -> None:
        if symbol not in self.symbols(venue):
            raise BadSymbol(f"{venue} does not list {symbol!r} in the replay data ({self.sample_dir})", call=f"replay.{venue}")

    # -- market data -----------------------------------------------------------------------
    def candles(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        return self._slice(self._candles, frames.CANDLES, venue, symbol, start, end)

    def funding_history(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        return self._slice(self._funding, frames.FUNDING, venue, symbol, start, end)

    def open_interest_history(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        return self._slice(self._oi, frames.OPEN_INTEREST, venue, symbol, start, end)

    def mark_index(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        return self._slice(self._mark, frames.MARK_INDEX, venue, symbol, start, end)

    def tickers_24h(self, venue: str, as_of: datetime) -> pd.DataFrame:
        """24h quote volume from the hourly bars that closed at or before ``as_of``.

        The sample has no recorded tickers, so the replay derives them from its candles:
        ``quote_volume_24h = sum(volume * close)`` over the last 24 closed bars — an estimate
        of the venue's figure, which sums each trade's own price.
        """
        as_of_ts = pd.Timestamp(require_utc("as_of", as_of)).tz_convert("UTC")
        # A bar opening at t closes at t + 1h: only bars with t <= as_of - 1h are closed.
        last_open = (as_of_ts - pd.Timedelta(hours=1)).floor("h")
        start = last_open - pd.Timedelta(hours=TICKER_WINDOW_H - 1)
        end = last_open + pd.Timedelta(1, "ns")
        rows = []
        for (v, symbol), series in self._candles.items():
            if v != venue:
                continue
            bars = series.window(start, end)
            if bars.empty:
                continue
            rows.append(
                {
                    "symbol": symbol,
                    "ts": as_of_ts,
                    "last": float(bars["close"].iloc[-1]),
                    "quote_volume_24h": float((bars["volume"] * bars["close"]).sum()),
                }
            )
        if not rows:
            return frames.empty(frames.TICKERS)
        return frames.conform(pd.DataFrame(rows), frames.TICKERS, name="replay.tickers_24h")

    def trades(self, venue: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        s, e = check_window(start, end)
        path = TRADES_FILES.get((venue, symbol))
        if path is None:
            self._known(venue, symbol)
            return frames.empty(frames.TRADES)
        require_files(self.sample_dir, (path,))
        series = _load_trades(str(self.sample_dir / path))
        return series.window(s, e)

    def _slice(
        self,
        table: dict[tuple[str, str], _Series],
        schema: dict[str, str],
        venue: str,
        symbol: str,
        start: datetime,
        end: datetime,
    ) -> pd.DataFrame:
        s, e = check_window(start, end)
        self._known(venue, symbol)
        series = table.get((venue, symbol))
        if series is None:
            return frames.empty(schema)
        return series.window(s, e)


