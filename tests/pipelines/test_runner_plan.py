"""The backfill plan asks storage what exists: stored look-backs are not run again, whatever instance runs them."""

from __future__ import annotations

import pandas as pd

from pipelines.definitions import build_definitions
from pipelines.runner import WARMUP_JOB, plan_window, run_window

START = pd.Timestamp("2026-02-10 12:00", tz="UTC")


def test_stored_look_backs_are_not_planned_again(local_settings, instance):
    defs = build_definitions(local_settings)
    end = START + pd.Timedelta(hours=1)
    first = plan_window(defs, START, end, job_name="hourly_cycle", chunk_hours=24, warmup_hours=3)
    assert first[0] == (WARMUP_JOB, START - pd.Timedelta(hours=3), START)
    results = run_window(defs, instance, START - pd.Timedelta(hours=3), START, job_name=WARMUP_JOB, warmup_hours=0)
    assert all(r.success for r in results)
    # the plan reads storage only (no instance), so purge-runs, a new DAGSTER_HOME or Postgres change nothing
    again = plan_window(defs, START, end, job_name="hourly_cycle", chunk_hours=24, warmup_hours=3)
    assert again == [("hourly_cycle", START, end)]
