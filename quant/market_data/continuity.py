"""Price continuity: is this hour's bar the continuation of the previous one, in the instrument's own volatility?

A coherent bad price (every venue ×100 for an hour) passes every row rule and the cross-venue
comparison; only the series' own history can tell it from a market. Two measures, both in log
returns against the previous hour's close:

* **gap** ``ln(open / prev_close)``: perps trade around the clock, so a bar opens where the last one
  closed (the bundled 2025–2026 bars: median 0, max 0.09%, ≤ 0.14 σ). A re-scaled or re-stamped
  bar opens somewhere else.
* **jump** ``ln(close / prev_close)``: real hours move up to ~12 σ of the last week's hourly
  returns (bundled data: the 2026-01-18 23:00 flush, HYPE −15.5% on 2025-03-26 13:00); a bad
  price moves hundreds.

σ is the sample standard deviation of the previous :data:`SIGMA_WINDOW_H` hourly log returns
(consecutive bars only, at least :data:`SIGMA_MIN_RETURNS` of them); each limit is the larger of
a floor and a multiple of σ, so a volatile coin or a crash week widens its own limits, and a
young listing (σ unknown) is held to the floors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.quality import no_violations, violation_rows

HOUR = pd.Timedelta(hours=1)
#: Hourly returns σ is measured over (one week).
SIGMA_WINDOW_H = 168
#: Fewest returns in the window for σ to count as known.
SIGMA_MIN_RETURNS = 24
#: Largest |ln(open / previous close)|: max(GAP_FLOOR, GAP_SIGMAS × σ).
GAP_FLOOR = 0.02
GAP_SIGMAS = 3.0
#: Largest |ln(close / previous close)|: max(JUMP_FLOOR, JUMP_SIGMAS × σ): +28%/−22% at the floor.
#: The bundled data's worst real hours are 12σ and |ln| 0.17; a close ×1.3 or more on a calm coin
#: fails in its own hour, so an hourly run never trades on it.
JUMP_FLOOR = 0.25
JUMP_SIGMAS = 15.0


def log_returns(ts: pd.Series, close: pd.Series) -> np.ndarray:
    """``ln(close_t / close_{t-1})`` where bar t−1 is exactly one hour before bar t, else NaN (one instrument, sorted)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(close.to_numpy(dtype="float64") / previous_close(ts, close))


def prior_sigma(returns: np.ndarray, window: int = SIGMA_WINDOW_H, min_returns: int = SIGMA_MIN_RETURNS) -> np.ndarray:
    """σ of the ``window`` returns BEFORE each bar (ddof 1), NaN with fewer than ``min_returns`` known.

    Each bar's window is reduced on its own (no running sums), so a bar's σ is the same computed
    alone or inside a long range, bit for bit.
    """
    n = len(returns)
    padded = np.concatenate([np.full(window, np.nan), returns])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[:n]  # row t: returns t-window .. t-1
    count = np.isfinite(windows).sum(axis=1)
    out = np.full(n, np.nan)
    enough = count >= min_returns
    if enough.any():
        w = windows[enough]
        mean = np.nanmean(w, axis=1, keepdims=True)
        out[enough] = np.sqrt(np.nansum((w - mean) ** 2, axis=1) / (count[enough] - 1))
    return out


def previous_close(ts: pd.Series, close: pd.Series) -> np.ndarray:
    """The close of the bar exactly one hour earlier, NaN where there is none."""
    c = close.to_numpy(dtype="float64")
    t = ts.to_numpy(dtype="datetime64[ns]")
    out = np.full(len(c), np.nan)
    if len(c) > 1:
        consecutive = (t[1:] - t[:-1]) == np.timedelta64(HOUR.value, "ns")
        out[1:] = np.where(consecutive, c[:-1], np.nan)
    return out


def _limit(floor: float, sigmas: float, sigma: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(sigma), np.maximum(floor, sigmas * sigma), floor)


def _band(log_limit: float) -> str:
    """A log-return limit as the price moves it allows: ``-2.96%..+3.05%``."""
    return f"{np.expm1(-log_limit):+.2%}..{np.expm1(log_limit):+.2%}"


def discontinuities(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """Bars that do not continue the previous hour's close: an open gap or a close jump beyond its limit.

    Needs ``open, close, prev_close, sigma_1h`` (see ``quant.market_data.ohlcv_table``). A bar with
    no previous hour (a listing's first bar, after a missing hour) is not judged: the missing hour
    is the ``no_missing_hours`` rule's.
    """
    if ohlcv.empty:
        return no_violations()
    prev = ohlcv["prev_close"].to_numpy(dtype="float64")
    sigma = ohlcv["sigma_1h"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.log(ohlcv["open"].to_numpy(dtype="float64") / prev)
        jump = np.log(ohlcv["close"].to_numpy(dtype="float64") / prev)
    gap_limit, jump_limit = _limit(GAP_FLOOR, GAP_SIGMAS, sigma), _limit(JUMP_FLOOR, JUMP_SIGMAS, sigma)
    with np.errstate(invalid="ignore"):
        bad_gap = np.abs(gap) > gap_limit
        bad_jump = np.abs(jump) > jump_limit
    bad = bad_gap | bad_jump
    if not bad.any():
        return no_violations()
    details = []
    for i in np.flatnonzero(bad):
        s = f"σ {sigma[i]:.2%}" if np.isfinite(sigma[i]) else "σ unknown"
        if bad_gap[i]:
            details.append(f"opens at {ohlcv['open'].iat[i]:.8g} after a close of {prev[i]:.8g}: gap {np.expm1(gap[i]):+.2%} "
                           f"(limit {_band(gap_limit[i])}, {s})")
        else:
            details.append(f"closes at {ohlcv['close'].iat[i]:.8g} after {prev[i]:.8g}: jump {np.expm1(jump[i]):+.2%} "
                           f"(limit {_band(jump_limit[i])}, {s})")
    return violation_rows(ohlcv.loc[bad], details)
