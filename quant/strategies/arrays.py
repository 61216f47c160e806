"""The strategies' per-instrument kernels on numpy arrays of a whole window (flow, stat-arb, volatility).

:mod:`quant.strategies.studies`' kernels (per-instrument rolling windows, the previous bar,
onsets, Wilder's ATR, decisions at the close) computed with one call per series instead of one
per instrument, with the same bits: rolling windows and Wilder's EWM are still pandas' own, run
once over every instrument (a window never reaches across two instruments).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer

from quant.strategies.base import DECISION_COLUMNS, DECISION_DTYPES, ns, wanted
from quant.strategies.studies import MIN_CONFIDENCE, WILDER_PERIOD, prepared

#: One hour in ns (the unit of :attr:`Panel.hour`).
HOUR_NS = pd.Timedelta(hours=1).value


class Panel:
    """A window's bars as numpy arrays in :func:`~quant.strategies.studies.prepared`'s order (venue, symbol, hour).

    ``hour``: ns since the epoch, UTC; ``instrument``: each row's instrument, 0, 1, … in that order;
    ``first``: the row of its instrument's first bar; ``names``: (venue, symbol) of each instrument.
    ``panel["close"]`` is a column as float64.
    """

    def __init__(self, bars: pd.DataFrame) -> None:
        (vcode, venues), (scode, symbols) = pd.factorize(bars["venue"]), pd.factorize(bars["symbol"])
        self.frame, self.hour, n = bars, ns(bars["hour"]), len(bars)
        change = np.r_[True, (vcode[1:] != vcode[:-1]) | (scode[1:] != scode[:-1])] if n else np.zeros(0, bool)
        self.starts = np.flatnonzero(change)
        venues, symbols = venues.tolist(), symbols.tolist()
        self.names = [(venues[vcode[i]], symbols[scode[i]]) for i in self.starts]
        self.instrument = np.cumsum(change) - 1
        self.first = self.starts[self.instrument]
        self.in_order = (not ((vcode < 0) | (scode < 0)).any() and not (np.diff(self.hour) < 0)[~change[1:]].any()
                         and all(a < b for a, b in zip(self.names, self.names[1:], strict=False)))
        self._columns: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, bars: pd.DataFrame) -> Panel:
        """The panel of ``bars``, sorted first if they are not in (venue, symbol, hour) order.

        A bar without a venue or symbol belongs to no instrument and is left out (the studies'
        per-instrument groupby never gives it a value either).
        """
        panel = cls(bars)
        if panel.in_order:
            return panel
        named = bars["venue"].notna() & bars["symbol"].notna()
        return cls(prepared(bars if named.all() else bars[named]))

    @property
    def empty(self) -> bool:
        return len(self.hour) == 0

    def bounds(self) -> list[tuple[int, int]]:
        """(first row, end row) of each instrument."""
        return list(zip(self.starts.tolist(), [*self.starts[1:].tolist(), len(self.hour)], strict=True))

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self._columns:
            self._columns[column] = self.frame[column].to_numpy("float64", na_value=np.nan)
        return self._columns[column]

    def coin_codes(self, vocab: dict[str, int]) -> np.ndarray:
        """Each row's base coin (``BTC`` of ``BTC/USDT:USDT``) as its code in ``vocab`` (new coins are added)."""
        codes = [vocab.setdefault(base_coin(symbol), len(vocab)) for _, symbol in self.names]
        return np.asarray(codes, dtype=np.int64)[self.instrument]


def base_coin(symbol: str) -> str:
    """``"BTC/USDT:USDT"`` → ``"BTC"``."""
    return str(symbol).split("/", 1)[0]


def coin_codes(symbols: pd.Series, vocab: dict[str, int]) -> np.ndarray:
    """Each symbol's base coin as its code in ``vocab`` (new coins are added)."""
    codes, uniques = pd.factorize(symbols)
    return np.asarray([vocab.setdefault(base_coin(s), len(vocab)) for s in uniques] + [-1], dtype=np.int64)[codes]


def _slots(hours: np.ndarray, other_hours: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Column of each hour on a grid that holds every one of ``other_hours`` (−1 for an hour off it), theirs, and its width.

    The grid steps an hour from the first of ``other_hours`` when they are all whole hours apart
    (and the grid is not mostly empty), else it is their sorted distinct values.
    """
    lo = other_hours.min()
    off, off_left = other_hours - lo, hours - lo
    width = int(off.max() // HOUR_NS) + 1
    if not (off % HOUR_NS).any() and width <= 4 * len(other_hours):
        on = (off_left >= 0) & (off_left % HOUR_NS == 0) & (off_left < width * HOUR_NS)
        return np.where(on, off_left // HOUR_NS, -1), off // HOUR_NS, width
    grid = np.unique(other_hours)
    pos = np.minimum(np.searchsorted(grid, hours), len(grid) - 1)
    return np.where(grid[pos] == hours, pos, -1), np.searchsorted(grid, other_hours), len(grid)


def match(codes: np.ndarray, hours: np.ndarray, other_codes: np.ndarray, other_hours: np.ndarray) -> np.ndarray:
    """For each (code, hour), the row of ``other_*`` with the same pair (the first if several), −1 where none.

    Codes are small ints (−1: unknown, never matched); hours int64 ns. A (code × hour) grid holds
    the first row of each pair, so one lookup answers every row.
    """
    rows = np.full(len(codes), -1, dtype=np.int64)
    known = np.flatnonzero(other_codes >= 0)
    if not len(known) or not len(codes):
        return rows
    left, right, width = _slots(hours, other_hours[known])
    first = np.full((int(max(other_codes.max(), codes.max())) + 1) * width, len(other_codes), dtype=np.int64)
    np.minimum.at(first, other_codes[known] * width + right, known)
    ok = (codes >= 0) & (left >= 0)
    found = first[codes[ok] * width + left[ok]]
    rows[ok] = np.where(found < len(other_codes), found, -1)
    return rows


def unique(codes: np.ndarray, hours: np.ndarray) -> bool:
    """Whether no (code, hour) pair occurs twice."""
    return bool((match(codes, hours, codes, hours) == np.arange(len(codes))).all())


def take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]``, NaN where ``rows`` is −1 (no match)."""
    return np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan) if len(values) else np.full(len(rows), np.nan)


class _SinceFirst(BaseIndexer):
    """Trailing windows of ``window_size`` rows that never reach before the row's instrument's ``first`` row."""

    def get_window_bounds(self, num_values: int = 0, min_periods: int | None = None, center: bool | None = None,
                          closed: str | None = None, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        end = np.arange(1, num_values + 1, dtype=np.int64)
        return np.maximum(end - self.window_size, self.first).astype(np.int64), end


def rolling(panel: Panel, values: np.ndarray, n: int, how: str) -> np.ndarray:
    """Trailing ``n``-bar ``how`` (sum/mean/max/min/std) per instrument, NaN until the window is full.

    One pandas rolling call over every instrument: each instrument's windows restart at its first
    bar (pandas recomputes a window that shares no row with the previous one), so the bits are
    those of a rolling per instrument.
    """
    windows = pd.Series(values).rolling(_SinceFirst(window_size=n, first=panel.first), min_periods=n)
    return getattr(windows, how)().to_numpy()


def prior(panel: Panel, values: np.ndarray, k: int = 1) -> np.ndarray:
    """``values`` of the k-th previous bar of the same instrument (NaN for its first k bars)."""
    out = np.full(len(values), np.nan)
    out[k:] = values[:-k]
    out[np.arange(len(values)) - panel.first < k] = np.nan
    return out


def onset(panel: Panel, state: np.ndarray) -> np.ndarray:
    """+1/−1 on a bar whose state (+1, −1, 0, NaN unknown) starts there, else 0 (:func:`studies.onset`)."""
    prev = prior(panel, state)
    fire = ~np.isnan(state) & ~np.isnan(prev) & (state != 0) & (state != prev)
    return np.where(fire, state, 0.0)


def wilder_atr(panel: Panel, n: int = WILDER_PERIOD) -> np.ndarray:
    """Wilder's ATR(n) per instrument, price units (Wilder 1978; :func:`studies.wilder_atr`).

    True range ``max(h − l, |h − c₋₁|, |l − c₋₁|)`` (``h − l`` on an instrument's first bar), then
    Wilder's smoothing: seed = mean of the first ``n`` known values, ``s ← s + (tr − s)/n`` — pandas'
    EWM with ``alpha = 1/n``, one call with an instrument per column.
    """
    high, low = panel["high"], panel["low"]
    prev, hl = prior(panel, panel["close"]), high - low
    tr = np.fmax(np.fmax(hl, np.abs(high - prev)), np.abs(low - prev))
    tr[np.isnan(hl)] = np.nan
    out, seeds = np.full(len(tr), np.nan), []
    for a, b in panel.bounds():
        known = np.flatnonzero(~np.isnan(tr[a:b]))
        if len(known) and b - a - known[0] >= n:
            s = a + known[0]
            seeded = tr[s + n - 1 : b].copy()
            seeded[0] = tr[s : s + n].mean()
            seeds.append((s + n - 1, seeded))
    if seeds:
        grid = np.full((max(len(x) for _, x in seeds), len(seeds)), np.nan)
        for j, (_, x) in enumerate(seeds):
            grid[: len(x), j] = x
        smooth = pd.DataFrame(grid).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
        for j, (row, x) in enumerate(seeds):
            out[row : row + len(x)] = smooth[: len(x), j]
    out[np.isnan(tr)] = np.nan
    return out


def scaled(strength: np.ndarray, full: float) -> np.ndarray:
    """``strength / full`` clipped to [MIN_CONFIDENCE, 1]: a confidence that reaches 1 at ``full``."""
    return np.clip(strength / full, MIN_CONFIDENCE, 1.0)


def decision_frame(hour: np.ndarray, venue, symbol, side, entry, stop, target, confidence, reason) -> pd.DataFrame:
    """A decision frame (:data:`DECISION_COLUMNS`, their dtypes) of equal-length columns; ``hour`` in UTC ns."""
    cols = {"hour": pd.DatetimeIndex(np.asarray(hour, dtype=np.int64).view("M8[ns]")).tz_localize("UTC"),
            "venue": venue, "symbol": symbol, "strategy": [""] * len(hour), "side": side, "entry": entry,
            "stop": stop, "target": target, "confidence": confidence, "reason": reason}
    return pd.DataFrame({c: pd.Series(cols[c], dtype=object) if DECISION_DTYPES.get(c) == "object" else cols[c]
                         for c in DECISION_COLUMNS})


def decide(panel: Panel, sign: np.ndarray, stop_dist: np.ndarray, rr: float, confidence: np.ndarray,
           template: str, **extra: np.ndarray) -> pd.DataFrame:
    """Decisions where ``sign`` is ±1: entry at the close, stop ``stop_dist`` away, target ``rr`` risks away.

    :func:`studies.bracket` on arrays: ``template`` is formatted per row with ``extra``'s values and
    entry, stop, target, risk, rr; a row whose stop distance or confidence is unknown or whose stop
    would not be positive is no decision.
    """
    entry = panel["close"]
    with np.errstate(invalid="ignore"):
        stop, target = entry - sign * stop_dist, entry + sign * rr * stop_dist
        ok = (sign != 0) & (stop_dist > 0) & np.isfinite(stop_dist) & (stop > 0) & (confidence > 0)
    rows = np.flatnonzero(wanted(panel.hour, ok))
    values = {"entry": entry, "risk": stop_dist, "stop": stop, "target": target, **extra}
    records = [dict(zip(values, r, strict=True)) for r in zip(*(v[rows].tolist() for v in values.values()), strict=True)]
    reasons = [template.format(**r, rr=rr) + "; stop {stop:.6g} (risk {risk:.4g}), target {target:.6g} ({rr:g}R)".format(**r, rr=rr)
               for r in records]
    names = [panel.names[i] for i in panel.instrument[rows]]
    return decision_frame(panel.hour[rows], [v for v, _ in names], [s for _, s in names], np.where(sign[rows] > 0, "long", "short"),
                          entry[rows], stop[rows], target[rows], confidence[rows], reasons)


