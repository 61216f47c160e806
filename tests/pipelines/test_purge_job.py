"""The daily purge job forgets finished runs older than its retention, never its own run or one
still going, and refuses a retention under a day."""

from __future__ import annotations

import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus, job, op

from pipelines.housekeeping import purge_old_runs_job


@op
def noop() -> None:
    return None


@job
def tiny():
    noop()


def test_old_finished_runs_go_and_the_rest_stay(tmp_path, monkeypatch):
    with DagsterInstance.ephemeral() as inst:
        old = tiny.execute_in_process(instance=inst).run_id
        going = inst.create_run_for_job(tiny, run_id=None).run_id  # created, never finished
        assert inst.get_run_by_id(going).status == DagsterRunStatus.NOT_STARTED
        time.sleep(1.1)
        # every run created before "now - 1 day" goes: move the clock forward two days
        import pipelines.housekeeping as hk

        real = hk.datetime

        class Later(real):
            @classmethod
            def now(cls, tz=None):
                return real.now(tz) + hk.timedelta(days=2)

        monkeypatch.setattr(hk, "datetime", Later)
        res = purge_old_runs_job.execute_in_process(instance=inst, run_config={"ops": {"purge_old_runs": {"config": {
            "older_than_days": 1}}}})
        assert res.success
        assert res.output_for_node("purge_old_runs") == 1
        assert inst.get_run_by_id(old) is None
        assert inst.get_run_by_id(going) is not None  # not finished: kept
        assert inst.get_run_by_id(res.run_id) is not None  # its own run: kept


def test_a_retention_under_a_day_is_refused():
    with DagsterInstance.ephemeral() as inst:
        res = purge_old_runs_job.execute_in_process(instance=inst, raise_on_error=False, run_config={
            "ops": {"purge_old_runs": {"config": {"older_than_days": 0}}}})
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    assert "older_than_days must be at least 1" in failure.event_specific_data.error.cause.message


@pytest.mark.parametrize(("env", "status"), [("on", "RUNNING"), (None, "STOPPED")])
def test_the_purge_is_scheduled_daily(env, status):
    import json
    import os
    import subprocess
    import sys

    code = ("from pipelines.schedules import purge_schedule as s; import json; "
            "print(json.dumps([s.cron_schedule, s.job_name, s.default_status.value]))")
    environ = {k: v for k, v in os.environ.items() if k != "PERPETUA_SCHEDULES"} | ({"PERPETUA_SCHEDULES": env} if env else {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == ["15 3 * * *", "purge_old_runs_job", status]
