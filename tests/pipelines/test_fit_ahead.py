"""A backfill long enough to fit a fold runs the cycle's inputs first and fits the fold in a second
process while the hours before it are decided; the fold's run stores that model only when it is the
model it would have fitted itself (same artifact key), and otherwise fits it again.

Which bytes: the stored artifact is the worker's bytes as it dumped them. A pickle of the same
ensemble is not the same bytes in every process — which equal strings are one object (a memo
reference) depends on what the process did before (here a fit after a backfill memoises sklearn's
parameter names differently: same models, 2 KB more pickle) — so the model fitted again here is
compared field by field, each field's pickle equal."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from assets.ml import FoldConfig, fit_fold, fold_request
from pipelines.definitions import build_definitions
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from quant.ml.artifacts import sha256
from resources import fit_ahead
from tests.conftest import settings_under

START = pd.Timestamp("2026-01-15 00:00", tz="UTC")  # the 2026 window's first hour
FOLD = "2026-02-02"  # 18 days after it: the first fold with the 14 days a model needs
END = pd.Timestamp("2026-02-02 06:00", tz="UTC")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_fold_fitted_ahead_is_the_model_its_own_run_would_fit(tmp_path):
    s = settings_under(tmp_path)
    s.home.mkdir(parents=True)
    (s.home / "dagster.yaml").write_text(instance_yaml(s.home))
    set_event_batching()
    defs = build_definitions(s)
    with DagsterInstance.from_config(str(s.home)) as inst:
        results = run_window(defs, inst, START, END)
        assert all(r.success for r in results), [r.error for r in results]
        jobs = [r.job for r in results]
        assert jobs[:4] == ["hourly_inputs"] * 4  # [01-15, 01-19), three weeks, [02-02, 06:00)
        assert jobs[4:] == ["ml_walk_forward", "hourly_decisions"] * 4 + ["ml_fold_evaluation_job"] * 4
        meta = inst.get_latest_materialization_event(AssetKey("ml_fold_models"))
        assert meta.dagster_event.partition == FOLD
        assert meta.asset_materialization.metadata["fitted_ahead"].value is True
        assert meta.asset_materialization.metadata["status"].value == "trained"
    assert not fit_ahead._PENDING  # every submitted fold was taken or dropped with the pool

    manifest = json.loads((Path(s.storage_root) / "ml" / "folds" / f"{FOLD}.json").read_text())
    stored = (Path(s.storage_root) / "ml" / "artifacts" / f"{manifest['key']}.pkl").read_bytes()
    assert sha256(stored) == manifest["sha256"]
    cfg = FoldConfig()
    request = fold_request(s.storage_root, FOLD, cfg)
    again_fitted = fit_fold(s.storage_root, FOLD, cfg.model_dump(), threads=2)  # the same fit, in this process
    assert again_fitted.record == {k: manifest[k] for k in again_fitted.record}
    assert again_fitted.request == request
    again, kept = pickle.loads(again_fitted.blob), pickle.loads(stored)  # noqa: S301 - artifacts this test wrote
    for f in dataclasses.fields(again):
        assert pickle.dumps(getattr(again, f.name), protocol=5) == pickle.dumps(getattr(kept, f.name), protocol=5), f.name
    # a day file the fold read, rewritten with the same bytes (a new file renamed over it): another request
    day = sorted((Path(s.storage_root) / "regime_scores_1h").glob("*.parquet"))[3]
    tmp = day.with_suffix(".tmp")
    tmp.write_bytes(day.read_bytes())
    tmp.replace(day)
    assert fold_request(s.storage_root, FOLD, cfg) != request
    # the plain order (each fold fitted in its run, one process) stores the same: every Parquet file
    # byte for byte, every model field for field
    plain = settings_under(tmp_path / "plain")
    plain.home.mkdir(parents=True)
    (plain.home / "dagster.yaml").write_text(instance_yaml(plain.home))
    with DagsterInstance.from_config(str(plain.home)) as inst:
        results = run_window(build_definitions(plain), inst, START, END, fit_ahead=False)
        assert all(r.success for r in results), [r.error for r in results]
        assert "hourly_inputs" not in [r.job for r in results]
    ours, theirs = Path(s.storage_root), Path(plain.storage_root)
    files = sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*.parquet"))
    assert files == sorted(str(p.relative_to(ours)) for p in ours.rglob("*.parquet"))
    assert [f for f in files if (ours / f).read_bytes() != (theirs / f).read_bytes()] == []
    plain_manifest = json.loads((theirs / "ml" / "folds" / f"{FOLD}.json").read_text())
    assert plain_manifest["key"] == manifest["key"]
    plain_model = pickle.loads((theirs / "ml" / "artifacts" / f"{manifest['key']}.pkl").read_bytes())  # noqa: S301
    for f in dataclasses.fields(plain_model):
        assert pickle.dumps(getattr(plain_model, f.name), protocol=5) == pickle.dumps(getattr(kept, f.name), protocol=5), f.name
    # the folds before it had too little history: skipped by their own runs, nothing sent ahead
    assert json.loads((Path(s.storage_root) / "ml" / "folds" / "2026-01-26.json").read_text())["status"] == "skipped"


def test_a_result_for_another_request_or_never_sent_is_a_miss():
    from concurrent.futures import Future

    def ready(value) -> Future:
        f = Future()
        f.set_result(value)
        return f

    fitted = fit_ahead.Fitted(("2026-02-02", "{}", "code", ()), {"key": "k"}, b"model", {"xgboost": 1.0}, 2.5, 0.3)
    fit_ahead._PENDING[("root", "2026-02-02")] = ready(fitted)
    assert fit_ahead.take("root", "2026-02-02", ("2026-02-02", "{}", "other code", ())) is None
    assert ("root", "2026-02-02") not in fit_ahead._PENDING  # taken once, hit or miss
    fit_ahead._PENDING[("root", "2026-02-02")] = ready(dataclasses.replace(fitted, request=None))
    assert fit_ahead.take("root", "2026-02-02", fitted.request) is None  # a file changed while the worker read
    failed = Future()
    failed.set_exception(MemoryError("worker died"))
    fit_ahead._PENDING[("root", "2026-02-09")] = failed
    assert fit_ahead.take("root", "2026-02-09", fitted.request) is None  # the asset then fits in its own process
    assert fit_ahead.take("root", "2026-02-16", fitted.request) is None  # never sent
    fit_ahead._PENDING[("root", "2026-02-16")] = ready(fitted)
    assert fit_ahead.take("root", "2026-02-16", None) is None  # a store that is not a local folder
    fit_ahead._PENDING[("root", "2026-02-16")] = ready(fitted)
    assert fit_ahead.take("root", "2026-02-16", fitted.request) is fitted
