"""Model artifacts (``quant.ml.artifacts``) and the prediction rows built from them (``quant.ml.predictions``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.ml.artifacts import ArtifactError, artifact_record, dump, load, sha256
from quant.ml.models import EnsembleConfig, fit, predict
from quant.ml.predictions import PREDICTION_COLUMNS, STATUS_OK, prediction_rows
from tests.quant.ml.test_models import FEATURES, panel

SMALL = EnsembleConfig(trees=10, epochs=1, hidden=4)


@pytest.fixture(scope="module")
def trained():
    df = panel(200)
    df["net_return"] = np.where(df["label"] == 1, 0.01, -0.006)
    train = df[df["hour"] < df["hour"].min() + pd.Timedelta(hours=150)]
    return df, train, fit(train, FEATURES, SMALL)


def test_refitting_gives_the_same_bytes_and_a_load_predicts_the_same(trained):
    df, train, ensemble = trained
    again = fit(train, FEATURES, SMALL)
    assert sha256(dump(ensemble)) == sha256(dump(again))  # deterministic down to the artifact's bytes
    blob = dump(ensemble)
    loaded = load(blob, sha256(blob), "test")
    a, b = predict(ensemble, df), predict(loaded, df)
    assert np.array_equal(a.meta, b.meta)
    for name in a.base:
        assert np.array_equal(a.base[name], b.base[name])


def test_a_corrupt_missing_or_foreign_artifact_is_refused(trained):
    _, _, ensemble = trained
    blob = dump(ensemble)
    with pytest.raises(ArtifactError, match="missing"):
        load(None, sha256(blob), "fold x")
    with pytest.raises(ArtifactError, match="corrupt"):
        load(blob[:-10], sha256(blob), "fold x")
    import pickle

    other = pickle.dumps({"not": "a model"})
    with pytest.raises(ArtifactError, match="not a fold ensemble"):
        load(other, sha256(other), "fold x")


def test_the_key_changes_with_the_data_the_features_or_the_settings(trained):
    _, train, _ = trained
    base = artifact_record("2026-02-09", train, FEATURES, SMALL)
    assert base["key"] == artifact_record("2026-02-09", train.sample(frac=1.0, random_state=1), FEATURES, SMALL)["key"]
    changed = [
        artifact_record("2026-02-09", train.iloc[1:], FEATURES, SMALL),
        artifact_record("2026-02-09", train.assign(f1=train["f1"] + 1e-9), FEATURES, SMALL),
        artifact_record("2026-02-09", train, FEATURES[:2], SMALL),
        artifact_record("2026-02-09", train, FEATURES, EnsembleConfig(trees=11, epochs=1, hidden=4)),
        artifact_record("2026-02-16", train, FEATURES, SMALL),
    ]
    assert len({base["key"], *(r["key"] for r in changed)}) == 6
    assert base["code_version"]
    assert base["train_rows"] == len(train)


def test_prediction_rows_expected_return_and_status(trained):
    df, _, ensemble = trained
    frame = df.assign(sigma_1h=0.01, corr_btc_7d=0.5)
    last = frame["hour"].max()
    frame.loc[(frame["hour"] == last) & (frame["symbol"] == "ETH/USDT:USDT"), "f2"] = np.nan
    rows = prediction_rows(frame, pd.DatetimeIndex([last]), ensemble=ensemble, fold="f", model_version="f-abc", horizon_h=4)
    assert list(rows.columns) == PREDICTION_COLUMNS
    btc = rows[rows["symbol"] == "BTC/USDT:USDT"].iloc[0]
    eth = rows[rows["symbol"] == "ETH/USDT:USDT"].iloc[0]
    assert btc["status"] == STATUS_OK
    # E[net] = p * E[net | trade] + (1 - p) * E[net | no trade] = p * 0.01 + (1 - p) * (-0.006)
    assert ensemble.net_if_trade == pytest.approx(0.01)
    assert ensemble.net_if_not == pytest.approx(-0.006)
    assert btc["expected_return"] == pytest.approx(btc["probability"] * 0.016 - 0.006)
    assert eth["status"] == "features incomplete"
    assert np.isnan(eth["probability"])
    none = prediction_rows(frame, pd.DatetimeIndex([last]), ensemble=None, fold="f", model_version="", horizon_h=4,
                           no_model_reason="only 10 training hours")
    assert (none["status"] == "no model: only 10 training hours").all()
    assert none["probability"].isna().all()


def test_an_hour_with_no_complete_feature_row_predicts_nothing_and_says_why(trained):
    """The first week of a data window: a trained fold, but every look-back still filling (LightGBM
    refuses zero rows: no model may be asked)."""
    df, _, ensemble = trained
    frame = df.assign(sigma_1h=0.01, corr_btc_7d=0.5)
    last = frame["hour"].max()
    frame.loc[frame["hour"] == last, "f1"] = np.nan
    rows = prediction_rows(frame, pd.DatetimeIndex([last]), ensemble=ensemble, fold="f", model_version="f-abc", horizon_h=4)
    assert len(rows) == 2
    assert (rows["status"] == "features incomplete").all()
    assert rows["probability"].isna().all()
