"""``PaperBroker``: the one fill simulator behind the ``Broker`` protocol, journalled like the live path.

It adapts ``quant.book.fills.simulate_fills`` from outside (the book itself is unchanged): an
intent decided at hour H fills against the bar of H + 1h by the simulator's rules (no trade at or
through the price, no fill; capped at the bar's volume share). A paper order lives one bar: it
settles at submit, ``filled`` when it traded in full, ``expired`` otherwise (``filled_qty`` says
how much traded and ``reason`` the simulator's why), so nothing stays open.

Like :class:`~resources.broker.ccxt_broker.CcxtBroker` it writes the intent to the order journal
first (``network="paper"``) and de-duplicates on the client order id: a rerun of an hour, or a
restarted process, returns the first fill instead of filling twice.
"""

from __future__ import annotations

import math

import pandas as pd

from quant.book.fills import FillParams, simulate_fills
from quant.book.orders import OrderIntent, intents_frame
from resources.broker.base import CANCELED, EXPIRED, FILLED, FINAL, SENDABLE, OrderReport, Position
from resources.broker.journal import OrderJournal

PAPER = "paper"
BAR_COLUMNS = ("venue", "symbol", "hour", "open", "high", "low", "close", "volume")


class PaperBroker:
    """Simulated fills over hourly ``bars`` (:class:`~resources.broker.base.Broker`).

    Parameters
    ----------
    journal : the order journal.
    bars : one row per (venue, symbol, hour): ``hour`` (UTC), open, high, low, close, volume (base units).
    params : the simulator's costs and limits.
    """

    network = PAPER

    def __init__(self, journal: OrderJournal, bars: pd.DataFrame, params: FillParams | None = None) -> None:
        missing = [c for c in BAR_COLUMNS if c not in bars.columns]
        if missing:
            raise ValueError(f"paper bars lack columns {missing}; need {list(BAR_COLUMNS)}")
        self._journal = journal
        self._bars = bars
        self._params = params or FillParams()

    def submit(self, intent: OrderIntent) -> OrderReport:
        """Fill ``intent`` once against its execution bar; a second submit returns the first result."""
        cid = intent.client_order_id
        report = self._journal.open(intent, venue_client_id=cid, network=PAPER)
        if report.state not in SENDABLE or not self._journal.claim(cid):
            return self._journal.get(cid)
        fill = simulate_fills(intents_frame([intent]), self._bars, self._params).iloc[0]
        filled = float(fill["filled_qty"])
        state = FILLED if fill["status"] == "filled" else EXPIRED
        why = f"simulated {fill['status']}" + (f": {fill['reason']}" if fill["reason"] else "")
        if filled > 0:
            why += f"; fee {float(fill['fee']):.6g} USDT"
        return self._journal.record(cid, state, why, filled_qty=filled,
                                    avg_price=float(fill["fill_price"]) if filled > 0 else math.nan)

    def _ours(self, client_order_id: str) -> OrderReport:
        report = self._journal.get(client_order_id)
        if report.network != PAPER:
            raise ValueError(f"{client_order_id} was journalled on {report.network}, not on paper")
        return report

    def lookup(self, client_order_id: str) -> OrderReport:
        """The journalled order (paper orders settle at submit)."""
        return self._ours(client_order_id)

    def cancel(self, client_order_id: str) -> OrderReport:
        """A settled order is returned as it stands; one never sent is canceled."""
        report = self._ours(client_order_id)
        if report.state in FINAL or report.state not in SENDABLE:
            return report
        return self._journal.record(client_order_id, CANCELED, "canceled before it was sent")

    def open_orders(self, venue: str, symbol: str | None = None) -> list[OrderReport]:
        """Always empty once submits have returned: a paper order lives one bar."""
        return [r for r in self._journal.unsettled(PAPER) if r.venue == venue and symbol in (None, r.symbol)]

    def positions(self, venue: str) -> list[Position]:
        """Net filled quantity per symbol on ``venue`` with its average entry (average-cost method)."""
        book: dict[str, tuple[float, float]] = {}
        for r in self._journal.orders(PAPER):
            if r.venue != venue or not r.filled_qty > 0:
                continue
            held, entry = book.get(r.symbol, (0.0, 0.0))
            signed = r.filled_qty if r.side == "buy" else -r.filled_qty
            new = held + signed
            if held == 0 or (held > 0) == (signed > 0):
                entry = (abs(held) * entry + r.filled_qty * r.avg_price) / abs(new)
            elif abs(signed) > abs(held):  # through zero: the remainder opens at this fill
                entry = r.avg_price
            book[r.symbol] = (new, entry if new else 0.0)
        return [Position(venue, s, q, e) for s, (q, e) in sorted(book.items()) if q != 0]

    def reconcile(self) -> list[OrderReport]:
        """Nothing to look up on paper: the unsettled orders as journalled (normally none)."""
        return self._journal.unsettled(PAPER)
