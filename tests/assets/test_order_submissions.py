"""The last hop: an hour's approved intents go through the broker once each (a re-run submits
nothing twice), a tripped kill switch lets only reduce-only orders out, an intent whose stored id
does not reproduce fails loudly, stops are sent (an intent for a venue without a route is not), and
with no venue nothing is sent."""

from unittest import mock

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from assets.orders import BLOCKED, NOT_ROUTED, NOT_SUBMITTED, STALE, order_submissions_1h, submissions
from checks.engine import partition_key
from pipelines.sensors import live_orders_request
from quant.book.orders import client_order_id
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitch
from resources.storage import HourlyParquetIOManager, read_hours, write_hours
from tests.assets.test_venue_reconciliation import LoopbackRouter
from tests.resources.broker_helpers import KEY, SECRET
from tests.support.order_exchange import OrderExchange

HOUR = pd.Timestamp("2026-02-10 12:00", tz="UTC")
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def _intents(rows: list[dict]) -> pd.DataFrame:
    base = {"hour": HOUR, "exec_hour": HOUR + pd.Timedelta(hours=1), "venue": "binance", "order_type": "market",
            "limit": float("nan"), "layer": "L2", "reason": "test", "reduce_only": False, "approved": True}
    df = pd.DataFrame([base | r for r in rows])
    df["client_order_id"] = [client_order_id(HOUR, r.layer, r.symbol, r.leg, r.venue) for r in df.itertuples()]
    return df.astype({"hour": "datetime64[ns, UTC]", "exec_hour": "datetime64[ns, UTC]"})


@pytest.fixture
def world(tmp_path):
    with OrderExchange(KEY, SECRET) as venue:
        resources = {
            "order_router": LoopbackRouter(journal_url=f"sqlite:///{tmp_path / 'orders.db'}", venues={"binance": "binanceusdm"},
                                           venue_url=venue.url),
            "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}"),
            "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage")),
        }
        yield tmp_path / "storage", venue, resources


#: the live job's run on time: half-way through the intents' execution hour (HOUR + 1h)
ON_TIME = HOUR + pd.Timedelta(minutes=90)


def _materialize(resources, instance, now: pd.Timestamp = ON_TIME):
    with mock.patch("assets.orders.utc_now", return_value=now):
        return materialize([order_submissions_1h], resources=resources, instance=instance,
                           partition_key=partition_key(HOUR), raise_on_error=False)


def test_each_approved_intent_is_sent_once_and_a_re_run_sends_nothing_again(world):
    storage, venue, resources = world
    intents = _intents([{"symbol": BTC, "side": "buy", "qty": 0.01, "leg": "rung1"},
                        {"symbol": ETH, "side": "sell", "qty": 0.5, "leg": "rung1"},
                        {"symbol": BTC, "side": "buy", "qty": 0.02, "leg": "rung2", "approved": False}])
    write_hours(str(storage), "order_intents_1h", pd.DatetimeIndex([HOUR]), intents)
    with DagsterInstance.ephemeral() as instance:
        res = _materialize(resources, instance)
        assert res.success
        stored = read_hours(str(storage), "order_submissions_1h", pd.DatetimeIndex([HOUR]))
        assert stored["client_order_id"].tolist() == intents["client_order_id"].tolist()[:2]  # the approved two
        assert stored["state"].tolist() == ["filled", "filled"]  # market orders fill on the loopback venue
        assert stored["filled_qty"].tolist() == [0.01, 0.5]
        assert len(venue.creates) == 2
        again = _materialize(resources, instance)  # the hour re-run: looked up in the journal, not resent
        assert again.success
        assert len(venue.creates) == 2
        pd.testing.assert_frame_equal(read_hours(str(storage), "order_submissions_1h", pd.DatetimeIndex([HOUR])), stored)


def test_a_tripped_kill_switch_lets_only_reduce_only_orders_out(world):
    storage, venue, resources = world
    resources["kill_switch"].store().trip("check:x__rule", "bad hour", partition=partition_key(HOUR))
    write_hours(str(storage), "order_intents_1h", pd.DatetimeIndex([HOUR]), _intents([
        {"symbol": BTC, "side": "buy", "qty": 0.01, "leg": "rung1"},
        {"symbol": ETH, "side": "buy", "qty": 0.5, "leg": "exit", "reduce_only": True}]))
    with DagsterInstance.ephemeral() as instance:
        assert _materialize(resources, instance).success
    stored = read_hours(str(storage), "order_submissions_1h", pd.DatetimeIndex([HOUR]))
    assert stored["state"].tolist()[0] == BLOCKED
    assert stored["reason"].tolist()[0] == "the kill switch is tripped: only reduce-only orders go out"
    assert [c.path.split("/")[-1] for c in venue.creates] == ["order"]  # only the reduce-only exit


def test_a_stored_intent_that_does_not_reproduce_its_id_fails_and_stops_are_sent(world):
    storage, venue, resources = world
    bad = _intents([{"symbol": BTC, "side": "buy", "qty": 0.01, "leg": "rung1"}])
    bad.loc[0, "client_order_id"] = "pp-L2-000000000000000000000000"
    write_hours(str(storage), "order_intents_1h", pd.DatetimeIndex([HOUR]), bad)
    with DagsterInstance.ephemeral() as instance:
        res = _materialize(resources, instance)
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    assert "does not reproduce its client order id" in failure.event_specific_data.user_failure_data.description
    assert venue.creates == []
    stops = _intents([
        {"symbol": BTC, "side": "sell", "qty": 0.01, "leg": "rung1-stop", "order_type": "stop", "limit": 55_000.0,
         "reduce_only": True},
        {"symbol": BTC, "side": "sell", "qty": 0.01, "leg": "rung1-stop", "order_type": "stop", "limit": 55_000.0,
         "reduce_only": True, "venue": "okx"}])  # a venue the router has no route to
    df = submissions(stops, resources["order_router"], False, 60.0)
    assert df["state"].tolist() == ["acknowledged", NOT_ROUTED]  # the stop rests on the venue until it fires
    assert "unknown venue 'okx'" in df["reason"].iloc[1]
    assert [c.path.rsplit("/", 1)[-1] for c in venue.creates] == ["algoOrder"]


def test_past_the_hours_budget_the_rest_is_not_submitted(world):
    _, venue, resources = world
    ticks = iter([0.0, 0.0, 10.0, 10.0])
    df = submissions(_intents([{"symbol": BTC, "side": "buy", "qty": 0.01, "leg": "rung1"},
                               {"symbol": ETH, "side": "buy", "qty": 0.5, "leg": "rung1"}]),
                     resources["order_router"], False, budget_s=5.0, clock=lambda: next(ticks))
    assert df["state"].tolist() == ["filled", NOT_SUBMITTED]
    assert len(venue.creates) == 1


def test_a_run_after_the_execution_hour_sends_nothing_new_and_only_looks_up_what_it_sent(world):
    storage, venue, resources = world
    sent = {"symbol": BTC, "side": "buy", "qty": 0.01, "leg": "rung1"}
    write_hours(str(storage), "order_intents_1h", pd.DatetimeIndex([HOUR]), _intents([sent]))
    late = HOUR + pd.Timedelta(hours=2)  # the execution hour HOUR+1h ended at HOUR+2h
    with DagsterInstance.ephemeral() as instance:
        assert _materialize(resources, instance, now=late - pd.Timedelta(seconds=1)).success  # last second: sent
        assert len(venue.creates) == 1
        # the hour re-run later with one more approved intent (a changed store): the new one is refused
        write_hours(str(storage), "order_intents_1h", pd.DatetimeIndex([HOUR]),
                    _intents([sent, {"symbol": ETH, "side": "sell", "qty": 0.5, "leg": "rung1"}]))
        assert _materialize(resources, instance, now=late).success
    stored = read_hours(str(storage), "order_submissions_1h", pd.DatetimeIndex([HOUR]))
    assert stored["state"].tolist() == ["filled", STALE]  # the sent one as the journal has it
    assert stored["reason"].iloc[1] == ("not sent: its execution hour ended at 2026-02-10 14:00 UTC "
                                        "(now 2026-02-10 14:00): never sent late")
    assert len(venue.creates) == 1  # nothing went out late
    journal = resources["order_router"].broker().journal
    with pytest.raises(KeyError):  # and the refused one was never journalled
        journal.get(stored["client_order_id"].iloc[1])


def test_a_stale_hour_refuses_stops_and_exits_too(world):
    _, venue, resources = world
    df = submissions(_intents([{"symbol": BTC, "side": "sell", "qty": 0.01, "leg": "exit", "reduce_only": True}]),
                     resources["order_router"], True, 60.0, now=HOUR + pd.Timedelta(hours=5))
    assert df["state"].tolist() == [STALE]  # the current hour's run issues its own, fresh exits
    assert venue.creates == []


def test_with_no_venue_nothing_is_sent_and_the_hour_says_why(tmp_path):
    resources = {"order_router": OrderRouter(journal_url=f"sqlite:///{tmp_path / 'o.db'}", venues={}),
                 "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}"),
                 "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage"))}
    with DagsterInstance.ephemeral() as instance:
        res = _materialize(resources, instance)
    assert res.success
    meta = res.asset_materializations_for_node("order_submissions_1h")[0].metadata
    assert meta["status"].value.startswith("no venue configured: orders are simulated")


def test_only_a_one_hour_run_triggers_the_order_run():
    class Run:
        def __init__(self, tags):
            self.tags, self.run_id = tags, "abcdef1234"

    req = live_orders_request(Run({"dagster/partition": "2026-02-10-12:00"}))
    assert req.partition_key == "2026-02-10-12:00"
    assert req.tags == {"perpetua/after_run": "abcdef1234"}
    assert live_orders_request(Run({"dagster/asset_partition_range_start": "2026-02-10-00:00",
                                    "dagster/asset_partition_range_end": "2026-02-10-23:00"})) is None
