"""The research journal's studies: EMA crossover, ADX trend, breakout, RSI reversion, funding harvest.

Every study reads closed 1h bars only (the row at hour H closes at H + 1h), computes per
(venue, symbol) over the whole window at once, and emits a decision on the hour its condition
*starts* (the onset: a cross, a first close beyond a level), never on a later hour of the same
state; the funding harvest is the exception, always on while funding is high. Each decision
enters at the bar's close with a stop ``atr_mult`` × Wilder ATR(14) on the losing side and a target
``rr`` × that risk on the winning side (``rr`` ≥ the design's 2:1 floor). Recursive indicators
(EMA, Wilder smoothing) start at the first bar of the window, so ``lookback_h`` is long enough for
their seed to have decayed to under ~1e-4 of the value.

The kernels here (:func:`wilder_smooth`, :func:`wilder_atr`, :func:`wilder_rsi`,
:func:`wilder_adx`, :func:`onset`, :func:`bracket`) work on pandas Series; :mod:`quant.strategies.arrays`
holds their array forms for the flow, stat-arb and volatility strategies (the same bits).
Wilder, J. W. (1978), *New Concepts in Technical Trading Systems* (ATR, RSI, ADX/DMI).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from quant.strategies.base import (
    MIN_REWARD_RISK,
    Param,
    Strategy,
    StrategyInput,
    decisions,
    ns,
    register,
    wanted,
)
from quant.strategies.columns import KEYS, instrument_blocks, on_columns, prepared, wilder_blocks

#: Wilder's period for ATR, RSI and ADX (his 14).
WILDER_PERIOD = 14
#: Default stop distance in ATRs (a common 2×ATR volatility stop; search range below).
ATR_MULT = 2.0
ATR_MULT_RANGE = (0.5, 5.0)
#: Default and search range of the reward-to-risk multiple; the floor is the design's 2:1.
RR = MIN_REWARD_RISK
RR_RANGE = (MIN_REWARD_RISK, 5.0)
#: Wilder-smoothed series need ~ 13·period bars for the seed's weight ((n−1)/n)^k to fall under 1e-4.
WILDER_WARMUP = 13
#: Hours of history an ATR(14) stop needs.
ATR_LOOKBACK_H = WILDER_WARMUP * WILDER_PERIOD
#: Confidence of a decision whose strength has no natural scale yet (uncalibrated: the journal has no hit rates).
PRIOR_CONFIDENCE = 0.5
#: Lowest confidence a scaled strength is clipped to (confidence must be > 0).
MIN_CONFIDENCE = 0.05
#: A strength this many times its entry threshold is full confidence (funding APR, wick bodies, flow z, OI change).
FULL_CONFIDENCE_MULT = 2.0
#: Top of Wilder's ADX scale (ADX/100 is the confidence of a trend).
ADX_MAX = 100.0
#: RSI points beyond the band at which confidence rises from PRIOR_CONFIDENCE to 1.
RSI_FULL_DEPTH = 5.0
#: EMA crossover defaults: the classic 12/26 (Appel's MACD pair), searched over 3–100 / 10–300 bars.
EMA_FAST, EMA_SLOW = 12, 26
EMA_SLOW_MAX = 300
#: Slow spans of history before a decision: the EMA seed's weight (1 − 2/(n+1))^(5n) ≈ e^−10.
EMA_WARMUP_SPANS = 5
#: ADX threshold of a trending market (Wilder 1978: ADX above 25 = trending), on his 0–100 scale.
ADX_THRESHOLD = 25.0
#: Breakout channel: the prior 24 bars' high/low (Donchian-style, one day of 1h bars), searched 6–240.
BREAKOUT_BARS = 24
BREAKOUT_MAX = 240
#: Wilder's RSI bands: 30 oversold / 70 overbought.
RSI_LOWER, RSI_UPPER = 30.0, 70.0
#: Longest RSI period searched.
RSI_PERIOD_MAX = 50
#: The carry design's entry: annualised funding above 20 %/yr (quant.carry.signals.ENTRY_APR).
FUNDING_ENTRY_APR = 0.20
#: A settlement older than this is stale (the longest funding interval in the data is 8h).
FUNDING_MAX_AGE_H = 8


def risk_params() -> tuple[Param, Param]:
    """The two risk knobs every strategy here declares: the ATR stop multiple and the reward-to-risk."""
    return (Param("atr_mult", float, ATR_MULT, *ATR_MULT_RANGE, doc="stop distance in Wilder ATR(14)s"),
            Param("rr", float, RR, *RR_RANGE, doc="target distance in risks (≥ the 2:1 floor)"))


# -- kernels ---------------------------------------------------------------------------------------


def per_instrument(bars: pd.DataFrame, values: pd.Series, fn: Callable[[pd.Series], pd.Series],
                   columns: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> pd.Series:
    """``fn`` applied to each instrument's part of ``values`` (aligned to ``bars``), oldest bar first.

    ``columns``: the same as ``fn`` on a frame of one column per instrument (each oldest bar first
    from row 0, NaN after its last) — one pandas call for every instrument instead of one each. Only
    for a causal, column-by-column ``fn`` (pandas' EWM and rolling windows: a row never reads the
    rows after it, so the padding changes nothing and the bits are ``fn``'s).
    """
    blocks = instrument_blocks(bars)
    if blocks is None:
        return values.groupby([bars[k] for k in KEYS], sort=False).transform(fn)
    if columns is not None:
        return pd.Series(on_columns(values.to_numpy("float64", na_value=np.nan), blocks, columns),
                         index=values.index, name=values.name)
    out = np.full(len(values), np.nan)
    for sl in blocks:
        out[sl] = fn(values.iloc[sl]).to_numpy("float64", na_value=np.nan)
    return pd.Series(out, index=values.index, name=values.name)


def prior(bars: pd.DataFrame, values: pd.Series, k: int = 1) -> pd.Series:
    """``values`` of the k-th previous bar of the same instrument (NaN for its first k bars)."""
    blocks = instrument_blocks(bars)
    if blocks is None or k < 0 or not pd.api.types.is_float_dtype(values.dtype):
        return values.groupby([bars[k_] for k_ in KEYS], sort=False).shift(k)
    src = values.to_numpy("float64", na_value=np.nan)
    out = np.full(len(src), np.nan)
    for sl in blocks:
        if sl.stop - sl.start > k:
            out[sl.start + k:sl.stop] = src[sl.start:sl.stop - k]
    return pd.Series(out, index=values.index, name=values.name)


def bar_number(bars: pd.DataFrame) -> np.ndarray:
    """Each bar's position within its instrument (0 for its first bar), as ``groupby().cumcount()``."""
    blocks = instrument_blocks(bars)
    if blocks is None:
        return bars.groupby(KEYS, sort=False).cumcount().to_numpy()
    out = np.zeros(len(bars), dtype=np.int64)
    for sl in blocks:
        out[sl] = np.arange(sl.stop - sl.start)
    return out


def wilder_smooth(x: pd.Series, n: int) -> pd.Series:
    """Wilder's smoothing: seed = mean of the first ``n`` values, then ``s ← s + (x − s)/n``.

    Parameters
    ----------
    x : one instrument's series, oldest first; leading NaNs are skipped.
    n : period (bars).

    Returns
    -------
    The smoothed series (units of ``x``); NaN before the seed and wherever ``x`` is NaN.
    """
    values = x.to_numpy("float64", na_value=np.nan)
    out = np.full(values.shape, np.nan)
    start = int(np.argmax(~np.isnan(values))) if (~np.isnan(values)).any() else len(values)
    if len(values) - start >= n:
        seeded = values[start + n - 1 :].copy()
        seeded[0] = values[start : start + n].mean()
        out[start + n - 1 :] = pd.Series(seeded).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    out[np.isnan(values)] = np.nan
    return pd.Series(out, index=x.index)


def wilder_smoothed(bars: pd.DataFrame, x: pd.Series, n: int) -> pd.Series:
    """:func:`wilder_smooth` of each instrument's part of ``x`` (aligned to ``bars``): one EWM call for all of them."""
    blocks = instrument_blocks(bars)
    if blocks is None:
        return per_instrument(bars, x, lambda s: wilder_smooth(s, n))
    return pd.Series(wilder_blocks(x.to_numpy("float64", na_value=np.nan), blocks, n), index=x.index)


def true_range(bars: pd.DataFrame) -> pd.Series:
    """Wilder's true range ``max(h − l, |h − c₋₁|, |l − c₋₁|)``; ``h − l`` on an instrument's first bar."""
    prev = prior(bars, bars["close"]).to_numpy("float64", na_value=np.nan)
    high, low = (bars[c].to_numpy("float64", na_value=np.nan) for c in ("high", "low"))
    hl = high - low
    tr = np.fmax(np.fmax(hl, np.abs(high - prev)), np.abs(low - prev))  # the largest known of the three
    return pd.Series(np.where(np.isnan(hl), np.nan, tr), index=bars.index)


def wilder_atr(bars: pd.DataFrame, n: int = WILDER_PERIOD) -> pd.Series:
    """Wilder's ATR(n) per instrument, price units (Wilder 1978)."""
    return wilder_smoothed(bars, true_range(bars), n)


def wilder_rsi(bars: pd.DataFrame, n: int = WILDER_PERIOD) -> pd.Series:
    """Wilder's RSI(n) per instrument on 0–100: ``100 − 100/(1 + avg gain/avg loss)``.

    Average gain and loss are Wilder-smoothed close-to-close changes (seed: mean of the first n).
    No loss gives 100, no gain 0; neither (a flat market) is NaN, never a number.
    """
    change = bars["close"] - prior(bars, bars["close"])
    gain = wilder_smoothed(bars, change.clip(lower=0).where(change.notna()), n)
    loss = wilder_smoothed(bars, (-change).clip(lower=0).where(change.notna()), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 * gain / (gain + loss)
    return rsi.where((gain + loss) > 0)


def wilder_adx(bars: pd.DataFrame, n: int = WILDER_PERIOD) -> pd.DataFrame:
    """Wilder's DMI: ``plus_di``, ``minus_di`` and ``adx`` per instrument, 0–100 (Wilder 1978).

    ``+DM = h − h₋₁`` if it exceeds ``l₋₁ − l`` and 0, else 0 (``−DM`` mirrored); ±DI = 100 ×
    smoothed ±DM / smoothed TR; ``DX = 100 |+DI − −DI| / (+DI + −DI)``; ADX = Wilder-smoothed DX.
    Wilder's running sums and his smoothed averages differ by the factor n, which cancels in DI.
    """
    up = bars["high"] - prior(bars, bars["high"])
    down = prior(bars, bars["low"]) - bars["low"]
    known = (up + down).notna()
    plus = up.where((up > down) & (up > 0), 0.0).where(known)
    minus = down.where((down > up) & (down > 0), 0.0).where(known)
    tr = true_range(bars).where(known)
    sm = {k: wilder_smoothed(bars, v, n) for k, v in (("p", plus), ("m", minus), ("t", tr))}
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = (100.0 * sm["p"] / sm["t"]).where(sm["t"] > 0)
        minus_di = (100.0 * sm["m"] / sm["t"]).where(sm["t"] > 0)
        dx = (100.0 * (plus_di - minus_di).abs() / (plus_di + minus_di)).where((plus_di + minus_di) > 0)
    adx = wilder_smoothed(bars, dx, n)
    return pd.DataFrame({"plus_di": plus_di, "minus_di": minus_di, "adx": adx})


def onset(bars: pd.DataFrame, state: pd.Series) -> pd.Series:
    """+1/−1 on a bar whose state (+1 long, −1 short, 0 none, NaN unknown) starts there, else 0.

    A state starts where it is non-zero and differs from the previous bar's known state, so a
    condition that holds for several bars fires once, and nothing fires before the state is known.
    """
    prev = prior(bars, state)
    fire = state.notna() & prev.notna() & (state != 0) & (state != prev)
    return state.where(fire, 0.0).fillna(0.0)


def bracket(bars: pd.DataFrame, sign: pd.Series, stop_dist: pd.Series, rr: float, confidence: pd.Series,
            template: str, **extra: pd.Series) -> pd.DataFrame:
    """Decisions where ``sign`` is ±1: entry at the close, stop ``stop_dist`` away, target ``rr`` risks away.

    ``template`` is formatted per row with ``extra``'s columns and entry, stop, target, risk, rr;
    a row whose stop distance or confidence is unknown or whose stop would not be positive is no decision.
    """
    index = bars.index
    entry = bars["close"].to_numpy("float64", na_value=np.nan)
    sign_a, dist, conf = (_values(x, index) for x in (sign, stop_dist, confidence))
    stop, target = entry - sign_a * dist, entry + sign_a * rr * dist
    with np.errstate(invalid="ignore"):
        ok = (sign_a != 0) & (dist > 0) & np.isfinite(dist) & (stop > 0) & (conf > 0)
    rows = np.flatnonzero(wanted(ns(bars["hour"]), ok))  # rows at hours run_strategy drops are not built
    if not len(rows):
        return decisions()
    cols = {"hour": pd.DatetimeIndex(bars["hour"].iloc[rows]), **{k: bars[k].to_numpy(object)[rows] for k in KEYS},
            "sign": sign_a[rows], "entry": entry[rows], "risk": dist[rows], "stop": stop[rows], "target": target[rows],
            "confidence": conf[rows], "rr": np.full(len(rows), rr)}
    cols.update({k: _values(v, index, object)[rows] for k, v in extra.items()})
    cols["side"] = np.where(cols["sign"] > 0, "long", "short")
    names = list(cols)
    reasons = []
    for values in zip(*(cols[k] for k in names), strict=True):
        r = dict(zip(names, values, strict=True))
        reasons.append(template.format(**r) + "; stop {stop:.6g} (risk {risk:.4g}), target {target:.6g} ({rr:g}R)".format(**r))
    return decisions({"hour": cols["hour"], "venue": cols["venue"], "symbol": cols["symbol"], "strategy": "",
                      "side": cols["side"], "entry": cols["entry"], "stop": cols["stop"],
                      "target": cols["target"], "confidence": cols["confidence"], "reason": reasons})


def _values(x: pd.Series | np.ndarray | float, index: pd.Index, dtype: str | type = "float64") -> np.ndarray:
    """``x`` as an array aligned to ``index`` (a Series is aligned by its index, a scalar broadcast)."""
    if isinstance(x, pd.Series):
        if not x.index.equals(index):
            x = x.reindex(index)
        return x.to_numpy(dtype, na_value=np.nan) if dtype == "float64" else x.to_numpy(dtype)
    arr = np.asarray(x, dtype=dtype)
    return np.broadcast_to(arr, (len(index),)) if arr.ndim == 0 else arr


def scaled(strength: pd.Series, full: float) -> pd.Series:
    """``strength / full`` clipped to [MIN_CONFIDENCE, 1]: a confidence that reaches 1 at ``full``."""
    return (strength / full).clip(lower=MIN_CONFIDENCE, upper=1.0)


# -- studies ---------------------------------------------------------------------------------------


def ema_cross(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Long where EMA(fast) crosses above EMA(slow), short where it crosses below (closes, span-α EMAs)."""
    bars = prepared(data.bars)
    fast, slow = int(p["fast"]), int(p["slow"])
    if fast >= slow or bars.empty:
        return decisions()
    ema_f, ema_s = (per_instrument(bars, bars["close"], lambda s, span=span: s.ewm(span=span, adjust=False).mean(),
                                   lambda f, span=span: f.ewm(span=span, adjust=False).mean()) for span in (fast, slow))
    warm = pd.Series(bar_number(bars) >= slow - 1, index=bars.index)
    sign = onset(bars, np.sign(ema_f - ema_s).where(warm))
    atr = wilder_atr(bars)
    return bracket(bars, sign, float(p["atr_mult"]) * atr, float(p["rr"]), pd.Series(PRIOR_CONFIDENCE, index=bars.index),
                   f"EMA{fast} crossed {{word}} EMA{slow} ({{f:.6g}} vs {{s:.6g}})",
                   word=pd.Series(np.where(sign > 0, "above", "below"), index=bars.index), f=ema_f, s=ema_s)


def adx_trend(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Trade the DI direction from the hour Wilder's ADX(14) is above the threshold (or the DI flips while it is).

    ADX is computed here with Wilder's smoothing (:func:`wilder_adx`, 0–100), not read from the
    feature ``adx_14``: that one is a simple-sum variant on [0, 1], so Wilder's 25 does not apply to it.
    """
    bars = prepared(data.bars)
    if bars.empty:
        return decisions()
    dmi = wilder_adx(bars)
    thr = float(p["threshold"])
    direction = np.sign(dmi["plus_di"] - dmi["minus_di"])
    state = direction.where(dmi["adx"] > thr, 0.0).where(dmi["adx"].notna() & direction.notna())
    sign = onset(bars, state)
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), scaled(dmi["adx"], ADX_MAX),
                   "ADX(14) {adx:.1f} > " + f"{thr:g}" + ", +DI {pdi:.1f} vs −DI {mdi:.1f}",
                   adx=dmi["adx"], pdi=dmi["plus_di"], mdi=dmi["minus_di"])


def breakout(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Long on the first close above the prior N bars' high, short on the first close below their low."""
    bars = prepared(data.bars)
    n = int(p["bars"])
    if bars.empty:
        return decisions()
    hi = prior(bars, per_instrument(bars, bars["high"], lambda s: s.rolling(n, min_periods=n).max(),
                                    lambda f: f.rolling(n, min_periods=n).max()))
    lo = prior(bars, per_instrument(bars, bars["low"], lambda s: s.rolling(n, min_periods=n).min(),
                                    lambda f: f.rolling(n, min_periods=n).min()))
    close = bars["close"]
    state = pd.Series(np.where(close > hi, 1.0, np.where(close < lo, -1.0, 0.0)), index=bars.index).where(hi.notna() & lo.notna())
    sign = onset(bars, state)
    level = hi.where(sign > 0, lo)
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), pd.Series(PRIOR_CONFIDENCE, index=bars.index),
                   "close {entry:.6g} beyond the prior " + f"{n}" + "-bar {word} {level:.6g}",
                   level=level, word=pd.Series(np.where(sign > 0, "high", "low"), index=bars.index))


def rsi_reversion(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Long when Wilder's RSI falls below ``lower``, short when it rises above ``upper`` (the first hour)."""
    bars = prepared(data.bars)
    lower, upper = float(p["lower"]), float(p["upper"])
    if bars.empty or lower >= upper:
        return decisions()
    rsi = wilder_rsi(bars, int(p["period"]))
    state = pd.Series(np.where(rsi < lower, 1.0, np.where(rsi > upper, -1.0, 0.0)), index=bars.index).where(rsi.notna())
    sign = onset(bars, state)
    depth = pd.Series(np.where(sign > 0, lower - rsi, rsi - upper), index=bars.index)
    band = pd.Series(np.where(sign > 0, f"below {lower:g}", f"above {upper:g}"), index=bars.index)
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), scaled(PRIOR_CONFIDENCE + (1 - PRIOR_CONFIDENCE) * depth / RSI_FULL_DEPTH, 1.0),
                   "RSI(" + f"{int(p['period'])}" + ") {rsi:.1f} {band}: revert", rsi=rsi, band=band)


def latest_funding(bars: pd.DataFrame, funding: pd.DataFrame, max_age_h: int = FUNDING_MAX_AGE_H) -> pd.Series:
    """Each bar's latest settled ``funding_apr`` of the same (venue, symbol) at or before its hour, no staler
    than ``max_age_h`` hours (NaN otherwise); decimal per year, aligned to ``bars``."""
    if funding.empty or "funding_apr" not in funding:
        return pd.Series(np.nan, index=bars.index)
    left = bars[["hour", *KEYS]].assign(hour=pd.to_datetime(bars["hour"], utc=True).astype("datetime64[ns, UTC]"),
                                        row=np.arange(len(bars)))
    right = funding[["hour", *KEYS, "funding_apr"]].dropna(subset=["funding_apr"]).assign(
        hour=lambda f: pd.to_datetime(f["hour"], utc=True).astype("datetime64[ns, UTC]"))
    merged = pd.merge_asof(left.sort_values("hour"), right.sort_values("hour"), on="hour", by=KEYS,
                           tolerance=pd.Timedelta(hours=max_age_h), allow_exact_matches=True)
    return pd.Series(merged.sort_values("row")["funding_apr"].to_numpy("float64", na_value=np.nan), index=bars.index)


def funding_harvest(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Short the perp every hour its latest funding is above ``entry_apr`` (the carry design's 20 %/yr)."""
    bars = prepared(data.bars)
    if bars.empty:
        return decisions()
    apr = latest_funding(bars, data.funding)
    thr = float(p["entry_apr"])
    sign = pd.Series(np.where(apr > thr, -1.0, 0.0), index=bars.index)
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), scaled(apr, FULL_CONFIDENCE_MULT * thr),
                   "funding {pct:.1f}%/yr above " + f"{100 * thr:g}%/yr: short the perp to collect it", pct=100.0 * apr)


def _study(name: str, fn: Callable[[StrategyInput, Mapping[str, object]], pd.DataFrame], params: tuple[Param, ...],
           lookback_h: int) -> None:
    register(Strategy(name, fn, (*params, *risk_params()), lookback_h=lookback_h, family="studies", doc=fn.__doc__ or ""))


_study("ema_cross", ema_cross, (Param("fast", int, EMA_FAST, 3, 100, "fast EMA span, bars"),
                                Param("slow", int, EMA_SLOW, 10, EMA_SLOW_MAX, "slow EMA span, bars")), EMA_WARMUP_SPANS * EMA_SLOW_MAX)
_study("adx_trend", adx_trend, (Param("threshold", float, ADX_THRESHOLD, 15.0, 50.0, "ADX(14) floor, 0–100"),), 2 * ATR_LOOKBACK_H)
_study("breakout", breakout, (Param("bars", int, BREAKOUT_BARS, 6, BREAKOUT_MAX, "channel length, bars"),),
       max(BREAKOUT_MAX, ATR_LOOKBACK_H))
_study("rsi_reversion", rsi_reversion, (Param("period", int, WILDER_PERIOD, 2, RSI_PERIOD_MAX, "RSI period, bars"),
                                        Param("lower", float, RSI_LOWER, 5.0, 45.0, "oversold band"),
                                        Param("upper", float, RSI_UPPER, 55.0, 95.0, "overbought band")), WILDER_WARMUP * RSI_PERIOD_MAX)
_study("funding_harvest", funding_harvest, (Param("entry_apr", float, FUNDING_ENTRY_APR, 0.05, 2.0, "annualised funding floor, decimal"),),
       max(FUNDING_MAX_AGE_H, ATR_LOOKBACK_H))
