"""Options math for the L3 tail hedge: one import point for the ``quant.options_*`` modules.

* :mod:`quant.options.pricing` — Black–Scholes / Black-76 prices, greeks, implied vol.
* :mod:`quant.options.chain` — a Deribit book summary typed into an :class:`OptionChain`.
* :mod:`quant.options.model` — a snapshot's IV surface recentred on a new time and price (modelled).
* :mod:`quant.options.strangle` — choose the long OTM strangle to buy.
* :mod:`quant.options.sizing` — how many strangles a daily theta budget buys.
* :mod:`quant.options.hedge` — value a held strangle by model between snapshots; roll rules.
"""

from __future__ import annotations

from quant.options.chain import OptionChain, parse_book_summary, parse_instrument_names
from quant.options.hedge import (
    IvMark,
    ModelValuation,
    RollConfig,
    RollDecision,
    RollReason,
    StranglePosition,
    decide_roll,
    value_strangle_by_model,
)
from quant.options.model import MODELLED_PREFIX, recentre_chain
from quant.options.pricing import (
    Greeks,
    black76_greeks,
    black_scholes_greeks,
    gbs_greeks,
    gbs_price,
    implied_vol,
    no_arbitrage_bounds,
)
from quant.options.sizing import (
    MIN_TRADE_AMOUNT,
    StrangleSize,
    ThetaBudget,
    contracts_for_theta_budget,
    size_strangle,
)
from quant.options.strangle import (
    NoEligibleExpiryError,
    NoEligibleStrikeError,
    NoOtmOptionsError,
    OptionLeg,
    Strangle,
    StrangleConfig,
    StrangleSelectionError,
    select_strangle,
)

__all__ = [
    "MIN_TRADE_AMOUNT",
    "MODELLED_PREFIX",
    "Greeks",
    "IvMark",
    "ModelValuation",
    "NoEligibleExpiryError",
    "NoEligibleStrikeError",
    "NoOtmOptionsError",
    "OptionChain",
    "OptionLeg",
    "RollConfig",
    "RollDecision",
    "RollReason",
    "Strangle",
    "StrangleConfig",
    "StrangleSelectionError",
    "StranglePosition",
    "StrangleSize",
    "ThetaBudget",
    "black76_greeks",
    "black_scholes_greeks",
    "contracts_for_theta_budget",
    "decide_roll",
    "gbs_greeks",
    "gbs_price",
    "implied_vol",
    "no_arbitrage_bounds",
    "parse_book_summary",
    "parse_instrument_names",
    "recentre_chain",
    "select_strangle",
    "size_strangle",
    "value_strangle_by_model",
]
