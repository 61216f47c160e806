"""The operator's service verbs: init-db creates what is missing and nothing else, run refuses to
start on local data, a tripped kill switch or a disagreeing venue, and the pre-live checklist
names each failing check."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from pipelines import cli
from pipelines.definitions import build_definitions
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from pipelines.service import FAIL, OK, SKIP, init_db, prelive_checklist, startup_problems
from quant.book.params import BookParams
from quant.book.risk import RiskParams
from resources.kill_switch import KillSwitchStore
from tests.assets.test_venue_reconciliation import LoopbackRouter, _positions
from tests.conftest import settings_under
from tests.resources.broker_helpers import KEY, SECRET
from tests.support.order_exchange import OrderExchange

START = pd.Timestamp("2025-03-06 12:00", tz="UTC")  # the data's first hour: no look-back to warm up
HOURS = 24


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("svc")
    s = settings_under(root)
    s.home.mkdir(parents=True)
    (s.home / "dagster.yaml").write_text(instance_yaml(s.home))
    set_event_batching()
    with DagsterInstance.from_config(str(s.home)) as inst:
        results = run_window(build_definitions(s), inst, START, START + pd.Timedelta(hours=HOURS), chunk_hours=HOURS,
                             train_folds=False)
        assert all(r.success for r in results)
        yield s, inst


def _by_name(checks):
    return {c.name: c for c in checks}


def test_the_checklist_passes_a_fresh_complete_day_and_names_what_fails(stored):
    s, inst = stored
    just_after = START + pd.Timedelta(hours=HOURS, minutes=10)
    checks = _by_name(prelive_checklist(s, inst, now=just_after))
    assert [c.name for c in checks.values()] == ["kill switch", "feed freshness", "uptime", "signal volume",
                                                 "risk parameters", "error rate", "reconciliation"]
    assert {n: c.status for n, c in checks.items()} == {
        "kill switch": OK, "feed freshness": OK, "uptime": OK, "signal volume": OK, "risk parameters": OK,
        "error rate": FAIL, "reconciliation": SKIP}
    # the backfill's runs were created now, not in the data's day: none finished "in the last 24 hours" of 2025
    assert checks["error rate"].detail == "no finished run in the last 24 hours"
    assert checks["uptime"].detail == "the book has every one of the last 24 hours"
    now = pd.Timestamp.now(tz="UTC")
    late = _by_name(prelive_checklist(s, inst, now=now))
    assert late["feed freshness"].status == FAIL
    assert late["error rate"].status == OK  # the backfill's runs all succeeded, today
    assert late["error rate"].detail.startswith("0 of 1 runs failed in the last 24 hours (0%")
    loose = BookParams(risk=dataclasses.replace(RiskParams(), daily_loss_limit=0.25))
    bad = _by_name(prelive_checklist(s, inst, now=just_after, params=loose))["risk parameters"]
    assert bad.status == FAIL
    assert bad.detail == "daily loss limit 25% not in (0, 10%]"


def test_a_tripped_kill_switch_fails_the_checklist_and_stops_the_service(stored, monkeypatch, capsys):
    s, inst = stored
    store = KillSwitchStore(s.kill_switch_url)
    store.trip("operator:ana", "testing the refusal")
    try:
        checks = _by_name(prelive_checklist(s, inst, now=START + pd.Timedelta(hours=HOURS)))
        assert checks["kill switch"].status == FAIL
        assert "operator:ana: testing the refusal" in checks["kill switch"].detail
        assert startup_problems(s) == ["the kill switch is tripped (1): operator:ana: testing the refusal "
                                       "(perpetua kill-switch reset --by NAME)"]
        started = []
        monkeypatch.setattr(subprocess, "call", lambda *a, **k: started.append((a, k)) or 0)
        monkeypatch.setenv("DAGSTER_HOME", str(s.home))
        monkeypatch.setenv("PERPETUA_STORAGE_ROOT", s.storage_root)
        monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", s.kill_switch_url)
        assert cli.main(["--env", "paper", "run"]) == cli.EXIT_RUN_FAILED
        assert "refusing to start: 1 problem(s)" in capsys.readouterr().err
        assert started == []
    finally:
        store.reset(by="test")
    assert cli.main(["--env", "paper", "run", "--port", "3111"]) == 0
    (argv, kwargs), = started
    assert argv[0][-4:] == ["-h", "127.0.0.1", "-p", "3111"]
    assert kwargs["env"]["PERPETUA_SCHEDULES"] == "on"


def test_run_refuses_the_local_sample(capsys):
    assert cli.main(["--env", "local", "run"]) == cli.EXIT_BAD_INPUT
    assert "set PERPETUA_ENV=paper" in capsys.readouterr().err


def test_the_service_starts_every_schedule_and_sensor_running():
    code = ("from pipelines.schedules import SCHEDULES; from pipelines.sensors import SENSORS; import json; "
            "print(json.dumps({x.name: x.default_status.value for x in [*SCHEDULES, *SENSORS]}))")
    base = {k: v for k, v in __import__("os").environ.items() if k not in ("PERPETUA_SCHEDULES", "PERPETUA_ENV")}

    def statuses(**env: str) -> dict[str, str]:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=base | env)
        return json.loads(out.stdout.strip().splitlines()[-1])

    paper, live, off = statuses(PERPETUA_SCHEDULES="on", PERPETUA_ENV="paper"), \
        statuses(PERPETUA_SCHEDULES="on", PERPETUA_ENV="live"), statuses()
    assert set(off.values()) == {"STOPPED"}
    assert set(live.values()) == {"RUNNING"}
    # the order path's sensor runs only in live; everything else runs in paper too
    assert {k for k, v in paper.items() if v == "STOPPED"} == {"live_orders_sensor"}


def test_init_db_creates_the_tables_once(tmp_path):
    s = settings_under(tmp_path)
    s.home.mkdir(parents=True)
    (s.home / "dagster.yaml").write_text(instance_yaml(s.home))
    with DagsterInstance.from_config(str(s.home)) as inst:
        lines = init_db(s, inst)
        assert lines[0].startswith(f"instance: {s.home} (event log: PooledSqliteEventLogStorage")
        assert init_db(s, inst) == lines  # again: nothing changes
    tables = set(sa.inspect(sa.create_engine(s.kill_switch_url)).get_table_names())
    assert {"perpetua_kill_switch", "perpetua_orders", "perpetua_order_events"} <= tables


def test_a_venue_that_disagrees_with_the_book_stops_the_service(tmp_path):
    s = settings_under(tmp_path)
    with OrderExchange(KEY, SECRET) as venue:
        router = LoopbackRouter(journal_url=s.kill_switch_url, venues={"binance": "binanceusdm"}, venue_url=venue.url)
        _positions(s.storage_root, [("binance", "BTC/USDT:USDT", "perp", 0.01)])
        venue.book.positions["BTCUSDT"] = (0.01, 60_000.0)
        assert startup_problems(s, router) == []
        venue.book.positions["BTCUSDT"] = (0.02, 60_000.0)
        (problem,) = startup_problems(s, router)
        assert problem == ("book and venue disagree: 1 position(s) disagree: size_mismatch: binance BTC/USDT:USDT "
                           "book 0.01 vs venue 0.02")
        checks = _by_name(prelive_checklist(s, DagsterInstance.ephemeral(), router=router))
        assert checks["reconciliation"].status == FAIL
        assert "size_mismatch" in checks["reconciliation"].detail
