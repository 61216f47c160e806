"""The ML sleeve end to end on the bundled data: a backfill trains each fold before its hours, an
hour predicted alone equals the same hour inside a range, and a bad artifact fails loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from quant.ml.predictions import PREDICTION_COLUMNS, STATUS_OK
from resources.storage import read_hours
from tests.conftest import settings_under

START = pd.Timestamp("2026-02-05 00:00", tz="UTC")
FOLD = "2026-02-09"  # Monday: the fold after the backfilled days
SMALL = {"ops": {"ml_fold_models": {"config": {"min_train_hours": 48, "trees": 10, "epochs": 1}}}}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml")
    s = settings_under(root)
    s.home.mkdir(parents=True)
    (s.home / "dagster.yaml").write_text(instance_yaml(s.home))
    set_event_batching()
    defs = build_definitions(s)
    with DagsterInstance.from_config(str(s.home)) as inst:
        results = run_window(defs, inst, START, pd.Timestamp(FOLD, tz="UTC"), chunk_hours=168)
        assert all(r.success for r in results), [r.error for r in results]
        assert [r.job for r in results if r.job == "ml_walk_forward"] == ["ml_walk_forward"]  # the week of 02-02
        fold = defs.resolve_job_def("ml_walk_forward").execute_in_process(
            instance=inst, partition_key=FOLD, run_config=SMALL, raise_on_error=False)
        assert fold.success
        hourly = defs.resolve_job_def("hourly_cycle")
        first, last = pd.Timestamp(FOLD, tz="UTC"), pd.Timestamp(FOLD, tz="UTC") + pd.Timedelta(hours=5)
        res = run_window(defs, inst, first, last + pd.Timedelta(hours=1), chunk_hours=168)
        assert all(r.success for r in res), [r.error for r in res]
        assert [r.job for r in res] == ["hourly_cycle", "ml_fold_evaluation_job"]  # trained already: not again
        yield s, defs, inst, hourly, last


def _predictions(s, hour):
    return read_hours(s.storage_root, "model_predictions_1h", pd.DatetimeIndex([hour]))


def test_a_fold_with_too_little_history_says_so_and_predicts_nothing(stored):
    s, *_ = stored
    manifest = json.loads((Path(s.storage_root) / "ml" / "folds" / "2026-02-02.json").read_text())
    assert manifest["status"] == "skipped"
    assert "training hours before 2026-02-02 00:00 UTC, needs 336" in manifest["reason"]
    rows = _predictions(s, pd.Timestamp("2026-02-06 12:00", tz="UTC"))
    assert len(rows) >= 5
    assert rows["status"].str.startswith("no model: only").all()
    assert rows["probability"].isna().all()


def test_predictions_name_the_artifact_and_an_hour_alone_equals_the_range(stored):
    s, defs, inst, hourly, last = stored

    manifest = json.loads((Path(s.storage_root) / "ml" / "folds" / f"{FOLD}.json").read_text())
    assert manifest["status"] == "trained"
    assert manifest["key"].startswith(f"{FOLD}-")
    assert manifest["train_end"] < "2026-02-08T16:00Z"  # purge + embargo: 8 hours before the fold
    # the fold's out-of-sample scores on its predicted hours, beside the baselines
    evaluation = manifest["evaluation"]
    assert evaluation["rows"] >= 5
    assert set(evaluation["models"]) == {"stack", "xgboost", "lightgbm", "random_forest", "lstm", "transformer"}
    assert 0 < evaluation["models"]["stack"]["log_loss"] < 5
    assert set(evaluation["baselines"]) == {"always_flat", "momentum_sign"}
    ranged = _predictions(s, last)
    assert list(ranged.columns) == PREDICTION_COLUMNS
    ok = ranged[ranged["status"] == STATUS_OK]
    assert len(ok) >= 5
    assert (ok["model_version"] == manifest["key"]).all()
    assert ok["probability"].between(0, 1).all()
    # the hour alone reads its sequences' hours from storage: the same numbers as inside the range
    assert hourly.execute_in_process(instance=inst, partition_key=partition_key(last)).success
    pd.testing.assert_frame_equal(_predictions(s, last), ranged)


def test_a_corrupt_or_missing_artifact_fails_the_hour_loudly(stored):

    s, defs, inst, hourly, last = stored
    manifest = json.loads((Path(s.storage_root) / "ml" / "folds" / f"{FOLD}.json").read_text())
    artifact = Path(s.storage_root) / "ml" / "artifacts" / f"{manifest['key']}.pkl"
    good = artifact.read_bytes()
    try:
        artifact.write_bytes(good[: len(good) // 2])
        res = hourly.execute_in_process(instance=inst, partition_key=partition_key(last), raise_on_error=False)
        assert not res.success
        failure = next(ev for ev in res.all_events if ev.event_type_value == "STEP_FAILURE")
        assert "corrupt" in failure.event_specific_data.user_failure_data.description
        artifact.unlink()
        res = hourly.execute_in_process(instance=inst, partition_key=partition_key(last), raise_on_error=False)
        failure = next(ev for ev in res.all_events if ev.event_type_value == "STEP_FAILURE")
        assert "missing" in failure.event_specific_data.user_failure_data.description
    finally:
        artifact.write_bytes(good)


def test_retraining_after_the_fold_hours_are_stored_learns_nothing_from_them(stored):
    """The fold was trained before any of its hours existed; with six of them stored since (and
    their features, labels and bars readable), a retrain must see exactly the same rows: same key,
    same bytes."""
    s, defs, inst, hourly, last = stored
    folds = Path(s.storage_root) / "ml" / "folds" / f"{FOLD}.json"
    before = json.loads(folds.read_text())
    lines_before = len((Path(s.storage_root) / "ml" / "trials.jsonl").read_text().splitlines())
    again = defs.resolve_job_def("ml_walk_forward").execute_in_process(instance=inst, partition_key=FOLD, run_config=SMALL)
    assert again.success
    after = json.loads(folds.read_text())
    assert after["key"] == before["key"]
    assert after["data_hash"] == before["data_hash"]
    assert after["sha256"] == before["sha256"]
    # every fit is journalled, a retrain too: the deflated Sharpe counts it
    assert len((Path(s.storage_root) / "ml" / "trials.jsonl").read_text().splitlines()) == lines_before + 7


def test_the_ui_shows_each_folds_scores_and_model_on_its_partition(stored):
    """What the asset page shows comes from the instance's materialisation records: prove it there."""
    from dagster import AssetKey

    s, defs, inst, hourly, last = stored
    scored = inst.get_latest_materialization_event(AssetKey("ml_fold_evaluation")).asset_materialization
    assert scored.partition == FOLD
    meta = {k: v.value for k, v in scored.metadata.items()}
    assert {"auc", "log_loss", "hit_rate", "ece", "flat_log_loss", "momentum_auc", "scores", "model_version"} <= set(meta)
    assert "| always flat |" in meta["scores"]
    assert "| momentum sign |" in meta["scores"]
    trained = inst.get_latest_materialization_event(AssetKey("ml_fold_models")).asset_materialization
    assert trained.partition == FOLD
    assert {v.value for k, v in trained.metadata.items() if k == "artifact_key"} == {meta["model_version"]}
