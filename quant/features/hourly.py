"""Hourly per-instrument features from 1h perp candles (the ``ohlcv_table`` of ``quant.market_data``).

The value at hour H is known at the END of hour H (the bar stamped H closes at H + 1h) and is a
fixed computation over the bars H − :data:`FEATURE_LOOKBACK_H` … H only. Every window is
evaluated on its own, oldest bar first, with plain element-wise numpy (no running sums, no
pandas online rolling), so an hour computes the same bits alone or inside a long backfill. Missing
bars are NaN on a dense hourly grid, and any window that touches one gives NaN, never 0.

Formulas (``c, h, l, v`` = close, high, low, volume of the bar; ``r_t = ln c_t − ln c_{t−1}``):

=====================  ========================================================================
``mom_1h/4h/24h``      ``ln c_t − ln c_{t−k}``: log return over k hours.
``slope_24h``          OLS slope of ``ln c`` on hour index over the last 24 closes: log return
                       per hour, ``Σ (k − 11.5)(ln c_k − ln c_t) / 1150``, k = 0…23.
``atr_14``             Wilder's ATR (Wilder 1978, *New Concepts in Technical Trading Systems*):
                       ``TR = max(h − l, |h − c_{t−1}|, |l − c_{t−1}|)``, seeded with the mean of
                       the first 14 TRs of a fixed ``atr_span_h``-bar window ending at t, then
                       ``ATR ← (13·ATR + TR) / 14``; price units (quote currency).
``vol_24h``, ``vol_7d``  sample std (ddof 1) of the last 24 / 168 ``r``: log return per hour.
``vol_ratio``          ``vol_24h / vol_7d`` (dimensionless).
``vol_expanding``      1.0 if ``vol_ratio ≥ vol_expanding_ratio`` else 0.0 (NaN if unknown).
``vol_compressed``     1.0 if ``vol_ratio ≤ vol_compressed_ratio`` else 0.0 (NaN if unknown).
``volume_surge``       ``v_t / mean(v_{t−24} … v_{t−1})`` (dimensionless; 1 = a normal hour).
``range_pct``          ``(h − l) / c``: the bar's range as a fraction of its close.
``spread_widening``    ``range_pct_t / mean(range_pct_{t−24} … range_pct_{t−1})`` (dimensionless).
``breakout_up``        1.0 if ``c_t > max(h_{t−24} … h_{t−1})`` else 0.0.
``breakout_down``      1.0 if ``c_t < min(l_{t−24} … l_{t−1})`` else 0.0.
``mr_distance_atr``    ``(c_t − mean(c_{t−23} … c_t)) / atr_14``: distance from the 24h SMA in ATRs.
``adx_14``             ADX-like directional strength in [0, 1] (Wilder's ADX / 100 with simple
                       14-bar sums in place of his smoothing): ``+DM = h_t − h_{t−1}`` if it
                       exceeds ``l_{t−1} − l_t`` and 0, else 0 (``−DM`` mirrored);
                       ``DX = |Σ+DM − Σ−DM| / (Σ+DM + Σ−DM)`` over 14 bars; ``adx_14`` = mean
                       of the last 14 DX.
``beta_btc_7d``        ``cov(r, r_btc) / var(r_btc)`` over the last 168 hours, BTC of the same
                       venue (first of ``benchmark_quotes`` with a full window).
``corr_btc_7d``        Pearson correlation of the same two series.
``breadth_24h``        share of the venue's instruments with ``mom_24h > 0`` among those with a
                       known ``mom_24h`` at that hour, in [0, 1].
=====================  ========================================================================

A ratio whose denominator is 0 (a flat market, no volume) is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.features.cross import BETA_WINDOW_H, cross_features
from quant.features.windows import (
    flag,
    lag,
    ratio,
    window_extreme,
    window_mean,
    window_reduce,
    window_std,
    window_sum,
)

HOUR = pd.Timedelta(hours=1)
#: Horizons of the log-return momentum columns ``mom_{k}h``.
MOMENTUM_HORIZONS_H = (1, 4, 24)
#: Closes in the OLS slope of log price.
SLOPE_WINDOW_H = 24
#: Wilder's ATR period (his 14).
ATR_PERIOD = 14
#: Bars in each DX sum and DX values in the ADX-like mean.
ADX_PERIOD = 14
#: 1h returns in the short and long volatility.
VOL_SHORT_H = 24
VOL_LONG_H = 24 * 7
#: Bars in the norms of volume surge, spread widening, breakouts and the SMA.
NORM_WINDOW_H = 24
#: Hours of history before each hour that the features read (the asset's look-back input).
FEATURE_LOOKBACK_H = max(
    max(MOMENTUM_HORIZONS_H), SLOPE_WINDOW_H - 1, 2 * ADX_PERIOD - 1, VOL_SHORT_H, VOL_LONG_H,
    NORM_WINDOW_H, BETA_WINDOW_H,
)
#: ``vol_ratio`` at or above which volatility is expanding; at or below which it is compressed.
VOL_EXPANDING_RATIO = 1.5
VOL_COMPRESSED_RATIO = 0.75
BENCHMARK_COIN = "BTC"
#: Quote currencies of the benchmark perp, in order of preference.
BENCHMARK_QUOTES = ("USDT", "USDC")

KEY_COLUMNS = ["hour", "venue", "symbol"]
FEATURE_COLUMNS = [
    "mom_1h", "mom_4h", "mom_24h", "slope_24h", "atr_14", "vol_24h", "vol_7d", "vol_ratio",
    "vol_expanding", "vol_compressed", "volume_surge", "range_pct", "spread_widening",
    "breakout_up", "breakout_down", "mr_distance_atr", "adx_14", "beta_btc_7d", "corr_btc_7d",
    "breadth_24h",
]
_FIELDS = ["high", "low", "close", "volume"]


@dataclass(frozen=True)
class FeatureParams:
    """Knobs that do not change the look-back (window lengths are module constants for that reason).

    ``atr_span_h`` is the number of true ranges in the fixed Wilder window (14 seed + recursion);
    it must lie in [``ATR_PERIOD``, ``FEATURE_LOOKBACK_H``]. With 168 the seed's weight at the end
    is (13/14)^154 ≈ 1e-5, so the value matches an infinite-history Wilder ATR to ~5 digits.
    """

    atr_span_h: int = FEATURE_LOOKBACK_H
    vol_expanding_ratio: float = VOL_EXPANDING_RATIO
    vol_compressed_ratio: float = VOL_COMPRESSED_RATIO
    benchmark_coin: str = BENCHMARK_COIN
    benchmark_quotes: tuple[str, ...] = BENCHMARK_QUOTES

    def __post_init__(self) -> None:
        if not ATR_PERIOD <= self.atr_span_h <= FEATURE_LOOKBACK_H:
            raise ValueError(f"atr_span_h must be in [{ATR_PERIOD}, {FEATURE_LOOKBACK_H}], got {self.atr_span_h}")
        if not 0 < self.vol_compressed_ratio < self.vol_expanding_ratio:
            raise ValueError("need 0 < vol_compressed_ratio < vol_expanding_ratio")


DEFAULT_PARAMS = FeatureParams()


def compute_features(
    ohlcv: pd.DataFrame, hours: pd.DatetimeIndex, *, params: FeatureParams = DEFAULT_PARAMS
) -> pd.DataFrame:
    """Features per (venue, symbol, hour) for ``hours``.

    Parameters
    ----------
    ohlcv : ``ohlcv_table`` rows (``hour, venue, symbol, high, low, close, volume``) covering
        ``hours`` plus :data:`FEATURE_LOOKBACK_H` hours before; rows outside that span are ignored.
    hours : UTC hour starts to compute.
    params : thresholds and benchmark choice.

    Returns
    -------
    One row per (venue, symbol, hour) where the instrument has a bar in that hour, sorted by
    ``hour, venue, symbol``; columns ``KEY_COLUMNS + FEATURE_COLUMNS`` (float64, units in the
    module docstring), NaN where the look-back lacks data.
    """
    hours = _as_hours(hours)
    if not len(hours) or ohlcv.empty:
        return _empty()
    grid = pd.date_range(hours[0] - FEATURE_LOOKBACK_H * HOUR, hours[-1], freq="h", unit="ns")
    arrays, instruments = _wide(ohlcv, grid)
    if not len(instruments):
        return _empty()
    feats = {**_trend_features(arrays), **_volatility_features(arrays, params)}
    feats.update(_range_features(arrays, feats["atr_14"]))
    feats.update(cross_features(feats, instruments, params))
    return _long(feats, ~np.isnan(arrays["close"]), grid, hours, instruments)


# -- window primitives: output row i reads rows i-w+1..i only, always summed oldest first ----------


# -- features ----------------------------------------------------------------------------------


def _trend_features(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    log_close = a["log_close"]
    out = {f"mom_{k}h": log_close - lag(log_close, k) for k in MOMENTUM_HORIZONS_H}
    w = SLOPE_WINDOW_H
    centred_x = np.arange(w) - (w - 1) / 2  # exact halves; Σ = 0, so deviations from the
    latest = log_close[w - 1 :]  # latest close leave the slope unchanged and the products small
    weighted = window_reduce(log_close.shape, w, lambda k, n: centred_x[k] * (log_close[k : k + n] - latest))
    out["slope_24h"] = weighted / (w * (w * w - 1) / 12)
    out["adx_14"] = _adx(a["high"], a["low"])
    return out


def _adx(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    up = high - lag(high, 1)
    down = lag(low, 1) - low
    known = up + down
    plus = np.where(np.isnan(known), np.nan, np.where((up > down) & (up > 0), up, 0.0))
    minus = np.where(np.isnan(known), np.nan, np.where((down > up) & (down > 0), down, 0.0))
    sum_plus, sum_minus = window_sum(plus, ADX_PERIOD), window_sum(minus, ADX_PERIOD)
    dx = ratio(np.abs(sum_plus - sum_minus), sum_plus + sum_minus)
    return window_mean(dx, ADX_PERIOD)


def _wilder_atr(true_range: np.ndarray, span: int) -> np.ndarray:
    """Wilder's ATR over the ``span`` true ranges ending at each row (seed: mean of the first 14)."""
    out = np.full(true_range.shape, np.nan)
    n = true_range.shape[0] - span + 1
    if n > 0:
        atr = window_mean(true_range, ATR_PERIOD)[ATR_PERIOD - 1 : ATR_PERIOD - 1 + n]
        for k in range(ATR_PERIOD, span):
            atr = (atr * (ATR_PERIOD - 1) + true_range[k : k + n]) / ATR_PERIOD
        out[span - 1 :] = atr
    return out


def _volatility_features(a: dict[str, np.ndarray], p: FeatureParams) -> dict[str, np.ndarray]:
    prev_close = lag(a["close"], 1)
    true_range = np.maximum(a["high"] - a["low"], np.maximum(np.abs(a["high"] - prev_close), np.abs(a["low"] - prev_close)))
    ret = a["log_close"] - lag(a["log_close"], 1)
    vol_short, vol_long = window_std(ret, VOL_SHORT_H), window_std(ret, VOL_LONG_H)
    vol_ratio = ratio(vol_short, vol_long)
    return {
        "atr_14": _wilder_atr(true_range, p.atr_span_h),
        "vol_24h": vol_short,
        "vol_7d": vol_long,
        "vol_ratio": vol_ratio,
        "vol_expanding": flag(vol_ratio >= p.vol_expanding_ratio, vol_ratio),
        "vol_compressed": flag(vol_ratio <= p.vol_compressed_ratio, vol_ratio),
    }


def _range_features(a: dict[str, np.ndarray], atr: np.ndarray) -> dict[str, np.ndarray]:
    high, low, close = a["high"], a["low"], a["close"]
    range_pct = ratio(high - low, close)
    prior_high = window_extreme(lag(high, 1), NORM_WINDOW_H, np.max)
    prior_low = window_extreme(lag(low, 1), NORM_WINDOW_H, np.min)
    return {
        "volume_surge": ratio(a["volume"], window_mean(lag(a["volume"], 1), NORM_WINDOW_H)),
        "range_pct": range_pct,
        "spread_widening": ratio(range_pct, window_mean(lag(range_pct, 1), NORM_WINDOW_H)),
        "breakout_up": flag(close > prior_high, prior_high + close),
        "breakout_down": flag(close < prior_low, prior_low + close),
        "mr_distance_atr": ratio(close - window_mean(close, NORM_WINDOW_H), atr),
    }


# -- frames ------------------------------------------------------------------------------------


def _as_hours(hours: pd.DatetimeIndex) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(hours)
    if idx.tz is None:
        raise ValueError("hours must be timezone-aware UTC")
    idx = idx.tz_convert("UTC").as_unit("ns").unique().sort_values()
    if (idx != idx.floor("h")).any():
        raise ValueError("hours must be whole UTC hours")
    return idx


def _wide(ohlcv: pd.DataFrame, grid: pd.DatetimeIndex) -> tuple[dict[str, np.ndarray], pd.MultiIndex]:
    """Dense (hour × instrument) arrays on ``grid``; a missing bar is a NaN row."""
    hour = pd.to_datetime(ohlcv["hour"], utc=True).astype("datetime64[ns, UTC]")
    inside = ((hour >= grid[0]) & (hour <= grid[-1])).to_numpy()
    rows = ohlcv.loc[inside]
    keys = pd.MultiIndex.from_arrays(
        [rows["venue"].astype("str"), rows["symbol"].astype("str")], names=["venue", "symbol"]
    )
    instruments = keys.unique().sort_values()
    if not len(instruments):
        return {}, instruments
    row = ((hour[inside] - grid[0]) // HOUR).to_numpy()
    col = instruments.get_indexer(keys)
    if len(rows) and np.bincount(row * len(instruments) + col).max() > 1:
        raise ValueError("ohlcv has duplicate (hour, venue, symbol) rows")
    arrays = {}
    for field in _FIELDS:
        arrays[field] = np.full((len(grid), len(instruments)), np.nan)
        arrays[field][row, col] = rows[field].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        # One contiguous array: the same log code path for every hour, whatever the window.
        arrays["log_close"] = np.log(np.where(arrays["close"] > 0, arrays["close"], np.nan))
    return arrays, instruments


def _long(
    feats: dict[str, np.ndarray], has_bar: np.ndarray, grid: pd.DatetimeIndex, hours: pd.DatetimeIndex,
    instruments: pd.MultiIndex,
) -> pd.DataFrame:
    pos = grid.get_indexer(hours)
    m = len(instruments)
    keep = has_bar[pos].ravel()
    out = pd.DataFrame(
        {
            "hour": pd.Series(hours.repeat(m)[keep]),
            "venue": np.tile(instruments.get_level_values("venue").to_numpy(dtype=object), len(hours))[keep],
            "symbol": np.tile(instruments.get_level_values("symbol").to_numpy(dtype=object), len(hours))[keep],
            **{c: feats[c][pos].ravel()[keep] for c in FEATURE_COLUMNS},
        }
    )
    return out.astype({"venue": "str", "symbol": "str"})


def _empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in KEY_COLUMNS + FEATURE_COLUMNS})
    out["hour"] = pd.Series(dtype="datetime64[ns, UTC]")
    out["venue"] = out["symbol"] = pd.Series(dtype="str")
    return out
