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
CLV estimate above. Like the studies (:mod:`quant.strategies.studies`), a decision enters at the
bar's close, with a target ``rr`` risks away; only rows with ``hour ≤ H`` are read.

The array kernels (:class:`~quant.strategies.arrays.Panel`, ``rolling``, ``prior``, ``onset``,
``wilder_atr``, ``decide``) live in :mod:`quant.strategies.arrays`, shared with
:mod:`quant.strategies.stat_arb` and :mod:`quant.strategies.volatility`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.strategies.arrays import (
    HOUR_NS,
    Panel,
    coin_codes,
    decide,
    match,
    onset,
    prior,
    rolling,
    scaled,
    take,
    unique,
    wilder_atr,
)
from quant.strategies.base import (
    Param,
    Strategy,
    StrategyInput,
    decisions,
    ns,
    register,
)
from quant.strategies.studies import (
    ATR_LOOKBACK_H,
    FULL_CONFIDENCE_MULT,
    PRIOR_CONFIDENCE,
    RR,
    RR_RANGE,
    risk_params,
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
def _clv(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    rng = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        clv = (2.0 * close - high - low) / rng
        return np.where(rng > 0, volume * clv, np.nan)


def clv_delta(bars: pd.DataFrame) -> pd.Series:
    """Estimated signed volume per candle, base units: ``volume × (2c − h − l)/(h − l)``.

    Chaikin's close-location value times volume (the accumulation/distribution line's per-bar
    term); NaN where the bar has no range (``h ≤ l``), never 0.
    """
    cols = (bars[k].to_numpy("float64", na_value=np.nan) for k in ("high", "low", "close", "volume"))
    return pd.Series(_clv(*cols), index=bars.index)


def _panel_clv(p: Panel) -> np.ndarray:
    return _clv(p["high"], p["low"], p["close"], p["volume"])


def wick_flow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Long after a long lower wick, short after a long upper wick, each ≥ ``wick_ratio`` bodies on elevated volume."""
    bars = Panel.of(data.bars)
    if bars.empty:
        return decisions()
    o, h, low, c, v = (bars[k] for k in ("open", "high", "low", "close", "volume"))
    top, bottom = np.fmax(o, c), np.fmin(o, c)  # NaN-skipping, as a frame's row max/min
    body, upper, lower = top - bottom, h - top, bottom - low
    with np.errstate(divide="ignore", invalid="ignore"):
        surge = v / prior(bars, rolling(bars, v, int(p["volume_bars"]), "mean"))
        loud = surge >= float(p["volume_mult"])
        ratio = float(p["wick_ratio"])
        long_ = loud & (lower > 0) & (lower >= ratio * body) & (lower > upper)
        short = loud & (upper > 0) & (upper >= ratio * body) & (upper > lower)
        sign = np.where(long_, 1.0, np.where(short, -1.0, 0.0))
        stop_dist = np.where(sign > 0, c - low, h - c) + float(p["buffer_atr"]) * wilder_atr(bars)
        wick = np.where(sign > 0, lower, upper)
        bodies = wick / body
    return decide(bars, sign, stop_dist, float(p["rr"]), scaled(bodies, FULL_CONFIDENCE_MULT * ratio),
                  "{word} wick {wick:.6g} = {bodies:.3g}× body on {surge:.3g}× volume: cascade exhausted",
                  wick=wick, bodies=bodies, surge=surge, word=np.where(sign > 0, "lower", "upper"))


def valentini_flow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Trade with the flow from the hour the rolling CLV-delta sum's z-score reaches ±``z_entry``."""
    bars = Panel.of(data.bars)
    if bars.empty:
        return decisions()
    flow = rolling(bars, _panel_clv(bars), int(p["window"]), "sum")
    n = int(p["z_bars"])
    mean, std = prior(bars, rolling(bars, flow, n, "mean")), prior(bars, rolling(bars, flow, n, "std"))
    zin = float(p["z_entry"])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, (flow - mean) / std, np.nan)
        state = np.where(np.isnan(z), np.nan, np.where(z >= zin, 1.0, np.where(z <= -zin, -1.0, 0.0)))
    return decide(bars, onset(bars, state), float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]),
                  scaled(np.abs(z), FULL_CONFIDENCE_MULT * zin),
                  f"{int(p['window'])}-bar CLV delta " + "{flow:.6g} at z {z:+.2f} (vs " + f"{n} prior sums): ride the flow",
                  flow=flow, z=z)


def coin_open_interest(open_interest: pd.DataFrame) -> pd.DataFrame:
    """Open interest per (coin, hour), USD, summed over the venues and quotes that report the coin."""
    oi = open_interest.dropna(subset=["oi_usd"]).assign(coin=lambda f: f["symbol"].astype(str).str.split("/").str[0])
    return oi.groupby(["coin", "hour"], as_index=False)["oi_usd"].sum(min_count=1)


def _coin_oi(open_interest: pd.DataFrame, vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`coin_open_interest` as arrays (coin code in ``vocab``, hour ns, oi_usd), one row per (coin, hour).

    Where every (coin, hour) has one report, its sum is that report (``0.0 + x``, as pandas sums one
    value) and nothing is grouped; several reports are summed by :func:`coin_open_interest`.
    """
    usd = open_interest["oi_usd"].to_numpy("float64", na_value=np.nan)
    known = ~np.isnan(usd)
    coin, hour = coin_codes(open_interest["symbol"], vocab)[known], ns(open_interest["hour"])[known]
    if unique(coin, hour):
        return coin, hour, 0.0 + usd[known]
    table = coin_open_interest(open_interest)
    return coin_codes(table["coin"], vocab), ns(table["hour"]), table["oi_usd"].to_numpy("float64")


def oi_flow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Fade a move open interest does not back: price up & OI down → short; price down & OI up → long.

    A rise on falling OI is shorts covering, not new longs; a fall on rising OI is shorts piling
    in, the fuel of a squeeze. Both are compared over ``window`` hours (hour H vs H − window, by
    time, so a missing hour is NaN, not a shorter window).
    """
    bars = Panel.of(data.bars)
    oi = data.open_interest
    if bars.empty or oi is None or oi.empty or "oi_usd" not in oi:
        return decisions()
    then = bars.hour - int(p["window"]) * HOUR_NS
    vocab: dict[str, int] = {}
    coin = bars.coin_codes(vocab)
    oi_coin, oi_hour, oi_usd = _coin_oi(oi, vocab)
    at_now, at_then = match(coin, bars.hour, oi_coin, oi_hour), match(coin, then, oi_coin, oi_hour)
    past = match(bars.instrument, then, bars.instrument, bars.hour)
    close = bars["close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        oi_chg = take(oi_usd, at_now) / take(oi_usd, at_then) - 1.0
        px_chg = close / take(close, past) - 1.0
        move, change = float(p["price_move"]), float(p["oi_change"])
        state = np.where((px_chg > move) & (oi_chg < -change), -1.0, np.where((px_chg < -move) & (oi_chg > change), 1.0, 0.0))
    state[np.isnan(oi_chg) | np.isnan(px_chg)] = np.nan
    return decide(bars, onset(bars, state), float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]),
                  scaled(np.abs(oi_chg), FULL_CONFIDENCE_MULT * max(change, OI_CONFIDENCE_MIN_CHANGE)),
                  f"over {int(p['window'])}h price " + "{px:+.2%} while OI {oi:+.2%}: fade the move", px=px_chg, oi=oi_chg)


def footprint_divergence(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Short a new N-bar high made on negative cumulative CLV delta, long a new N-bar low on positive delta."""
    bars = Panel.of(data.bars)
    if bars.empty:
        return decisions()
    n = int(p["bars"])
    high, low = bars["high"], bars["low"]
    hi, lo = prior(bars, rolling(bars, high, n, "max")), prior(bars, rolling(bars, low, n, "min"))
    cum = rolling(bars, _panel_clv(bars), n, "sum")
    with np.errstate(invalid="ignore"):
        state = np.where((high > hi) & (cum < 0), -1.0, np.where((low < lo) & (cum > 0), 1.0, 0.0))
    state[np.isnan(hi) | np.isnan(lo) | np.isnan(cum)] = np.nan
    sign = onset(bars, state)
    return decide(bars, sign, float(p["atr_mult"]) * wilder_atr(bars), float(p["rr"]), np.full(len(sign), PRIOR_CONFIDENCE),
                  f"new {n}-bar " + "{word} on " + f"{n}-bar CLV delta " + "{cum:+.6g}: flow diverges",
                  word=np.where(sign < 0, "high", "low"), cum=cum)


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
