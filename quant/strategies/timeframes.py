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

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
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
    df = bars.sort_values(["venue", "symbol", "hour"]).assign(start=period_start(bars["hour"], timeframe).to_numpy())
    g = df.groupby(["venue", "symbol", "start"], sort=True)
    out = g.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
                volume=("volume", "sum"), n_bars=("hour", "size"), last_hour=("hour", "max")).reset_index()
    n_hours = TIMEFRAME_HOURS[timeframe]
    out["visible_from"] = out["start"] + (n_hours - 1) * HOUR
    complete = (out["n_bars"] == n_hours) & (out["last_hour"] == out["visible_from"])
    return out.loc[complete, HTF_COLUMNS].reset_index(drop=True)


def _centred_extreme(x: np.ndarray, lookback: int, fn: np.ufunc) -> np.ndarray:
    """``fn`` over ``x[i − lookback … i + lookback]`` at each i (NaN where the window leaves ``x``)."""
    out = np.full(len(x), np.nan)
    width = 2 * lookback + 1
    if len(x) >= width:
        out[lookback:len(x) - lookback] = fn.reduce(np.lib.stride_tricks.sliding_window_view(x, width), axis=1)
    return out


def swing_points(high: np.ndarray, low: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Swing highs and lows of one series, each flagged at its **confirming** bar ``i + lookback``.

    Parameters
    ----------
    high, low : bar highs and lows (quote currency), oldest first.
    lookback : bars each side a swing must dominate (≥ 1).

    Returns
    -------
    ``(swing_high_level, swing_low_level)``: arrays as long as the input; at bar j the level of the
    swing at bar ``j − lookback`` when bar j confirms one, else NaN. Nothing is flagged before it is
    confirmed, so the value at j uses bars ``<= j`` only.
    """
    if lookback < 1:
        raise ValueError(f"swing lookback must be >= 1, got {lookback}")
    high, low = np.asarray(high, dtype="float64"), np.asarray(low, dtype="float64")
    with np.errstate(invalid="ignore"):
        is_high = high >= _centred_extreme(high, lookback, np.fmax)
        is_low = low <= _centred_extreme(low, lookback, np.fmin)
    sh, sl = np.full(len(high), np.nan), np.full(len(low), np.nan)
    sh[lookback:] = np.where(is_high[:-lookback], high[:-lookback], np.nan)
    sl[lookback:] = np.where(is_low[:-lookback], low[:-lookback], np.nan)
    return sh, sl


def _last_two(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At each bar, the latest and the previous non-NaN value of ``levels`` seen so far (NaN if none)."""
    idx = np.flatnonzero(~np.isnan(levels))
    count = np.searchsorted(idx, np.arange(len(levels)), side="right")  # confirmed swings up to each bar
    last, prev = np.full(len(levels), np.nan), np.full(len(levels), np.nan)
    has1, has2 = count >= 1, count >= 2
    last[has1] = levels[idx[count[has1] - 1]]
    prev[has2] = levels[idx[count[has2] - 2]]
    return last, prev


def swing_bias(high: np.ndarray, low: np.ndarray, lookback: int) -> np.ndarray:
    """Dow's swing bias at each bar's close: +1 HH and HL, −1 LH and LL, 0 otherwise (see module doc)."""
    sh, sl = swing_points(high, low, lookback)
    h_last, h_prev = _last_two(sh)
    l_last, l_prev = _last_two(sl)
    with np.errstate(invalid="ignore"):
        bull = (h_last > h_prev) & (l_last > l_prev)
        bear = (h_last < h_prev) & (l_last < l_prev)
    return np.where(bull, BULLISH, np.where(bear, BEARISH, NO_BIAS)).astype("int64")


def htf_bias(bars: pd.DataFrame, timeframe: str, lookback: int) -> pd.DataFrame:
    """Swing bias of each closed ``timeframe`` bar: (venue, symbol, visible_from, bias), per series."""
    htf = closed_bars(bars, timeframe)
    parts = []
    for _, g in htf.groupby(["venue", "symbol"], sort=False):
        b = swing_bias(g["high"].to_numpy(), g["low"].to_numpy(), lookback)
        parts.append(g[["venue", "symbol", "visible_from"]].assign(bias=b))
    if not parts:
        return pd.DataFrame(columns=["venue", "symbol", "visible_from", "bias"])
    return pd.concat(parts, ignore_index=True)


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
