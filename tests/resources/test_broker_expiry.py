"""Expiry of working orders whose hour ended (``resources.broker.expiry``) on the loopback Binance
venue: the journal's working set of earlier decision hours, a cancel whose answer is lost or that
fails is looked up (the venue decides, never an assumption), a re-run cancels nothing twice, and an
order the run has no time for waits for the next one."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from quant.book.orders import OrderIntent
from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    FILLED,
    NOT_SENT,
    PARTIALLY_FILLED,
    UNKNOWN,
)
from resources.broker.expiry import (
    EXPIRED_CANCELED,
    EXPIRED_FILLED,
    EXPIRED_REASON,
    EXPIRY_UNSETTLED,
    counts,
    expire_before,
)
from resources.broker.journal import OrderJournal
from tests.resources.broker_helpers import HOUR, SHORT_TIMEOUT_S, intent, make_broker
from tests.support.order_exchange import (
    ACCEPT_THEN_500,
    ACCEPT_THEN_STALL,
    FAIL_BEFORE_ACCEPT,
    Fault,
    OrderExchange,
)

PREV = HOUR - pd.Timedelta(hours=1)


def rung(leg: str = "rung1", *, hour: pd.Timestamp = PREV, limit: float = 50_000.0) -> OrderIntent:
    """A resting L2 ladder rung of ``hour`` (below the mark of 60,000: it rests)."""
    return intent(leg, order_type="limit", limit=limit, layer="L2", hour=hour)


def deletes(venue: OrderExchange) -> int:
    return sum(r.method == "DELETE" for r in venue.requests)


def test_the_journal_lists_what_may_still_work_from_earlier_decision_hours(journal: OrderJournal) -> None:
    def journalled(order: OrderIntent, state: str, network: str = "demo") -> str:
        cid = order.client_order_id
        journal.open(order, venue_client_id=cid, network=network)
        if state != "journalled":
            journal.claim(cid)
            if state != "sent":
                journal.record(cid, state, "test")
        return cid

    older = journalled(rung("a", hour=PREV - pd.Timedelta(hours=1)), PARTIALLY_FILLED)
    wanted = [older] + [journalled(rung(leg), state) for leg, state in
                        (("b", ACKNOWLEDGED), ("c", "sent"), ("d", UNKNOWN))]
    for leg, state in (("e", FILLED), ("f", CANCELED), ("g", "journalled"), ("h", NOT_SENT)):
        journalled(rung(leg), state)  # final, or never reached the venue
    journalled(rung("i", hour=HOUR), ACKNOWLEDGED)  # the hour itself: still its working hour
    journalled(rung("j"), ACKNOWLEDGED, network="live")  # another network's journal rows
    # newest decision hour first: the hour just ended is what the next booking depends on
    assert [r.client_order_id for r in journal.working_before("demo", HOUR.to_pydatetime())] == wanted[1:] + [older]
    assert journal.working_before("demo", PREV.to_pydatetime()) == [journal.get(older)]


def test_a_resting_rung_of_an_ended_hour_is_cancelled_once(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    resting, current = rung(), rung(hour=HOUR)
    broker.submit(resting)
    broker.submit(current)
    [expired] = expire_before(broker, HOUR.to_pydatetime())
    assert (expired.was, expired.report.state, expired.outcome) == (ACKNOWLEDGED, CANCELED, EXPIRED_CANCELED)
    assert expired.report.reason.startswith(f"{EXPIRED_REASON}; canceled")
    assert venue.book.orders[resting.client_order_id].status == "CANCELED"
    assert venue.book.orders[current.client_order_id].status == "NEW"
    assert expire_before(broker, HOUR.to_pydatetime()) == []  # the re-run: nothing left to cancel
    assert deletes(venue) == 1


def test_a_rung_that_filled_meanwhile_is_recorded_filled_not_cancelled(venue: OrderExchange,
                                                                       journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    order = rung()
    broker.submit(order)
    venue.fill(order.client_order_id, 0.01)  # the journal still says acknowledged
    [expired] = expire_before(broker, HOUR.to_pydatetime())
    assert (expired.report.state, expired.report.filled_qty, expired.outcome) == (FILLED, 0.01, EXPIRED_FILLED)
    assert venue.book.orders[order.client_order_id].status == "FILLED"


def test_a_cancel_answered_too_late_is_looked_up(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    order = rung()
    broker.submit(order)
    venue.script_cancels(Fault(ACCEPT_THEN_STALL))
    [expired] = expire_before(broker, HOUR.to_pydatetime())
    assert (expired.report.state, expired.outcome) == (CANCELED, EXPIRED_CANCELED)
    assert "cancel failed" in expired.report.reason
    assert "looked up" in expired.report.reason
    assert deletes(venue) == 1


def test_a_failed_cancel_is_not_assumed_and_the_next_run_cancels(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    order = rung()
    broker.submit(order)
    venue.script_cancels(Fault(FAIL_BEFORE_ACCEPT))
    [first] = expire_before(broker, HOUR.to_pydatetime())
    assert (first.report.state, first.outcome) == (ACKNOWLEDGED, EXPIRY_UNSETTLED)  # the venue still has it
    assert venue.book.orders[order.client_order_id].status == "NEW"
    [second] = expire_before(broker, HOUR.to_pydatetime())
    assert (second.report.state, second.outcome) == (CANCELED, EXPIRED_CANCELED)
    assert deletes(venue) == 2


def test_an_order_left_unknown_is_cancelled_by_its_client_id(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_500))
    order = rung()
    venue.forget(order.client_order_id, 4)
    broker = make_broker(venue, journal)
    assert broker.submit(order).state == UNKNOWN
    [expired] = expire_before(broker, HOUR.to_pydatetime())
    assert (expired.was, expired.report.state) == (UNKNOWN, CANCELED)
    assert len(venue.creates) == 1


def test_without_time_left_nothing_is_cancelled_and_it_waits(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    broker.submit(rung())
    [waiting] = expire_before(broker, HOUR.to_pydatetime(), time_left=lambda: False)
    assert (waiting.report.state, waiting.outcome) == (ACKNOWLEDGED, EXPIRY_UNSETTLED)
    assert deletes(venue) == 0
    assert counts([waiting]) == {"expired_canceled": 0, "expired_filled": 0, "expired_settled": 0,
                                 "expiry_unsettled": 1}


def test_an_order_of_a_venue_without_a_route_stays_and_says_why(venue: OrderExchange, journal: OrderJournal) -> None:
    make_broker(venue, journal).submit(rung())
    elsewhere = make_broker(venue, journal, venues={"bybit": "bybit"})  # the binance route was removed
    [kept] = expire_before(elsewhere, HOUR.to_pydatetime())
    assert (kept.report.state, kept.outcome) == (ACKNOWLEDGED, EXPIRY_UNSETTLED)
    assert "unknown venue 'binance'" in kept.report.reason
    assert deletes(venue) == 0


def test_an_unexpected_failure_on_one_order_leaves_it_unsettled_and_the_rest_are_cancelled(
        venue: OrderExchange, journal: OrderJournal, monkeypatch: pytest.MonkeyPatch) -> None:
    """One order's surprise (a database hiccup, a bug) must not fail the hour's booking or its orders."""
    broker = make_broker(venue, journal)
    bad, good = rung("rung1"), rung("rung2", limit=49_000.0)
    broker.submit(bad)
    broker.submit(good)
    real = broker.cancel

    def cancel(cid: str, **kw):
        if cid == bad.client_order_id:
            raise RuntimeError("database is locked")
        return real(cid, **kw)

    monkeypatch.setattr(broker, "cancel", cancel)
    out = {e.report.client_order_id: e.outcome for e in expire_before(broker, HOUR.to_pydatetime())}
    assert out == {bad.client_order_id: EXPIRY_UNSETTLED, good.client_order_id: EXPIRED_CANCELED}
    assert journal.get(bad.client_order_id).state == ACKNOWLEDGED  # untouched: the next run tries again


def test_closing_the_books_hour_looks_stops_up_and_leaves_them_on_the_venue(venue: OrderExchange,
                                                                            journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    stop = dataclasses.replace(intent("rung1:stop", side="sell", order_type="stop", limit=40_000.0, layer="L2",
                                      hour=PREV), reduce_only=True)
    broker.submit(stop)
    [kept] = expire_before(broker, HOUR.to_pydatetime(), keep_stops=True)
    assert kept.report.state == ACKNOWLEDGED
    assert kept.outcome == EXPIRY_UNSETTLED
    assert deletes(venue) == 0
    [cancelled] = expire_before(broker, HOUR.to_pydatetime())  # order_submissions_1h, once the new stop is out
    assert cancelled.outcome == EXPIRED_CANCELED
