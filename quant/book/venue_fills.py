"""What the venue did with a routed intent, as the book's fill of it.

In ``live`` the order path (``order_submissions_1h`` and the broker's journal) sends the approved
intents of decision hour H to the venue, where they work during exec hour H + 1h. When the book
steps H + 1h it takes, for every intent the venue has a record of, the venue's outcome instead
of the one fill simulator's: the quantity the venue filled at the venue's average price. Money
is then accounted exactly as for a simulated fill (``quant.book.ledger_rows``: cash, average
entry, realised P&L, fees, funding), so the ledger says what the account did.

An intent the live path kept back is given with one of its own verdicts (:data:`HELD_BACK`:
``blocked`` by the kill switch, ``not_routed``, ``not_submitted`` when the hour's budget ran out)
and does not fill: it was meant for the venue and never reached it. An intent with no record at
all keeps the simulated fill: it was never the live path's (a layer whose live switch is off
"stays on paper", the history before going live, the local and paper environments). That keeps
a paper layer trading beside the live ones and a range over live hours equal to the same hours
one by one; where a simulated fill and the venue then disagree on a position, venue
reconciliation names it.

A venue fill carries no new column (the ``fills_1h`` layout, and the golden hashes over it, stay
as they are): its ``reason`` starts with :data:`VENUE_REASON_PREFIX` and says the venue's state,
so ``fills_1h`` tells venue fills from simulated ones (:func:`is_venue_fill`).

A record that contradicts itself or its intent (an unknown state, a filled quantity that is NaN,
negative or above the intent's, a fill without a price, a fill on an order that never reached
the venue) is refused with a ``ValueError`` naming the client order id, never read as zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from quant.book.fills import KIND_OTHER, ORDER_KIND_CODES, FillParams, fee_usd

#: The broker's order states (``resources.broker.base.STATES``; a test holds the two equal).
VENUE_STATES = ("journalled", "sent", "acknowledged", "partially_filled", "filled", "canceled", "expired",
                "rejected", "unknown", "not_sent")
#: The live path's own verdicts on an intent it did not send (``assets.orders``): it fills nothing.
HELD_BACK = ("blocked", "not_routed", "not_submitted")
#: Nothing of the order reached the venue, or the venue refused it: no fill is possible.
NOTHING_REACHED = frozenset({"journalled", "not_sent", "rejected", *HELD_BACK})
#: The venue may still trade these after the book ran (or we have not heard back).
STILL_WORKING = frozenset({"sent", "unknown", "acknowledged", "partially_filled"})
#: The columns a ``venue_fills`` table needs (``fee``, in USD, is optional: NaN or absent = not known).
VENUE_FILL_COLUMNS = ("client_order_id", "state", "filled_qty", "avg_price")
#: Every venue fill's ``reason`` starts with this.
VENUE_REASON_PREFIX = "venue "
#: Marks a fill the reduce-only rule (``quant.book.hour_fills``) booked below the venue's or the simulator's quantity.
CLAMP_MARK = "reduce-only: "
#: A filled quantity this close to the intent's counts as the whole order (the venue rounds to its lot).
WHOLE_REL = 1e-9


@dataclass(frozen=True)
class VenueRecord:
    """One order as the venue left it: ``state`` (:data:`VENUE_STATES`), base units filled, average
    price (quote currency; NaN when nothing filled), the fee in USD (NaN: not known)."""

    state: str  # one of VENUE_STATES or HELD_BACK
    filled_qty: float
    avg_price: float
    fee: float = math.nan


def is_venue_fill(reason: str) -> bool:
    """Whether a ``fills_1h`` row's ``reason`` marks it as the venue's fill (not the simulator's)."""
    return str(reason).startswith(VENUE_REASON_PREFIX)


def venue_records(table: pd.DataFrame) -> dict[str, VenueRecord]:
    """The ``venue_fills`` table by client order id, each row checked on its own.

    Parameters
    ----------
    table : one row per client order id with :data:`VENUE_FILL_COLUMNS` (``filled_qty`` in base
        units, ``avg_price`` in quote currency) and optionally ``fee`` (USD; NaN = not known).

    Raises
    ------
    ValueError
        A column is missing, an id repeats, or a record contradicts itself (see the module docstring).
    """
    missing = [c for c in VENUE_FILL_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"venue_fills lacks columns {missing}")
    fees = table["fee"].tolist() if "fee" in table.columns else [math.nan] * len(table)
    out: dict[str, VenueRecord] = {}
    for cid, state, filled, avg, fee in zip(table["client_order_id"].tolist(), table["state"].tolist(),
                                            table["filled_qty"].tolist(), table["avg_price"].tolist(), fees, strict=True):
        cid = str(cid)
        if cid in out:
            raise ValueError(f"venue_fills has two records for {cid}")
        record = VenueRecord(str(state), _float(filled), _float(avg), _float(fee))
        problem = _record_problem(record)
        if problem:
            raise ValueError(f"venue record of {cid}: {problem}")
        out[cid] = record
    return out


def _float(value: object) -> float:
    return math.nan if value is None else float(value)


def _record_problem(r: VenueRecord) -> str:
    """Why ``r`` cannot be a venue's outcome ("" when it can)."""
    if r.state not in VENUE_STATES and r.state not in HELD_BACK:
        return f"unknown state {r.state!r} (one of {', '.join((*VENUE_STATES, *HELD_BACK))})"
    if not (math.isfinite(r.filled_qty) and r.filled_qty >= 0):
        return f"filled_qty {r.filled_qty!r} is not a quantity >= 0"
    if r.filled_qty > 0 and not (math.isfinite(r.avg_price) and r.avg_price > 0):
        return f"{r.filled_qty:.12g} filled without a price (avg_price {r.avg_price!r})"
    if r.filled_qty > 0 and r.state in NOTHING_REACHED:
        return f"{r.filled_qty:.12g} filled on an order that is {r.state} (it never traded)"
    if r.state == "filled" and r.filled_qty == 0:
        return "state filled with nothing filled"
    if not (math.isnan(r.fee) or (math.isfinite(r.fee) and r.fee >= 0)):
        return f"fee {r.fee!r} is not an amount >= 0"
    return ""


def venue_fill(intent: dict, record: VenueRecord, p: FillParams) -> dict:
    """The book's fill of ``intent`` (a pending intent record) from the venue's ``record``.

    The same keys as ``quant.book.hour_fills.fill_intent``. The notional is ``filled_qty ×
    avg_price``; the fee the venue's where it is known, else the layer's book rate on that notional
    (maker for a limit, taker otherwise, as the simulator charges), so costs stay comparable with
    the simulated hours. The status: ``filled`` (the whole order), ``partial`` (some),
    ``cancelled`` (nothing reached the venue, or it refused), ``not_triggered`` (it worked and
    nothing traded: an unfilled limit or stop, or one still working when the book ran).

    Raises
    ------
    ValueError
        The venue filled more than the intent's quantity.
    """
    cid, qty, kind = intent["client_order_id"], float(intent["qty"]), intent["order_type"]
    filled = record.filled_qty
    if filled > qty * (1 + WHOLE_REL):
        raise ValueError(f"venue record of {cid}: filled {filled:.12g}, more than the intent's {qty:.12g}")
    price = record.avg_price if filled > 0 else math.nan
    notional = filled * price if filled > 0 else 0.0
    fee = record.fee if math.isfinite(record.fee) else fee_usd(
        notional, ORDER_KIND_CODES.get(kind, KIND_OTHER), p.maker_fee_bps, p.taker_fee_bps)
    if filled > 0:
        status = "filled" if filled >= qty * (1 - WHOLE_REL) else "partial"
    else:
        status = "cancelled" if record.state in NOTHING_REACHED else "not_triggered"
    return {
        "client_order_id": cid, "exec_hour": intent["exec_hour"], "venue": intent["venue"], "symbol": intent["symbol"],
        "side": intent["side"], "order_type": kind, "layer": intent["layer"], "leg": intent["leg"], "qty": qty,
        "filled_qty": filled, "fill_price": price, "notional": notional, "fee": fee, "status": status,
        "reason": _reason(record, qty), "position": intent["position"], "reduce_only": bool(intent["reduce_only"]),
    }


def _reason(r: VenueRecord, qty: float) -> str:
    what = (f"{r.filled_qty:.12g} of {qty:.12g} filled at {r.avg_price:.12g}" if r.filled_qty > 0
            else "nothing filled")
    fee = "venue's fee" if math.isfinite(r.fee) else "fee at the book's rate"
    text = f"{VENUE_REASON_PREFIX}{r.state}: {what} ({fee})"
    if r.state in STILL_WORKING:
        text += "; still working when the book ran: a later fill is not in this hour (reconciliation names it)"
    return text


def venue_map(table: pd.DataFrame | None) -> Mapping[str, VenueRecord] | None:
    """:func:`venue_records` of ``table``; None stays None (no venue: every fill is simulated)."""
    return None if table is None else venue_records(table)


#: The columns of :func:`late_fills`' answer.
LATE_FILL_COLUMNS = ["client_order_id", "exec_hour", "booked_qty", "booked_price", "venue_state", "venue_qty",
                     "venue_price"]


def late_fills(booked: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The orders whose venue record now says something else than the book booked for them.

    The book books an execution hour once, with what the journal had heard by then; a resting
    order the venue filled later, or an ``unknown`` one settled afterwards, leaves that hour's
    ledger wrong until the hour is booked again. This names them.

    Parameters
    ----------
    booked : stored ``fills_1h`` rows of the hours already booked (``client_order_id``, ``hour``,
        ``filled_qty``, ``fill_price``; base units, quote currency; ``reason`` optional). A row the
        reduce-only rule clamped (its reason carries :data:`CLAMP_MARK`) was booked
        below the venue's quantity on purpose: it differs only if the venue now says less.
    records : the journal's records of the same orders (:data:`VENUE_FILL_COLUMNS`); an id with no
        booked row is not this comparison's (its hour is not booked yet).

    Returns
    -------
    One row per differing order (:data:`LATE_FILL_COLUMNS`), oldest execution hour first: the
    filled quantity differs beyond the venue's lot rounding (:data:`WHOLE_REL` of the larger), or
    both filled something at prices more than 1e-9 apart (relative).
    """
    if booked.empty or records.empty:
        return pd.DataFrame(columns=LATE_FILL_COLUMNS)
    venue = venue_records(records[list(VENUE_FILL_COLUMNS)])
    reasons = booked["reason"].astype(str) if "reason" in booked.columns else pd.Series("", index=booked.index)
    rows = []
    for cid, hour, qty, price, reason in zip(booked["client_order_id"].astype(str), booked["hour"],
                                             booked["filled_qty"], booked["fill_price"], reasons, strict=True):
        record = venue.get(cid)
        if record is None:
            continue
        qty, price = float(qty), float(price)
        tolerance = WHOLE_REL * max(abs(record.filled_qty), abs(qty))
        if CLAMP_MARK in reason:  # booked below the venue on purpose
            differ = record.filled_qty < qty - tolerance
        else:
            differ = abs(record.filled_qty - qty) > tolerance
        if not differ and qty > 0 and record.filled_qty > 0:
            differ = abs(record.avg_price - price) > 1e-9 * max(abs(record.avg_price), abs(price))
        if differ:
            rows.append((cid, pd.Timestamp(hour), qty, price, record.state, record.filled_qty, record.avg_price))
    out = pd.DataFrame(rows, columns=LATE_FILL_COLUMNS)
    return out.sort_values(["exec_hour", "client_order_id"], kind="stable").reset_index(drop=True)
