"""Checks of the ML sleeve's hourly predictions (blocking, one property each)."""

import numpy as np
import pandas as pd

from checks.engine import Rule, RuleEnv
from checks.market_data import unique_rule
from quant import quality as q
from quant.ml.predictions import STATUS_OK


def _probability_honest(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    """An ``ok`` row's probability is in [0, 1] and its expected return finite; any other row says NaN."""
    ok = (df["status"] == STATUS_OK).to_numpy()
    p, r = df["probability"].to_numpy(dtype="float64"), df["expected_return"].to_numpy(dtype="float64")
    bad_ok = ok & ~((p >= 0) & (p <= 1) & np.isfinite(r))
    bad_other = ~ok & (np.isfinite(p) | np.isfinite(r))
    bad = bad_ok | bad_other
    details = [f"status {s!r} with probability {pv} and expected return {rv}"
               for s, pv, rv in zip(df["status"][bad], p[bad], r[bad], strict=True)]
    return q.violation_rows(df.loc[bad], details)


def _traceable(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    """Every ``ok`` row names the fold and the model version (artifact key) that produced it."""
    ok = df["status"] == STATUS_OK
    bad = ok & ((df["model_version"].fillna("") == "") | (df["fold"].fillna("") == ""))
    return q.violation_rows(df.loc[bad], ["a prediction without its fold or model version"] * int(bad.sum()))


PREDICTION_RULES = [
    Rule("probability_honest", "ok rows: probability in [0, 1], finite expected return; other rows NaN",
         "0 <= p <= 1 when ok, NaN otherwise", _probability_honest),
    Rule("traceable", "every prediction names its fold and model version", "fold and model_version set", _traceable),
    unique_rule(["venue", "symbol", "hour"]),
]

ML_RULES_BY_ASSET = {"model_predictions_1h": PREDICTION_RULES}
