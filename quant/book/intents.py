"""The hour's order intents: wants become intents with deterministic ids, screened by the safeguards (and the kill switch), with the exposure after each approved one."""

from __future__ import annotations

import math

import pandas as pd

from quant.book.legs import Leg, group_sums
from quant.book.orders import check_order, client_order_id_at, hour_stamp
from quant.book.params import BookParams
from quant.book.safeguards import HEDGE_LEGS, LADDER_LAYER, Book, Candidate, RiskLimits, screen
from quant.book.wants import Want

KILL_SWITCH_REJECTION = "kill switch active: only reduce-only orders pass until a person resets it"


def hour_intents(wants: list[Want], hour: pd.Timestamp, reference: dict, legs: list[Leg], known: set[str],
                 params: BookParams, kill_switch_active: bool) -> list[dict]:
    """One dict per want (``quant.book.params.INTENTS`` columns), screened in order.

    Raises
    ------
    ValueError
        A malformed want (``OrderIntent``'s rules, ``quant.book.orders.check_order``: side, type, layer, quantity, price) or two
        wants with one client order id.
    """
    if not wants:
        return []
    exec_hour = hour + pd.Timedelta(hours=1)
    rows, seen = [], {}
    stamp = hour_stamp(hour)
    for w in wants:
        check_order(w.symbol, w.side, w.qty, w.order_type, w.limit, w.layer)
        cid = client_order_id_at(stamp, w.layer, w.symbol, w.leg, w.venue)
        if cid in seen:
            first = seen[cid]
            raise ValueError(f"duplicate client order id {cid} ({first.layer} {first.symbol} {first.leg})")
        seen[cid] = w
        ref = w.limit if w.limit is not None else reference.get((w.venue, w.symbol), math.nan)
        rows.append({
            "hour": hour, "exec_hour": exec_hour, "venue": w.venue, "symbol": w.symbol, "side": w.side, "qty": float(w.qty),
            "order_type": w.order_type, "limit": math.nan if w.limit is None else float(w.limit), "layer": w.layer,
            "leg": w.leg, "reason": w.reason, "reduce_only": bool(w.reduce_only), "client_order_id": cid,
            "instrument_kind": w.kind, "position": w.position, "stop": w.stop, "target": w.target,
            "expiry": pd.NaT if w.expiry is None else pd.Timestamp(w.expiry), "strike": w.strike,
            "option_type": w.option_type, "iv": w.iv, "reference_price": ref, "notional_usd": float(w.qty) * ref,
        })
    exposure = open_exposure(legs)
    book = Book(exposure=dict(exposure))
    verdicts: list[str | None] = [None] * len(rows)
    screened = []
    for i, r in enumerate(rows):
        if kill_switch_active and not r["reduce_only"]:
            verdicts[i] = KILL_SWITCH_REJECTION
        else:
            screened.append(i)
    cands = [Candidate(rows[i]["client_order_id"], rows[i]["layer"], rows[i]["position"], rows[i]["leg"],
                       float(rows[i]["notional_usd"]), rows[i]["reduce_only"]) for i in screened]
    for i, v in zip(screened, screen(cands, book, RiskLimits(params.bankroll_usd), known), strict=True):
        verdicts[i] = v
    for r, v in zip(rows, verdicts, strict=True):
        r["approved"] = v is None
        r["rejection"] = v or ""
        r["bankroll_usd"] = params.bankroll_usd
        r["kill_switch_active"] = kill_switch_active
    after_columns(rows, exposure)
    return rows


def open_exposure(legs: list[Leg]) -> dict[str, float]:
    """Open exposure per safeguard key ``layer:position``: |qty × mark| of the non-hedge legs, keys sorted."""
    parts: dict[str, list[tuple[float]]] = {}
    for leg in legs:
        if leg.leg not in HEDGE_LEGS:
            parts.setdefault(f"{leg.layer}:{leg.symbol}", []).append((abs(leg.qty) * leg.mark,))
    sums = group_sums(parts)
    usd = {k: sums[k][0] for k in sorted(parts)}
    return {k: float(v) for k, v in usd.items() if v > 0}


def after_columns(rows: list[dict], exposure: dict[str, float]) -> None:
    """Running exposure after each approved intent, computed apart from the screen (re-checked by the check)."""
    pos = dict(exposure)
    deployed = sum(exposure.values())
    ladder = sum(v for k, v in exposure.items() if k.startswith(f"{LADDER_LAYER}:"))
    for r in rows:
        key = f"{r['layer']}:{r['position']}"
        if r["approved"] and not r["reduce_only"] and r["leg"] not in HEDGE_LEGS:
            pos[key] = pos.get(key, 0.0) + r["notional_usd"]
            deployed += r["notional_usd"]
            ladder += r["notional_usd"] if r["layer"] == LADDER_LAYER else 0.0
        r["position_after_usd"], r["deployed_after_usd"], r["ladder_after_usd"] = pos.get(key, 0.0), deployed, ladder
