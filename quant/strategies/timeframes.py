"""Higher timeframes from closed 1h bars, swing points and swing bias, each known only once it is.

A higher-timeframe (HTF) bar of period P covers the 1h bars ``start … start + P − 1h``; it is
**visible from** the hour of its last 1h bar (``visible_from = start + P − 1h``: a decision at hour
H, taken at H's close, may use it iff ``visible_from <= H``). A period with fewer 1h bars than it
spans (the first, cut period of a window; an outage) is dropped, never shown as a partial bar.

Period grids are fixed UTC epochs, so a bar is the same in any window that contains it:

* ``1D``: midnight UTC (epoch 1970-01-01 00:00 UTC);
* ``3D``: 1970-01-01 00:00 UTC (a Thursday) plus whole multiples of 72h, e.g. 2025-03-06 is day
  20153 = 3 × 6717 + 2 since the epoch, so it falls in the period that began 2025-03-04;
* ``1W``: Monday 00:00 UTC (epoch 1970-01-05, the first Monday after the Unix epoch).

Swing points follow Williams' fractals generalised to ``lookback`` bars (Bill Williams, *Trading
Chaos*, 1995): bar i is a swing high when its high is the maximum of the ``2·lookback + 1`` highs
``i − lookback … i + lookback`` (ties count), a swing low mirrored. Bar i's swing is therefore
**confirmed** only at the close of bar ``i + lookback``, and not before. The swing bias is Dow's
trend definition on the confirmed swings: bullish (+1) when the last confirmed swing high is above
the one before it *and* the last swing low above the one before it (HH and HL), bearish (−1) for
LH and LL, otherwise none (0), including when fewer than two of either are confirmed.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
#: One hour in nanoseconds (hours as int64 ns since the Unix epoch, UTC, in the array code).
HOUR_NS = HOUR.value
#: Hours each higher timeframe spans.
TIMEFRAME_HOURS = {"1D": 24, "3D": 72, "1W": 168}
#: The fixed epoch each timeframe's periods are counted from (see the module docstring).
TIMEFRAME_EPOCHS = {
    "1D": pd.Timestamp("1970-01-01", tz="UTC"),
    "3D": pd.Timestamp("1970-01-01", tz="UTC"),
    "1W": pd.Timestamp("1970-01-05", tz="UTC"),
}
HTF_COLUMNS = ["venue", "symbol", "start", "visible_from", "open", "high", "low", "close", "volume", "n_bars"]
BULLISH, BEARISH, NO_BIAS = 1, -1, 0
SERIES_KEYS = ["venue", "symbol"]


def period_start(hours: pd.Series | pd.DatetimeIndex, timeframe: str) -> pd.Series:
    """The start (UTC) of the ``timeframe`` period each hour falls in."""
    period = pd.Timedelta(hours=TIMEFRAME_HOURS[timeframe])
    epoch = TIMEFRAME_EPOCHS[timeframe]
    hours = pd.Series(hours)
    return epoch + ((hours - epoch) // period) * period


def closed_bars(bars: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Complete higher-timeframe OHLCV bars built from 1h bars, per (venue, symbol).

    Parameters
    ----------
    bars : ``perp_ohlcv_1h`` rows (hour, venue, symbol, open, high, low, close, volume).
    timeframe : ``"1D"``, ``"3D"`` or ``"1W"``.

    Returns
    -------
    One row per complete period (:data:`HTF_COLUMNS`): ``start`` (UTC open of the period),
    ``visible_from`` (hour of its last 1h bar; usable by a decision at any hour ``>=`` it),
    OHLC in quote currency, ``volume`` in base units, ``n_bars`` (1h bars, = the period's hours).
    Sorted by (venue, symbol, start).
    """
    if timeframe not in TIMEFRAME_HOURS:
        raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAME_HOURS)}, not {timeframe!r}")
    if bars.empty:
        return pd.DataFrame(columns=HTF_COLUMNS)
    df = bars.sort_values(["venue", "symbol", "hour"])
    df = df.assign(start=period_start(df["hour"], timeframe).to_numpy())  # the sorted rows' own periods
    g = df.groupby(["venue", "symbol", "start"], sort=True)
    out = g.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
                volume=("volume", "sum"), n_bars=("hour", "size"), last_hour=("hour", "max")).reset_index()
    n_hours = TIMEFRAME_HOURS[timeframe]
    out["visible_from"] = out["start"] + (n_hours - 1) * HOUR
    complete = (out["n_bars"] == n_hours) & (out["last_hour"] == out["visible_from"])
    return out.loc[complete, HTF_COLUMNS].reset_index(drop=True)


def series_bounds(starts: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For ``n`` bars of several series laid end to end: each bar's series' first bar and one past its last.

    ``starts`` holds each series' first bar, ascending from 0 (None: the ``n`` bars are one series).
    """
    starts = np.zeros(1, dtype="int64") if starts is None or len(starts) == 0 else np.asarray(starts, dtype="int64")
    sizes = np.diff(np.r_[starts, n])
    return np.repeat(starts, sizes), np.repeat(np.r_[starts[1:], n], sizes)


def _centred_extreme(x: np.ndarray, lookback: int, fn: np.ufunc, first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``fn`` over ``x[i − lookback … i + lookback]`` at each i (NaN where the window leaves i's series)."""
    out = np.full(len(x), np.nan)
    width = 2 * lookback + 1
    if len(x) >= width:
        out[lookback:len(x) - lookback] = fn.reduce(np.lib.stride_tricks.sliding_window_view(x, width), axis=1)
    i = np.arange(len(x))
    out[(i - lookback < first) | (i + lookback >= end)] = np.nan
    return out


def swing_points(high: np.ndarray, low: np.ndarray, lookback: int, starts: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Swing highs and lows of a series, each flagged at its **confirming** bar ``i + lookback``.

    Parameters
    ----------
    high, low : bar highs and lows (quote currency), oldest first.
    lookback : bars each side a swing must dominate (≥ 1).
    starts : optional; for several series laid end to end, each series' first bar (ascending from
        0). Each series is then treated on its own, as if passed alone.

    Returns
    -------
    ``(swing_high_level, swing_low_level)``: arrays as long as the input; at bar j the level of the
    swing at bar ``j − lookback`` when bar j confirms one, else NaN. Nothing is flagged before it is
    confirmed, so the value at j uses bars ``<= j`` only.
    """
    if lookback < 1:
        raise ValueError(f"swing lookback must be >= 1, got {lookback}")
    high, low = np.asarray(high, dtype="float64"), np.asarray(low, dtype="float64")
    first, end = series_bounds(starts, len(high))
    with np.errstate(invalid="ignore"):
        is_high = high >= _centred_extreme(high, lookback, np.fmax, first, end)
        is_low = low <= _centred_extreme(low, lookback, np.fmin, first, end)
    # a swing at i (its window inside i's series) is confirmed at i + lookback, in the same series
    sh, sl = np.full(len(high), np.nan), np.full(len(low), np.nan)
    sh[lookback:] = np.where(is_high[:-lookback], high[:-lookback], np.nan)
    sl[lookback:] = np.where(is_low[:-lookback], low[:-lookback], np.nan)
    return sh, sl


def _last_two(levels: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At each bar, the latest and the previous non-NaN value of ``levels`` seen so far in its series (NaN if none)."""
    idx = np.flatnonzero(~np.isnan(levels))
    count = np.searchsorted(idx, np.arange(len(levels)), side="right")  # confirmed swings up to each bar
    count_in_series = count - np.searchsorted(idx, first, side="left")
    last, prev = np.full(len(levels), np.nan), np.full(len(levels), np.nan)
    has1, has2 = count_in_series >= 1, count_in_series >= 2
    last[has1] = levels[idx[count[has1] - 1]]
    prev[has2] = levels[idx[count[has2] - 2]]
    return last, prev


def swing_bias(high: np.ndarray, low: np.ndarray, lookback: int, starts: np.ndarray | None = None) -> np.ndarray:
    """Dow's swing bias at each bar's close: +1 HH and HL, −1 LH and LL, 0 otherwise (see module doc).

    ``starts`` as in :func:`swing_points` (several series end to end, each on its own).
    """
    sh, sl = swing_points(high, low, lookback, starts)
    first, _ = series_bounds(starts, len(sh))
    h_last, h_prev = _last_two(sh, first)
    l_last, l_prev = _last_two(sl, first)
    with np.errstate(invalid="ignore"):
        bull = (h_last > h_prev) & (l_last > l_prev)
        bear = (h_last < h_prev) & (l_last < l_prev)
    return np.where(bull, BULLISH, np.where(bear, BEARISH, NO_BIAS)).astype("int64")


def hours_ns(hours: pd.Series | pd.Index) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the Unix epoch, whatever their stored unit."""
    return pd.DatetimeIndex(hours).as_unit("ns").asi8


def _series_runs(bars: pd.DataFrame) -> tuple[list[tuple[str, str]], np.ndarray, bool]:
    """(venue, symbol) of each run of equal keys in ``bars``' row order, each run's first row, and whether
    the rows are in (venue, symbol, hour) order with every key present (runs = series, hours increasing)."""
    if bars.empty:
        return [], np.zeros(0, dtype="int64"), True
    (cv, uv), (cs, us) = (pd.factorize(bars[k]) for k in SERIES_KEYS)
    new_run = np.r_[True, (cv[1:] != cv[:-1]) | (cs[1:] != cs[:-1])]
    first = np.flatnonzero(new_run)
    keys = list(zip(uv.take(cv[first]).tolist(), us.take(cs[first]).tolist(), strict=True))
    ordered = (not ((cv < 0).any() or (cs < 0).any()) and all(a < b for a, b in zip(keys, keys[1:], strict=False))
               and not (np.diff(hours_ns(bars["hour"]))[~new_run[1:]] <= 0).any())
    return keys, first, ordered


def split_series(bars: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str, slice]]]:
    """``bars`` ordered by (venue, symbol, hour), and each (venue, symbol) series' rows as a slice of it.

    ``bars`` itself when it is already in that order (as the bar tables are), else a sorted copy.
    Rows with no venue or symbol belong to no series and are dropped, as a pandas groupby drops them.
    """
    keys, first, ordered = _series_runs(bars)
    if not ordered:
        bars = bars.dropna(subset=SERIES_KEYS).sort_values([*SERIES_KEYS, "hour"], kind="stable").reset_index(drop=True)
        keys, first, _ = _series_runs(bars)
    ends = np.r_[first[1:], len(bars)] if len(first) else first
    return bars, [(v, sym, slice(a, b)) for (v, sym), a, b in zip(keys, first.tolist(), ends.tolist(), strict=True)]


def complete_periods(hour_ns: np.ndarray, high: np.ndarray, low: np.ndarray, timeframe: str,
                     starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The complete ``timeframe`` periods of 1h bars, as :func:`closed_bars` keeps them.

    Parameters
    ----------
    hour_ns : bar hours, int64 ns UTC, strictly increasing within each series.
    high, low : bar highs and lows (quote currency).
    timeframe : ``"1D"``, ``"3D"`` or ``"1W"``.
    starts : each series' first bar when several lie end to end (None: one series).

    Returns
    -------
    ``(first_bar, visible_from_ns, high, low)`` per complete period, in bar order: the index of its
    first 1h bar, the hour (int64 ns) of its last, its highest high and lowest low (NaNs skipped, as
    a pandas groupby skips them).
    """
    n_hours = TIMEFRAME_HOURS[timeframe]
    period, epoch = n_hours * HOUR_NS, TIMEFRAME_EPOCHS[timeframe].value
    if len(hour_ns) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64"), np.zeros(0), np.zeros(0)
    start = epoch + (hour_ns - epoch) // period * period
    new_period = np.r_[True, start[1:] != start[:-1]]
    new_period[series_bounds(starts, len(start))[0]] = True
    first = np.flatnonzero(new_period)
    last = np.r_[first[1:], len(start)] - 1
    visible_from = start[first] + (n_hours - 1) * HOUR_NS
    complete = (last - first + 1 == n_hours) & (hour_ns[last] == visible_from)
    high, low = np.asarray(high, dtype="float64"), np.asarray(low, dtype="float64")
    return (first[complete], visible_from[complete], np.fmax.reduceat(high, first)[complete],
            np.fmin.reduceat(low, first)[complete])


@cache
def _visible_from_dtype(timeframe: str, hour_dtype: object) -> object:
    """The dtype :func:`closed_bars` gives ``visible_from`` from hours of ``hour_dtype`` (pandas picks its unit)."""
    one = pd.DataFrame({"hour": pd.Series([TIMEFRAME_EPOCHS[timeframe]]).astype(hour_dtype), "venue": "", "symbol": "",
                        **dict.fromkeys(("open", "high", "low", "close", "volume"), 0.0)})
    return closed_bars(one, timeframe)["visible_from"].dtype


def htf_bias(bars: pd.DataFrame, timeframe: str, lookback: int) -> pd.DataFrame:
    """Swing bias of each closed ``timeframe`` bar: (venue, symbol, visible_from, bias), per series.

    The bars are :func:`closed_bars`' (built here with :func:`complete_periods`, which keeps the
    same periods and highs/lows); ``visible_from`` has the dtype of ``bars["hour"]``.
    """
    if timeframe not in TIMEFRAME_HOURS:
        raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAME_HOURS)}, not {timeframe!r}")
    columns = [*SERIES_KEYS, "visible_from", "bias"]
    if bars.empty:
        return pd.DataFrame(columns=columns)
    bars, series = split_series(bars)
    starts = np.array([rows.start for _, _, rows in series], dtype="int64")
    first_bar, visible, high, low = complete_periods(hours_ns(bars["hour"]), bars["high"].to_numpy("float64"),
                                                     bars["low"].to_numpy("float64"), timeframe, starts)
    if not len(visible):
        return pd.DataFrame(columns=columns)
    bias = swing_bias(high, low, lookback, np.searchsorted(first_bar, starts))  # each series' periods on their own
    visible_from = pd.DatetimeIndex(visible, tz="UTC").astype(_visible_from_dtype(timeframe, bars["hour"].dtype))
    return pd.DataFrame({"venue": bars["venue"].array.take(first_bar), "symbol": bars["symbol"].array.take(first_bar),
                         "visible_from": visible_from.array, "bias": bias})


def asof_hourly(hourly: pd.DataFrame, htf: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of the latest HTF row with ``visible_from <= hour``, per (venue, symbol), on each hourly row.

    Rows before any HTF row is visible get NaN; ``hourly`` keeps its order and index.
    """
    left = hourly[["venue", "symbol", "hour"]].reset_index()
    if htf.empty:
        return pd.DataFrame({c: np.nan for c in columns}, index=hourly.index)
    right = htf[["venue", "symbol", "visible_from", *columns]].rename(columns={"visible_from": "hour"})
    right = right.astype({"hour": left["hour"].dtype}).sort_values("hour")
    merged = pd.merge_asof(left.sort_values("hour"), right, on="hour", by=["venue", "symbol"], direction="backward")
    return merged.set_index("index").loc[hourly.index, columns]


def asof_panel(htf: pd.DataFrame, column: str, keys: list[tuple[str, str]], starts: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """:func:`asof_hourly` for one column on bars held as arrays: several series laid end to end.

    Parameters
    ----------
    htf : rows with venue, symbol, ``visible_from`` and ``column`` (an :func:`htf_bias` frame).
    keys, starts : each series' (venue, symbol) and first bar, in panel order.
    hour : each bar's hour, int64 ns UTC.

    Returns
    -------
    float64 per bar: ``column`` of its series' latest ``htf`` row with ``visible_from <= hour``; NaN
    before any.
    """
    series_of = {key: s for s, key in enumerate(keys)}
    row_series = np.array([series_of.get(k, -1) for k in zip(htf["venue"].tolist(), htf["symbol"].tolist(), strict=True)],
                          dtype="int64")
    visible = hours_ns(htf["visible_from"])
    order = np.lexsort((visible, row_series))  # by series, then by time
    row_series, visible, values = row_series[order], visible[order], htf[column].to_numpy("float64")[order]
    rows = np.searchsorted(row_series, np.arange(len(keys) + 1))  # each series' rows: rows[s] … rows[s + 1] − 1
    out = np.full(len(hour), np.nan)
    for s, (a, b) in enumerate(zip(starts, [*starts[1:], len(hour)], strict=True)):
        lo, hi = rows[s], rows[s + 1]
        if hi > lo:
            at = lo + np.searchsorted(visible[lo:hi], hour[a:b], side="right") - 1
            out[a:b] = np.where(at >= lo, values[np.maximum(at, 0)], np.nan)
    return out
