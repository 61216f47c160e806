"""Schedules and the 4h-funding sensor: pure decisions, then the Dagster objects on a real instance."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from pipelines.definitions import build_definitions
from pipelines.schedules import FUNDING_CRON, funding_partition_for, funding_schedule, hourly_schedule
from pipelines.sensors import Observation, decide_four_hour_runs, four_hour_funding_sensor

UTC = "UTC"


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=UTC)


# -- schedules --------------------------------------------------------------------------------

def test_funding_schedule_fires_at_00_08_16_utc():
    assert FUNDING_CRON == "2 0,8,16 * * *"


@pytest.mark.parametrize(
    ("scheduled", "key"),
    [("2025-09-01 00:02", "2025-09-01-00:00"), ("2025-09-01 08:02", "2025-09-01-08:00"), ("2025-09-01 16:02", "2025-09-01-16:00")],
)
def test_funding_schedule_requests_the_settlement_hour(scheduled, key):
    assert funding_partition_for(ts(scheduled)) == key
    ctx = build_schedule_context(scheduled_execution_time=ts(scheduled).to_pydatetime())
    req = funding_schedule(ctx)
    assert req.partition_key == key
    assert req.run_key == f"funding-{key}"
    assert req.tags["perpetua/trigger"] == "funding-8h"


def test_hourly_schedule_materialises_the_previous_hour(local_settings):
    defs = build_definitions(local_settings)
    sched = defs.resolve_schedule_def("hourly_cycle_schedule")
    assert sched is not None
    assert sched.cron_schedule == "5 * * * *"
    with DagsterInstance.ephemeral() as inst:
        ctx = build_schedule_context(instance=inst, scheduled_execution_time=datetime.fromisoformat("2025-09-01T10:05:00+00:00"))
        data = sched.evaluate_tick(ctx)
    assert [r.partition_key for r in data.run_requests] == ["2025-09-01-09:00"]
    assert hourly_schedule.job_name == "hourly_cycle"


# -- sensor decision ---------------------------------------------------------------------------

def test_no_four_hour_symbols_no_runs_but_cursor_advances():
    d = decide_four_hour_runs([Observation(7, "2025-09-01-00:00", ())], None, ts("2025-09-01 13:00"))
    assert d.requests == []
    assert json.loads(d.cursor)["after"] == 7


def test_four_hour_symbol_requests_04_12_20_settlements_once():
    obs = [Observation(10, "2025-09-01-00:00", ("HYPE/USDT:USDT",))]
    d1 = decide_four_hour_runs(obs, None, ts("2025-09-01 12:05"))
    assert d1.requests == [("2025-09-01-04:00", ("HYPE/USDT:USDT",)), ("2025-09-01-12:00", ("HYPE/USDT:USDT",))]
    # the next tick with nothing new asks for nothing again, until 20:00 has passed
    d2 = decide_four_hour_runs([], d1.cursor, ts("2025-09-01 19:59"))
    assert d2.requests == []
    d3 = decide_four_hour_runs([], d2.cursor, ts("2025-09-01 20:03"))
    assert d3.requests == [("2025-09-01-20:00", ("HYPE/USDT:USDT",))]
    assert json.loads(d3.cursor)["through"] == ts("2025-09-01 20:00").isoformat()


def test_settlement_not_requested_before_it_can_be_collected():
    obs = [Observation(1, "2025-09-01-00:00", ("TIA/USDT:USDT",))]
    assert decide_four_hour_runs(obs, None, ts("2025-09-01 04:01")).requests == []
    assert decide_four_hour_runs(obs, None, ts("2025-09-01 04:02")).requests == [("2025-09-01-04:00", ("TIA/USDT:USDT",))]


def test_symbol_back_on_8h_is_forgotten_after_a_day():
    d1 = decide_four_hour_runs([Observation(1, "2025-09-01-00:00", ("ORDI/USDT:USDT",))], None, ts("2025-09-01 05:00"))
    assert d1.requests
    d2 = decide_four_hour_runs([Observation(2, "2025-09-02-08:00", ())], d1.cursor, ts("2025-09-02 13:00"))
    assert d2.requests == []
    assert json.loads(d2.cursor)["symbols"] == {}


# -- sensor on a real instance ----------------------------------------------------------------

def test_sensor_walks_materialisations_with_a_cursor(local_settings, monkeypatch):
    import pipelines.sensors as sensors

    monkeypatch.setattr(sensors, "_now", lambda: ts("2025-09-01 12:05"))
    defs = build_definitions(local_settings)
    job = defs.resolve_job_def("funding_settlement")
    with DagsterInstance.ephemeral() as inst:
        # Two settlement hours land between ticks: both must be seen (binance HYPE settles every 4h).
        for key in ("2025-09-01-00:00", "2025-09-01-08:00"):
            assert job.execute_in_process(instance=inst, partition_key=key, raise_on_error=False) is not None
        ctx = build_sensor_context(instance=inst, cursor=None)
        result = four_hour_funding_sensor(ctx)
        state = json.loads(result.cursor)
        assert state["after"] > 0
        assert "HYPE/USDT:USDT" in state["symbols"]
        # From the newest materialised hour (08:00) up to now, the only 4h-only settlement is 12:00.
        assert [r.partition_key for r in result.run_requests] == ["2025-09-01-12:00"]
        assert result.run_requests[0].run_key == "funding-4h-2025-09-01-12:00"
        assert "HYPE/USDT:USDT" in result.run_requests[0].tags["perpetua/four_hour_symbols"]
        again = four_hour_funding_sensor(build_sensor_context(instance=inst, cursor=result.cursor))
        assert again.run_requests == []
        assert json.loads(again.cursor)["after"] == state["after"]


def test_the_weekly_fold_trains_before_its_first_hour_and_is_scored_a_week_later():
    from datetime import UTC, datetime

    from dagster import build_schedule_context

    from pipelines.schedules import fold_for, ml_evaluation_schedule, ml_fold_schedule

    monday = datetime(2026, 2, 9, 0, 30, tzinfo=UTC)
    assert fold_for(monday) == "2026-02-09"
    assert fold_for(datetime(2026, 2, 15, 23, 0, tzinfo=UTC)) == "2026-02-09"  # Sunday: still that week
    assert ml_fold_schedule(build_schedule_context(scheduled_execution_time=monday)).partition_key == "2026-02-09"
    score = ml_evaluation_schedule(build_schedule_context(scheduled_execution_time=datetime(2026, 2, 9, 5, 30, tzinfo=UTC)))
    assert score.partition_key == "2026-02-02"
    # a week of no data (the withheld months) is no fold: nothing to train
    assert ml_fold_schedule(build_schedule_context(scheduled_execution_time=datetime(2025, 11, 3, 0, 30, tzinfo=UTC))) == []
