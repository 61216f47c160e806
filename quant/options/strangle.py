"""L3 tail hedge: choose the long OTM strangle to buy from an option chain.

A strangle here is one OTM put and one OTM call of the same expiry, bought at the ask. The
expiry is the one nearest a target days-to-expiry inside a window; each strike is the eligible
one nearest a target |delta| (Black-76 delta at the mark IV) or a target distance from the
forward. Eligible means a two-sided market (bid > 0 and ask > 0) and enough open interest, so an
order has a price to hit and a market to exit into. Sizing is :mod:`quant.options.sizing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quant.options.chain import OptionChain

StrikeRule = Literal["delta", "otm_pct"]


class StrangleSelectionError(ValueError):
    """No strangle can be bought from this chain under this configuration."""


class NoOtmOptionsError(StrangleSelectionError):
    """The chain (or the chosen DTE window) has no OTM put or no OTM call."""


class NoEligibleExpiryError(StrangleSelectionError):
    """No expiry lies inside the days-to-expiry window."""


class NoEligibleStrikeError(StrangleSelectionError):
    """OTM options exist in the window, but none pass the market / open-interest / strike filters."""


@dataclass(frozen=True)
class StrangleConfig:
    """Which strangle to buy.

    Attributes
    ----------
    dte_min, dte_max, dte_target : days-to-expiry window and the target inside it (calendar days).
    strike_by : ``"delta"`` (|delta| nearest ``delta_target`` within [delta_min, delta_max]) or
        ``"otm_pct"`` (strike nearest ``forward × (1 ∓ otm_pct)``).
    delta_target, delta_min, delta_max : absolute Black-76 deltas (0.15 = 15-delta).
    otm_pct : distance of each strike from the forward, fraction (0.15 = 15 % OTM).
    min_open_interest : minimum open interest of each leg, contracts.
    """

    dte_min: float = 14.0
    dte_max: float = 60.0
    dte_target: float = 30.0
    strike_by: StrikeRule = "delta"
    delta_target: float = 0.15
    delta_min: float = 0.10
    delta_max: float = 0.25
    otm_pct: float = 0.15
    min_open_interest: float = 100.0

    def __post_init__(self) -> None:
        if not 0 <= self.dte_min <= self.dte_target <= self.dte_max:
            raise ValueError("need 0 <= dte_min <= dte_target <= dte_max")
        if not 0 < self.delta_min <= self.delta_target <= self.delta_max <= 0.5:
            raise ValueError("need 0 < delta_min <= delta_target <= delta_max <= 0.5")
        if not 0 < self.otm_pct < 1:
            raise ValueError("otm_pct must be in (0, 1)")
        if self.strike_by not in ("delta", "otm_pct"):
            raise ValueError(f"strike_by must be 'delta' or 'otm_pct', got {self.strike_by!r}")


@dataclass(frozen=True)
class OptionLeg:
    """One option of the chain, per contract (one coin): prices in USD unless named ``_coin``."""

    instrument: str
    option_type: str
    strike: float
    expiry: pd.Timestamp
    ask_coin: float
    ask_usd: float
    bid_usd: float
    mark_usd: float
    iv: float
    ask_iv: float
    delta: float
    vega_usd: float
    theta_usd: float
    open_interest: float

    @classmethod
    def from_row(cls, row: pd.Series) -> OptionLeg:
        """The leg of one :attr:`OptionChain.quotes` row."""
        floats = ("strike", "ask_coin", "ask_usd", "bid_usd", "mark_usd", "iv", "ask_iv", "delta",
                  "vega_usd", "theta_usd", "open_interest")
        return cls(instrument=str(row["instrument"]), option_type=str(row["option_type"]),
                   expiry=pd.Timestamp(row["expiry"]), **{f: float(row[f]) for f in floats})


@dataclass(frozen=True)
class Strangle:
    """A long OTM put + OTM call of one expiry, priced per ONE contract of each leg.

    ``premium_usd`` is what buying both at the ask costs; ``theta_usd`` (per calendar day),
    ``delta`` and ``vega_usd`` (per vol point) are Black-76 at the mark IV.
    """

    as_of: pd.Timestamp
    expiry: pd.Timestamp
    dte_days: float
    underlying_usd: float
    put: OptionLeg
    call: OptionLeg

    @property
    def premium_usd(self) -> float:
        return self.put.ask_usd + self.call.ask_usd

    @property
    def premium_coin(self) -> float:
        return self.put.ask_coin + self.call.ask_coin

    @property
    def theta_usd(self) -> float:
        return self.put.theta_usd + self.call.theta_usd

    @property
    def delta(self) -> float:
        return self.put.delta + self.call.delta

    @property
    def vega_usd(self) -> float:
        return self.put.vega_usd + self.call.vega_usd


def _eligible(quotes: pd.DataFrame, config: StrangleConfig) -> pd.Series:
    """OTM, two-sided, enough open interest, priced, and (delta rule) |delta| inside the band."""
    ok = (
        quotes["otm"]
        & quotes["two_sided"]
        & (quotes["open_interest"] >= config.min_open_interest)
        & np.isfinite(quotes["delta"])
        & np.isfinite(quotes["theta_usd"])
    )
    if config.strike_by == "delta":
        size = quotes["delta"].abs()
        ok &= (size >= config.delta_min) & (size <= config.delta_max)
    return ok


def _pick_strike(candidates: pd.DataFrame, config: StrangleConfig, is_call: bool) -> pd.Series:
    """The candidate nearest the target; ties go to the further-OTM (cheaper) strike."""
    if config.strike_by == "delta":
        distance = (candidates["delta"].abs() - config.delta_target).abs()
    else:
        sign = 1.0 if is_call else -1.0
        target = candidates["underlying_usd"] * (1.0 + sign * config.otm_pct)
        distance = (candidates["strike"] - target).abs() / candidates["underlying_usd"]
    further_otm = -candidates["strike"] if is_call else candidates["strike"]
    order = pd.DataFrame({"distance": distance, "further_otm": further_otm}).sort_values(
        ["distance", "further_otm"], kind="stable"
    )
    return candidates.loc[order.index[0]]


def select_strangle(chain: OptionChain, config: StrangleConfig | None = None) -> Strangle:
    """The long OTM strangle to buy from ``chain`` (see module docstring for the rules).

    Expiries in [dte_min, dte_max] are tried nearest ``dte_target`` first (ties: the earlier),
    and the first with an eligible put AND call is taken.

    Raises
    ------
    NoOtmOptionsError : the chain, or its DTE window, has no OTM put or no OTM call.
    NoEligibleExpiryError : no expiry in the DTE window.
    NoEligibleStrikeError : OTM options exist but no expiry has an eligible put and call.
    """
    config = config or StrangleConfig()
    quotes = chain.quotes
    _require_otm_both_sides(quotes, "the chain")
    window = quotes[quotes["dte_days"].between(config.dte_min, config.dte_max)]
    if window.empty:
        listed = ", ".join(f"{d:.1f}" for d in chain.expiries()["dte_days"])
        raise NoEligibleExpiryError(
            f"no expiry with {config.dte_min:g}-{config.dte_max:g} days to expiry; listed DTEs: {listed}"
        )
    _require_otm_both_sides(window, f"the {config.dte_min:g}-{config.dte_max:g} day window")
    eligible = window[_eligible(window, config)]
    by_expiry = eligible.groupby("expiry", sort=True)
    ranked = sorted(by_expiry, key=lambda item: (abs(item[1]["dte_days"].iloc[0] - config.dte_target), item[0]))
    for expiry, legs in ranked:
        puts, calls = legs[~legs["is_call"]], legs[legs["is_call"]]
        if puts.empty or calls.empty:
            continue
        put, call = _pick_strike(puts, config, is_call=False), _pick_strike(calls, config, is_call=True)
        return Strangle(
            as_of=chain.as_of, expiry=pd.Timestamp(expiry), dte_days=float(put["dte_days"]),
            underlying_usd=float(put["underlying_usd"]), put=OptionLeg.from_row(put), call=OptionLeg.from_row(call),
        )
    raise NoEligibleStrikeError(
        f"no expiry in the window has a two-sided OTM put and call with open interest >= "
        f"{config.min_open_interest:g}" + (
            f" and |delta| in [{config.delta_min:g}, {config.delta_max:g}]" if config.strike_by == "delta" else ""
        )
    )


def _require_otm_both_sides(quotes: pd.DataFrame, where: str) -> None:
    """Raise :class:`NoOtmOptionsError` unless ``quotes`` holds an OTM put and an OTM call."""
    otm_calls = quotes["otm"] & quotes["is_call"]
    otm_puts = quotes["otm"] & ~quotes["is_call"]
    missing = [name for name, mask in (("puts", otm_puts), ("calls", otm_calls)) if not mask.any()]
    if missing:
        raise NoOtmOptionsError(f"no OTM {' and no OTM '.join(missing)} in {where}")
