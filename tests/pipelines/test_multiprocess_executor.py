"""The hourly cycle under Dagster's multiprocess executor (``PERPETUA_EXECUTOR=multiprocess``): a
process per step on a persistent SQLite instance, the same bytes as the in-process run."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, execute_job, reconstructable

from checks.engine import partition_key
from pipelines.definitions import build_definitions, executor_from_env
from pipelines.environments import settings
from pipelines.instance import instance_yaml

HOUR = pd.Timestamp("2026-01-15 00:00", tz="UTC")  # a window's first hour: its look-backs start there


def hourly_cycle():
    """The job as each step's process rebuilds it, from the environment the test set."""
    return build_definitions(settings()).resolve_job_def("hourly_cycle")


def _files(storage: Path) -> dict[str, bytes]:
    return {str(p.relative_to(storage)): p.read_bytes() for p in sorted(storage.rglob("*.parquet"))}


def _env(monkeypatch: pytest.MonkeyPatch, root: Path, executor: str) -> Path:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PERPETUA_STORAGE_ROOT", str(root / "storage"))
    monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", f"sqlite:///{root / 'ks.db'}")
    monkeypatch.setenv("PERPETUA_EXECUTOR", executor)
    monkeypatch.setenv("PERPETUA_MAX_CONCURRENT", "2")
    return home


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_hour_under_the_multiprocess_executor_stores_what_the_in_process_run_stores(tmp_path, monkeypatch):
    home = _env(monkeypatch, tmp_path / "multi", "multiprocess")
    with DagsterInstance.from_config(str(home)) as inst:
        res = execute_job(reconstructable(hourly_cycle), instance=inst, tags={"dagster/partition": partition_key(HOUR)},
                          raise_on_error=False)
        assert res.success, [e.message for e in res.all_events if e.is_failure]
        events = inst.all_logs(res.run_id)
        starts = {e.dagster_event.step_key for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"}
        pids = {e.dagster_event.pid for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"}
        assert len(starts) >= 10
        assert len(pids) == len(starts)
        assert os.getpid() not in pids

    monkeypatch.undo()
    home = _env(monkeypatch, tmp_path / "single", "in_process")
    with DagsterInstance.from_config(str(home)) as inst:
        assert hourly_cycle().execute_in_process(instance=inst, partition_key=partition_key(HOUR)).success
    assert _files(tmp_path / "multi" / "storage") == _files(tmp_path / "single" / "storage")


def test_an_unknown_executor_or_concurrency_is_refused(monkeypatch):
    monkeypatch.setenv("PERPETUA_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="PERPETUA_EXECUTOR must be one of"):
        executor_from_env()
    monkeypatch.setenv("PERPETUA_EXECUTOR", "multiprocess")
    monkeypatch.setenv("PERPETUA_MAX_CONCURRENT", "0")
    with pytest.raises(ValueError, match="PERPETUA_MAX_CONCURRENT must be a positive whole number"):
        executor_from_env()
