"""Flow strategies: wick exhaustion, candle-level order-flow momentum, open interest divergence, delta divergence.

The data has no taker-buy volume, so each candle's signed volume ("delta") is estimated from
where it closed in its range — the close-location value of Chaikin's accumulation/distribution
line (Chaikin's money-flow multiplier): ``delta = volume × (2c − h − l)/(h − l)``, base units,
+volume for a close at the high, −volume at the low, NaN for a zero-range bar (no location).
The same CLV delta feeds :func:`valentini_flow` (its rolling sum's z-score) and
:func:`footprint_divergence` (a new high made on net selling). Open interest comes from
``open_interest_1h`` and is matched to bars by coin (``BTC/USDT:USDT`` ↔ ``BTC/USDC:USDC``):
the bundled OI is Hyperliquid's, quoted in USDC, while the bars are Binance's and Bybit's USDT
perps. "ValentiniFlow" is the journal's name for the flow-momentum study; the formula is the
CLV estimate above. Like the studies (:mod:`quant.strategies.studies`, whose kernels these reuse), a decision
enters at the bar's close, with a target ``rr`` risks away; only rows with ``hour ≤ H`` are read.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.strategies.base import Param, Strategy, StrategyInput, decisions, register
from quant.strategies.studies import (
    ATR_LOOKBACK_H,
    FULL_CONFIDENCE_MULT,
    KEYS,
    PRIOR_CONFIDENCE,
    RR,
    RR_RANGE,
    bracket,
    onset,
    per_instrument,
    prepared,
    prior,
    risk_params,
    scaled,
    wilder_atr,
)

#: A reversal wick is at least this many bodies long (the journal's cascade-exhaustion rule: ≥ 2× body).
WICK_BODY_RATIO = 2.0
#: Elevated volume: at least this multiple of the mean volume of the prior bars (journal default).
WICK_VOLUME_MULT = 1.5
#: Prior bars in the wick's volume norm (one day of 1h bars, as the features' volume_surge).
VOLUME_NORM_BARS = 24
#: The wick's stop sits this many ATR(14)s beyond the wick's extreme (room for a retest).
WICK_STOP_BUFFER_ATR = 0.25
#: Bars in the rolling CLV-delta sum of the flow momentum (one day).
FLOW_WINDOW = 24
#: Prior flow sums the z-score is measured against (one week of 1h bars).
FLOW_Z_BARS = 168
#: |z| at or above which flow momentum trades (a two-sigma flow day).
FLOW_Z_ENTRY = 2.0
#: Hours over which open interest and price are compared (one day).
OI_WINDOW_H = 24
#: Smallest price move (fraction) and open-interest change (fraction) that count as a divergence.
OI_PRICE_MOVE = 0.01
OI_CHANGE = 0.02
#: The OI change that scales confidence when ``oi_change`` is searched down to 0 (0.1 %).
OI_CONFIDENCE_MIN_CHANGE = 1e-3
#: Search-range maxima that set the look-backs.
WINDOW_MAX, Z_BARS_MAX, CHANNEL_MAX = 168, 720, 240


def clv_delta(bars: pd.DataFrame) -> pd.Series:
    """Estimated signed volume per candle, base units: ``volume × (2c − h − l)/(h − l)``.

    Chaikin's close-location value times volume (the accumulation/distribution line's per-bar
    term); NaN where the bar has no range (``h ≤ l``), never 0.
    """
    rng = bars["high"] - bars["low"]
    with np.errstate(divide="ignore", invalid="ignore"):
        clv = (2.0 * bars["close"] - bars["high"] - bars["low"]) / rng
    return (bars["volume"] * clv).where(rng > 0)


def _rolling(bars: pd.DataFrame, values: pd.Series, n: int, how: str) -> pd.Series:
    """Trailing ``n``-bar ``how`` (sum/mean/max/min/std) per instrument, NaN until the window is full."""
    return per_instrument(bars, values, lambda s: getattr(s.rolling(n, min_periods=n), how)())


def _lookup(left: pd.DataFrame, keys: list[str], right: pd.DataFrame, column: str) -> pd.Series:
    """``right[column]`` at each ``left`` row's (keys, hour) — an exact match, NaN where there is none."""
    def utc(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(hour=pd.to_datetime(df["hour"], utc=True).astype("datetime64[ns, UTC]"))

    merged = utc(left[[*keys, "hour"]]).merge(utc(right[[*keys, "hour", column]]), on=[*keys, "hour"], how="left")
    return pd.Series(merged[column].to_numpy("float64", na_value=np.nan), index=left.index)


def wick_flow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Long after a long lower wick, short after a long upper wick, each ≥ ``wick_ratio`` bodies on elevated volume."""
    bars = prepared(data.bars)
    if bars.empty:
        return decisions()
    top, bottom = bars[["open", "close"]].max(axis=1), bars[["open", "close"]].min(axis=1)
    body, upper, lower = top - bottom, bars["high"] - top, bottom - bars["low"]
    surge = bars["volume"] / prior(bars, _rolling(bars, bars["volume"], int(p["volume_bars"]), "mean"))
    loud = surge >= float(p["volume_mult"])
    ratio = float(p["wick_ratio"])
    long_ = loud & (lower > 0) & (lower >= ratio * body) & (lower > upper)
    short = loud & (upper > 0) & (upper >= ratio * body) & (upper > lower)
    sign = pd.Series(np.where(long_, 1.0, np.where(short, -1.0, 0.0)), index=bars.index)
    buffer = float(p["buffer_atr"]) * wilder_atr(bars)
    stop_dist = pd.Series(np.where(sign > 0, bars["close"] - bars["low"], bars["high"] - bars["close"]), index=bars.index) + buffer
    wick = lower.where(sign > 0, upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        bodies = wick / body
    return bracket(bars, sign, stop_dist, float(p["rr"]), scaled(bodies, FULL_CONFIDENCE_MULT * ratio),
                   "{word} wick {wick:.6g} = {bodies:.3g}× body on {surge:.3g}× volume: cascade exhausted",
                   wick=wick, bodies=bodies, surge=surge, word=pd.Series(np.where(sign > 0, "lower", "upper"), index=bars.index))


def valentini_flow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Trade with the flow from the hour the rolling CLV-delta sum's z-score reaches ±``z_entry``."""
    bars = prepared(data.bars)
    if bars.empty:
        return decisions()
    flow = _rolling(bars, clv_delta(bars), int(p["window"]), "sum")
    n = int(p["z_bars"])
    mean, std = prior(bars, _rolling(bars, flow, n, "mean")), prior(bars, _rolling(bars, flow, n, "std"))
    z = ((flow - mean) / std).where(std > 0)
    zin = float(p["z_entry"])
    state = pd.Series(np.where(z >= zin, 1.0, np.where(z <= -zin, -1.0, 0.0)), index=bars.index).where(z.notna())
    sign = onset(bars, state)
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), scaled(z.abs(), FULL_CONFIDENCE_MULT * zin),
                   f"{int(p['window'])}-bar CLV delta " + "{flow:.6g} at z {z:+.2f} (vs " + f"{n} prior sums): ride the flow",
                   flow=flow, z=z)


def coin_open_interest(open_interest: pd.DataFrame) -> pd.DataFrame:
    """Open interest per (coin, hour), USD, summed over the venues and quotes that report the coin."""
    oi = open_interest.dropna(subset=["oi_usd"]).assign(coin=lambda f: f["symbol"].astype(str).str.split("/").str[0])
    return oi.groupby(["coin", "hour"], as_index=False)["oi_usd"].sum(min_count=1)


def oi_flow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Fade a move open interest does not back: price up & OI down → short; price down & OI up → long.

    A rise on falling OI is shorts covering, not new longs; a fall on rising OI is shorts piling
    in, the fuel of a squeeze. Both are compared over ``window`` hours (hour H vs H − window, by
    time, so a missing hour is NaN, not a shorter window).
    """
    bars = prepared(data.bars)
    oi = data.open_interest
    if bars.empty or oi is None or oi.empty or "oi_usd" not in oi:
        return decisions()
    w = pd.Timedelta(hours=int(p["window"]))
    table = coin_open_interest(oi)
    now = bars[["hour", *KEYS]].assign(coin=bars["symbol"].astype(str).str.split("/").str[0])
    then = now.assign(hour=pd.to_datetime(now["hour"], utc=True) - w)
    oi_chg = _lookup(now, ["coin"], table, "oi_usd") / _lookup(then, ["coin"], table, "oi_usd") - 1.0
    px_chg = bars["close"] / _lookup(then, KEYS, bars, "close") - 1.0
    move, change = float(p["price_move"]), float(p["oi_change"])
    state = pd.Series(np.where((px_chg > move) & (oi_chg < -change), -1.0,
                               np.where((px_chg < -move) & (oi_chg > change), 1.0, 0.0)), index=bars.index)
    sign = onset(bars, state.where(oi_chg.notna() & px_chg.notna()))
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), scaled(oi_chg.abs(), FULL_CONFIDENCE_MULT * max(change, OI_CONFIDENCE_MIN_CHANGE)),
                   f"over {int(p['window'])}h price " + "{px:+.2%} while OI {oi:+.2%}: fade the move", px=px_chg, oi=oi_chg)


def footprint_divergence(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Short a new N-bar high made on negative cumulative CLV delta, long a new N-bar low on positive delta."""
    bars = prepared(data.bars)
    if bars.empty:
        return decisions()
    n = int(p["bars"])
    hi, lo = prior(bars, _rolling(bars, bars["high"], n, "max")), prior(bars, _rolling(bars, bars["low"], n, "min"))
    cum = _rolling(bars, clv_delta(bars), n, "sum")
    state = pd.Series(np.where((bars["high"] > hi) & (cum < 0), -1.0,
                               np.where((bars["low"] < lo) & (cum > 0), 1.0, 0.0)), index=bars.index)
    sign = onset(bars, state.where(hi.notna() & lo.notna() & cum.notna()))
    word = pd.Series(np.where(sign < 0, "high", "low"), index=bars.index)
    return bracket(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), pd.Series(PRIOR_CONFIDENCE, index=bars.index),
                   f"new {n}-bar " + "{word} on " + f"{n}-bar CLV delta " + "{cum:+.6g}: flow diverges", word=word, cum=cum)


register(Strategy("wick_flow", wick_flow, (
    Param("wick_ratio", float, WICK_BODY_RATIO, 1.0, 5.0, "wick length in bodies"),
    Param("volume_mult", float, WICK_VOLUME_MULT, 1.0, 5.0, "volume over its prior mean"),
    Param("volume_bars", int, VOLUME_NORM_BARS, 6, WINDOW_MAX, "bars in the volume norm"),
    Param("buffer_atr", float, WICK_STOP_BUFFER_ATR, 0.0, 2.0, "stop beyond the wick, ATRs"),
    Param("rr", float, RR, *RR_RANGE, doc="target distance in risks (≥ the 2:1 floor)")),
    lookback_h=max(WINDOW_MAX, ATR_LOOKBACK_H), family="flow", doc=wick_flow.__doc__ or ""))
register(Strategy("valentini_flow", valentini_flow, (
    Param("window", int, FLOW_WINDOW, 4, WINDOW_MAX, "bars in the delta sum"),
    Param("z_bars", int, FLOW_Z_BARS, 24, Z_BARS_MAX, "prior sums in the z-score"),
    Param("z_entry", float, FLOW_Z_ENTRY, 1.0, 4.0, "|z| that trades"), *risk_params()),
    lookback_h=max(WINDOW_MAX + Z_BARS_MAX, ATR_LOOKBACK_H), family="flow", doc=valentini_flow.__doc__ or ""))
register(Strategy("oi_flow", oi_flow, (
    Param("window", int, OI_WINDOW_H, 4, WINDOW_MAX, "hours compared"),
    Param("price_move", float, OI_PRICE_MOVE, 0.0, 0.10, "price move, fraction"),
    Param("oi_change", float, OI_CHANGE, 0.0, 0.20, "OI change, fraction"), *risk_params()),
    lookback_h=max(WINDOW_MAX + 1, ATR_LOOKBACK_H), family="flow", doc=oi_flow.__doc__ or ""))
register(Strategy("footprint_divergence", footprint_divergence, (
    Param("bars", int, FLOW_WINDOW, 6, CHANNEL_MAX, "channel and delta bars"), *risk_params()),
    lookback_h=max(CHANNEL_MAX, ATR_LOOKBACK_H), family="flow", doc=footprint_divergence.__doc__ or ""))
