"""The fold ensemble (``quant.ml.models``): reproducible, no look-ahead in the sequences, honest on degenerate folds."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest

from quant.ml.models import BASE_MODELS, REGIMES, SEQUENCE_H, EnsembleConfig, fit, fit_predict, sequences

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


@pytest.mark.parametrize("at", [np.arange(60) % 3 == 0, slice(40, None), np.array([5, 17, 2])])
def test_sequences_at_some_rows_are_those_rows_of_every_sequence(at):
    df = panel(30).sample(frac=1.0, random_state=1).reset_index(drop=True)  # any row order
    x = df[FEATURES].to_numpy()
    assert np.array_equal(sequences(df, x, at), sequences(df, x)[at])


def _reference_fit(train: pd.DataFrame, features: list[str], cfg: EnsembleConfig):
    """The fold's fit written plainly, one model after another, each on the rows cut from ``train`` by
    hour and scaled on its own (what ``fit`` did before it ran the models side by side)."""
    from sklearn.linear_model import LogisticRegression

    from quant.ml import models as m

    train = train.dropna(subset=[*features, "label"]).sort_values(["hour", "venue", "symbol"]).reset_index(drop=True)
    mean = train[features].mean().to_numpy(dtype="float64")
    std = train[features].std().replace(0.0, 1.0).fillna(1.0).to_numpy(dtype="float64")

    def scaled(df):
        return (df[features].to_numpy(dtype="float64") - mean) / std

    def base(rows):
        x, y = scaled(rows), rows["label"].to_numpy(dtype="int64")
        recent = slice(max(0, len(rows) - cfg.sequence_rows), None)
        return {n: m._fit_sequence(n, cfg, m.sequences(rows, x)[recent], y[recent]) if n in m.SEQUENCE_MODELS
                else m._fit_tree(n, cfg, x, y) for n in cfg.models}

    hours = np.sort(train["hour"].unique())
    edges = [hours[int(i * len(hours) / m.INNER_BLOCKS)] for i in range(1, m.INNER_BLOCKS)]
    oof, oof_rows = [], []
    for k, start in enumerate(edges):
        end = edges[k + 1] if k + 1 < len(edges) else None
        before = train[train["hour"] < start - pd.Timedelta(hours=cfg.horizon_h)]
        block = train[(train["hour"] >= start) & ((train["hour"] < end) if end is not None else True)]
        if before["label"].nunique() < 2 or block.empty:
            continue
        context = train if end is None else train[train["hour"] < end]
        seq_x = m.sequences(context, scaled(context))[context.index.isin(block.index)]
        models, x_block = base(before), scaled(block)
        oof.append(np.column_stack([models[n].predict(seq_x) if n in m.SEQUENCE_MODELS else m._tree_proba(models[n], x_block)
                                    for n in cfg.models]))
        oof_rows.append(block)
    regime = m._regime_classifier(train, scaled(train), cfg)
    meta_rows = pd.concat(oof_rows, ignore_index=True)
    meta_x = np.column_stack([np.vstack(oof), m._regime_proba(regime, scaled(meta_rows))])
    stack = LogisticRegression(C=1.0, max_iter=1000).fit(meta_x, meta_rows["label"].to_numpy(dtype="int64"))
    label = train["label"].astype(bool)
    return m.Ensemble(list(features), cfg, mean, std, base(train), regime, stack, len(train),
                      float(train["net_return"][label].mean()), float(train["net_return"][~label].mean()))


@pytest.fixture(scope="module")
def wide_fold():
    """A fold with 20 features, as many as the sleeve reads (a BLAS product's summation order depends on
    its inputs' memory layout only with enough of them: what a model is handed must be laid out alike)."""
    rng = np.random.default_rng(5)
    df = panel(360)
    names = [f"f{i}" for i in range(1, 21)]
    for name in names[3:]:
        df[name] = rng.normal(size=len(df)) + 0.3 * df["f1"]
    df["net_return"] = np.where(df["label"] == 1, 0.01, -0.006)
    return df[df["hour"] < df["hour"].min() + pd.Timedelta(hours=300)], names


def test_the_fit_side_by_side_is_the_plain_fit_byte_for_byte(wide_fold):
    from quant.ml.artifacts import dump

    train, names = wide_fold
    cfg = EnsembleConfig(trees=15, epochs=2, hidden=8, sequence_rows=300, forest_samples=300)
    plain = dump(_reference_fit(train, names, cfg))
    assert dump(fit(train, names, cfg, threads=2)) == plain
    assert dump(fit(train, names, cfg, threads=1)) == plain


def test_the_nets_learn_the_same_without_torchs_fill_of_new_tensors():
    """``_fit_sequence`` turns off deterministic mode's NaN fill of new tensors: no op reads the fill,
    so the nets learn the same weights as with it."""
    import torch
    import torch.utils.deterministic

    from quant.ml import models as m

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, SEQUENCE_H, 4)), (rng.random(300) > 0.6).astype(int)
    cfg = EnsembleConfig(epochs=2, hidden=8, batch=64)
    fast = {kind: m._fit_sequence(kind, cfg, x, y) for kind in m.SEQUENCE_MODELS}
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 1
    assert not torch.utils.deterministic.fill_uninitialized_memory
    try:
        torch.utils.deterministic.fill_uninitialized_memory = True
        with mock.patch.object(m, "_torch_deterministic"):  # the fill stays on for these fits
            filled = {kind: m._fit_sequence(kind, cfg, x, y) for kind in m.SEQUENCE_MODELS}
    finally:
        m._torch_deterministic()
    for kind in m.SEQUENCE_MODELS:
        assert fast[kind].weights.keys() == filled[kind].weights.keys()
        for name, w in fast[kind].weights.items():
            assert np.array_equal(w, filled[kind].weights[name]), (kind, name)


def test_a_net_predicts_the_same_in_a_process_that_never_fitted():
    """A prediction runs with the fit's torch settings (one intra-op thread, deterministic kernels),
    whatever the process set before: the hourly run's process predicts without fitting."""
    import subprocess
    import sys

    import torch

    from quant.ml import models as m

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, SEQUENCE_H, 20)), (rng.random(400) > 0.5).astype(int)
    nets = {kind: m._fit_sequence(kind, EnsembleConfig(epochs=1, hidden=32, batch=64), x, y) for kind in m.SEQUENCE_MODELS}
    here = {kind: net.predict(x) for kind, net in nets.items()}
    torch.set_num_threads(2)  # what a fresh process has on two cores
    for kind, net in nets.items():
        net.__dict__.pop("_net", None)
        assert np.array_equal(net.predict(x), here[kind]), kind
        assert torch.get_num_threads() == 1
    # and in a fresh interpreter that imports the nets and predicts, never fitting
    import pickle

    blob = pickle.dumps((nets, x), protocol=5).hex()
    code = ("import pickle, sys, numpy as np; nets, x = pickle.loads(bytes.fromhex(sys.stdin.read())); "
            "print(pickle.dumps({k: n.predict(x) for k, n in nets.items()}).hex())")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, text=True, check=True).stdout
    fresh = pickle.loads(bytes.fromhex(out.strip().splitlines()[-1]))  # noqa: S301 - this test's own bytes
    for kind in m.SEQUENCE_MODELS:
        assert np.array_equal(fresh[kind], here[kind]), kind


def test_a_rows_probability_does_not_depend_on_the_rows_beside_it():
    """An hour predicted alone equals the same hour inside a week's range, for both nets, bit for bit
    (in one batch of any size the transformer's float32 sums moved by up to 6e-8)."""
    from quant.ml import models as m

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(300, SEQUENCE_H, 20)), (rng.random(300) > 0.5).astype(int)
    for kind in m.SEQUENCE_MODELS:
        net = m._fit_sequence(kind, EnsembleConfig(epochs=1, hidden=32, batch=64), x, y)
        full = net.predict(x)
        assert np.array_equal(np.concatenate([net.predict(x[:37]), net.predict(x[37:200]), net.predict(x[200:])]), full), kind
        assert np.array_equal(np.array([net.predict(x[i:i + 1])[0] for i in range(0, 300, 7)]), full[::7]), kind
        assert net.predict(x[:0]).shape == (0,)
        # the mechanism: every forward pass sees exactly PREDICT_BATCH rows, whatever was asked
        shapes = []
        inner = net.__dict__["_net"]
        net.__dict__["_net"] = lambda t, shapes=shapes, inner=inner: shapes.append(tuple(t.shape)) or inner(t)
        net.predict(x[:5])
        net.predict(x[:150])
        assert {s[0] for s in shapes} == {m.PREDICT_BATCH}
        assert len(shapes) == 1 + 3
