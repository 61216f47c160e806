"""The allocator: bankroll-% budgets for L1/L2/L3/ML/ST, base 25/25/15/20/15 shifted by signal strength.

Every amount is ``bankroll_usd × a percentage``: bumping the bankroll is the only change needed to
grow. Each hour the layers report a signal strength in [0, 1] (L1: how much of the carry book the
scanner fills with eligible symbols; L2: the cascade score while armed; L3: 1 while a hedge is
wanted; ML: the best probability among the hour's predictions that may trade; ST: the best
confidence among the strategies' decisions, 1 while one is held). The split of the
deployable capital is::

    w_l = base_l × (1 + tilt × (s_l − mean(s)))   for layers with s_l > 0, else 0
    w   = w / sum(w) × (share of base weight that has a signal)

so a layer with no signal gets nothing, and its base share is held back as cash rather than
piled onto the others. Budgets are then capped: total deployed ≤ 50%, the L2 ladder ≤ 20%, the
ML sleeve ≤ 20% (its own exposure cap, ``quant.ml.sizing``), and L3 spends premium under a daily
theta budget of 0.5% of bankroll (sized in ``quant.options``).

The base weights: the ML sleeve (spot, long only) gets 0.20 — at most a fifth of the deployable
capital at equal strength, 10% of the bankroll — taken from the carry layer (0.60 before it
existed), so the L2 ladder's and the L3 premium's budgets are unchanged. The strategies layer (ST:
the registry's independent strategies, each trade risking 1% of equity, at most three at once)
gets 0.15, taken from carry too (0.40 before): 7.5% of the bankroll at equal strength.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from quant.book.orders import LAYERS, ML_LAYER
from quant.book.safeguards import MAX_LADDER_PCT, MAX_POSITION_PCT, MAX_TOTAL_PCT, MIN_POSITION_PCT
from quant.ml.sizing import MlSleeveParams

BASE_WEIGHTS = {"L1": 0.25, "L2": 0.25, "L3": 0.15, "ML": 0.20, "ST": 0.15}
MAX_ML_PCT = MlSleeveParams().max_exposure_pct
TILT = 0.5
THETA_BUDGET_PCT = 0.005


@dataclass(frozen=True)
class AllocatorParams:
    base_weights: Mapping[str, float] = field(default_factory=lambda: dict(BASE_WEIGHTS))
    tilt: float = TILT
    max_total_pct: float = MAX_TOTAL_PCT
    max_ladder_pct: float = MAX_LADDER_PCT
    theta_budget_pct: float = THETA_BUDGET_PCT
    max_ml_pct: float = MAX_ML_PCT
    max_position_pct: float = MAX_POSITION_PCT
    min_position_pct: float = MIN_POSITION_PCT

    def __post_init__(self) -> None:
        if set(self.base_weights) != set(LAYERS) or abs(sum(self.base_weights.values()) - 1.0) > 1e-9:
            raise ValueError(f"base weights must cover {LAYERS} and sum to 1, got {dict(self.base_weights)}")


def allocate(bankroll_usd: float, strength: Mapping[str, float], params: AllocatorParams | None = None,
             risk_multiplier: float = 1.0) -> pd.DataFrame:
    """:func:`allocation_rows` as a table (one row per layer)."""
    return pd.DataFrame(allocation_rows(bankroll_usd, strength, params, risk_multiplier))


def allocation_rows(bankroll_usd: float, strength: Mapping[str, float], params: AllocatorParams | None = None,
                    risk_multiplier: float = 1.0) -> list[dict]:
    """Per-layer weight and USD budget for one hour.

    Parameters
    ----------
    bankroll_usd : current bankroll (equity), USD, > 0.
    strength : signal strength per layer in [0, 1]; NaN counts as no signal.
    risk_multiplier : the drawdown ladder's exposure multiplier (1, 0.5, 0.25 or 0).

    Returns
    -------
    One row per layer: ``strength, weight, budget_usd, cap_usd, max_position_usd,
    min_position_usd, theta_budget_usd, reason``.
    """
    p = params or AllocatorParams()
    if not (math.isfinite(bankroll_usd) and bankroll_usd > 0):
        raise ValueError(f"bankroll_usd must be a positive amount, got {bankroll_usd}")
    if not 0.0 <= risk_multiplier <= 1.0:
        raise ValueError(f"risk_multiplier must be in [0, 1], got {risk_multiplier}")
    s = {layer: _clean(strength.get(layer, math.nan)) for layer in LAYERS}
    active = [layer for layer in LAYERS if s[layer] > 0]
    mean_s = sum(s[layer] for layer in active) / len(active) if active else 0.0
    raw = {layer: max(0.0, p.base_weights[layer] * (1 + p.tilt * (s[layer] - mean_s))) if layer in active else 0.0 for layer in LAYERS}
    share = sum(p.base_weights[layer] for layer in active)
    total_raw = sum(raw.values())
    weight = {layer: (raw[layer] / total_raw * share if total_raw > 0 else 0.0) for layer in LAYERS}
    deployable = bankroll_usd * p.max_total_pct * risk_multiplier
    rows = []
    for layer in LAYERS:
        budget = deployable * weight[layer]
        cap = {"L2": bankroll_usd * p.max_ladder_pct, ML_LAYER: bankroll_usd * p.max_ml_pct}.get(layer, deployable)
        rows.append({
            "layer": layer, "strength": s[layer], "weight": weight[layer], "budget_usd": min(budget, cap),
            "cap_usd": cap, "max_position_usd": bankroll_usd * p.max_position_pct,
            "min_position_usd": bankroll_usd * p.min_position_pct,
            "theta_budget_usd": bankroll_usd * p.theta_budget_pct * risk_multiplier if layer == "L3" else 0.0,
            "reason": _reason(layer, s[layer], weight[layer], budget, cap, risk_multiplier),
        })
    return rows


def _clean(value: float) -> float:
    return 0.0 if not math.isfinite(value) else min(1.0, max(0.0, value))


def _reason(layer: str, s: float, w: float, budget: float, cap: float, mult: float) -> str:
    if s <= 0:
        return f"{layer}: no signal, base share held as cash"
    text = f"{layer}: strength {s:.2f} -> {w:.1%} of deployable"
    if budget > cap:
        text += f", capped at {cap:,.0f} USD"
    if mult < 1.0:
        text += f", drawdown multiplier {mult:g}"
    return text
