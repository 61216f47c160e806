"""The ML sleeve (hourly spot, long only): labels net of costs, walk-forward folds with purge and embargo,
each fold's ensemble (five base models, a regime classifier, a stacking meta-learner), versioned
artifacts, the prediction table, the sleeve's sizing and its out-of-sample scores.

The face of ``quant.ml``: the assets (``assets/ml.py``) and the book (``quant.book.wants``) import from here
or from the module named.
"""

from __future__ import annotations

from quant.ml.artifacts import ArtifactError, artifact_record, code_version
from quant.ml.dataset import ML_FEATURES, learning_rows
from quant.ml.folds import Fold, walk_forward
from quant.ml.labels import COST_PER_TRADE, LABEL_COLUMNS, forward_labels, net_return
from quant.ml.metrics import fold_metrics, sharpe, trade_returns
from quant.ml.models import BASE_MODELS, Ensemble, EnsembleConfig, FoldPredictions, fit, fit_predict, predict
from quant.ml.predictions import PREDICTION_COLUMNS, PREDICTION_DTYPES, STATUS_OK, prediction_rows
from quant.ml.sizing import MlSleeveParams, ml_strength, ml_targets

__all__ = [
    "BASE_MODELS", "COST_PER_TRADE", "LABEL_COLUMNS", "ML_FEATURES", "PREDICTION_COLUMNS", "PREDICTION_DTYPES",
    "STATUS_OK", "ArtifactError", "Ensemble", "EnsembleConfig", "Fold", "FoldPredictions", "MlSleeveParams",
    "artifact_record", "code_version", "fit", "fit_predict", "fold_metrics", "forward_labels", "learning_rows",
    "ml_strength", "ml_targets", "net_return", "predict", "prediction_rows", "sharpe", "trade_returns", "walk_forward",
]
