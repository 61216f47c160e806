"""After a person resolves an order the broker left ``unknown``, the broker treats it as settled.

The unknown orders are made the way they happen (the loopback venue fails a create before
accepting it, or accepts it and answers too late and then loses sight of it); the resolution is
the journal's own (:meth:`OrderJournal.resolve`); a fresh broker over the same journal stands
for the restart.
"""

from __future__ import annotations

import pytest

from resources.broker.base import CANCELED, FILLED, NOT_SENT, UNKNOWN
from resources.broker.journal import OrderJournal, ResolutionRefused
from tests.resources.broker_helpers import SHORT_TIMEOUT_S, intent, make_broker
from tests.support.order_exchange import ACCEPT_THEN_STALL, FAIL_BEFORE_ACCEPT, Fault, OrderExchange


def lost_before_the_venue(venue: OrderExchange, journal: OrderJournal):
    """An order left ``unknown`` that the venue never accepted (HTTP 503 before acceptance)."""
    venue.script(Fault(FAIL_BEFORE_ACCEPT))
    order = intent()
    assert make_broker(venue, journal).submit(order).state == UNKNOWN
    assert venue.book.orders == {}
    return order


def test_a_cancelled_resolution_is_final_for_a_restarted_broker(venue: OrderExchange, journal: OrderJournal) -> None:
    order = lost_before_the_venue(venue, journal)
    cid = order.client_order_id
    venue.clear_requests()
    assert [r.state for r in make_broker(venue, journal).reconcile()] == [UNKNOWN]  # unresolved: looked up again
    assert venue.requests != []
    journal.resolve(cid, CANCELED, by="alice", note="not in the venue's order history")
    venue.clear_requests()
    restarted = make_broker(venue, journal)
    assert restarted.reconcile() == []  # nothing left to look up
    assert journal.unsettled("demo") == []
    assert restarted.lookup(cid).state == CANCELED
    again = restarted.submit(order)  # a rerun of the hour: the id is settled, nothing is sent
    assert (again.state, again.sends) == (CANCELED, 1)
    assert venue.requests == []  # no lookup, no create: the venue was not asked about it again
    assert len(venue.creates) == 1
    assert journal.events(cid)[-1].by == "alice"


def test_a_not_sent_resolution_lets_the_intent_be_sent_once(venue: OrderExchange, journal: OrderJournal) -> None:
    order = lost_before_the_venue(venue, journal)
    cid = order.client_order_id
    journal.resolve(cid, NOT_SENT, by="bob", note="no such client id on the venue")
    restarted = make_broker(venue, journal)
    venue.clear_requests()
    assert restarted.reconcile() == []
    assert venue.requests == []
    report = restarted.submit(order)
    assert (report.state, report.filled_qty, report.sends) == (FILLED, 0.01, 1)
    assert restarted.submit(order).state == FILLED  # and only once
    assert len(venue.creates) == 2  # the one refused with 503, then this one
    assert len(venue.book.orders) == 1
    with pytest.raises(ResolutionRefused, match="is already filled, a final state"):
        journal.resolve(cid, CANCELED, by="bob")


def test_a_filled_resolution_of_an_order_the_venue_hides_is_never_looked_up_again(
        venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent()
    venue.script(Fault(ACCEPT_THEN_STALL))
    venue.forget(order.client_order_id, lookups=10)  # the venue loses sight of it for a long while
    broker = make_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    assert broker.submit(order).state == UNKNOWN
    [held] = venue.orders_created()  # what the operator reads in the venue's own order history
    journal.resolve(order.client_order_id, FILLED, by="alice", filled_qty=held.executed,
                    avg_price=held.cum_quote / held.executed, note="venue UI: filled")
    venue.clear_requests()
    restarted = make_broker(venue, journal)
    assert restarted.reconcile() == []
    report = restarted.lookup(order.client_order_id)
    assert (report.state, report.filled_qty, report.avg_price) == (FILLED, 0.01, 60_000.0)
    assert venue.requests == []
    assert len(venue.creates) == 1


def test_a_lookup_that_lands_after_a_resolution_never_moves_it(venue: OrderExchange, journal: OrderJournal) -> None:
    """The race the operator is warned about: a reconcile read the order as unknown, a person resolved it, then the
    reconcile records what it saw. The person's final state stays; what the broker saw is kept as an event."""
    order = lost_before_the_venue(venue, journal)
    cid = order.client_order_id
    journal.resolve(cid, CANCELED, by="alice", note="checked the venue")
    report = journal.record(cid, UNKNOWN, "looked up: not found")
    assert report.state == CANCELED
    assert journal.get(cid).state == CANCELED
    last = journal.events(cid)[-1]
    assert (last.state, last.by) == (CANCELED, "")
    assert "kept canceled: the broker saw unknown after the order was final (looked up: not found)" in last.detail
    assert journal.unsettled("demo") == []
