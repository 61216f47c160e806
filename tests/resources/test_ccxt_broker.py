"""CcxtBroker against the loopback Binance USDⓈ-M order venue: ccxt's true code path (signing, the
demo-trading URLs, error tables, parsers) on the venue's documented shapes; the order path's
promises: journalled first, one create per client order id, a clear error when refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    FILLED,
    JOURNALLED,
    PARTIALLY_FILLED,
    REJECTED,
    SENT,
    Broker,
    OrderRejected,
)
from resources.broker.ccxt_broker import CcxtBroker
from resources.broker.journal import OrderJournal
from tests.resources.broker_helpers import BTC, intent, make_broker
from tests.support.order_exchange import (
    DEMO_HOST,
    INVALID_SYMBOL,
    MARGIN_INSUFFICIENT,
    REJECT,
    Fault,
    OrderExchange,
)


def create_params(exchange: OrderExchange, n: int = 0) -> dict[str, str]:
    return dict(parse_qsl(exchange.creates[n].body.decode()))


def test_the_broker_has_the_protocol_shape(venue: OrderExchange, journal: OrderJournal) -> None:
    assert isinstance(make_broker(venue, journal), Broker)


def test_an_accepted_market_order_is_journalled_sent_then_filled(venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent()
    report = make_broker(venue, journal).submit(order)
    assert (report.state, report.filled_qty, report.avg_price, report.sends) == (FILLED, 0.01, 60_000.0, 1)
    assert [e.state for e in journal.events(order.client_order_id)] == [JOURNALLED, SENT, FILLED]
    sent = create_params(venue)
    assert sent["newClientOrderId"] == order.client_order_id == report.venue_client_id
    assert (sent["symbol"], sent["side"], sent["type"], sent["quantity"]) == ("BTCUSDT", "BUY", "MARKET", "0.01")
    assert report.exchange_order_id == str(venue.book.orders[order.client_order_id].order_id)


def test_demo_trading_is_the_default_and_is_what_is_called(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    broker.submit(intent())
    broker.positions("binance")
    assert broker.network == "demo"
    assert venue.requests
    assert all(r.path.startswith(f"/{DEMO_HOST}/fapi/") for r in venue.requests)


def test_a_submitted_intent_is_never_sent_twice(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    first = broker.submit(intent())
    again = broker.submit(intent())
    assert again == first
    assert len(venue.creates) == 1


def test_insufficient_margin_is_a_clear_error_journalled_as_rejected(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(REJECT, MARGIN_INSUFFICIENT))
    order = intent()
    broker = make_broker(venue, journal)
    with pytest.raises(OrderRejected, match="Margin is insufficient") as caught:
        broker.submit(order)
    assert caught.value.report is not None
    assert caught.value.report.state == REJECTED
    assert journal.get(order.client_order_id).state == REJECTED
    with pytest.raises(OrderRejected, match="Margin is insufficient"):
        broker.submit(order)  # the journal answers: no second create
    assert len(venue.creates) == 1


def test_an_order_larger_than_the_margin_is_rejected_by_the_venue(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.book.margin_usdt = 100.0  # 0.01 BTC at 60,000 needs 600 USDT
    with pytest.raises(OrderRejected, match="-2019"):
        make_broker(venue, journal).submit(intent())
    assert venue.book.orders == {}


def test_a_symbol_the_venue_refuses_is_rejected(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(REJECT, INVALID_SYMBOL))
    with pytest.raises(OrderRejected, match="Invalid symbol"):
        make_broker(venue, journal).submit(intent())


def test_a_symbol_not_listed_is_rejected_before_anything_is_sent(venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent(symbol="NOPE/USDT:USDT")
    with pytest.raises(OrderRejected, match="BadSymbol"):
        make_broker(venue, journal).submit(order)
    assert venue.creates == []
    assert journal.get(order.client_order_id).state == REJECTED


def test_a_partial_fill_then_the_rest(venue: OrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(fill_qty=0.004))
    order = intent(order_type="limit", limit=59_000.0)
    broker = make_broker(venue, journal)
    report = broker.submit(order)
    assert (report.state, report.filled_qty, report.avg_price) == (PARTIALLY_FILLED, 0.004, 59_000.0)
    venue.fill(order.client_order_id, 0.006, price=58_900.0)
    later = broker.lookup(order.client_order_id)
    # (0.004 x 59,000 + 0.006 x 58,900) / 0.01 = (236 + 353.4) / 0.01 = 58,940
    assert (later.state, later.filled_qty) == (FILLED, 0.01)
    assert later.avg_price == pytest.approx(58_940.0, rel=1e-9)
    assert broker.positions("binance")[0].qty == pytest.approx(0.01)


def test_a_resting_order_is_open_and_can_be_canceled(venue: OrderExchange, journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    broker = make_broker(venue, journal)
    assert broker.submit(order).state == ACKNOWLEDGED
    listed = broker.open_orders("binance", BTC)
    assert [(r.client_order_id, r.state, r.qty) for r in listed] == [(order.client_order_id, ACKNOWLEDGED, 0.01)]
    assert broker.cancel(order.client_order_id).state == CANCELED
    assert venue.book.orders[order.client_order_id].status == "CANCELED"
    assert broker.open_orders("binance", BTC) == []
    assert broker.cancel(order.client_order_id).state == CANCELED  # settled: no second request
    assert sum(r.method == "DELETE" for r in venue.requests) == 1


def test_positions_are_signed_base_units(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    broker.submit(intent("a", side="sell", qty=0.03))
    broker.submit(intent("b", side="buy", qty=0.01))
    [position] = broker.positions("binance")
    assert (position.symbol, position.qty, position.entry_price) == (BTC, pytest.approx(-0.02), 60_000.0)


def test_an_id_journalled_for_another_order_is_refused(venue: OrderExchange, journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    broker.submit(intent(qty=0.01))
    with pytest.raises(ValueError, match="must reproduce its decisions"):
        broker.submit(intent(qty=0.02))
    assert len(venue.creates) == 1


def test_a_reduce_only_stop_is_routed_to_the_algo_endpoint_and_an_opening_one_is_not(venue: OrderExchange,
                                                                                       journal: OrderJournal) -> None:
    broker = make_broker(venue, journal)
    protective = dataclasses.replace(intent("stop", order_type="stop", limit=55_000.0, side="sell"), reduce_only=True)
    assert broker.submit(protective).state == ACKNOWLEDGED
    assert [c.path.rsplit("/", 1)[-1] for c in venue.creates] == ["algoOrder"]
    opening = intent("stop2", order_type="stop", limit=55_000.0, side="sell")  # not reduce-only
    with pytest.raises(ValueError, match="not routed"):
        broker.submit(opening)
    with pytest.raises(KeyError):
        journal.get(opening.client_order_id)
    assert len(venue.creates) == 1


def test_an_open_order_of_the_same_id_is_found_not_duplicated(venue: OrderExchange, journal: OrderJournal,
                                                             tmp_path: Path) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    elsewhere = OrderJournal(f"sqlite:///{tmp_path / 'lost.db'}")  # a journal that was lost
    make_broker(venue, elsewhere).submit(order)
    report = make_broker(venue, journal).submit(order)
    assert report.state == ACKNOWLEDGED
    assert len(venue.book.orders) == 1  # the venue refused the second create (-4116) and the broker found the first
    assert "looking it up" in journal.events(order.client_order_id)[-2].detail
    elsewhere.dispose()


def test_the_broker_repr_names_no_credentials(venue: OrderExchange, journal: OrderJournal) -> None:
    broker: CcxtBroker = make_broker(venue, journal)
    assert "PLANTED" not in repr(broker)
