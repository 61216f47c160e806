"""Stops on Bybit v5 against the loopback venue: a book stop goes out once through
``/v5/order/create`` as a reduce-only conditional market order (``triggerPrice``,
``triggerDirection``, its client id in ``orderLinkId``), is found again in the conditional-order
lists (``orderFilter=StopOrder``) after a lost answer or a restart, fills as the market order it
becomes when the price crosses it, and is cancelled (``Deactivated``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

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
from tests.resources.broker_helpers import KEY, SECRET, SHORT_TIMEOUT_S
from tests.resources.test_ccxt_broker_bybit import HISTORY, REALTIME, bybit_broker, intent, served, states
from tests.support.bybit_order_exchange import ACCEPT_THEN_SERVER_ERROR, BybitOrderExchange
from tests.support.order_exchange import ACCEPT_THEN_STALL, Fault


@pytest.fixture
def venue() -> Iterator[BybitOrderExchange]:
    with BybitOrderExchange(KEY, SECRET) as exchange:
        yield exchange
        assert exchange.errors == []
        assert exchange.unmatched == []


def stop(leg: str = "rung1-stop", *, side: str = "sell", trigger: float = 55_000.0) -> OrderIntent:
    """The book's protective stop of a held rung, on Bybit: reduce-only, ``limit`` = the trigger price."""
    return dataclasses.replace(intent(leg, side=side, order_type="stop", limit=trigger, layer="L2"), reduce_only=True)


def test_a_stop_goes_out_once_as_a_reduce_only_conditional_market_order(venue: BybitOrderExchange,
                                                                        journal: OrderJournal) -> None:
    order = stop()
    broker = bybit_broker(venue, journal)
    report = broker.submit(order)
    assert (report.state, report.sends) == (ACKNOWLEDGED, 1)
    assert states(journal, order.client_order_id) == [JOURNALLED, SENT, ACKNOWLEDGED]
    sent = json.loads(venue.creates[0].body)
    assert (sent["orderType"], sent["side"], sent["qty"], sent["triggerPrice"], sent["triggerDirection"],
            sent["reduceOnly"], sent["orderLinkId"]) == ("Market", "Sell", "0.01", "55000", 2, True, order.client_order_id)
    # Bybit answers with the ids only: read back in the conditional-order list
    assert served(venue, REALTIME)[-1].query["orderFilter"] == "StopOrder"
    assert venue.book.orders[order.client_order_id].status == "UNTRIGGERED"
    assert broker.submit(order) == report
    assert len(venue.creates) == 1


def test_a_buy_stop_fires_on_a_rise(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    order = stop(side="buy", trigger=65_000.0)  # protecting a short
    broker = bybit_broker(venue, journal)
    broker.submit(order)
    assert json.loads(venue.creates[0].body)["triggerDirection"] == 1
    venue.cross("BTCUSDT", 64_000.0)
    assert broker.lookup(order.client_order_id).state == ACKNOWLEDGED
    venue.cross("BTCUSDT", 65_100.0)
    assert broker.lookup(order.client_order_id).state == FILLED


def test_a_stop_the_price_already_passed_is_rejected(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    order = stop(trigger=60_500.0)  # a falling trigger above the mark of 60,000
    broker = bybit_broker(venue, journal)
    with pytest.raises(OrderRejected, match="expect Falling"):
        broker.submit(order)
    assert journal.get(order.client_order_id).state == REJECTED
    with pytest.raises(OrderRejected):
        broker.submit(order)
    assert len(venue.creates) == 1


def test_a_stop_answered_after_the_timeout_is_found_not_resent(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    order = stop()
    report = bybit_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S).submit(order)
    assert (report.state, report.sends) == (ACKNOWLEDGED, 1)
    assert "in the open orders (query 1)" in report.reason
    assert len(venue.creates) == 1
    assert served(venue, REALTIME)[-1].query["orderFilter"] == "StopOrder"


def test_a_triggered_stop_fills_and_is_found_in_the_history_after_a_restart(venue: BybitOrderExchange,
                                                                            journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_SERVER_ERROR))
    order = stop()
    venue.forget(order.client_order_id, 4)  # three open-order queries and the realtime lookup miss it
    assert bybit_broker(venue, journal).submit(order).state == UNKNOWN
    venue.cross("BTCUSDT", 54_800.0)
    venue.restart()  # the realtime endpoint forgets closed orders: only the history has it
    [found] = bybit_broker(venue, journal, inflight_queries=0).reconcile()
    assert (found.state, found.filled_qty, found.avg_price, found.sends) == (FILLED, 0.01, 54_800.0, 1)
    assert served(venue, HISTORY)[-1].query["orderFilter"] == "StopOrder"
    assert len(venue.creates) == 1


def test_a_stop_is_cancelled_and_then_never_fires(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    order = stop()
    broker = bybit_broker(venue, journal)
    broker.submit(order)
    report = broker.cancel(order.client_order_id)
    assert report.state == CANCELED
    assert venue.book.orders[order.client_order_id].status == "DEACTIVATED"
    venue.cross("BTCUSDT", 50_000.0)
    assert broker.lookup(order.client_order_id).state == CANCELED
    assert broker.positions("bybit") == []
