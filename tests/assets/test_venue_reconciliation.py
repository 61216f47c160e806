"""Reconciliation against a loopback Binance USD-M venue: agreeing positions pass, drift fails the
WARN check naming each difference and alerts, three drifting runs in a row trip the kill switch,
and nothing configured (local, paper) reconciles nothing."""

import json

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.reconciliation import CHECK, book_perp_legs, venue_reconciliation
from resources.alerts import AlertHook
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitch
from resources.storage import HourlyParquetIOManager, write_hours
from tests.resources.broker_helpers import KEY, SECRET, make_broker
from tests.support.order_exchange import OrderExchange
from tests.support.replay_server import ReplayServer, json_reply

HOUR = pd.Timestamp("2026-02-10 12:00", tz="UTC")


class LoopbackRouter(OrderRouter):
    """The resource with its broker on the loopback venue (``venue_url``)."""

    venue_url: str = ""

    def broker(self):
        from resources.broker.journal import OrderJournal

        class _Venue:  # make_broker needs the venue only for its url
            url = self.venue_url

        return make_broker(_Venue(), OrderJournal(self.journal_url))


def _positions(root, legs: list[tuple[str, str, str, float]]) -> None:
    rows = pd.DataFrame({
        "hour": pd.Series([HOUR] * len(legs), dtype="datetime64[ns, UTC]"),
        "layer": ["L1"] * len(legs), "venue": [v for v, _, _, _ in legs], "symbol": [s for _, s, _, _ in legs],
        "instrument": [s for _, s, _, _ in legs], "leg": ["perp"] * len(legs), "kind": [k for _, _, k, _ in legs],
        "qty": [q for _, _, _, q in legs],
    })
    write_hours(str(root), "positions_1h", pd.DatetimeIndex([HOUR]), rows)


@pytest.fixture
def world(tmp_path):
    with OrderExchange(KEY, SECRET) as venue, ReplayServer() as hooks:
        hooks.route("/hook", json_reply({"ok": True}))
        resources = {
            "order_router": LoopbackRouter(journal_url=f"sqlite:///{tmp_path / 'orders.db'}", venues={"binance": "binanceusdm"},
                                           venue_url=venue.url),
            "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}", alerts=AlertHook(webhook_url=f"{hooks.url}/hook")),
            "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage")),
        }
        yield tmp_path / "storage", venue, hooks, resources


def _run(resources, instance):
    res = materialize([venue_reconciliation], resources=resources, instance=instance)
    (check,) = res.get_asset_check_evaluations()
    meta = res.asset_materializations_for_node("venue_reconciliation")[0].metadata
    return res, check, meta


def test_agreeing_positions_pass_and_drift_is_named_alerted_and_trips_after_three(world):
    storage, venue, hooks, resources = world
    venue.book.positions["BTCUSDT"] = (-0.3, 60_000.0)
    _positions(storage, [("binance", "BTC/USDT:USDT", "perp", -0.5), ("binance", "BTC/USDT:USDT", "perp", 0.2),
                         ("deribit", "ETH-17MAR26", "option", 116.0)])  # options are not on this venue: left out
    with DagsterInstance.ephemeral() as instance:
        res, check, meta = _run(resources, instance)
        assert res.success
        assert check.passed
        assert meta["status"].value == "agree"
        assert meta["book_hour"].value == "2026-02-10 12:00 UTC"
        assert hooks.requests_to("/hook") == []

        venue.book.positions["ETHUSDT"] = (2.0, 3_000.0)  # opened on the venue, unknown to the book
        for n in (1, 2):
            res, check, meta = _run(resources, instance)
            assert res.success  # WARN: alert-only, the run and the book go on
            assert not check.passed
            assert check.severity.value == "WARN"
            assert check.description == "1 position(s) disagree: orphan: binance ETH/USDT:USDT book 0 vs venue 2"
            assert meta["drift_count"].value == 1
            assert len(hooks.requests_to("/hook")) == n
            assert not resources["kill_switch"].store().is_tripped()
        _run(resources, instance)  # the third in a row
        (trip,) = resources["kill_switch"].store().active()
        assert trip.source == "reconciliation"
        assert "3 reconciliations in a row found drift: 1 position(s) disagree: orphan" in trip.reason
        bodies = [json.loads(r.body)["title"] for r in hooks.requests_to("/hook")]
        assert bodies[-1].startswith("Perpetua kill switch tripped by reconciliation")
    assert venue.creates == []  # reconciliation never sends an order


def test_a_drift_streak_broken_by_an_agreeing_run_does_not_trip(world):
    storage, venue, _, resources = world
    _positions(storage, [("binance", "BTC/USDT:USDT", "perp", 0.01)])
    with DagsterInstance.ephemeral() as instance:
        _run(resources, instance)  # phantom: the venue holds nothing
        _run(resources, instance)
        venue.book.positions["BTCUSDT"] = (0.01, 60_000.0)
        assert _run(resources, instance)[1].passed
        venue.book.positions["BTCUSDT"] = (0.0, 0.0)
        _run(resources, instance)
        assert not resources["kill_switch"].store().is_tripped()
        counts = [r.asset_materialization.metadata["drift_count"].value
                  for r in reversed(instance.fetch_materializations(AssetKey("venue_reconciliation"), limit=10).records)]
        assert counts == [1, 1, 0, 1]


def test_with_no_venue_configured_nothing_is_reconciled(tmp_path):
    resources = {"order_router": OrderRouter(journal_url=f"sqlite:///{tmp_path / 'o.db'}", venues={}),
                 "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}"),
                 "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage"))}
    with DagsterInstance.ephemeral() as instance:
        res, check, meta = _run(resources, instance)
    assert check.passed
    assert check.check_name == CHECK
    assert meta["status"].value.startswith("no venue to reconcile")
    assert book_perp_legs(str(tmp_path / "none"))[0] is None
