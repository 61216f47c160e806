"""The backfill plan asks storage what exists: stored look-backs are not run again, whatever instance runs them."""

from __future__ import annotations

import pandas as pd

from pipelines.definitions import build_definitions
from pipelines.runner import WARMUP_JOB, decisions_before, plan_window, run_window

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


def test_a_backfill_long_enough_to_fit_a_fold_runs_the_inputs_first_then_each_fold_and_its_decisions(local_settings):
    defs = build_definitions(local_settings)
    t = pd.Timestamp
    a, b = t("2026-01-15 00:00", tz="UTC"), t("2026-02-03 00:00", tz="UTC")  # 18 days before the fold of 02-02
    plan = plan_window(defs, a, b, job_name="hourly_cycle", chunk_hours=168, warmup_hours=0)
    mondays = [t(d, tz="UTC") for d in ("2026-01-19", "2026-01-26", "2026-02-02")]
    cuts = [a, *mondays, b]
    weeks = list(zip(cuts, cuts[1:], strict=False))
    folds = [(t(d, tz="UTC"), t(d, tz="UTC") + pd.Timedelta(days=7)) for d in ("2026-01-12", *map(str, mondays))]
    assert plan == [
        *(("hourly_inputs", x, y) for x, y in weeks),  # every input hour first: each fold learns from them
        *(run for fold, week in zip(folds, weeks, strict=True)
          for run in (("ml_walk_forward", *fold), ("hourly_decisions", *week))),
        *(("ml_fold_evaluation_job", *fold) for fold in folds),
    ]
    # a shorter window fits no fold (the one of 02-09 would learn from 96 hours): one run per chunk
    short = plan_window(defs, t("2026-02-05", tz="UTC"), t("2026-02-12", tz="UTC"), job_name="hourly_cycle", chunk_hours=168, warmup_hours=0)
    assert "hourly_inputs" not in [job for job, _, _ in short]


def test_after_the_inputs_fail_the_decisions_and_their_folds_run_up_to_the_failed_hour():
    t = pd.Timestamp
    rest = [("hourly_inputs", t("2026-02-16", tz="UTC"), t("2026-02-20", tz="UTC")),
            ("ml_walk_forward", t("2026-02-02", tz="UTC"), t("2026-02-09", tz="UTC")),
            ("hourly_decisions", t("2026-02-05", tz="UTC"), t("2026-02-09", tz="UTC")),
            ("ml_walk_forward", t("2026-02-09", tz="UTC"), t("2026-02-16", tz="UTC")),
            ("hourly_decisions", t("2026-02-09", tz="UTC"), t("2026-02-16", tz="UTC")),
            ("ml_walk_forward", t("2026-02-16", tz="UTC"), t("2026-02-23", tz="UTC")),
            ("hourly_decisions", t("2026-02-16", tz="UTC"), t("2026-02-20", tz="UTC")),
            ("ml_fold_evaluation_job", t("2026-02-02", tz="UTC"), t("2026-02-09", tz="UTC"))]
    failed = t("2026-02-11 07:00", tz="UTC")
    assert decisions_before(rest, failed) == [rest[1], rest[2], rest[3], ("hourly_decisions", rest[4][1], failed)]
    # failing at a fold's first hour: that fold is not trained, the week before is complete
    assert decisions_before(rest, t("2026-02-09", tz="UTC")) == rest[1:3]
