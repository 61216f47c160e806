"""Which STARTED/STARTING runs are orphans: a dead writer on this machine, with the patience a
database shared between machines needs, and runs that never wrote an event."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from dagster import DagsterEvent, DagsterEventType, DagsterRunStatus, job, op
from dagster._core.events import EngineEventData

import pipelines.run_records as run_records
from pipelines.run_records import (
    NO_EVENT_QUIET_S,
    SHARED_STORE_QUIET_S,
    find_orphaned_runs,
    mark_orphaned_runs,
)


@op
def nothing():
    return None


@job
def some_job():
    nothing()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    proc.wait()
    return proc.pid


def _started_by(instance, pid: int):
    run = instance.create_run_for_job(some_job, status=DagsterRunStatus.STARTED)
    event = DagsterEvent(event_type_value=DagsterEventType.ENGINE_EVENT.value, job_name=run.job_name,
                         message="working", event_specific_data=EngineEventData({}), pid=pid)
    instance.report_dagster_event(event, run_id=run.run_id)
    return run


def test_a_dead_writer_on_a_single_machine_store_is_an_orphan_at_once(instance):
    dead = _started_by(instance, _dead_pid())
    assert [o.run_id for o in find_orphaned_runs(instance)] == [dead.run_id]
    (orphan,) = mark_orphaned_runs(instance)
    assert "is gone" in orphan.reason
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert find_orphaned_runs(instance) == []


def test_on_a_shared_store_a_dead_pid_must_also_be_quiet(instance, monkeypatch):
    monkeypatch.setattr(run_records, "_single_machine", lambda _instance: False)  # as on Postgres
    dead = _started_by(instance, _dead_pid())
    assert find_orphaned_runs(instance) == []  # its pid may be alive on another machine
    later = time.time() + SHARED_STORE_QUIET_S + 60
    assert [o.run_id for o in find_orphaned_runs(instance, now=later)] == [dead.run_id]


def test_a_run_with_no_event_is_an_orphan_only_once_old(instance):
    run = instance.create_run_for_job(some_job, status=DagsterRunStatus.STARTING)
    assert find_orphaned_runs(instance) == []  # perhaps just being started by another process
    (orphan,) = find_orphaned_runs(instance, now=time.time() + NO_EVENT_QUIET_S + 60)
    assert orphan.run_id == run.run_id
    assert "without writing an event" in orphan.reason


@pytest.mark.parametrize("status", [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED])
def test_finished_runs_are_never_touched(instance, status):
    run = instance.create_run_for_job(some_job, status=status)
    assert find_orphaned_runs(instance, now=time.time() + 10**6) == []
    assert instance.get_run_by_id(run.run_id).status == status


def test_a_fold_runs_weekly_key_names_no_hours():
    import pandas as pd

    from pipelines.run_records import _run_hours

    assert _run_hours({"dagster/partition": "2026-02-02"}) == []
    assert _run_hours({"dagster/partition": "2026-02-02-13:00"}) == [pd.Timestamp("2026-02-02 13:00", tz="UTC")]
