"""The faults where brokers lose or duplicate orders: a create answered too late (after the venue
accepted it), HTTP 500 after acceptance, no answer within the hard deadline, a 503 before
acceptance, a venue that cannot be reached, a venue that "forgets" an order for a while, and a
broker killed mid-call. In every case the venue sees at most one create per client order id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resources.broker.base import ACKNOWLEDGED, FILLED, NOT_SENT, SENT, UNKNOWN
from resources.broker.journal import OrderJournal
from tests.resources.broker_helpers import SHORT_TIMEOUT_S, intent, make_broker
from tests.support.order_exchange import (
    ACCEPT_THEN_500,
    ACCEPT_THEN_STALL,
    FAIL_BEFORE_ACCEPT,
    STALL_S,
    Fault,
    OrderExchange,
)

ROOT = Path(__file__).resolve().parents[2]
#: How long the parent waits for the child's create to reach the venue before giving up.
CHILD_START_S = 60.0


def states(journal: OrderJournal, cid: str) -> list[str]:
    return [e.state for e in journal.events(cid)]


def test_a_create_answered_after_the_timeout_is_found_not_resent(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    sleeps: list[float] = []
    order = intent()
    report = make_broker(venue, journal, sleeps, timeout_s=SHORT_TIMEOUT_S).submit(order)
    assert (report.state, report.filled_qty, report.sends) == (FILLED, 0.01, 1)
    assert len(venue.creates) == 1
    assert len(venue.book.orders) == 1
    # a filled market order is not open: three open-order queries, then the lookup by client id
    assert states(journal, order.client_order_id) == ["journalled", SENT, UNKNOWN, FILLED]
    assert sleeps == [0.5, 1.0, 2.0]
    assert "found by its client order id" in report.reason


def test_a_resting_order_answered_late_is_found_among_the_open_orders(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    sleeps: list[float] = []
    report = make_broker(venue, journal, sleeps, timeout_s=SHORT_TIMEOUT_S).submit(intent(order_type="limit", limit=50_000.0))
    assert report.state == ACKNOWLEDGED
    assert "in the open orders (query 1)" in report.reason
    assert sleeps == []
    assert len(venue.creates) == 1


def test_http_500_after_acceptance_is_looked_up(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_500))
    report = make_broker(venue, journal).submit(intent())
    assert report.state == FILLED
    assert len(venue.creates) == 1


def test_the_hard_deadline_bounds_a_call_requests_would_wait_out(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    started = time.monotonic()
    report = make_broker(venue, journal, timeout_s=5.0, hard_timeout_s=SHORT_TIMEOUT_S).submit(intent())
    assert time.monotonic() - started < STALL_S + 0.5  # not the 5 s requests would have waited
    assert report.state == FILLED
    assert "hard deadline" in journal.events(report.client_order_id)[2].detail
    assert len(venue.creates) == 1


def test_a_503_before_acceptance_stays_unknown_and_blocks_a_resubmit(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(FAIL_BEFORE_ACCEPT))
    order = intent()
    broker = make_broker(venue, journal)
    report = broker.submit(order)
    assert report.state == UNKNOWN  # the venue may have it: "not found" right after is no proof
    assert "never resent" in report.reason
    assert broker.submit(order).state == UNKNOWN
    assert broker.reconcile()[0].state == UNKNOWN
    assert len(venue.creates) == 1
    assert venue.book.orders == {}


def test_a_venue_that_cannot_be_reached_got_nothing_so_the_order_is_sent_once_later(
        venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent()
    broker = make_broker(venue, journal)
    broker.positions("binance")  # markets loaded: the next call is the create itself
    venue.stop()
    report = broker.submit(order)
    assert (report.state, report.sends) == (NOT_SENT, 0)
    assert "no connection to the venue was opened" in report.reason
    venue.start()  # same port, same book
    again = broker.submit(order)
    assert (again.state, again.sends) == (FILLED, 1)
    assert len(venue.creates) == 1


def test_an_order_the_venue_forgets_for_a_while_is_found_within_the_bound(
        venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    venue.script(Fault(ACCEPT_THEN_STALL))
    venue.forget(order.client_order_id, lookups=3)  # the three open-order queries miss it
    report = make_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S).submit(order)
    assert report.state == ACKNOWLEDGED
    assert "found by its client order id" in report.reason
    assert len(venue.creates) == 1


def test_an_order_forgotten_past_the_bound_stays_unknown_until_it_reappears(
        venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    venue.script(Fault(ACCEPT_THEN_STALL))
    venue.forget(order.client_order_id, lookups=5)  # the three queries, the lookup, and the next query
    broker = make_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    assert broker.submit(order).state == UNKNOWN
    assert broker.submit(order).state == ACKNOWLEDGED  # looked up again (the venue remembers now), not resent
    assert len(venue.creates) == 1


def test_the_exchange_restarted_keeps_its_orders_and_the_broker_reconciles(
        venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    broker = make_broker(venue, journal)
    broker.submit(order)
    venue.restart()
    venue.fill(order.client_order_id, 0.01)
    [report] = broker.reconcile()
    assert (report.state, report.filled_qty, report.avg_price) == (FILLED, 0.01, 50_000.0)
    assert len(venue.creates) == 1


CHILD = """
import sys
from tests.resources.broker_helpers import intent
from resources.broker.ccxt_broker import CcxtBroker
from resources.broker.journal import OrderJournal
from tests.support.order_exchange import loopback_session
from tests.resources.broker_helpers import KEY, SECRET
url, journal_url = sys.argv[1], sys.argv[2]
broker = CcxtBroker(OrderJournal(journal_url), venues={"binance": "binanceusdm"}, api_key=KEY, api_secret=SECRET,
                    timeout_s=30, hard_timeout_s=60, enable_rate_limit=False, http_session=lambda: loopback_session(url))
broker.submit(intent())
"""


@pytest.mark.slow
def test_a_broker_killed_mid_create_is_reconciled_by_the_next_one(venue: OrderExchange, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    venue.script(*[Fault(ACCEPT_THEN_STALL)] * 30)  # the child never hears back before it is killed
    child = subprocess.Popen([sys.executable, "-c", CHILD, venue.url, url], cwd=ROOT,  # noqa: S603 - our interpreter
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + CHILD_START_S
    while not venue.creates and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert len(venue.creates) == 1
    journal = OrderJournal(url)
    try:
        order = intent()
        assert journal.get(order.client_order_id).state == SENT  # what a kill mid-call leaves
        broker = make_broker(venue, journal)
        [report] = broker.reconcile()
        assert report.state == FILLED
        assert broker.submit(order).state == FILLED
        assert len(venue.creates) == 1
    finally:
        journal.dispose()
