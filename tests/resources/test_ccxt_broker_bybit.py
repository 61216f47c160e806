"""CcxtBroker against the loopback Bybit v5 order venue: ccxt's true Bybit code path (v5 signing,
the demo-trading host, errors inside HTTP 200 envelopes, the parsers) on Bybit's documented shapes.

The same promises as on Binance (journalled first, one create per client order id, looked up and
never resent when unsure), and what Bybit does differently: a create or cancel is answered with the
order's ids only, a refusal arrives as HTTP 200, the client id travels in ``orderLinkId`` and is
unique among all orders, and a closed order leaves the realtime endpoint (past its newest 500, or
at a Bybit restart) and is then only in the order history."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant.book.orders import OrderIntent
from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    FILLED,
    JOURNALLED,
    NOT_SENT,
    PARTIALLY_FILLED,
    REJECTED,
    SENT,
    UNKNOWN,
    OrderRejected,
)
from resources.broker.ccxt_broker import CcxtBroker
from resources.broker.journal import OrderJournal
from resources.exchange.errors import LiveOrdersDisabled
from tests.resources import broker_helpers
from tests.resources.broker_helpers import KEY, SECRET, SHORT_TIMEOUT_S, make_broker
from tests.resources.test_broker_secrets import Switches
from tests.support.bybit_order_exchange import (
    ACCEPT_THEN_SERVER_ERROR,
    DEMO_HOST,
    LIVE_HOST,
    NOT_ENOUGH_BALANCE,
    SERVER_ERROR,
    SERVER_TIMEOUT,
    SYMBOL_INVALID,
    BybitOrderExchange,
    order_id,
)
from tests.support.order_exchange import ACCEPT_THEN_STALL, FAIL_BEFORE_ACCEPT, REJECT, Fault

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
CREATE, REALTIME, HISTORY, CANCEL = "/v5/order/create", "/v5/order/realtime", "/v5/order/history", "/v5/order/cancel"


def intent(leg: str = "perp", **kwargs: object) -> OrderIntent:
    """The Binance tests' intent, routed to Bybit."""
    return dataclasses.replace(broker_helpers.intent(leg, **kwargs), venue="bybit")  # type: ignore[arg-type]


def bybit_broker(venue: BybitOrderExchange, journal: OrderJournal, sleeps: list[float] | None = None,
                 **overrides: object) -> CcxtBroker:
    return make_broker(venue, journal, sleeps, **{"venues": {"bybit": "bybit"}, **overrides})  # type: ignore[arg-type]


def served(venue: BybitOrderExchange, endpoint: str) -> list:
    """Requests for ``endpoint`` on any host, in arrival order."""
    return [r for r in venue.requests if r.path.endswith(endpoint)]


def sent(venue: BybitOrderExchange, n: int = 0) -> dict:
    return json.loads(venue.creates[n].body)


def states(journal: OrderJournal, cid: str) -> list[str]:
    return [e.state for e in journal.events(cid)]


@pytest.fixture
def venue() -> Iterator[BybitOrderExchange]:
    with BybitOrderExchange(KEY, SECRET) as exchange:
        yield exchange
        assert exchange.errors == []
        assert exchange.unmatched == []


# -- accepted, refused, partly filled ------------------------------------------------------------
def test_an_accepted_market_order_is_read_back_filled(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    """Bybit answers a create with the ids only: the broker reads the state back instead of guessing."""
    order = intent()
    report = bybit_broker(venue, journal).submit(order)
    assert (report.state, report.filled_qty, report.avg_price, report.sends) == (FILLED, 0.01, 60_000.0, 1)
    assert states(journal, order.client_order_id) == [JOURNALLED, SENT, FILLED]
    assert "read back by client order id" in report.reason
    body = sent(venue)
    assert body["orderLinkId"] == order.client_order_id == report.venue_client_id
    assert (body["category"], body["symbol"], body["side"], body["orderType"], body["qty"]) == (
        "linear", "BTCUSDT", "Buy", "Market", "0.01")
    assert report.exchange_order_id == order_id(venue.book.orders[order.client_order_id])


def test_lookups_name_the_order_link_id_and_never_an_order_id(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    """ccxt's ``fetch_order(None, ...)`` sends ``orderId=None``, which Bybit reads first and matches to nothing."""
    venue.script(Fault(ACCEPT_THEN_STALL))
    order = intent()
    assert bybit_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S).submit(order).state == FILLED
    by_id = [r for r in served(venue, REALTIME) + served(venue, HISTORY) if "orderLinkId" in r.query]
    assert by_id
    assert all(r.query["orderLinkId"] == order.client_order_id and "orderId" not in r.query for r in by_id)


def test_demo_trading_is_the_default_and_is_what_is_called(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    broker = bybit_broker(venue, journal)
    broker.submit(intent())
    broker.positions("bybit")
    assert broker.network == "demo"
    assert venue.requests
    assert all(r.path.startswith(f"/{DEMO_HOST}/v5/") for r in venue.requests)


def test_a_submitted_intent_is_never_sent_twice(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    broker = bybit_broker(venue, journal)
    assert broker.submit(intent()) == broker.submit(intent())
    assert len(venue.creates) == 1


def test_a_refusal_in_a_200_envelope_is_a_rejection(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    """HTTP 200 with retCode 110007: neither a fill nor a crash, and the journal answers a resubmit."""
    venue.script(Fault(REJECT, NOT_ENOUGH_BALANCE))
    order = intent()
    broker = bybit_broker(venue, journal)
    with pytest.raises(OrderRejected, match="ab not enough for new order") as caught:
        broker.submit(order)
    assert caught.value.report is not None
    assert caught.value.report.state == journal.get(order.client_order_id).state == REJECTED
    with pytest.raises(OrderRejected, match="110007"):
        broker.submit(order)
    assert len(venue.creates) == 1
    assert venue.book.orders == {}


def test_an_order_larger_than_the_margin_is_rejected_by_the_venue(venue: BybitOrderExchange,
                                                                  journal: OrderJournal) -> None:
    venue.book.margin_usdt = 100.0  # 0.01 BTC at 60,000 needs 600 USDT
    with pytest.raises(OrderRejected, match="110007"):
        bybit_broker(venue, journal).submit(intent())
    assert venue.book.orders == {}


def test_a_symbol_the_venue_refuses_is_rejected(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(REJECT, SYMBOL_INVALID))
    with pytest.raises(OrderRejected, match="symbol invalid"):
        bybit_broker(venue, journal).submit(intent())


@pytest.mark.parametrize("code", [SERVER_ERROR, SERVER_TIMEOUT])
def test_a_server_error_in_a_200_envelope_after_acceptance_is_looked_up(venue: BybitOrderExchange,
                                                                       journal: OrderJournal,
                                                                       code: tuple[int, str]) -> None:
    """10016 ("server error") and 10000 ("server timeout") do not say the order was refused: it was placed."""
    venue.script(Fault(ACCEPT_THEN_SERVER_ERROR, code))
    order = intent()
    report = bybit_broker(venue, journal).submit(order)
    assert (report.state, report.filled_qty) == (FILLED, 0.01)
    assert states(journal, order.client_order_id) == [JOURNALLED, SENT, UNKNOWN, FILLED]
    assert len(venue.creates) == 1


def test_a_partial_fill_then_the_rest(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    venue.script(Fault(fill_qty=0.004))
    order = intent(order_type="limit", limit=59_000.0)
    broker = bybit_broker(venue, journal)
    report = broker.submit(order)
    assert (report.state, report.filled_qty, report.avg_price) == (PARTIALLY_FILLED, 0.004, 59_000.0)
    venue.fill(order.client_order_id, 0.006, price=58_900.0)
    later = broker.lookup(order.client_order_id)
    # (0.004 x 59,000 + 0.006 x 58,900) / 0.01 = (236 + 353.4) / 0.01 = 58,940
    assert (later.state, later.filled_qty) == (FILLED, 0.01)
    assert later.avg_price == pytest.approx(58_940.0, rel=1e-9)
    assert broker.positions("bybit")[0].qty == pytest.approx(0.01)


def test_a_resting_order_is_open_and_can_be_canceled(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    """The cancel is answered with ids only too: the broker reads ``Cancelled`` back."""
    order = intent(order_type="limit", limit=50_000.0)
    broker = bybit_broker(venue, journal)
    assert broker.submit(order).state == ACKNOWLEDGED
    listed = broker.open_orders("bybit", BTC)
    assert [(r.client_order_id, r.state, r.qty) for r in listed] == [(order.client_order_id, ACKNOWLEDGED, 0.01)]
    canceled = broker.cancel(order.client_order_id)
    assert (canceled.state, canceled.reason) == (CANCELED, "cancel accepted, read back by client order id: canceled")
    assert venue.book.orders[order.client_order_id].status == "CANCELED"
    assert broker.open_orders("bybit", BTC) == []
    assert broker.cancel(order.client_order_id).state == CANCELED  # settled: no second request
    assert len(served(venue, CANCEL)) == 1
    assert json.loads(served(venue, CANCEL)[0].body)["orderLinkId"] == order.client_order_id


def test_positions_are_signed_base_units_and_flat_ones_are_left_out(venue: BybitOrderExchange,
                                                                    journal: OrderJournal) -> None:
    broker = bybit_broker(venue, journal)
    broker.submit(intent("a", side="sell", qty=0.03))
    broker.submit(intent("b", side="buy", qty=0.01))
    broker.submit(intent("c", symbol=ETH, qty=0.5))
    broker.submit(intent("d", symbol=ETH, side="sell", qty=0.5))  # Bybit still lists ETH, size 0, side ""
    [position] = broker.positions("bybit")
    assert (position.symbol, position.qty, position.entry_price) == (BTC, pytest.approx(-0.02), 60_000.0)


# -- the client id on the wire ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HandWrittenId(OrderIntent):
    """An intent whose id Bybit refuses (a colon, and over 36 characters)."""

    given_id: str = ""

    @property
    def client_order_id(self) -> str:
        return self.given_id


def test_an_id_bybit_refuses_travels_as_its_hash(venue: BybitOrderExchange, journal: OrderJournal) -> None:
    given = "pp:L1/" + "x" * 40
    order = HandWrittenId(**{f.name: getattr(intent(), f.name) for f in dataclasses.fields(OrderIntent)},
                          given_id=given)
    report = bybit_broker(venue, journal).submit(order)
    link = sent(venue)["orderLinkId"]
    assert link == report.venue_client_id == "pp-" + hashlib.sha256(given.encode()).hexdigest()[:32]
    assert len(link) <= 36
    assert (report.client_order_id, report.state) == (given, FILLED)  # read back under the hashed id


def test_an_open_order_of_the_same_link_id_is_found_not_duplicated(venue: BybitOrderExchange, journal: OrderJournal,
                                                                  tmp_path: Path) -> None:
    """A lost journal resends; Bybit refuses the link id (110072) and the broker finds the first order."""
    order = intent(order_type="limit", limit=50_000.0)
    elsewhere = OrderJournal(f"sqlite:///{tmp_path / 'lost.db'}")
    try:
        bybit_broker(venue, elsewhere).submit(order)
        report = bybit_broker(venue, journal).submit(order)
    finally:
        elsewhere.dispose()
    assert report.state == ACKNOWLEDGED
    assert len(venue.book.orders) == 1
    assert "OrderLinkedID is duplicate" in journal.events(order.client_order_id)[-2].detail


# -- answers lost, venues that forget or restart ---------------------------------------------------
def test_a_create_answered_after_the_timeout_is_found_not_resent(venue: BybitOrderExchange,
                                                                 journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    sleeps: list[float] = []
    order = intent()
    report = bybit_broker(venue, journal, sleeps, timeout_s=SHORT_TIMEOUT_S).submit(order)
    assert (report.state, report.filled_qty, report.sends) == (FILLED, 0.01, 1)
    assert len(venue.creates) == 1
    # a filled market order is not open: three open-order queries, then the lookup by link id
    assert states(journal, order.client_order_id) == [JOURNALLED, SENT, UNKNOWN, FILLED]
    assert sleeps == [0.5, 1.0, 2.0]
    assert "found by its client order id" in report.reason


def test_a_resting_order_answered_late_is_found_among_the_open_orders(venue: BybitOrderExchange,
                                                                      journal: OrderJournal) -> None:
    venue.script(Fault(ACCEPT_THEN_STALL))
    sleeps: list[float] = []
    report = bybit_broker(venue, journal, sleeps, timeout_s=SHORT_TIMEOUT_S).submit(
        intent(order_type="limit", limit=50_000.0))
    assert (report.state, sleeps, len(venue.creates)) == (ACKNOWLEDGED, [], 1)
    assert "in the open orders (query 1)" in report.reason


def test_a_503_before_acceptance_stays_unknown_and_blocks_a_resubmit(venue: BybitOrderExchange,
                                                                     journal: OrderJournal) -> None:
    venue.script(Fault(FAIL_BEFORE_ACCEPT))
    order = intent()
    broker = bybit_broker(venue, journal)
    assert broker.submit(order).state == UNKNOWN
    assert broker.submit(order).state == UNKNOWN
    assert broker.reconcile()[0].state == UNKNOWN
    assert (len(venue.creates), venue.book.orders) == (1, {})


def test_a_venue_that_cannot_be_reached_got_nothing_so_the_order_is_sent_once_later(
        venue: BybitOrderExchange, journal: OrderJournal) -> None:
    order = intent()
    broker = bybit_broker(venue, journal)
    broker.positions("bybit")  # markets loaded: the next call is the create itself
    venue.stop()
    report = broker.submit(order)
    assert (report.state, report.sends) == (NOT_SENT, 0)
    venue.start()
    assert (broker.submit(order).state, len(venue.creates)) == (FILLED, 1)


def test_an_order_the_venue_forgets_for_a_while_is_found_within_the_bound(venue: BybitOrderExchange,
                                                                          journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    venue.script(Fault(ACCEPT_THEN_STALL))
    venue.forget(order.client_order_id, lookups=3)  # the three open-order queries miss it
    report = bybit_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S).submit(order)
    assert report.state == ACKNOWLEDGED
    assert "found by its client order id" in report.reason
    assert len(venue.creates) == 1


def test_an_order_forgotten_past_the_bound_stays_unknown_until_it_reappears(venue: BybitOrderExchange,
                                                                            journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    venue.script(Fault(ACCEPT_THEN_STALL))
    venue.forget(order.client_order_id, lookups=5)  # the three queries, the lookup, and the next query
    broker = bybit_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    assert broker.submit(order).state == UNKNOWN
    assert broker.submit(order).state == ACKNOWLEDGED  # looked up again, not resent
    assert len(venue.creates) == 1


def test_the_exchange_restarted_keeps_its_orders_and_the_broker_reconciles(venue: BybitOrderExchange,
                                                                           journal: OrderJournal) -> None:
    order = intent(order_type="limit", limit=50_000.0)
    broker = bybit_broker(venue, journal)
    broker.submit(order)
    venue.restart()
    venue.fill(order.client_order_id, 0.01)
    [report] = broker.reconcile()
    assert (report.state, report.filled_qty, report.avg_price) == (FILLED, 0.01, 50_000.0)
    assert len(venue.creates) == 1


@pytest.mark.parametrize("gone", ["restart", "past the newest 500"])
def test_a_closed_order_gone_from_the_realtime_endpoint_is_found_in_the_history(
        venue: BybitOrderExchange, journal: OrderJournal, gone: str) -> None:
    """A fill the broker never heard of, then Bybit stops showing it in realtime: reconcile reads the history."""
    order = intent()
    venue.script(Fault(ACCEPT_THEN_STALL))
    venue.forget(order.client_order_id, lookups=2)  # the answer and both halves of the lookup are lost
    broker = bybit_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    assert broker.submit(order).state == UNKNOWN
    if gone == "restart":
        venue.restart()
    else:
        venue.recent_closed = 1
        broker.submit(intent("newer"))
    [report] = broker.reconcile()
    assert (report.state, report.filled_qty, report.avg_price) == (FILLED, 0.01, 60_000.0)
    realtime, history = served(venue, REALTIME)[-1], served(venue, HISTORY)[-1]
    assert realtime.query["orderLinkId"] == history.query["orderLinkId"] == order.client_order_id
    assert venue.requests[-1] is history  # the realtime endpoint no longer had it
    assert len(venue.book.orders) == (1 if gone == "restart" else 2)
    assert len(venue.creates) == len(venue.book.orders)


# -- the live host, and the keys -------------------------------------------------------------------
@pytest.fixture
def both_hosts() -> Iterator[BybitOrderExchange]:
    with BybitOrderExchange(KEY, SECRET, hosts=(DEMO_HOST, LIVE_HOST)) as exchange:
        yield exchange
        assert exchange.errors == []
        assert exchange.unmatched == []


def test_real_orders_need_both_switches_and_go_to_the_real_host(both_hosts: BybitOrderExchange,
                                                                journal: OrderJournal) -> None:
    switches = Switches()
    broker = bybit_broker(both_hosts, journal, network="live", live_switches=switches)
    with pytest.raises(LiveOrdersDisabled):
        broker.submit(intent("first"))
    assert both_hosts.requests == []
    switches.enable_live_orders, switches.live_layers = True, {"L1"}
    assert broker.submit(intent("second")).state == FILLED
    assert {r.path.split("/")[1] for r in both_hosts.requests} == {LIVE_HOST}
    assert served(both_hosts, "/v5/user/query-api")  # ccxt asks the real host whether the account is unified
    switches.live_layers = set()
    with pytest.raises(LiveOrdersDisabled):
        broker.submit(intent("third"))
    assert len(both_hosts.creates) == 1


def test_demo_orders_need_no_switch(both_hosts: BybitOrderExchange, journal: OrderJournal) -> None:
    assert bybit_broker(both_hosts, journal, live_switches=Switches()).submit(intent()).state == FILLED
    assert {r.path.split("/")[1] for r in both_hosts.requests} == {DEMO_HOST}


def _text_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_no_planted_key_in_logs_errors_or_the_journal(venue: BybitOrderExchange, journal: OrderJournal,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Including a wrong secret: Bybit's 10004 quotes the signed string, the planted key inside it."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    broker = bybit_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    venue.script(Fault(), Fault(REJECT, NOT_ENOUGH_BALANCE), Fault(ACCEPT_THEN_STALL), Fault(ACCEPT_THEN_SERVER_ERROR))
    orders = [intent(leg) for leg in ("accepted", "rejected", "stalled", "error10016")]
    for order in orders:
        try:
            texts.append(repr(broker.submit(order)))
        except Exception as exc:  # noqa: BLE001 - every error's text is scanned
            texts.append(_text_of(exc))
    resting = intent("resting", order_type="limit", limit=50_000.0)
    texts.append(repr(broker.submit(resting)))
    texts.append(repr(broker.cancel(resting.client_order_id)))
    texts.append(repr(broker.positions("bybit")))
    wrong_secret = bybit_broker(venue, journal, api_secret="PLANTEDwrongsecret")
    signed_wrong = intent("wrong secret")
    with pytest.raises(OrderRejected, match="10004") as caught:
        wrong_secret.submit(signed_wrong)
    texts.append(_text_of(caught.value))
    with pytest.raises(Exception, match="10004") as read:
        wrong_secret.positions("bybit")
    texts.append(_text_of(read.value))
    wrong_key = bybit_broker(venue, journal, api_key="PLANTEDwrongkey", api_secret="PLANTEDwrongsecret")
    with pytest.raises(OrderRejected, match="10003"):
        wrong_key.submit(intent("wrong key"))
    for order in [*orders, resting, signed_wrong]:
        texts.extend(e.detail for e in journal.events(order.client_order_id))
    texts.append(caplog.text)
    texts.extend(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    everything = "\n".join(texts)
    assert "origin_string[" in everything  # the venue's echo was seen, and masked
    assert "X-BAPI-API-KEY" in everything  # ccxt's request log was captured, so the scan saw the headers
    for secret in (KEY, SECRET, "PLANTEDwrongkey", "PLANTEDwrongsecret"):
        assert secret not in everything
