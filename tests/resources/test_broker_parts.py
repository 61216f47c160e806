"""The order path's parts on their own: venue ids, the create-failure table, the journal's claim,
the hard deadline, and the paper broker over the fill simulator (hand-checked numbers)."""

from __future__ import annotations

import hashlib
import math
import threading
import time

import ccxt
import pandas as pd
import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from resources.broker.base import EXPIRED, FILLED, JOURNALLED, NOT_SENT, SENT, Broker
from resources.broker.ccxt_calls import (
    AMBIGUOUS,
    DUPLICATE,
    REJECTED,
    CallDeadline,
    classify_create,
    within,
)
from resources.broker.ccxt_calls import (
    NOT_SENT as FAILED_UNSENT,
)
from resources.broker.journal import OrderJournal
from resources.broker.paper import PaperBroker
from resources.broker.venue_ids import venue_client_id
from tests.resources.broker_helpers import BTC, HOUR, intent

CALL = "binanceusdm.create_order"


# -- venue ids ---------------------------------------------------------------------------------
def test_perpetua_ids_pass_both_venues_unchanged() -> None:
    cid = intent().client_order_id
    assert len(cid) == 30
    assert venue_client_id(cid, "binanceusdm") == venue_client_id(cid, "bybit") == cid


@pytest.mark.parametrize(("cid", "venue"), [("x" * 37, "binanceusdm"), ("pp-L1 with spaces", "binanceusdm"),
                                            ("pp:L1/colon", "bybit")])
def test_an_id_a_venue_refuses_is_replaced_by_its_hash(cid: str, venue: str) -> None:
    derived = venue_client_id(cid, venue)
    assert derived == "pp-" + hashlib.sha256(cid.encode()).hexdigest()[:32]
    assert len(derived) == 35
    assert venue_client_id(cid, venue) == derived  # deterministic


def test_binance_takes_colons_and_slashes_bybit_does_not() -> None:
    assert venue_client_id("pp:L1/x", "binanceusdm") == "pp:L1/x"
    assert venue_client_id("pp:L1/x", "bybit") != "pp:L1/x"


def test_a_venue_without_a_rule_takes_no_orders() -> None:
    with pytest.raises(ValueError, match="no client-order-id rule for 'kraken'"):
        venue_client_id("pp-L1-abc", "kraken")
    with pytest.raises(ValueError, match="needs a client order id"):
        venue_client_id("", "bybit")


# -- what a failed create proves -----------------------------------------------------------------
def _from_requests(ccxt_error: type[ccxt.BaseError], cause: BaseException) -> ccxt.BaseError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise ccxt_error("binanceusdm POST https://demo-fapi.binance.com/fapi/v1/order") from inner
    except ccxt.BaseError as exc:
        return exc


def refused() -> BaseException:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/fapi/v1/order", reason))


@pytest.mark.parametrize(("exc", "status", "body", "outcome"), [
    (ccxt.InsufficientFunds('binanceusdm {"code":-2019}'), 400, {"code": -2019}, REJECTED),
    (ccxt.BadSymbol("binanceusdm does not have market symbol NOPE"), None, None, REJECTED),  # before sending
    (ccxt.RateLimitExceeded("429"), 429, {"code": -1015}, REJECTED),
    (ccxt.InvalidOrder('{"code":-4116,"msg":"ClientOrderId is duplicated."}'), 400, {"code": -4116}, DUPLICATE),
    (ccxt.ExchangeNotAvailable("500"), 500, {"code": -1000}, AMBIGUOUS),
    (ccxt.ExchangeError("unmapped 5xx"), 503, None, AMBIGUOUS),
    (ccxt.OperationFailed('{"code":-1006,"msg":"Execution status unknown."}'), 400, {"code": -1006}, AMBIGUOUS),
    (ccxt.RequestTimeout('{"code":-1007}'), 400, {"code": -1007}, AMBIGUOUS),
    (ccxt.BadResponse("200 but not JSON"), 200, None, AMBIGUOUS),
    (KeyError("avgPrice"), 200, {"orderId": 1}, AMBIGUOUS),
    (CallDeadline("no answer", call=CALL), None, None, AMBIGUOUS),
])
def test_a_failed_create_is_classified_by_what_it_proves(exc: BaseException, status: int | None, body: object,
                                                         outcome: str) -> None:
    assert classify_create(exc, status=status, body=body, call=CALL).outcome == outcome


def test_a_read_timeout_is_unsure_but_a_refused_connection_sent_nothing() -> None:
    read = _from_requests(ccxt.RequestTimeout, requests.exceptions.ReadTimeout("read timed out"))
    reset = _from_requests(ccxt.NetworkError, requests.exceptions.ConnectionError("Connection aborted."))
    connect = _from_requests(ccxt.RequestTimeout, requests.exceptions.ConnectTimeout("connect timed out"))
    assert classify_create(read, status=None, body=None, call=CALL).outcome == AMBIGUOUS
    assert classify_create(reset, status=None, body=None, call=CALL).outcome == AMBIGUOUS
    assert classify_create(connect, status=None, body=None, call=CALL).outcome == FAILED_UNSENT
    assert classify_create(_from_requests(ccxt.NetworkError, refused()), status=None, body=None,
                           call=CALL).outcome == FAILED_UNSENT


# -- the journal ---------------------------------------------------------------------------------
def test_only_one_claim_sends(journal: OrderJournal) -> None:
    order = intent()
    journal.open(order, venue_client_id=order.client_order_id, network="demo")
    wins = []
    threads = [threading.Thread(target=lambda: wins.append(journal.claim(order.client_order_id))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    assert (journal.get(order.client_order_id).state, journal.get(order.client_order_id).sends) == (SENT, 1)


def test_an_unsent_claim_gives_its_send_back_and_may_be_claimed_again(journal: OrderJournal) -> None:
    order = intent()
    journal.open(order, venue_client_id=order.client_order_id, network="demo")
    journal.claim(order.client_order_id)
    report = journal.record(order.client_order_id, NOT_SENT, "connection refused", unsent=True)
    assert (report.state, report.sends) == (NOT_SENT, 0)
    assert journal.claim(order.client_order_id)
    assert [e.state for e in journal.events(order.client_order_id)] == [JOURNALLED, SENT, NOT_SENT, SENT]


def test_the_journal_refuses_unknown_states_and_ids(journal: OrderJournal) -> None:
    order = intent()
    journal.open(order, venue_client_id=order.client_order_id, network="demo")
    with pytest.raises(ValueError, match="unknown order state"):
        journal.record(order.client_order_id, "lost", "")
    with pytest.raises(KeyError, match="pp-nope"):
        journal.get("pp-nope")


def test_the_same_id_on_another_network_is_refused(journal: OrderJournal) -> None:
    order = intent()
    journal.open(order, venue_client_id=order.client_order_id, network="demo")
    with pytest.raises(ValueError, match="must reproduce its decisions"):
        journal.open(order, venue_client_id=order.client_order_id, network="live")


# -- the hard deadline ---------------------------------------------------------------------------
def test_within_returns_raises_or_gives_up() -> None:
    assert within(1.0, lambda: 7, call="x") == 7
    with pytest.raises(ZeroDivisionError):
        within(1.0, lambda: 1 / 0, call="x")
    started = time.monotonic()
    with pytest.raises(CallDeadline, match="hard deadline of 0.05 s"):
        within(0.05, lambda: time.sleep(1.0), call="slow")
    assert time.monotonic() - started < 0.5


# -- the paper broker ----------------------------------------------------------------------------
def bars(volume: float = 100.0) -> pd.DataFrame:
    exec_hour = HOUR + pd.Timedelta(hours=1)
    return pd.DataFrame({"venue": ["binance"], "symbol": [BTC], "hour": [exec_hour], "open": [100.0], "high": [104.0],
                         "low": [98.0], "close": [101.0], "volume": [volume]})


def test_paper_fills_once_by_the_simulators_rules(journal: OrderJournal) -> None:
    broker = PaperBroker(journal, bars())
    assert isinstance(broker, Broker)
    order = intent(qty=1.0)
    report = broker.submit(order)
    # market buy: the open plus 5 bps of slippage = 100 x 1.0005 = 100.05; taker fee 5 bps of 100.05 = 0.050025
    assert (report.state, report.filled_qty) == (FILLED, 1.0)
    assert report.avg_price == pytest.approx(100.05, rel=1e-12)
    assert "fee 0.050025 USDT" in report.reason
    assert broker.submit(order) == report
    assert [e.state for e in journal.events(order.client_order_id)] == [JOURNALLED, SENT, FILLED]


def test_paper_limits_that_never_trade_through_expire_unfilled(journal: OrderJournal) -> None:
    report = PaperBroker(journal, bars()).submit(intent(order_type="limit", limit=98.0, qty=1.0))
    assert (report.state, report.filled_qty, math.isnan(report.avg_price)) == (EXPIRED, 0.0, True)
    assert "a touch is not a fill" in report.reason


def test_paper_fills_are_capped_at_the_volume_share(journal: OrderJournal) -> None:
    report = PaperBroker(journal, bars(volume=20.0)).submit(intent(qty=5.0))
    assert (report.state, report.filled_qty) == (EXPIRED, pytest.approx(2.0))  # 10% of 20
    assert "capped" in report.reason


def test_paper_positions_use_average_cost(journal: OrderJournal) -> None:
    two = pd.concat([bars(), bars().assign(hour=HOUR + pd.Timedelta(hours=2), open=110.0, high=112.0)])
    broker = PaperBroker(journal, two)
    broker.submit(intent("a", qty=1.0))                                    # 1 @ 100.05
    broker.submit(intent("b", qty=1.0, hour=HOUR + pd.Timedelta(hours=1)))  # 1 @ 110 x 1.0005 = 110.055
    broker.submit(intent("c", side="sell", qty=0.5, hour=HOUR + pd.Timedelta(hours=1)))
    [position] = broker.positions("binance")
    # (100.05 + 110.055) / 2 = 105.0525; selling 0.5 keeps the entry
    assert (position.qty, position.entry_price) == (pytest.approx(1.5), pytest.approx(105.0525, rel=1e-12))
    assert broker.open_orders("binance") == []
    assert broker.reconcile() == []


def test_paper_bars_must_have_their_columns(journal: OrderJournal) -> None:
    with pytest.raises(ValueError, match=r"lack columns \['volume'\]"):
        PaperBroker(journal, bars().drop(columns="volume"))
