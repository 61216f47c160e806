"""The fill, funding and P&L links of ``perpetua explain`` (``pipelines.explain``), with their arithmetic shown.

The ledger's identity (``quant.book.ledger``): P&L = realised + unrealised − fees + funding, per
position leg and cumulative; a fill's notional is its filled quantity × fill price and its fee
adds to the position's ``fees_usd`` in the hour it fills.
"""

from __future__ import annotations

import pandas as pd

from pipelines.lineage import HOUR
from resources.storage import MissingPartitionError, read_hours, stored_hours

#: Hours of positions read at a time while following a position to its close.
SCAN_BLOCK_H = 168


def fill_step(fills: pd.DataFrame | None, order_id: str, intent: pd.Series) -> list[str]:
    exec_hour = pd.Timestamp(intent["exec_hour"])
    if fills is None:
        return [f"fills_1h has no stored hour {exec_hour:%Y-%m-%d %H:00} UTC: the hour the order works was never run"]
    mine = fills[fills["client_order_id"] == order_id]
    if mine.empty:
        if not bool(intent["approved"]):
            return ["no fill: the safeguards rejected the order, so it was never sent"]
        return [f"no fill row for this order at {exec_hour:%Y-%m-%d %H:00} UTC"]
    f = mine.iloc[0]
    lines = [f"{f['status']}: {f['filled_qty']:,.6g} of {f['qty']:,.6g}" + (f" ({f['reason']})" if str(f["reason"]) else "")]
    if f["filled_qty"] > 0:
        computed = f["filled_qty"] * f["fill_price"]
        rate = f["fee"] / f["notional"] if f["notional"] else float("nan")
        lines.append(f"{f['filled_qty']:,.6g} x {f['fill_price']:,.6f} = {computed:,.2f} USD notional "
                     f"(stored {f['notional']:,.2f}); fee {f['fee']:,.2f} USD = {100 * rate:.4g}% of it"
                     + ("; modelled (no real quote)" if bool(f["modelled"]) else ""))
    return lines


def _position(frame: pd.DataFrame | None, intent: pd.Series) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    same = (frame["layer"] == intent["layer"]) & (frame["venue"] == intent["venue"]) & (frame["symbol"] == intent["position"])
    return frame[same]


def held_until(root: str, intent: pd.Series, exec_hour: pd.Timestamp) -> tuple[pd.Timestamp | None, bool]:
    """(last hour the order's position is open from ``exec_hour`` on, whether it closed after it within storage)."""
    hours = stored_hours(root, "positions_1h", exec_hour, None)
    last = None
    for i in range(0, len(hours), SCAN_BLOCK_H):
        block = hours[i:i + SCAN_BLOCK_H]
        frame = read_hours(root, "positions_1h", block)
        open_hours = set(_position(frame, intent)["hour"]) if not frame.empty else set()
        for h in block:
            if h not in open_hours or (last is not None and h - last > HOUR):
                return last, True
            last = h
    return last, False


def funding_step(root: str, intent: pd.Series, exec_hour: pd.Timestamp) -> tuple[list[str], pd.Timestamp]:
    """The funding lines, and the hour whose ledger row is the position's latest (its close, or the last stored)."""
    last, closed = held_until(root, intent, exec_hour)
    end = exec_hour if last is None else (last + HOUR if closed else last)
    held = "not open after the fill" if last is None else (
        f"open {exec_hour:%Y-%m-%d %H:00} .. {last:%Y-%m-%d %H:00} UTC" + (f", closed by {end:%Y-%m-%d %H:00}" if closed
                                                                          else " (still open at the last stored hour)"))
    if str(intent.get("instrument_kind", "")) == "option" or "/" not in str(intent["symbol"]) \
            or ":" not in str(intent["symbol"]):
        return [held, "no funding: only perpetual legs pay or receive funding (this leg is "
                f"{intent.get('instrument_kind', 'not a perp')})"], end
    try:
        settled = read_hours(root, "funding_settlements", stored_hours(root, "funding_settlements", exec_hour + HOUR, end + HOUR))
    except MissingPartitionError:
        settled = pd.DataFrame()
    mine = settled[(settled["venue"] == intent["venue"]) & (settled["symbol"] == intent["symbol"])] if not settled.empty \
        else settled
    lines = [held, f"{len(mine)} settlement(s) of {intent['venue']} {intent['symbol']} while held"
             + (f": rates {', '.join(f'{r:+.6f}' for r in mine['funding_rate'].head(8))}" if len(mine) else "")]
    return lines, end


def pnl_step(root: str, intent: pd.Series, exec_hour: pd.Timestamp, fills: pd.DataFrame, end: pd.Timestamp) -> list[str]:
    """The position's ledger at the fill hour (fees against the fills) and at its latest hour (P&L by its identity)."""
    before = _ledger_row(root, intent, exec_hour - HOUR)
    at = _ledger_row(root, intent, exec_hour)
    if at is None:
        return [f"ledger_1h has no row of {intent['layer']} {intent['venue']} {intent['position']} at "
                f"{exec_hour:%Y-%m-%d %H:00} UTC"]
    same = (fills["layer"] == intent["layer"]) & (fills["venue"] == intent["venue"]) & (fills["position"] == intent["position"])
    hour_fees = float(fills.loc[same & (fills["filled_qty"] > 0), "fee"].sum())
    prior = 0.0 if before is None else float(before["fees_usd"])
    lines = [f"position {intent['layer']} {intent['venue']} {intent['position']} at {exec_hour:%Y-%m-%d %H:00}: fees "
             f"{prior:,.2f} -> {at['fees_usd']:,.2f} USD (+{at['fees_usd'] - prior:,.2f} = this hour's "
             f"{int(same.sum())} fill(s) of the position, fees {hour_fees:,.2f})", _identity(at)]
    last = _ledger_row(root, intent, end) if end != exec_hour else None
    if last is not None:
        lines.append(f"at {end:%Y-%m-%d %H:00}: " + _identity(last))
    return lines


def _identity(row: pd.Series) -> str:
    return (f"P&L {row['pnl_usd']:,.2f} USD = realised {row['realised_usd']:,.2f} + unrealised {row['unrealised_usd']:,.2f}"
            f" - fees {row['fees_usd']:,.2f} + funding {row['funding_usd']:,.2f}")


def _ledger_row(root: str, intent: pd.Series, hour: pd.Timestamp) -> pd.Series | None:
    try:
        frame = read_hours(root, "ledger_1h", pd.DatetimeIndex([hour]))
    except MissingPartitionError:
        return None
    mine = _position(frame, intent)
    return None if mine.empty else mine.iloc[-1]
