"""Risk state: drawdown ladder from PEAK equity, daily loss limit, session pause, trade sizing.

Drawdown is measured from the running peak of equity (never from the starting bankroll):
``dd = 1 − equity / peak``. The ladder: ≥ 10% reduce risk (risk per trade halved), ≥ 15% reduce
exposure (new exposure capped at a quarter), ≥ 20% halt (no new risk; trips the kill switch).
A loss of ≥ 10% of the UTC day's opening equity halts too; a 5% drawdown from the session's peak
pauses new entries for the session. Sizing risks 1–2% of equity per trade, volatility-adjusted,
and a strategy with a stop and a target must offer at least 2:1 reward to risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

REDUCE_RISK_DD = 0.10
REDUCE_EXPOSURE_DD = 0.15
HALT_DD = 0.20
DAILY_LOSS_LIMIT = 0.10
SESSION_DD_PAUSE = 0.05
RISK_PER_TRADE_MIN = 0.01
RISK_PER_TRADE_MAX = 0.02
MIN_REWARD_RISK = 2.0
#: Thresholds compare with this slack: 1 − 108/120 is 0.09999999999999998 in floating point.
THRESHOLD_EPS = 1e-12
#: Exposure multiplier at each ladder level.
LEVEL_MULTIPLIER = {"normal": 1.0, "reduce_risk": 0.5, "reduce_exposure": 0.25, "halt": 0.0}


@dataclass(frozen=True)
class RiskParams:
    reduce_risk_dd: float = REDUCE_RISK_DD
    reduce_exposure_dd: float = REDUCE_EXPOSURE_DD
    halt_dd: float = HALT_DD
    daily_loss_limit: float = DAILY_LOSS_LIMIT
    session_dd_pause: float = SESSION_DD_PAUSE
    risk_per_trade_min: float = RISK_PER_TRADE_MIN
    risk_per_trade_max: float = RISK_PER_TRADE_MAX
    min_reward_risk: float = MIN_REWARD_RISK


def _equity(values: pd.Series) -> np.ndarray:
    eq = values.to_numpy(dtype="float64")
    if not np.isfinite(eq).all() or (eq <= 0).any():
        bad = values[~(np.isfinite(eq) & (eq > 0))]
        raise ValueError(f"equity must be finite and > 0; got {bad.iloc[0]} at {bad.index[0]}")
    return eq


def ladder_level(drawdown: float, params: RiskParams | None = None) -> str:
    """The drawdown ladder's level at ``drawdown`` from the peak: ``halt``, ``reduce_exposure``, ``reduce_risk`` or ``normal``."""
    p = params or RiskParams()
    if drawdown >= p.halt_dd - THRESHOLD_EPS:
        return "halt"
    if drawdown >= p.reduce_exposure_dd - THRESHOLD_EPS:
        return "reduce_exposure"
    if drawdown >= p.reduce_risk_dd - THRESHOLD_EPS:
        return "reduce_risk"
    return "normal"


def drawdown_ladder(equity: pd.Series, params: RiskParams | None = None, peak_before: float | None = None) -> pd.DataFrame:
    """Per hour: peak, drawdown from peak, ladder level and exposure multiplier.

    Parameters
    ----------
    equity : USD equity indexed by hour (UTC), ascending.
    peak_before : the equity peak carried from before the series (the ledger's stored peak).
    """
    p = params or RiskParams()
    eq = _equity(equity)
    peak = np.maximum.accumulate(eq)
    if peak_before is not None:
        peak = np.maximum(peak, peak_before)
    dd = 1.0 - eq / peak
    level = [ladder_level(float(d), p) for d in dd]
    return pd.DataFrame(
        {"equity": eq, "peak": peak, "drawdown": dd, "level": level,
         "multiplier": [LEVEL_MULTIPLIER[v] for v in level]},
        index=equity.index,
    )


def daily_loss(equity: pd.Series, params: RiskParams | None = None) -> pd.DataFrame:
    """Loss from the UTC day's opening equity (the first hour of each day) and whether it breaches."""
    p = params or RiskParams()
    eq = pd.Series(_equity(equity), index=equity.index)
    day_open = eq.groupby(eq.index.floor("D")).transform("first")
    loss = 1.0 - eq / day_open
    return pd.DataFrame({"day_open": day_open, "loss": loss, "breach": loss >= p.daily_loss_limit - THRESHOLD_EPS})


def session_paused(equity: pd.Series, params: RiskParams | None = None) -> pd.Series:
    """True from the first hour the session's drawdown from its own peak reaches the pause level."""
    p = params or RiskParams()
    eq = _equity(equity)
    dd = 1.0 - eq / np.maximum.accumulate(eq)
    return pd.Series(np.maximum.accumulate(dd >= p.session_dd_pause - THRESHOLD_EPS), index=equity.index)


def trade_risk_pct(realised_vol: float, target_vol: float, params: RiskParams | None = None) -> float:
    """Risk per trade: the max (2%) scaled by target/realised vol, clipped to [1%, 2%]; NaN vol → the min."""
    p = params or RiskParams()
    if not (math.isfinite(realised_vol) and realised_vol > 0):
        return p.risk_per_trade_min
    return _clip(p.risk_per_trade_max * target_vol / realised_vol, p.risk_per_trade_min, p.risk_per_trade_max)


def _clip(x: float, lo: float, hi: float) -> float:
    """``float(np.clip(x, lo, hi))`` of one float without numpy's call: its max-then-min, a tie and a NaN kept from the left."""
    v = x if (x != x or x >= lo) else lo
    return float(v if (v != v or v <= hi) else hi)


def position_size(equity: float, entry: float, stop: float, risk_pct: float) -> float:
    """Base quantity such that hitting the stop loses ``risk_pct`` of equity: equity·risk / |entry − stop|."""
    if not all(math.isfinite(x) and x > 0 for x in (equity, entry, stop)):
        raise ValueError(f"equity, entry and stop must be positive numbers (got {equity}, {entry}, {stop})")
    if entry == stop:
        raise ValueError("the stop must differ from the entry price")
    return equity * risk_pct / abs(entry - stop)


def reward_risk(entry: float, stop: float, target: float, side: str) -> float:
    """Reward-to-risk ratio of a trade with a stop and a target; ValueError if they are on the wrong side."""
    sign = 1.0 if side == "buy" else -1.0
    risk = sign * (entry - stop)
    reward = sign * (target - entry)
    if risk <= 0 or reward <= 0:
        raise ValueError(f"{side}: stop {stop} and target {target} must straddle the entry {entry}")
    return reward / risk


def meets_reward_risk(entry: float, stop: float, target: float, side: str, params: RiskParams | None = None) -> bool:
    return reward_risk(entry, stop, target, side) >= (params or RiskParams()).min_reward_risk - THRESHOLD_EPS
