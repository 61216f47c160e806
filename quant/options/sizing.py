"""L3 tail hedge: how many strangles a daily theta budget buys.

The hedge's cost is its time decay, so the budget caps the position's |theta| (USD per calendar
day) at a fraction of bankroll (CONVENTIONS: every money knob a percent of bankroll), in whole
multiples of the venue's minimum amount.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quant.options.strangle import Strangle

#: Deribit ``min_trade_amount`` of option contracts (one contract = one coin), which is also the
#: step an amount must be a multiple of (``get_instruments``, recorded in ``DERIBIT.0``).
MIN_TRADE_AMOUNT = {"ETH": 1.0, "BTC": 0.1}
#: Slack when flooring budget/theta to whole steps, so 3.0 - 1e-15 still buys 3 steps.
STEP_EPSILON = 1e-9


@dataclass(frozen=True)
class ThetaBudget:
    """How much time decay the hedge may cost per day.

    Attributes
    ----------
    theta_budget_pct : the cap on |theta| per calendar day, fraction of bankroll (0.005 = 0.5 %).
    min_trade_amount : the venue's minimum and step of an amount, contracts (ETH 1.0, BTC 0.1).
    """

    theta_budget_pct: float = 0.005
    min_trade_amount: float = MIN_TRADE_AMOUNT["ETH"]

    def __post_init__(self) -> None:
        if not 0 < self.theta_budget_pct <= 1:
            raise ValueError("theta_budget_pct must be in (0, 1]")
        if not self.min_trade_amount > 0:
            raise ValueError("min_trade_amount must be positive")


@dataclass(frozen=True)
class StrangleSize:
    """Contracts per leg and what they cost.

    Attributes
    ----------
    contracts : amount of EACH leg, contracts (a multiple of the minimum; 0.0 when even the
        minimum would breach the budget — see ``below_minimum``).
    budget_usd_per_day : ``theta_budget_pct × bankroll_usd``, USD per day.
    theta_usd_per_day : the position's theta, USD per day (≤ 0, |theta| ≤ budget).
    premium_usd : cost of the position at the ask, USD.
    below_minimum : True when the budget cannot afford one minimum amount.
    """

    contracts: float
    budget_usd_per_day: float
    theta_usd_per_day: float
    premium_usd: float
    below_minimum: bool


def contracts_for_theta_budget(
    theta_usd_per_contract: float, bankroll_usd: float, budget: ThetaBudget | None = None
) -> float:
    """Largest amount, a whole multiple of ``min_trade_amount``, whose |theta| fits the budget.

    ``floor(theta_budget_pct × bankroll_usd / |theta| / step) × step``; 0.0 when below one step.

    Parameters
    ----------
    theta_usd_per_contract : theta of one contract (one of each leg for a strangle), USD per day.
    bankroll_usd : the layer's bankroll, USD.

    Raises
    ------
    ValueError : bankroll ≤ 0 or not finite; theta not finite or 0 (the size is undefined).
    """
    budget = budget or ThetaBudget()
    if not (math.isfinite(bankroll_usd) and bankroll_usd > 0):
        raise ValueError(f"bankroll_usd must be positive and finite, got {bankroll_usd}")
    if not (math.isfinite(theta_usd_per_contract) and theta_usd_per_contract != 0):
        raise ValueError(f"theta per contract must be finite and non-zero, got {theta_usd_per_contract}")
    step = budget.min_trade_amount
    allowed = budget.theta_budget_pct * bankroll_usd / abs(theta_usd_per_contract)
    steps = math.floor(allowed / step + STEP_EPSILON)
    decimals = max(0, -math.floor(math.log10(step))) + 6
    return round(steps * step, decimals)


def size_strangle(strangle: Strangle, bankroll_usd: float, budget: ThetaBudget | None = None) -> StrangleSize:
    """Size ``strangle`` so its daily |theta| ≤ ``theta_budget_pct × bankroll_usd``.

    Raises
    ------
    ValueError : as :func:`contracts_for_theta_budget`.
    """
    budget = budget or ThetaBudget()
    contracts = contracts_for_theta_budget(strangle.theta_usd, bankroll_usd, budget)
    return StrangleSize(
        contracts=contracts,
        budget_usd_per_day=budget.theta_budget_pct * bankroll_usd,
        theta_usd_per_day=contracts * strangle.theta_usd,
        premium_usd=contracts * strangle.premium_usd,
        below_minimum=contracts == 0.0,
    )
