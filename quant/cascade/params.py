"""Named constants, the frozen configuration and the window helper of the L2 cascade layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
PERCENT = 100.0
FUNDING_REFERENCE_HOURS = 8.0
DOWN, UP = "down", "up"
BUY, SELL = "buy", "sell"
SIDE_OF_DIRECTION = {DOWN: BUY, UP: SELL}
DEPTH_UNITS = ("pct", "atr")
#: Relative slack when testing reward:risk against its minimum, so 4.000000000000001 vs 4 passes.
REWARD_RISK_SLACK = 1e-9

STATUS_OK = "ok"
STATUS_NO_OI = "no OI"
STATUS_SHORT_OI = "insufficient OI history"
STATUS_NO_PRICE = "no price"
STATUS_SHORT_PRICE = "insufficient price history"
STATUS_NO_FUNDING = "no funding"

SCORE_COLUMNS = [
    "hour", "venue", "symbol", "oi_usd", "oi_history_hours", "oi_pct_rank", "oi_signal",
    "funding_rate_8h", "funding_signal", "rv_24h", "rv_7d", "vol_ratio", "compression_signal",
    "score", "direction", "close", "status",
]
RUNG_COLUMNS = ["rung", "side", "limit", "qty", "stop", "target", "notional_usd", "reward_risk"]


@dataclass(frozen=True)
class CascadeParams:
    """Every knob of the L2 layer, named. Fractions are of the reference price unless in ATR.

    Score: ``oi_signal`` ramps the percentile rank of the current open interest within its
    trailing ``oi_window_h`` hours from ``oi_pct_zero`` (0) to ``oi_pct_full`` (1), NaN with
    fewer than ``oi_min_history_h`` hours of data. ``funding_signal`` ramps |funding per 8h| from
    0 to ``funding_full_8h``. ``compression_signal`` ramps ``rv_24h / rv_7d`` from
    ``ratio_zero`` (0) down to ``ratio_full`` (1).

    Ladder: rung k rests ``depths[k]`` (fraction of price, or ATRs when ``depth_unit="atr"``)
    beyond the price with ``sizes[k]`` of the budget; its stop sits ``stop_offset`` further out.
    Targets must pay at least ``min_reward_risk``; see :func:`build_ladder`.
    """

    weight_oi: float = 0.55
    weight_funding: float = 0.20
    weight_compression: float = 0.25
    oi_window_h: int = 168
    oi_min_history_h: int = 72
    oi_pct_zero: float = 70.0
    oi_pct_full: float = 95.0
    funding_full_8h: float = 0.001
    funding_max_age_h: int = 24
    vol_short_h: int = 24
    vol_long_h: int = 168
    vol_min_returns_short: int = 24
    vol_min_returns_long: int = 144
    ratio_zero: float = 1.0
    ratio_full: float = 0.5
    trigger: float = 0.6
    hold: float = 0.4
    depths: tuple[float, ...] = (0.015, 0.03, 0.05)
    sizes: tuple[float, ...] = (0.25, 0.35, 0.40)
    depth_unit: str = "pct"
    stop_offset: float = 0.02
    min_reward_risk: float = 2.0
    max_target_overshoot: float = 0.03

    def __post_init__(self) -> None:
        _check_score_params(self)
        _check_ladder_params(self)

    @property
    def oi_lookback(self) -> pd.Timedelta:
        """Open interest needed before the first hour scored."""
        return (self.oi_window_h - 1) * HOUR

    @property
    def price_lookback(self) -> pd.Timedelta:
        """Candles needed before the first hour scored (``vol_long_h`` returns need one more close)."""
        return self.vol_long_h * HOUR


def _check_score_params(p: CascadeParams) -> None:
    if not np.isclose(p.weight_oi + p.weight_funding + p.weight_compression, 1.0, rtol=0, atol=1e-12):
        raise ValueError("score weights must sum to 1")
    if not 0 < p.oi_min_history_h <= p.oi_window_h:
        raise ValueError("need 0 < oi_min_history_h <= oi_window_h")
    if not 0 < p.vol_min_returns_short <= p.vol_short_h < p.vol_long_h:
        raise ValueError("need 0 < vol_min_returns_short <= vol_short_h < vol_long_h")
    if not 0 < p.vol_min_returns_long <= p.vol_long_h:
        raise ValueError("need 0 < vol_min_returns_long <= vol_long_h")
    if not p.hold < p.trigger:
        raise ValueError(f"hold {p.hold} must be below trigger {p.trigger} (hysteresis)")


def _check_ladder_params(p: CascadeParams) -> None:
    if len(p.depths) != len(p.sizes):
        raise ValueError(f"{len(p.depths)} depths but {len(p.sizes)} sizes")
    if any(s < 0 for s in p.sizes) or sum(p.sizes) > 1.0 + 1e-12:
        raise ValueError(f"sizes {p.sizes} must be >= 0 and sum to at most 1 of the budget")
    if p.depth_unit not in DEPTH_UNITS:
        raise ValueError(f"depth_unit must be one of {DEPTH_UNITS}, got {p.depth_unit!r}")
    if not (p.stop_offset > 0 and p.min_reward_risk > 0 and p.max_target_overshoot >= 0):
        raise ValueError("need stop_offset > 0, min_reward_risk > 0, max_target_overshoot >= 0")


# -- signals ----------------------------------------------------------------------------------


def trailing_windows(values: np.ndarray, window: int) -> np.ndarray:
    """View of the ``window`` rows ending at each row (NaN-padded before the first), last axis."""
    pad = np.full((window - 1, *values.shape[1:]), np.nan)
    return np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, values]), window, axis=0)
