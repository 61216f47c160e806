"""Real orders only behind both switches, read at each submit; API keys never in a log line, an
error, a journal row or a report (a planted key and secret, scanned for after every fault)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import EnvVar

from quant.book.safeguards import RiskLimits
from resources.broker.base import FILLED, NOT_SENT
from resources.broker.journal import OrderJournal
from resources.broker.resource import OrderRouter
from resources.exchange.errors import LiveOrdersDisabled
from tests.resources.broker_helpers import (
    KEY,
    SECRET,
    SHORT_TIMEOUT_S,
    intent,
    make_broker,
    venue_fixture,
)
from tests.support.order_exchange import (
    ACCEPT_THEN_500,
    ACCEPT_THEN_STALL,
    DEMO_HOST,
    LIVE_HOST,
    MARGIN_INSUFFICIENT,
    REJECT,
    Fault,
    OrderExchange,
)

BANKROLL = 10_000.0


@pytest.fixture
def venue() -> Iterator[OrderExchange]:
    yield from venue_fixture(hosts=(DEMO_HOST, LIVE_HOST))


class Switches:
    """The live switches as the hourly run would hold them, flipped by the test between submits."""

    def __init__(self) -> None:
        self.enable_live_orders = False
        self.live_layers: set[str] = set()

    def __call__(self) -> RiskLimits:
        return RiskLimits(BANKROLL, enable_live_orders=self.enable_live_orders, live_layers=frozenset(self.live_layers))


@pytest.mark.parametrize(("enabled", "layers"), [(False, set()), (True, set()), (False, {"L1"}), (True, {"L2"})])
def test_real_orders_are_refused_unless_both_switches_are_on(venue: OrderExchange, journal: OrderJournal,
                                                             enabled: bool, layers: set[str]) -> None:
    switches = Switches()
    switches.enable_live_orders, switches.live_layers = enabled, layers
    order = intent(layer="L1")
    with pytest.raises(LiveOrdersDisabled, match="enable_live_orders .* and the L1 layer's own flag"):
        make_broker(venue, journal, network="live", live_switches=switches).submit(order)
    assert venue.requests == []
    with pytest.raises(KeyError):
        journal.get(order.client_order_id)


def test_the_switches_are_read_at_submit_time_and_live_goes_to_the_real_host(
        venue: OrderExchange, journal: OrderJournal) -> None:
    switches = Switches()
    broker = make_broker(venue, journal, network="live", live_switches=switches)  # built while both are off
    switches.enable_live_orders, switches.live_layers = True, {"L1"}
    assert broker.submit(intent("first")).state == FILLED
    assert {r.path.split("/")[1] for r in venue.requests} == {LIVE_HOST}
    switches.enable_live_orders = False
    with pytest.raises(LiveOrdersDisabled):
        broker.submit(intent("second"))
    assert len(venue.creates) == 1


def test_demo_orders_need_no_switch(venue: OrderExchange, journal: OrderJournal) -> None:
    assert make_broker(venue, journal, live_switches=Switches()).submit(intent()).state == FILLED
    assert {r.path.split("/")[1] for r in venue.requests} == {DEMO_HOST}


def _text_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_no_planted_key_in_logs_errors_or_the_journal(venue: OrderExchange, journal: OrderJournal,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    broker = make_broker(venue, journal, timeout_s=SHORT_TIMEOUT_S)
    venue.script(Fault(), Fault(REJECT, MARGIN_INSUFFICIENT), Fault(ACCEPT_THEN_STALL), Fault(ACCEPT_THEN_500))
    orders = [intent(leg) for leg in ("accepted", "rejected", "stalled", "error500")]
    for order in orders:
        try:
            texts.append(repr(broker.submit(order)))
        except Exception as exc:  # noqa: BLE001 - every error's text is scanned
            texts.append(_text_of(exc))
    resting = intent("resting", order_type="limit", limit=50_000.0)
    texts.append(repr(broker.submit(resting)))
    texts.append(repr(broker.cancel(resting.client_order_id)))
    texts.append(repr(broker.positions("binance")))
    venue.stop()
    texts.append(repr(report := broker.submit(intent("unreachable"))))
    assert report.state == NOT_SENT
    venue.start()
    wrong = make_broker(venue, journal, api_key="PLANTEDwrongkey", api_secret="PLANTEDwrongsecret")
    with pytest.raises(Exception, match="-2015") as caught:
        wrong.submit(intent("wrong key"))
    texts.append(_text_of(caught.value))
    switches_off = make_broker(venue, journal, network="live")
    with pytest.raises(LiveOrdersDisabled) as refused:
        switches_off.submit(intent("live"))
    texts.append(_text_of(refused.value))
    for order in [*orders, resting]:
        texts.extend(e.detail for e in journal.events(order.client_order_id))
    texts.append(caplog.text)
    texts.extend(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    signatures = {r.body.decode().rpartition("signature=")[2] for r in venue.creates}
    everything = "\n".join(texts)
    assert "DEBUG" in caplog.text  # ccxt's request log was captured, so the scan saw the headers
    assert "X-MBX-APIKEY" in everything
    for secret in (KEY, SECRET, "PLANTEDwrongkey", "PLANTEDwrongsecret", *signatures):
        assert secret not in everything


def test_the_resource_takes_keys_from_the_environment_only_at_run_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPETUA_TEST_BROKER_KEY", KEY)
    monkeypatch.setenv("PERPETUA_TEST_BROKER_SECRET", SECRET)
    router = OrderRouter(journal_url=f"sqlite:///{tmp_path / 'orders.db'}", api_key=EnvVar("PERPETUA_TEST_BROKER_KEY"),
                         api_secret=EnvVar("PERPETUA_TEST_BROKER_SECRET"))
    assert KEY not in repr(router)
    live = router.process_config_and_initialize()
    assert live.api_key == KEY
    broker = live.broker()
    assert (broker.network, KEY in repr(broker)) == ("demo", False)
    assert live.switches().enable_live_orders is False
