"""Every knob of the trading book, named once, and the table layouts it writes.

The book (``quant.book``) turns each hour's signals into allocations, order intents, fills and a
ledger. Its inputs and outputs are plain tables; these are their columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from quant.book.allocator import AllocatorParams
from quant.book.fills import BPS, FillParams
from quant.book.orders import LAYERS
from quant.book.risk import RiskParams
from quant.carry.signals import CarryParams
from quant.cascade.params import CascadeParams
from quant.ml.sizing import MlSleeveParams
from quant.options.hedge import RollConfig

HOUR = pd.Timedelta(hours=1)
UTC_NS = "datetime64[ns, UTC]"
DEFAULT_BANKROLL_USD = 100_000.0
#: Where the L3 hedge takes its underlying price, in order of preference.
L3_UNDERLYING = (("binance", "ETH/USDT:USDT"), ("bybit", "ETH/USDT:USDT"))
L3_VENUE = "deribit"
#: Contracts an hour a modelled option bar offers. The sample has no 2025 option trades, so L3
#: fills are against the model and flagged ``modelled``; this caps them at a size Deribit's ETH
#: book routinely trades in an hour.
MODEL_OPTION_CONTRACTS_PER_HOUR = 1_000.0

F, S, B = "float64", "str", "bool"


def _schema(spec: str) -> dict[str, str]:
    """``"name:type name:type …"`` with type f (float64), s (str), b (bool) or t (UTC timestamp)."""
    kinds = {"f": F, "s": S, "b": B, "t": UTC_NS}
    return {name: kinds[kind] for name, kind in (item.split(":") for item in spec.split())}


POSITIONS = _schema(
    "hour:t layer:s venue:s symbol:s instrument:s leg:s kind:s qty:f avg_entry:f mark:f unrealised_usd:f "
    "realised_usd:f fees_usd:f funding_usd:f opened_hour:t stop:f target:f expiry:t strike:f option_type:s iv:f "
    "iv_as_of:t modelled:b"
)
LEDGER = _schema(
    "hour:t layer:s venue:s symbol:s realised_usd:f unrealised_usd:f fees_usd:f funding_usd:f pnl_usd:f cash_usd:f "
    "equity_usd:f peak_equity_usd:f drawdown:f day_open_equity_usd:f day_peak_equity_usd:f risk_level:s "
    "risk_multiplier:f session_paused:b daily_loss_halt:b breach:s"
)
INTENTS = _schema(
    "hour:t exec_hour:t venue:s symbol:s side:s qty:f order_type:s limit:f layer:s leg:s reason:s reduce_only:b "
    "client_order_id:s instrument_kind:s position:s stop:f target:f expiry:t strike:f option_type:s iv:f "
    "reference_price:f notional_usd:f approved:b rejection:s position_after_usd:f deployed_after_usd:f "
    "ladder_after_usd:f bankroll_usd:f kill_switch_active:b"
)
FILLS = _schema(
    "hour:t client_order_id:s exec_hour:t venue:s symbol:s side:s order_type:s layer:s leg:s qty:f filled_qty:f "
    "fill_price:f notional:f fee:f status:s reason:s position:s modelled:b"
)
ALLOCATIONS = _schema(
    "hour:t layer:s strength:f weight:f budget_usd:f cap_usd:f max_position_usd:f min_position_usd:f "
    "theta_budget_usd:f equity_usd:f risk_level:s risk_multiplier:f kill_switch_active:b reason:s note:s"
)
POSITION_COLUMNS = list(POSITIONS)
LEDGER_COLUMNS = list(LEDGER)
BOOK_INTENT_COLUMNS = list(INTENTS)
MONEY = ["realised_usd", "unrealised_usd", "fees_usd", "funding_usd"]
TOTAL = "total"
ALL = "all"


def layer_fill_params() -> dict[str, FillParams]:
    """Costs per layer.

    L1 pays the carry design's 8 bps a leg as its fee plus the simulator's usual 5 bps market
    slippage; L2 is the default (2 bps maker on its limit rungs, 5 bps taker and 10 bps stop
    slippage); L3 options pay 1% of premium in fees and 3% slippage, a typical Deribit OTM
    half-spread. The ML sleeve's spot trades pay the sleeve's ``cost_per_trade`` (0.4%, fee and
    spread together, the cost its labels and expected returns are net of) as the fee of every buy
    and sell, market or limit, with no further slippage. The strategies (ST) pay the design's 5 bps
    entry and 10 bps stop slippage on perp taker/maker fees (the simulator's defaults).
    """
    ml_bps = MlSleeveParams().cost_per_trade / BPS
    return {
        "L1": FillParams(taker_fee_bps=8.0),
        "L2": FillParams(),
        "L3": FillParams(taker_fee_bps=100.0, entry_slippage_bps=300.0, stop_slippage_bps=300.0, max_volume_share=1.0),
        "ML": FillParams(maker_fee_bps=ml_bps, taker_fee_bps=ml_bps, entry_slippage_bps=0.0, stop_slippage_bps=0.0),
        "ST": FillParams(entry_slippage_bps=5.0, stop_slippage_bps=10.0),
    }


@dataclass(frozen=True)
class StrategyLayerParams:
    """The design's rules for strategy trades (fractions of equity; hours)."""

    risk_pct: float = 0.01
    max_positions: int = 3
    min_reward_risk: float = 2.0
    max_hold_h: int = 168

    def __post_init__(self) -> None:
        if not (math.isfinite(self.risk_pct) and 0.0 < self.risk_pct <= 0.05):
            raise ValueError(f"risk_pct must be in (0, 0.05], got {self.risk_pct}")
        if int(self.max_positions) != self.max_positions or self.max_positions < 0:
            raise ValueError(f"max_positions must be a whole number >= 0, got {self.max_positions}")
        if not self.min_reward_risk >= 2.0:
            raise ValueError(f"min_reward_risk is at least the design's 2:1, got {self.min_reward_risk}")
        if int(self.max_hold_h) != self.max_hold_h or self.max_hold_h < 1:
            raise ValueError(f"max_hold_h must be a whole number of hours >= 1, got {self.max_hold_h}")


@dataclass(frozen=True)
class BookParams:
    """The book's settings. ``bankroll_usd`` is the only number to change to grow.

    Attributes
    ----------
    bankroll_usd : capital the caps and budgets are percentages of, USD.
    spot_basis : the modelled spot legs (L1's hedge, the ML sleeve) are ``perp × (1 − spot_basis)`` (no spot candles).
    l2_target_rv : hourly realised vol at which an L2 trade risks the most (2%); more vol, less.
    ml : the ML sleeve's sizing (``quant.ml.sizing``).
    strategies : the strategies layer's rules (``quant.book.strategy_layer``).
    """

    bankroll_usd: float = DEFAULT_BANKROLL_USD
    carry: CarryParams = field(default_factory=CarryParams)
    cascade: CascadeParams = field(default_factory=CascadeParams)
    roll: RollConfig = field(default_factory=RollConfig)
    risk: RiskParams = field(default_factory=RiskParams)
    allocator: AllocatorParams = field(default_factory=AllocatorParams)
    ml: MlSleeveParams = field(default_factory=MlSleeveParams)
    strategies: StrategyLayerParams = field(default_factory=StrategyLayerParams)
    fills: dict[str, FillParams] = field(default_factory=layer_fill_params)
    spot_basis: float = 0.0
    l2_target_rv: float = 0.01
    option_min_contracts: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bankroll_usd) and self.bankroll_usd > 0):
            raise ValueError(f"bankroll_usd must be a positive amount, got {self.bankroll_usd}")
        if set(self.fills) != set(LAYERS):
            raise ValueError(f"fills needs FillParams for every layer {LAYERS}")


def spot_symbol(perp_symbol: str) -> str:
    """The spot pair of a linear perp: ``HYPE/USDT:USDT`` -> ``HYPE/USDT``."""
    return perp_symbol.split(":", 1)[0]


def strangle_symbol(currency: str, expiry: pd.Timestamp) -> str:
    """The position name of an L3 strangle: ``ETH-24OCT25``."""
    return f"{currency}-{pd.Timestamp(expiry):%d%b%y}".upper()


#: A leg of the book, and the position it belongs to.
LEG_KEY = ["layer", "venue", "instrument", "leg"]
POSITION_KEY = ["layer", "venue", "symbol"]
