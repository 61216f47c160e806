"""What each layer wants to trade at the end of an hour: order intents, before the safeguards.

* L1 carry — a held unit exits (both legs, reduce-only, market) when its scan row says exit;
  new units enter by funding APR, best first, while slots (max 10) and the layer budget last.
  A unit is ``budget / max_positions`` USD of notional: short perp + long spot of equal quantity.
* L2 cascade — while armed, the rungs of the ladder not yet held rest as limit orders around the
  hour's close (re-issued each hour, so they trail the price); each held rung carries a
  reduce-only stop and a reduce-only target every hour until one of them fills. Each rung's size
  is the smaller of its ladder share and the size that loses ``trade_risk_pct`` × its share of
  equity at the stop (volatility-adjusted risk per trade).
* L3 tail hedge — a held strangle is valued by model; when the roll rules say so both legs are
  sold (reduce-only, market); with no hedge held the layer buys the signal's strangle, sized by
  the daily theta budget and capped by the layer's premium budget.
* ML sleeve — spot, long only, no leverage: ``quant.ml.sizing.ml_targets`` decides from the hour's
  predictions; an entry is a market buy of the modelled spot pair (priced from the perp like
  L1's spot leg), an exit a reduce-only market sell of the whole leg. The leg keeps its stop and
  its horizon (``expiry``: the decision hour + ``horizon_h``) in the positions table, so the
  next hour's decision needs nothing but the stored positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from quant.book.legs import Leg, array_sum
from quant.book.orders import ML_LAYER
from quant.book.params import HOUR, L3_VENUE, BookParams, spot_symbol, strangle_symbol
from quant.book.risk import position_size, trade_risk_pct
from quant.cascade.ladder import build_ladder
from quant.cascade.params import SIDE_OF_DIRECTION
from quant.ml.sizing import ml_decisions
from quant.options.hedge import IvMark, StranglePosition, decide_roll, value_strangle_by_model

if TYPE_CHECKING:  # range_inputs imports this module
    from quant.book.range_inputs import HourPredictions


@dataclass(frozen=True)
class Want:
    """One intended order with what the book needs to know about it."""

    layer: str
    venue: str
    symbol: str
    position: str
    leg: str
    side: str
    qty: float
    order_type: str
    limit: float | None
    reason: str
    reduce_only: bool = False
    kind: str = "perp"
    stop: float = math.nan
    target: float = math.nan
    expiry: pd.Timestamp | None = None
    strike: float = math.nan
    option_type: str = ""
    iv: float = math.nan


def _close_side(qty: float) -> str:
    return "buy" if qty < 0 else "sell"


# -- L1 -------------------------------------------------------------------------------------


def carry_strength(carry: list[dict], legs: list[Leg], params: BookParams) -> float:
    """L1 signal strength: units held and not exiting plus new entry candidates, over the max (10).

    ``carry``: the hour's scan rows that say entry or exit (the others change nothing).
    """
    held = {(u.venue, u.symbol) for u in legs if u.layer == "L1" and u.leg == "perp"}
    exiting = {(c["venue"], c["symbol"]) for c in carry if bool(c["exit"])} & held
    new = {(c["venue"], c["symbol"]) for c in carry if bool(c["entry"])} - held
    return min(1.0, (len(held - exiting) + len(new)) / params.carry.max_positions)


def carry_wants(carry: list[dict], legs: list[Leg], closes: Mapping[tuple[str, str], float], budget_usd: float,
                params: BookParams) -> list[Want]:
    """L1 exits and entries (``carry``: the hour's scan rows that say entry or exit)."""
    out: list[Want] = []
    held = [leg for leg in legs if leg.layer == "L1"]
    sig = {(c["venue"], c["symbol"]): c for c in carry}
    units = [leg for leg in held if leg.leg == "perp"]
    exiting: set[tuple[str, str]] = set()
    for u in units:
        key = (u.venue, u.symbol)
        if key in sig and bool(sig[key]["exit"]):
            exiting.add(key)
            why = f"carry exit: {sig[key]['reason']}"
            for leg in held:
                if leg.venue == u.venue and leg.symbol == u.symbol:
                    out.append(Want("L1", leg.venue, leg.instrument, leg.symbol, leg.leg, _close_side(leg.qty), abs(leg.qty),
                                    "market", None, why, True, leg.kind))
    held_keys = {(u.venue, u.symbol) for u in units}
    keep = len(held_keys - exiting)
    p = params.carry
    unit_usd = budget_usd * p.weight_per_position
    cands = sorted((c for c in carry if bool(c["entry"]) and (c["venue"], c["symbol"]) not in held_keys),
                   key=lambda c: (math.isnan(c["funding_apr"]), -c["funding_apr"] if not math.isnan(c["funding_apr"]) else 0.0,
                                  c["venue"], c["symbol"]))
    held_usd = array_sum(abs(u.qty) * u.mark for u in units)
    room = max(0.0, budget_usd - held_usd)
    slots = p.max_positions - keep
    for c in cands:
        if slots <= 0 or room + 1e-9 < unit_usd or unit_usd <= 0:
            break
        price = float(closes.get((c["venue"], c["symbol"]), math.nan))
        if not (math.isfinite(price) and price > 0):
            continue
        qty = unit_usd / price
        why = f"carry entry: funding {c['funding_apr']:.1%} APR, 24h volume {c['volume_24h_usd'] / 1e6:,.0f}M"
        out.append(Want("L1", c["venue"], c["symbol"], c["symbol"], "perp", "sell", qty, "market", None, why))
        out.append(Want("L1", c["venue"], spot_symbol(c["symbol"]), c["symbol"], "spot", "buy", qty, "market", None,
                        why + "; spot leg modelled from the perp", kind="spot"))
        slots -= 1
        room -= unit_usd
    return out


# -- L2 -------------------------------------------------------------------------------------


def live_cascades(armed: pd.DataFrame) -> pd.DataFrame:
    """Armed instruments with a direction: where the ladder rests."""
    if armed.empty:
        return armed
    return armed[armed["armed"].astype(bool) & armed["direction"].isin(list(SIDE_OF_DIRECTION))]


def cascade_wants(live: list[dict], legs: list[Leg], equity: float, budget_usd: float,
                  params: BookParams) -> list[Want]:
    """L2 resting rungs while armed (``live``: the hour's :func:`live_cascades` rows), and the stop + target of every held rung."""
    out: list[Want] = []
    held = [leg for leg in legs if leg.layer == "L2"]
    for leg in held:
        side = _close_side(leg.qty)
        out.append(Want("L2", leg.venue, leg.instrument, leg.symbol, f"{leg.leg}:stop", side, abs(leg.qty), "stop",
                        float(leg.stop), f"stop of {leg.leg}", True))
        out.append(Want("L2", leg.venue, leg.instrument, leg.symbol, f"{leg.leg}:target", side, abs(leg.qty), "limit",
                        float(leg.target), f"target of {leg.leg}", True))
    if budget_usd <= 0:
        return out
    sizes = dict(zip(range(1, len(params.cascade.sizes) + 1), params.cascade.sizes, strict=True))
    rungs_held: dict[tuple[str, str], set[str]] = {}
    for leg in held:
        rungs_held.setdefault((leg.venue, leg.symbol), set()).add(leg.leg)
    for row in live:
        have = rungs_held.get((row["venue"], row["symbol"]), set())
        ladder = build_ladder(float(row["close"]), budget_usd, str(row["direction"]), params.cascade)
        risk_pct = trade_risk_pct(float(row["rv_24h"]), params.l2_target_rv, params.risk)
        for rung in ladder.rungs:
            leg = f"rung{rung.rung}"
            if leg in have:
                continue
            qty = min(rung.qty, position_size(equity, rung.limit, rung.stop, risk_pct * sizes[rung.rung]))
            why = (f"cascade score {row['score']:.2f} ({row['direction']}), rung {rung.rung} at {rung.limit:.6g}, "
                   f"stop {rung.stop:.6g}, target {rung.target:.6g} ({rung.reward_risk:.1f}:1)")
            out.append(Want("L2", row["venue"], row["symbol"], row["symbol"], leg, rung.side, qty, "limit", rung.limit, why,
                            stop=rung.stop, target=rung.target))
    return out


# -- L3 -------------------------------------------------------------------------------------


def held_strangle(legs: list[Leg]) -> StranglePosition | None:
    """The held strangle rebuilt from its two legs (None when no hedge is held)."""
    held = [leg for leg in legs if leg.layer == "L3"]
    if not held:
        return None
    put, call = [x for x in held if x.option_type == "P"], [x for x in held if x.option_type == "C"]
    if len(put) != 1 or len(call) != 1:
        raise ValueError(f"L3 must hold exactly one put and one call, holds {[x.instrument for x in held]}")
    p, c = put[0], call[0]
    premium = float(p.qty * p.avg_entry + c.qty * c.avg_entry)
    return StranglePosition(currency=str(p.symbol).split("-")[0], expiry=pd.Timestamp(p.expiry),
                            put_strike=float(p.strike), call_strike=float(c.strike), contracts=float(p.qty),
                            premium_usd=premium,
                            entry_iv=IvMark(float(p.iv), float(c.iv), pd.Timestamp(p.iv_as_of), "entry IV (modelled chain)"))


def hedge_wants(tail: Mapping | None, legs: list[Leg], underlying_close: float | None, hour: pd.Timestamp,
                theta_budget_usd: float, budget_usd: float, params: BookParams) -> tuple[list[Want], str]:
    """L3 roll / entry (``tail``: the hour's ``tail_hedge_signals_1h`` row); returns the wants and a sentence on the hedge."""
    out: list[Want] = []
    held = [leg for leg in legs if leg.layer == "L3"]
    position = held_strangle(legs)
    note = "no hedge held"
    if position is not None:
        if underlying_close is None:
            return out, "hedge held; no underlying price this hour, no decision"
        val = value_strangle_by_model(position, underlying_close, hour + HOUR)
        decision = decide_roll(val.dte_days, val.put_delta, val.call_delta, val.value_usd, position.premium_usd, params.roll)
        note = f"hedge {held[0].symbol}: {decision.reason.value} ({decision.detail}), modelled value {val.value_usd:,.0f} USD"
        if not decision.roll:
            return out, note
        for leg in held:
            out.append(Want("L3", leg.venue, leg.instrument, leg.symbol, leg.leg, "sell", abs(leg.qty), "market", None,
                            f"roll: {decision.reason.value} ({decision.detail})", True, "option", expiry=pd.Timestamp(leg.expiry),
                            strike=float(leg.strike), option_type=str(leg.option_type), iv=float(leg.iv)))
        # The new strangle is bought next hour, once the old legs are gone: never two hedges at once.
        return out, f"{note}; selling, the new strangle is bought next hour"
    if tail is None or tail["status"] != "ok":
        why = "no tail-hedge signal" if tail is None else f"tail-hedge signal: {tail['status']}"
        return out, f"{note}; {why}"
    theta = abs(float(tail["theta_usd"]))
    premium = float(tail["put_ask_usd"]) + float(tail["call_ask_usd"])
    if not (theta > 0 and premium > 0) or theta_budget_usd <= 0 or budget_usd <= 0:
        return out, f"{note}; no theta or premium budget this hour"
    step = params.option_min_contracts
    contracts = math.floor(min(theta_budget_usd / theta, budget_usd / premium) / step + 1e-9) * step
    if contracts <= 0:
        return out, f"{note}; the budget cannot buy {step:g} contract"
    expiry = pd.Timestamp(tail["expiry"])
    name = strangle_symbol(str(tail["currency"]), expiry)
    src = "modelled chain" if bool(tail["modelled"]) else "chain"
    for leg, kind in (("put", "P"), ("call", "C")):
        why = (f"tail hedge: {contracts:g} × {tail[f'{leg}_instrument']} ({src}), theta {theta * contracts:,.0f} USD/day "
               f"of {theta_budget_usd:,.0f}")
        out.append(Want("L3", L3_VENUE, str(tail[f"{leg}_instrument"]), name, leg, "buy", contracts, "market", None, why,
                        False, "option", expiry=expiry, strike=float(tail[f"{leg}_strike"]), option_type=kind,
                        iv=float(tail[f"{leg}_iv"])))
    return out, f"{note}; buying {name}"


# -- ML -------------------------------------------------------------------------------------

#: The one leg of an ML position (not "spot": that name is L1's hedge leg, which adds no exposure).
ML_LEG = "long"


def ml_wants(predictions: HourPredictions, legs: list[Leg], spot_closes: Mapping[tuple[str, str], float],
             hour: pd.Timestamp, equity: float, budget_usd: float, risk_level: str,
             params: BookParams) -> tuple[list[Want], str]:
    """ML exits and entries from the hour's predictions; returns the wants and a sentence on the sleeve.

    ``predictions``: the hour's ``model_predictions_1h`` rows with their
    ``quant.ml.sizing.signal_reasons`` (``quant.book.range_inputs.HourPredictions``: only the rows
    that may trade and those of held positions reach the sizing; every other row is a skip);
    ``spot_closes`` maps (venue, spot instrument) to the hour's modelled spot close (the
    execution bars); ``budget_usd`` is the allocator's budget for the layer; ``risk_level`` the
    ladder's level.
    """
    held = [leg for leg in legs if leg.layer == ML_LAYER]
    if not len(predictions) and not held:
        return [], "ML: no predictions, nothing held"
    instrument = {(leg.venue, leg.symbol): leg.instrument for leg in held}
    rows, reasons = predictions.records(set(instrument))
    prices = {(r["venue"], r["symbol"]): float(spot_closes.get((r["venue"], spot_symbol(r["symbol"])), math.nan))
              for r in rows}
    targets = ml_decisions(rows, reasons, held, prices, hour, equity, params.bankroll_usd, risk_level, params.ml,
                           budget_usd)
    out: list[Want] = []
    counts = {"enter": 0, "exit": 0, "hold": 0, "skip": len(predictions) - len(rows)}
    for t in targets:
        counts[t["action"]] += 1
        if t["action"] == "exit":
            out.append(Want(ML_LAYER, t["venue"], instrument[(t["venue"], t["symbol"])], t["symbol"], ML_LEG, "sell",
                            float(t["qty"]), "market", None, t["reason"], True, "spot"))
        elif t["action"] == "enter":
            out.append(Want(ML_LAYER, t["venue"], spot_symbol(t["symbol"]), t["symbol"], ML_LEG, "buy", float(t["qty"]), "market",
                            None, f"{t['reason']}; spot modelled from the perp", kind="spot", stop=float(t["stop"]),
                            expiry=pd.Timestamp(t["expiry"])))
    note = (f"ML: {counts['enter']} entries, {counts['exit']} exits, {counts['hold']} held, "
            f"{counts['skip']} predictions not traded")
    return out, note
