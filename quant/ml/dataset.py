"""The rows the ML sleeve learns from and predicts: features, the rule-based regime and the label.

One row per (venue, symbol, hour) of ``features_1h``; ``regime`` comes from ``regime_scores_1h``
of the same hour and the label from the bars (``quant.ml.labels``). The features of hour H use bars
up to H's close only (``quant.features``); the label of H uses the closes of H and H + horizon, so a
row may only train a fold that starts after ``label_end`` (``quant.ml.folds`` purges it).

NaN policy: a feature is NaN only while its look-back fills (the first week of a data window, a
new listing). Such rows are **dropped** — from training and from prediction (their prediction row
reads ``features incomplete``) — never imputed, and never filled from a later hour. A row whose
label is unknown (its exit bar is past the data) is dropped from training only.
"""

from __future__ import annotations

import pandas as pd

from quant.features.hourly import FEATURE_COLUMNS
from quant.ml.labels import COST_PER_TRADE, forward_labels

#: The features every model of the sleeve reads (``features_1h``'s columns, nothing derived later).
ML_FEATURES = list(FEATURE_COLUMNS)
KEYS = ["hour", "venue", "symbol"]


def learning_rows(features: pd.DataFrame, regimes: pd.DataFrame, bars: pd.DataFrame, *, horizon_h: int,
                  cost_per_trade: float = COST_PER_TRADE) -> pd.DataFrame:
    """``features`` joined with the hour's rule-based ``regime`` and the forward label net of costs.

    Every row of ``features`` is kept (a missing regime reads ``unknown``, a missing label NaN).
    """
    labels = forward_labels(bars[["hour", "venue", "symbol", "close"]], horizon_h, cost_per_trade)
    out = features[KEYS + ML_FEATURES].merge(regimes[KEYS + ["regime"]], on=KEYS, how="left")
    out["regime"] = out["regime"].fillna("unknown")
    out = out.merge(labels[KEYS + ["label_end", "net_return", "label"]], on=KEYS, how="left")
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True)
