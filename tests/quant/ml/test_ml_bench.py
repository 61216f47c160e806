"""Smoke test of ``benchmarks.ml``: one fold with a tiny config runs end to end and records what it says.

Speed is written to BENCHMARKS.md, never asserted here.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import ml


@pytest.mark.slow
def test_one_tiny_fold_is_benchmarked_end_to_end(tmp_path, capsys):
    assert ml.main(["--folds", "1", "--tiny", "--workers", "1", "--hours", "5", "--out", str(tmp_path)]) == 0
    got = json.loads((tmp_path / "ml_1folds_workers1_tiny.json").read_text())
    assert got["symbols"] == ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT", "HYPE/USDT:USDT"]
    assert got["folds"]["run"] == 1
    assert got["folds"]["skipped"] == got["folds"]["weekly"] - got["folds"]["trainable"] > 0
    (fold,) = got["per_fold"]
    assert set(fold["fit_seconds"]) == set(ml.TIMED)
    assert fold["train_rows"] > 0
    assert fold["predicted_rows"] > 0
    assert got["inference"]["hours"] == 5
    assert set(got["scores"]) == {*ml.SCORED, "momentum_sign", "always_flat", ml.VOL_REFERENCE}
    assert all(s["rows"] > 0 for s in got["scores"].values())
    assert 0.0 <= got["scores"]["stack"]["auc_mean"] <= 1.0
    assert "| stack |" in capsys.readouterr().out
