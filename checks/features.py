"""Checks of the feature and regime assets (blocking, one property each)."""

import numpy as np
import pandas as pd

from checks.engine import Rule, RuleEnv
from checks.market_data import ge_rule, unique_rule
from quant import quality as q
from quant.features.hourly import FEATURE_COLUMNS
from quant.features.regime import LABELS, NEUTRAL, SCORE_COLUMNS, UNKNOWN


def _no_infinity(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    """NaN is an honest "unknown"; ±inf is a bug (a division by zero that escaped)."""
    values = df[FEATURE_COLUMNS].to_numpy(dtype="float64")
    bad = np.isinf(values).any(axis=1)
    cols = [", ".join(c for c, v in zip(FEATURE_COLUMNS, row, strict=True) if np.isinf(v)) for row in values[bad]]
    return q._violations(df.loc[bad], [f"infinite feature(s): {c}" for c in cols])


#: Every label the regime asset may write.
KNOWN_LABELS = sorted({*LABELS, UNKNOWN, NEUTRAL})

FEATURE_RULES = [
    Rule("no_infinity", "features are finite or NaN (unknown)", "no ±inf", _no_infinity),
    unique_rule(["venue", "symbol", "hour"]),
]

REGIME_RULES = [
    ge_rule(
        "scores_in_unit_interval", "regime scores lie in [0, 1] (NaN when unknown)", "0 <= score <= 1",
        lambda df, env: q.concat_violations([q.outside(df, c, 0, 1) for c in SCORE_COLUMNS]),
        lambda gx: [gx.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1) for c in SCORE_COLUMNS],
    ),
    ge_rule(
        "known_label", "every row carries a known regime label", f"one of {KNOWN_LABELS}",
        lambda df, env: q.not_in_set(df, "regime", KNOWN_LABELS),
        lambda gx: [gx.ExpectColumnValuesToBeInSet(column="regime", value_set=KNOWN_LABELS)],
    ),
    unique_rule(["venue", "symbol", "hour"]),
]

#: The rules of each asset's one quality check (declared on the asset: ``checks.engine.audited``).
FEATURE_RULES_BY_ASSET = {"features_1h": FEATURE_RULES, "regime_scores_1h": REGIME_RULES}
