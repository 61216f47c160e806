"""The strategies layer (``ST``): the registry's decisions traded through the same intents, safeguards, fills and ledger.

The design's execution rules for its independent strategies (``quant.strategies``):

* each entry risks ``risk_pct`` (1%) of equity to its stop: ``qty = equity × 1% / |entry − stop|``
  (``quant.book.risk.position_size``), then cut to the layer's budget left (the allocator's
  ``ST`` row); a decision under ``min_reward_risk`` (2:1) never becomes an order;
* at most ``max_positions`` (3) strategy positions at once, across all strategies; one position
  per (strategy, symbol), whichever venue decided first; candidates in order of confidence (then strategy, venue, symbol);
* an entry is a market order at the next hour's open (the fill simulator charges the layer's
  5 bps entry slippage and taker fee); each held position carries a reduce-only stop (10 bps
  stop slippage) and a reduce-only target limit every hour until one fills — the OCO pair
  resolves stop-first when both trade in one bar — and is closed at market once it has been
  held ``max_hold_h`` hours (the design names no time stop; without one a target never reached
  would hold a slot for ever);
* the 10% daily loss limit and the 5% session drawdown pause are the book's (``quant.book.risk``):
  they zero the allocator's budgets, so no strategy enters while they hold.

A position is named ``<strategy>@<symbol>`` and its leg is the strategy's name, so the ledger
attributes P&L to each strategy and two strategies on one instrument are two positions.

Known limits: each decision is its own position, so a PairFlow pair can open (or be stopped) on one
leg when slots or budget run out between its legs; the drawdown ladder cuts the layer's budget but
not its 1% risk per trade (the ML sleeve halves its risk from 10% drawdown; here only the budget
shrinks).
"""

from __future__ import annotations

import math

import pandas as pd

from quant.book.legs import Leg
from quant.book.params import HOUR, StrategyLayerParams
from quant.book.risk import position_size, reward_risk
from quant.book.wants import Want

STRATEGY_LAYER = "ST"
POSITION_SEP = "@"
SIDE_OF = {"long": "buy", "short": "sell"}
#: Leg suffixes of a position's exits: its stop, its target and the time stop (an entry has none).
STOP_EXIT, TARGET_EXIT, TIME_EXIT = "stop", "target", "time"


def position_name(strategy: str, symbol: str) -> str:
    """``ema_cross@BTC/USDT:USDT``: the ledger's position of one strategy on one instrument."""
    return f"{strategy}{POSITION_SEP}{symbol}"


def strategy_of(position: str) -> str:
    """The strategy a position name belongs to."""
    return position.split(POSITION_SEP, 1)[0]


def strategy_strength(decisions: list[dict], legs: list[Leg]) -> float:
    """The allocator's strength: the best confidence among the hour's decisions, 1 while a position is held."""
    if any(leg.layer == STRATEGY_LAYER for leg in legs):
        return 1.0
    return max((float(d["confidence"]) for d in decisions), default=0.0)


def _reward_risk(d: dict) -> float:
    """``quant.book.risk.reward_risk`` of a decision; NaN where its stop or target is on the wrong side."""
    try:
        return reward_risk(float(d["entry"]), float(d["stop"]), float(d["target"]), SIDE_OF[str(d["side"])])
    except ValueError:
        return math.nan


def strategy_wants(decisions: list[dict], legs: list[Leg], hour: pd.Timestamp, equity: float, budget_usd: float,
                   params: StrategyLayerParams) -> list[Want]:
    """Exits (time stop), the stop and target of every held position, then entries from the hour's decisions.

    ``decisions``: the hour's accepted ``strategy_signals_1h`` rows (``quant.strategies``), best first.
    """
    out: list[Want] = []
    held = [leg for leg in legs if leg.layer == STRATEGY_LAYER]
    for leg in held:
        side = "buy" if leg.qty < 0 else "sell"
        if not pd.isna(leg.expiry) and hour >= leg.expiry:
            out.append(Want(STRATEGY_LAYER, leg.venue, leg.instrument, leg.symbol, f"{leg.leg}:{TIME_EXIT}", side, abs(leg.qty),
                            "market", None, f"{leg.leg}: held {params.max_hold_h} h without stop or target, closed", True))
            continue
        out.append(Want(STRATEGY_LAYER, leg.venue, leg.instrument, leg.symbol, f"{leg.leg}:{STOP_EXIT}", side, abs(leg.qty), "stop",
                        float(leg.stop), f"stop of {leg.symbol}", True))
        out.append(Want(STRATEGY_LAYER, leg.venue, leg.instrument, leg.symbol, f"{leg.leg}:{TARGET_EXIT}", side, abs(leg.qty), "limit",
                        float(leg.target), f"target of {leg.symbol}", True))
    slots = params.max_positions - len(held)
    room = budget_usd - sum(abs(leg.qty) * leg.mark for leg in held)
    taken = {leg.symbol for leg in held}
    for d in decisions:
        name = position_name(str(d["strategy"]), str(d["symbol"]))
        if slots <= 0 or room <= 0:
            break
        if name in taken or not _reward_risk(d) >= params.min_reward_risk * (1 - 1e-9):
            continue
        entry, stop = float(d["entry"]), float(d["stop"])
        qty = min(position_size(equity, entry, stop, params.risk_pct), room / entry)
        why = (f"{d['strategy']} {d['side']} at {entry:.6g}, stop {stop:.6g}, target {float(d['target']):.6g} "
               f"({_reward_risk(d):.1f}:1), confidence {float(d['confidence']):.2f}: {d['reason']}")
        out.append(Want(STRATEGY_LAYER, str(d["venue"]), str(d["symbol"]), name, str(d["strategy"]), SIDE_OF[str(d["side"])], qty,
                        "market", None, why, stop=stop, target=float(d["target"]), expiry=hour + params.max_hold_h * HOUR))
        taken.add(name)
        slots -= 1
        room -= qty * entry
    return out
