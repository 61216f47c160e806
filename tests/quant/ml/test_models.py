"""The fold ensemble (``quant.ml.models``): reproducible, no look-ahead in the sequences, honest on degenerate folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.ml.models import BASE_MODELS, REGIMES, SEQUENCE_H, EnsembleConfig, fit_predict, sequences

FEATURES = ["f1", "f2", "f3"]
SMALL = EnsembleConfig(trees=20, epochs=2, hidden=8)


def panel(hours: int, seed: int = 3) -> pd.DataFrame:
    """Two instruments whose label depends on f1 (so a model can learn something), with regimes."""
    rng = np.random.default_rng(seed)
    rows = []
    for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
        x = rng.normal(size=(hours, 3))
        label = (x[:, 0] + 0.5 * rng.normal(size=hours) > 0.3).astype("float64")
        rows.append(pd.DataFrame({
            "hour": pd.date_range("2026-02-01", periods=hours, freq="h", tz="UTC"), "venue": "binance",
            "symbol": symbol, "f1": x[:, 0], "f2": x[:, 1], "f3": x[:, 2], "label": label,
            "regime": rng.choice(REGIMES, size=hours),
        }))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def fold():
    df = panel(400)
    cut = df["hour"].min() + pd.Timedelta(hours=320)
    return df[df["hour"] < cut - pd.Timedelta(hours=8)], df[df["hour"] >= cut]


def test_refitting_a_fold_reproduces_every_prediction_exactly(fold):
    train, test = fold
    a, b = fit_predict(train, test, FEATURES, SMALL), fit_predict(train, test, FEATURES, SMALL)
    assert set(a.base) == set(BASE_MODELS)
    for name in BASE_MODELS:
        assert np.array_equal(a.base[name], b.base[name]), name
    assert np.array_equal(a.regime, b.regime)
    assert np.array_equal(a.meta, b.meta)
    assert a.meta.shape == (len(test),)
    assert ((a.meta >= 0) & (a.meta <= 1)).all()
    assert np.allclose(a.regime.sum(axis=1), 1.0)


def test_the_trees_learn_a_real_signal(fold):
    from sklearn.metrics import roc_auc_score

    train, test = fold
    got = fit_predict(train, test, FEATURES, SMALL)
    assert roc_auc_score(test["label"], got.base["xgboost"]) > 0.7
    assert roc_auc_score(test["label"], got.meta) > 0.7  # the stack keeps what the base models found


def test_a_sequence_uses_only_its_own_and_earlier_hours():
    df = panel(30).sort_values(["venue", "symbol", "hour"]).reset_index(drop=True)
    x = df[FEATURES].to_numpy()
    base = sequences(df, x)
    row = 10  # BTC's 10:00
    later = x.copy()
    later[row + 1:] += 100.0  # every later hour, and the other instrument's rows after it
    assert np.array_equal(sequences(df, later)[row], base[row])
    assert np.array_equal(base[row, -1], x[row])  # the last step is the row's own hour
    assert np.array_equal(base[row, 0], x[row - SEQUENCE_H + 1])
    assert not base[2, :SEQUENCE_H - 3].any()  # before the data starts: zero rows, not later ones


def test_a_fold_with_one_class_predicts_its_base_rate(fold):
    train, test = fold
    flat = train.assign(label=0.0)
    got = fit_predict(flat, test, FEATURES, EnsembleConfig(trees=5, epochs=1, hidden=4, models=("xgboost", "random_forest")))
    assert (got.base["xgboost"] == 0.0).all()
    assert (got.meta == 0.0).all()


def test_the_forest_shortcut_is_sklearns_predict_proba_bit_for_bit(fold):
    from sklearn.ensemble import RandomForestClassifier

    from quant.ml.models import _forest_proba

    train, test = fold
    x, y = train[FEATURES].to_numpy(), train["label"].to_numpy(dtype="int64")
    rf = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=1, n_jobs=1).fit(x, y)
    assert np.array_equal(_forest_proba(rf, test[FEATURES].to_numpy()), rf.predict_proba(test[FEATURES].to_numpy()))


def test_sequences_refuse_duplicate_rows():
    df = panel(10)
    with pytest.raises(ValueError, match="one row per"):
        sequences(pd.concat([df, df.iloc[:1]], ignore_index=True), np.zeros((len(df) + 1, 3)))


def test_the_forest_grown_on_threads_is_the_forest_grown_on_one():
    """``_fit_tree`` grows the random forest on FOREST_FIT_THREADS threads: the same trees, byte for byte."""
    import pickle

    from quant.ml import models as m

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 8))
    y = (x[:, 0] + rng.normal(size=3000) > 0.4).astype(int)
    cfg = m.EnsembleConfig(trees=24, forest_samples=1000)
    threaded = m._fit_tree("random_forest", cfg, x, y)
    serial = m._tree("random_forest", cfg).fit(x, y)
    assert m.FOREST_FIT_THREADS > 1
    assert threaded.n_jobs == 1  # predictions stay serial (their sum order is fixed)
    assert pickle.dumps(threaded) == pickle.dumps(serial)
