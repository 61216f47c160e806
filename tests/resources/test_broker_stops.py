"""Stops on Binance USDⓈ-M through ccxt's algo-order route, against the loopback venue's
``/fapi/v1/algoOrder`` endpoints: a book stop goes out once as a reduce-only STOP_MARKET with its
client id in ``clientAlgoId``, is found again through the algo lookups after a lost answer or a
restart (never resent), is settled on the market order it placed when the price crosses it, and
is cancelled at the algo endpoint."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl

import pytest

from quant.book.orders import OrderIntent
from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    FILLED,
    JOURNALLED,
    REJECTED,
    SENT,
    UNKNOWN,
    OrderRejected,
)
from resources.broker.journal import OrderJournal
from tests.resources.broker_helpers import BTC, SHORT_TIMEOUT_S, intent, make_broker
from tests.support.order_exchange import ACCEPT_THEN_500, ACCEPT_THEN_STALL, Fault, OrderExchange

ALGO = "/fapi/v1/algoOrder"


def stop(leg: str = "rung1-stop", *, side: str = "sell", trigger: float = 55_000.0, qty: float = 0.01) -> OrderIntent:
    """The book's protective stop of a held rung: reduce-only, ``limit`` = the trigger price."""
    return dataclasses.replace(intent(leg, side=side, qty=qty, order_type="stop", limit=trigger, layer="L2"),
                               reduce_only=True)


def states(journal: OrderJournal, cid: str) -> list[str]:
    return [e.state for e in journal.events(cid)]


def served(venue: OrderExchange, path: str) -> list:
    return [r for r in venue.requests if r.path.endswith(path)]


def test_a_stop_goes_to_the_algo_endpoint_once_as_a_reduce_only_stop_market(venue: OrderExchange,
                                                                             journal: OrderJournal) -> None:
    order = stop()
    broker = make_broker(venue, journal)
    report = broker.submit(order)
    assert (report.state, report.sends, report.order_type) == (ACKNOWLEDGED, 1, "stop")
    assert states(journal, order.client_order_id) == [JOURNALLED, SENT, ACKNOWLEDGED]
    [create] = venue.creates
    assert create.path.endswith(ALGO)
    sent = dict(parse_qsl(create.body.decode()))
    assert (sent["algoType"], sent["type"], sent["side"], sent["quantity"], sent["triggerPrice"], sent["reduceOnly"]) == (
        "CONDITIONAL", "STOP_MARKET", "SELL", "0.01", "55000", "true")
    assert sent["clientAlgoId"] == order.client_order_id == report.venue_client_id
    assert "newClientOrderId" not in sent
    assert "price" not in sent
    assert report.exchange_order_id == str(venue.book.stops[order.client_order_id].order_id)
    assert venue.book.orders == {}  # nothing in the ordinary book until it fires
    assert broker.submit(order) == report  # journalled: not sent again
    assert len(venue.creates) == 1


def test_the_stop_is_listed_among_the_open_orders(venue: OrderExchange, journal: OrderJournal) -> None:
    resting = intent("rung1", order_type="limit", limit=50_000.0)
    protective = stop()
    broker = make_broker(venue, journal)
    broker.submit(resting)
    broker.submit(protective)
    listed = {r.client_order_id: (r.state, r.order_type) for r in broker.open_orders("binance", BTC)}
    assert listed == {resting.client_order_id: (ACKNOWLEDGED, "limit"), protective.client_order_id: (ACKNOWLEDGED, "stop")}


def test_a_stop_the_price_already_crossed_is_rejected_and_never_resent(venue: OrderExchange,
                                                                       journal: OrderJournal) -> None:
    order = stop(trigger=61_000.0)  # a sell stop above the mark of 60,000 would fire at once
    broker = make_broker(venue, journal)
    with pytest.raises(OrderRejected, match="would immediately trigger"):
        broker.submit(order)
    assert journal.get(order.client_order_id).state == REJECTED
    with pytest.raises(OrderRejected):
        broker.submit(order)
    assert len(venue.creates) == 1
    assert venue.book.stops == {}


def test_a_stop_that_could_open_a_position_is_not_routed(venue: OrderExchange, journal: OrderJournal) -> None:
    opening = dataclasses.replace(stop(), reduce_only=False)
    with pytest.raises(ValueError, match="not routed: a stop that is not reduce-only"):
        make_broker(venue, journal).submit(opening)
    with pytest.raises(KeyError):
        journal.get(opening.client_order_id)
    assert venue.requests == []


def test_a_stop_answered_after_the_timeout_is_found_in_the_open_algo_orders(venue: OrderExchange,
                                                                            journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    order = stop()
    report = make_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S).submit(order)
    assert (report.state, report.sends) == (ACKNOWLEDGED, 1)
    assert len(venue.creates) == 1
    assert "in the open orders (query 1)" in report.reason
    assert len(served(venue, "/fapi/v1/openAlgoOrders")) == 1
    assert served(venue, "/fapi/v1/openOrders") == []  # an algo order is never in the ordinary list
    assert states(journal, order.client_order_id) == [JOURNALLED, SENT, UNKNOWN, ACKNOWLEDGED]


def test_a_stop_lost_past_a_restart_is_looked_up_by_its_client_algo_id(venue: OrderExchange,
                                                                       journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_500))
    order = stop()
    venue.forget(order.client_order_id, 4)  # three open-algo-order queries and the lookup miss it
    first = make_broker(venue, journal).submit(order)
    assert first.state == UNKNOWN
    venue.restart()
    [found] = make_broker(venue, journal, inflight_queries=0).reconcile()  # a fresh process: one lookup
    assert (found.state, found.sends) == (ACKNOWLEDGED, 1)
    lookup = served(venue, ALGO)[-1]
    assert (lookup.method, lookup.query["clientAlgoId"]) == ("GET", order.client_order_id)
    assert len(venue.creates) == 1


def test_a_triggered_stop_is_filled_by_the_market_order_it_placed(venue: OrderExchange, journal: OrderJournal) -> None:
    order = stop()
    broker = make_broker(venue, journal)
    broker.submit(order)
    venue.cross("BTCUSDT", 54_900.0)
    report = broker.lookup(order.client_order_id)
    placed = venue.book.orders[f"algo-{venue.book.stops[order.client_order_id].order_id}"]
    assert (report.state, report.filled_qty, report.avg_price) == (FILLED, 0.01, 54_900.0)
    assert f"triggered, its market order {placed.order_id}" in report.reason
    assert report.exchange_order_id == str(venue.book.stops[order.client_order_id].order_id)  # the algo id stays
    [position] = broker.positions("binance")
    assert position.qty == pytest.approx(-0.01)


def test_a_triggered_stop_whose_market_order_cannot_be_read_stays_unknown(venue: OrderExchange,
                                                                          journal: OrderJournal) -> None:
    order = stop()
    broker = make_broker(venue, journal, inflight_queries=0)
    broker.submit(order)
    venue.cross("BTCUSDT", 54_000.0)
    venue.forget(f"algo-{venue.book.stops[order.client_order_id].order_id}", 1)
    assert broker.lookup(order.client_order_id).state == UNKNOWN  # closed, but no fill seen: not assumed filled
    [settled] = broker.reconcile()
    assert (settled.state, settled.filled_qty) == (FILLED, 0.01)


def test_a_stop_is_cancelled_at_the_algo_endpoint(venue: OrderExchange, journal: OrderJournal) -> None:
    order = stop()
    broker = make_broker(venue, journal)
    broker.submit(order)
    report = broker.cancel(order.client_order_id, reason="test: cancelled by hand")
    assert report.state == CANCELED
    assert report.reason.startswith("test: cancelled by hand; cancel accepted")
    assert venue.book.stops[order.client_order_id].status == "CANCELED"
    [delete] = [r for r in served(venue, ALGO) if r.method == "DELETE"]
    assert delete.query["clientAlgoId"] == order.client_order_id
    venue.cross("BTCUSDT", 50_000.0)
    assert venue.book.orders == {}  # a cancelled stop never fires
    assert broker.cancel(order.client_order_id) == report  # final: no second request
