"""The ML sleeve (hourly spot, long only): labels net of costs, walk-forward folds with purge and embargo,
and each fold's ensemble (five base models, a regime classifier, a stacking meta-learner).

The face of ``quant.ml``; the fold assets, predictions, sizing and the report come next (issue 10).
"""

from __future__ import annotations

from quant.ml.folds import Fold, walk_forward
from quant.ml.labels import COST_PER_TRADE, LABEL_COLUMNS, forward_labels, net_return
from quant.ml.models import BASE_MODELS, EnsembleConfig, FoldPredictions, fit_predict

__all__ = [
    "BASE_MODELS", "COST_PER_TRADE", "LABEL_COLUMNS", "EnsembleConfig", "Fold", "FoldPredictions",
    "fit_predict", "forward_labels", "net_return", "walk_forward",
]
