"""L3 tail hedge, once held: model valuation between chain snapshots, and when to roll.

Between two option-chain snapshots the hedge is valued by Black-76 at the last known implied
vols on a new forward price and time. That number is a model, not a market price, so every
valuation carries ``modelled`` and where/when its IVs came from, for reports to say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from quant.options.chain import SECONDS_PER_DAY
from quant.options.pricing import DAYS_PER_YEAR, black76_greeks
from quant.options.strangle import Strangle


@dataclass(frozen=True)
class IvMark:
    """The implied vols a valuation uses, and their provenance.

    Attributes
    ----------
    put_iv, call_iv : annualised Black-76 implied vols, decimal.
    as_of : when those IVs were observed, UTC.
    source : where they came from, e.g. ``"deribit mark_price, Black-76 solve"``.
    """

    put_iv: float
    call_iv: float
    as_of: pd.Timestamp
    source: str


@dataclass(frozen=True)
class StranglePosition:
    """A held long strangle: ``contracts`` of each leg, ``premium_usd`` paid for all of them.

    ``rate`` is the Black-76 discount rate (decimal per year; Deribit's ``interest_rate`` is 0).
    """

    currency: str
    expiry: pd.Timestamp
    put_strike: float
    call_strike: float
    contracts: float
    premium_usd: float
    entry_iv: IvMark
    rate: float = 0.0

    @classmethod
    def from_strangle(
        cls, strangle: Strangle, contracts: float, currency: str, rate: float = 0.0
    ) -> StranglePosition:
        """The position bought at the ask of ``strangle``, its entry IVs the chain's mark IVs."""
        return cls(
            currency=currency, expiry=strangle.expiry, put_strike=strangle.put.strike,
            call_strike=strangle.call.strike, contracts=contracts, premium_usd=contracts * strangle.premium_usd,
            entry_iv=IvMark(strangle.put.iv, strangle.call.iv, strangle.as_of, "deribit mark_price, Black-76 solve"),
            rate=rate,
        )


@dataclass(frozen=True)
class ModelValuation:
    """A strangle valued by Black-76 at known IVs; ``modelled`` is always True here.

    Attributes
    ----------
    as_of : valuation time, UTC.
    underlying_usd : the forward used, USD.
    dte_days : calendar days to expiry.
    value_usd, value_coin : the whole position's value (coin = USD / underlying).
    put_value_usd, call_value_usd : one contract of each leg, USD.
    put_delta, call_delta : per contract (not premium-adjusted).
    delta : the whole position's delta, coins.
    theta_usd_per_day : the whole position's theta, USD per calendar day.
    modelled : True: a model value, not a market price.
    iv_source, iv_as_of : provenance of the IVs (``iv_as_of`` ≤ ``as_of``).
    """

    as_of: pd.Timestamp
    underlying_usd: float
    dte_days: float
    value_usd: float
    value_coin: float
    put_value_usd: float
    call_value_usd: float
    put_delta: float
    call_delta: float
    delta: float
    theta_usd_per_day: float
    modelled: bool
    iv_source: str
    iv_as_of: pd.Timestamp


def value_strangle_by_model(
    position: StranglePosition, underlying_usd: float, as_of: pd.Timestamp, iv: IvMark | None = None
) -> ModelValuation:
    """Black (1976) value of a held strangle at a new forward and time, on the last known IVs.

    Parameters
    ----------
    position : the held strangle.
    underlying_usd : the expiry's forward (future) price now, USD.
    as_of : valuation time, timezone-aware UTC.
    iv : the IVs to use; defaults to the position's entry IVs.

    Returns
    -------
    :class:`ModelValuation` with ``modelled=True``. At expiry the value is intrinsic and the
    greeks NaN; after expiry everything is NaN (the settled value is not a model question).

    Raises
    ------
    ValueError : ``as_of`` naive, or the IVs are dated after ``as_of`` (that would look ahead).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware UTC")
    marks = iv or position.entry_iv
    if marks.as_of > as_of:
        raise ValueError(f"IVs from {marks.as_of} cannot value the position at an earlier {as_of}")
    seconds = (position.expiry - as_of).total_seconds()
    t_years = seconds / (SECONDS_PER_DAY * DAYS_PER_YEAR)
    g = black76_greeks(
        underlying_usd, [position.put_strike, position.call_strike], t_years,
        [marks.put_iv, marks.call_iv], [False, True], position.rate,
    )
    put_value, call_value = (float(x) for x in g.price)
    put_delta, call_delta = (float(x) for x in g.delta)
    value_usd = position.contracts * (put_value + call_value)
    return ModelValuation(
        as_of=as_of, underlying_usd=underlying_usd, dte_days=seconds / SECONDS_PER_DAY,
        value_usd=value_usd, value_coin=value_usd / underlying_usd,
        put_value_usd=put_value, call_value_usd=call_value, put_delta=put_delta, call_delta=call_delta,
        delta=position.contracts * (put_delta + call_delta),
        theta_usd_per_day=position.contracts * float(g.theta.sum()),
        modelled=True, iv_source=marks.source, iv_as_of=marks.as_of,
    )


# -- roll rules -------------------------------------------------------------------------------


class RollReason(StrEnum):
    """Why a roll decision came out as it did (checked in this order)."""

    EXPIRY = "expiry"
    UNPRICED = "unpriced"
    DECAYED = "decayed"
    DELTA_DRIFT = "delta_drift"
    HOLD = "hold"


@dataclass(frozen=True)
class RollConfig:
    """When to roll a held strangle into a fresh one.

    Attributes
    ----------
    roll_dte : roll when fewer calendar days than this remain (gamma/theta explode near expiry).
    delta_min, delta_max : roll when either leg's |delta| leaves this band (a leg near ATM is
        a monetisable winner; one near zero no longer hedges anything).
    min_value_fraction : roll when the position is worth less than this fraction of premium paid.
    """

    roll_dte: float = 7.0
    delta_min: float = 0.05
    delta_max: float = 0.40
    min_value_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not self.roll_dte >= 0:
            raise ValueError("roll_dte must be >= 0")
        if not 0 <= self.delta_min < self.delta_max <= 1:
            raise ValueError("need 0 <= delta_min < delta_max <= 1")
        if not 0 <= self.min_value_fraction < 1:
            raise ValueError("min_value_fraction must be in [0, 1)")


@dataclass(frozen=True)
class RollDecision:
    """``roll`` and the first :class:`RollReason` that applied, with the numbers in ``detail``."""

    roll: bool
    reason: RollReason
    detail: str


def decide_roll(
    dte_days: float,
    put_delta: float,
    call_delta: float,
    value_usd: float,
    premium_usd: float,
    config: RollConfig | None = None,
) -> RollDecision:
    """Whether to roll a held strangle, and why.

    Rules, first match wins: ``dte_days < roll_dte`` -> EXPIRY; a NaN delta or value -> UNPRICED
    (no roll: a missing number never triggers a trade); ``value_usd < min_value_fraction ×
    premium_usd`` -> DECAYED; a leg's |delta| outside [delta_min, delta_max] -> DELTA_DRIFT;
    otherwise HOLD.

    Parameters
    ----------
    dte_days : calendar days to expiry.
    put_delta, call_delta : per-contract deltas of the legs (signs are ignored).
    value_usd, premium_usd : the position's current value and what was paid for it, USD.

    Raises
    ------
    ValueError : ``dte_days`` NaN, or ``premium_usd`` not positive.
    """
    config = config or RollConfig()
    if math.isnan(dte_days):
        raise ValueError("dte_days is NaN")
    if not premium_usd > 0:
        raise ValueError(f"premium_usd must be positive, got {premium_usd}")
    if dte_days < config.roll_dte:
        return RollDecision(True, RollReason.EXPIRY, f"{dte_days:.2f} days to expiry < {config.roll_dte:g}")
    if any(math.isnan(x) for x in (put_delta, call_delta, value_usd)):
        return RollDecision(False, RollReason.UNPRICED, "delta or value is NaN; no decision on missing numbers")
    fraction = value_usd / premium_usd
    if fraction < config.min_value_fraction:
        return RollDecision(
            True, RollReason.DECAYED, f"value is {fraction:.1%} of premium < {config.min_value_fraction:.0%}"
        )
    outside = [
        f"{name} |delta| {abs(d):.3f}"
        for name, d in (("put", put_delta), ("call", call_delta))
        if not config.delta_min <= abs(d) <= config.delta_max
    ]
    if outside:
        band = f"[{config.delta_min:g}, {config.delta_max:g}]"
        return RollDecision(True, RollReason.DELTA_DRIFT, f"{', '.join(outside)} outside {band}")
    return RollDecision(False, RollReason.HOLD, "within expiry, value and delta limits")
