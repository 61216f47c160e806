"""The L2 mean-reversion limit ladder: rungs beyond the price with stops and 2:1 targets.

Split from :mod:`quant.cascade` (which arms it); see that module for the design and direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from quant.cascade.params import (
    BUY,
    DOWN,
    REWARD_RISK_SLACK,
    RUNG_COLUMNS,
    SIDE_OF_DIRECTION,
    UP,
    CascadeParams,
    trailing_windows,
)


@dataclass(frozen=True)
class Rung:
    """One resting limit order. ``rung`` 1 is nearest the price; ``qty`` is in base units."""

    rung: int
    side: str
    limit: float
    qty: float
    stop: float
    target: float
    notional_usd: float
    reward_risk: float


@dataclass(frozen=True)
class Ladder:
    """The rungs placed, and one sentence per rung dropped (its budget share stays unspent)."""

    direction: str
    reference_price: float
    budget_usd: float
    rungs: tuple[Rung, ...]
    rejected: tuple[str, ...]


def build_ladder(
    price: float, budget_usd: float, direction: str, params: CascadeParams | None = None,
    atr: float | None = None,
) -> Ladder:
    """Mean-reversion limit ladder beyond ``price`` on the cascade's side.

    Parameters
    ----------
    price : reference price (quote currency), normally the scored hour's close.
    budget_usd : the layer's ladder budget in USD (the allocator caps it, 20% of bankroll).
    direction : "down" (buy ladder below the price) or "up" (sell ladder above).
    atr : average true range in quote currency; required when ``depth_unit == "atr"``.

    Returns
    -------
    :class:`Ladder`. Rung k: ``limit = price ∓ depth_k``, ``stop = limit ∓ stop_offset``,
    ``qty = budget · size_k / limit``. Target: full reversion to ``price`` when that pays at
    least ``min_reward_risk`` (2:1); otherwise the nearest price that does
    (``limit ± 2·risk``), and the rung is dropped when that lies more than
    ``max_target_overshoot`` of the price beyond ``price`` — a gain the reversion thesis does
    not support — or at or below zero.

    Raises
    ------
    ValueError
        Unknown direction, non-positive price, negative budget, missing ATR, or a rung on the
        wrong side of the price (a buy rung at or above it, a sell rung at or below it).
    """
    p = params or CascadeParams()
    side = _side(direction)
    unit = _depth_unit_size(price, budget_usd, p, atr)
    away = -1.0 if side == BUY else 1.0  # rungs sit beyond the price in the cascade's direction
    rungs: list[Rung] = []
    rejected: list[str] = []
    for k, (depth, size) in enumerate(zip(p.depths, p.sizes, strict=True), start=1):
        limit = price + away * depth * unit
        if away * (limit - price) <= 0 or limit <= 0:
            raise ValueError(f"{side} rung {k} at {limit:g} is not {'below' if side == BUY else 'above'} "
                             f"the price {price:g}")
        stop = limit + away * p.stop_offset * unit
        target, why = _target(price, limit, stop, p)
        if why:
            rejected.append(f"rung {k} at {limit:g}: {why}")
            continue
        qty = budget_usd * size / limit
        risk = abs(limit - stop)
        rungs.append(Rung(k, side, limit, qty, stop, target, qty * limit, abs(target - limit) / risk))
    return Ladder(direction, float(price), float(budget_usd), tuple(rungs), tuple(rejected))


def _side(direction: str) -> str:
    if direction not in SIDE_OF_DIRECTION:
        raise ValueError(f"direction must be {DOWN!r} or {UP!r}, got {direction!r} (no ladder without one)")
    return SIDE_OF_DIRECTION[direction]


def _depth_unit_size(price: float, budget_usd: float, p: CascadeParams, atr: float | None) -> float:
    if not (np.isfinite(price) and price > 0):
        raise ValueError(f"price must be a positive number, got {price}")
    if not (np.isfinite(budget_usd) and budget_usd >= 0):
        raise ValueError(f"budget_usd must be a number >= 0, got {budget_usd}")
    if p.depth_unit == "pct":
        return float(price)
    if atr is None or not (np.isfinite(atr) and atr > 0):
        raise ValueError(f"depth_unit 'atr' needs a positive atr, got {atr}")
    return float(atr)


def _target(price: float, limit: float, stop: float, p: CascadeParams) -> tuple[float, str]:
    """(target, "") or (nan, why the rung cannot pay min_reward_risk)."""
    toward = 1.0 if limit < price else -1.0  # the snap-back runs back toward the price
    needed = p.min_reward_risk * abs(limit - stop)
    if abs(price - limit) >= needed * (1 - REWARD_RISK_SLACK):
        return float(price), ""
    target = limit + toward * needed
    overshoot = abs(target - price)
    if overshoot > p.max_target_overshoot * price * (1 + REWARD_RISK_SLACK):
        return np.nan, (f"a {p.min_reward_risk:g}:1 target ({target:g}) lies {overshoot / price:.2%} "
                        f"beyond the price, more than {p.max_target_overshoot:.2%}")
    if target <= 0:
        return np.nan, f"a {p.min_reward_risk:g}:1 target would be {target:g} (<= 0)"
    return float(target), ""


def rungs_frame(ladder: Ladder) -> pd.DataFrame:
    """The ladder's rungs as rows with :data:`RUNG_COLUMNS`."""
    return pd.DataFrame([vars(r) for r in ladder.rungs], columns=RUNG_COLUMNS).astype(
        {"rung": "int64", "side": "str", **dict.fromkeys(RUNG_COLUMNS[2:], "float64")}
    )


def average_true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike, window: int = 14) -> np.ndarray:
    """Simple mean of the true range over the trailing ``window`` bars (Wilder 1978, unsmoothed).

    ``TR = max(high - low, |high - prev close|, |low - prev close|)``; the first bar has no
    previous close and is NaN. A plain window mean (not Wilder's recursive smoothing) keeps each
    hour's value a function of its own window only. NaN unless the window is complete.
    """
    h, lo, c = (np.asarray(a, dtype="float64") for a in (high, low, close))
    prev = np.concatenate([[np.nan], c[:-1]])
    tr = np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))
    return trailing_windows(tr, window).mean(axis=-1)
