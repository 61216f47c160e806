"""The hour's ledger: fills, funding and marks applied to the legs; one row per position and a total.

Per leg, in the order of ``quant.book.ledger`` (the ledger core's rules, applied here to one hour
of records): funding settled at the start of the hour on perp legs held from the previous hour
(``funding = −qty × previous mark × rate``), then the hour's fills in order, then the mark at the
hour's close. Per position (layer, venue, symbol), money is cumulative over the book's life: the
previous hour's row plus this hour's increments, so a position keeps its row after it closes.
"""

from __future__ import annotations

import math

import pandas as pd

from quant.book.ledger import _apply_fill
from quant.book.legs import Leg, array_sum, group_sums
from quant.book.params import ALL, MONEY, TOTAL

#: The cumulative money columns a position carries from hour to hour.
CUMULATIVE = ("realised_usd", "fees_usd", "funding_usd")
Position = tuple[str, str, str]


def previous_total(ledger: list[dict], bankroll_usd: float) -> dict:
    """The total row of the previous hour's ledger (a fresh book's: the bankroll everywhere)."""
    for row in ledger:
        if row["layer"] == TOTAL:
            return row
    b = bankroll_usd
    return {"equity_usd": b, "peak_equity_usd": b, "day_open_equity_usd": b, "day_peak_equity_usd": b,
            "session_paused": False, "daily_loss_halt": False}


def _label(leg: Leg, hour: pd.Timestamp) -> str:
    return f"{leg.layer} {leg.venue} {leg.instrument} {leg.leg} ({hour:%Y-%m-%d %H:00})"


def apply_ledger(legs: list[Leg], fills: list[dict], ebars: dict[tuple[str, str], list], funding: dict[tuple[str, str], float],
                 hour: pd.Timestamp) -> None:
    """Funding, fills and marks of hour ``hour`` applied to ``legs`` in place.

    Raises
    ------
    ValueError
        A fill price that is not a positive number; funding that is not a number on a held perp
        at a settlement; a held leg without a valid mark at the hour's close.
    """
    index = {leg.key: i for i, leg in enumerate(legs)}
    got = [f for f in fills if f["filled_qty"] > 0]
    for f in got:
        if not (math.isfinite(f["fill_price"]) and f["fill_price"] > 0 and math.isfinite(f["filled_qty"])):
            raise ValueError("fill prices must be finite and > 0 and quantities finite")
    for leg in legs:
        key = (leg.venue, leg.instrument)
        if leg.kind == "perp" and key in funding and leg.qty != 0.0:
            rate, px = funding[key], leg.mark
            if not (math.isfinite(rate) and math.isfinite(px) and px > 0.0):
                raise ValueError(f"{_label(leg, hour)}: funding at hour index 0 is not a number (rate {rate}, price {px}) "
                                 "while the position is open")
            leg.funding_usd -= leg.qty * px * rate
    for f in got:
        leg = legs[index[(f["layer"], f["venue"], f["symbol"], str(f["leg"]).split(":", 1)[0])]]
        dq = f["filled_qty"] if f["side"] == "buy" else -1.0 * f["filled_qty"]
        leg.qty, leg.avg_entry, realised = _apply_fill(leg.qty, leg.avg_entry, dq, f["fill_price"])
        leg.realised_usd += realised
        leg.fees_usd += f["fee"]
    for leg in legs:
        bar = ebars.get((leg.venue, leg.instrument))
        mark = bar[3] if bar is not None else math.nan
        if leg.qty != 0.0 and not (math.isfinite(mark) and mark > 0.0):
            raise ValueError(f"{_label(leg, hour)}: mark price at hour index 0 is {mark} while the position is open")
        leg.unrealised_usd = leg.qty * (mark - leg.avg_entry) if leg.qty != 0.0 else 0.0
        leg.mark = mark


def position_money(prev: list[dict], before: dict[tuple, tuple[float, float, float]], after: list[Leg]) -> list[dict]:
    """Cumulative money per (layer, venue, position), sorted by that key: the previous rows plus this hour's increments.

    ``before`` maps a leg key to its cumulative (realised, fees, funding) before the hour (legs
    opened this hour have none); ``after`` is every leg after the hour, closed ones included.
    """
    base: dict[Position, list[float]] = {(r["layer"], r["venue"], r["symbol"]): [float(r[c]) for c in CUMULATIVE]
                                         for r in prev if r["layer"] != TOTAL}
    parts: dict[Position, list[tuple[float, float, float, float]]] = {}
    for leg in after:
        old = before.get(leg.key, (0.0, 0.0, 0.0))
        parts.setdefault((leg.layer, leg.venue, leg.symbol), []).append(
            (leg.realised_usd - old[0], leg.fees_usd - old[1], leg.funding_usd - old[2], leg.unrealised_usd))
    inc = group_sums(parts)
    rows = []
    for pos in sorted(base.keys() | inc.keys()):
        b = base.get(pos)
        add = inc[pos][:3] if pos in inc else None
        if b is not None and add is not None:
            money = [x + y for x, y in zip(b, add, strict=True)]
        else:  # one side only: the other is pandas' fill value 0.0 (which also turns −0.0 into 0.0)
            money = [x + 0.0 for x in b] if b is not None else [0.0 + y for y in add]
        u = inc[pos][3] if pos in inc else 0.0
        rows.append({"layer": pos[0], "venue": pos[1], "symbol": pos[2], "realised_usd": money[0], "fees_usd": money[1],
                     "funding_usd": money[2], "unrealised_usd": u})
    return rows


def totals(rows: list[dict]) -> dict[str, float]:
    """The money columns summed over the position rows (numpy's sum, as ``Series.sum``)."""
    return {c: array_sum(r[c] for r in rows) for c in MONEY}


def ledger_records(rows: list[dict], risk: dict, hour: pd.Timestamp) -> list[dict]:
    """The hour's ledger: each position's row with its P&L, then the total; every row carries the book's risk state."""
    book = {c: risk[c] for c in ("cash_usd", "equity_usd", "peak_equity_usd", "drawdown", "day_open_equity_usd",
                                 "day_peak_equity_usd", "risk_level", "risk_multiplier", "session_paused",
                                 "daily_loss_halt", "breach")}
    out = []
    for r in rows:
        pnl = r["realised_usd"] + r["unrealised_usd"] - r["fees_usd"] + r["funding_usd"]
        out.append({**r, "pnl_usd": pnl, **book, "hour": hour})
    out.append({"layer": TOTAL, "venue": ALL, "symbol": ALL, **{c: risk[c] for c in MONEY}, "pnl_usd": risk["pnl_usd"],
                **book, "hour": hour})
    return out
