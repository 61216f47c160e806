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
    fold = (pd.Timestamp("2026-02-09", tz="UTC"), pd.Timestamp("2026-02-16", tz="UTC"))
    assert again == [("ml_walk_forward", *fold), ("hourly_cycle", START, end), ("ml_fold_evaluation_job", *fold)]
    assert plan_window(defs, START, end, job_name="hourly_cycle", chunk_hours=24, warmup_hours=3,
                       train_folds=False) == [("hourly_cycle", START, end)]


def test_a_backfill_trains_each_fold_before_its_week_and_never_runs_across_a_monday(local_settings):
    defs = build_definitions(local_settings)
    a, b = pd.Timestamp("2026-02-05 00:00", tz="UTC"), pd.Timestamp("2026-02-12 00:00", tz="UTC")
    plan = [p for p in plan_window(defs, a, b, job_name="hourly_cycle", chunk_hours=168, warmup_hours=0)]
    monday = pd.Timestamp("2026-02-09", tz="UTC")
    assert plan == [
        ("ml_walk_forward", pd.Timestamp("2026-02-02", tz="UTC"), monday),
        ("hourly_cycle", a, monday),  # the week's end: the next fold learns from these hours
        ("ml_walk_forward", monday, monday + pd.Timedelta(days=7)),
        ("hourly_cycle", monday, b),
        ("ml_fold_evaluation_job", pd.Timestamp("2026-02-02", tz="UTC"), monday),
        ("ml_fold_evaluation_job", monday, monday + pd.Timedelta(days=7)),
    ]
    # a fold that has a model is not trained again (unless asked), but is still scored
    store = defs.resources["ml_models"]
    store.save_skipped({"fold": "2026-02-02", "key": "k"}, "test")
    again = plan_window(defs, a, b, job_name="hourly_cycle", chunk_hours=168, warmup_hours=0)
    assert [p[0] for p in again].count("ml_walk_forward") == 1
    retrain = plan_window(defs, a, b, job_name="hourly_cycle", chunk_hours=168, warmup_hours=0, retrain=True)
    assert [p[0] for p in retrain].count("ml_walk_forward") == 2
