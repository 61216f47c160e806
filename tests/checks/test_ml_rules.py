"""The rules of ``model_predictions_1h`` (``checks.ml``): each passes honest rows and names a bad one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.engine import RuleEnv
from checks.ml import PREDICTION_RULES
from quant.ml.predictions import PREDICTION_COLUMNS, STATUS_OK

HOUR = pd.Timestamp("2026-02-09 05:00", tz="UTC")
ENV = RuleEnv(hours=pd.DatetimeIndex([HOUR]), universe=None)
RULES = {r.name: r for r in PREDICTION_RULES}


def rows() -> pd.DataFrame:
    """One ok prediction and one hour without a model, as the asset writes them."""
    df = pd.DataFrame({c: [np.nan, np.nan] for c in PREDICTION_COLUMNS})
    df["hour"] = [HOUR, HOUR]
    df["venue"] = "binance"
    df["symbol"] = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    df["status"] = [STATUS_OK, "no model: only 88 training hours"]
    df["probability"] = [0.62, np.nan]
    df["expected_return"] = [0.0031, np.nan]
    df["fold"] = ["2026-02-09", "2026-02-09"]
    df["model_version"] = ["2026-02-09-621d56bb9d4d", ""]
    return df


@pytest.mark.parametrize("name", sorted(RULES))
def test_honest_rows_pass_every_rule(name):
    assert RULES[name].violations(rows(), ENV).empty


@pytest.mark.parametrize(("change", "rule", "says"), [
    (lambda d: d.assign(probability=[1.2, np.nan]), "probability_honest", "status 'ok' with probability 1.2"),
    (lambda d: d.assign(expected_return=[np.inf, np.nan]), "probability_honest", "expected return inf"),
    (lambda d: d.assign(probability=[0.62, 0.5]), "probability_honest", "status 'no model: only 88 training hours'"),
    (lambda d: d.assign(model_version=["", ""]), "traceable", "without its fold or model version"),
    (lambda d: pd.concat([d, d.iloc[:1]], ignore_index=True), "unique_rows", "BTC/USDT:USDT"),
])
def test_a_bad_row_is_named(change, rule, says):
    found = RULES[rule].violations(change(rows()), ENV)
    assert len(found) >= 1
    assert found["symbol"].str.len().gt(0).all()
    assert says in " ".join(found["detail"]) + " ".join(found["symbol"])
