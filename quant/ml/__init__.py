"""The ML sleeve (hourly spot, long only): labels net of costs and walk-forward folds with purge and embargo.

The face of ``quant.ml``; models, the stacking meta-learner and sizing come next (issue 10).
"""

from __future__ import annotations

from quant.ml.folds import Fold, walk_forward
from quant.ml.labels import COST_PER_TRADE, LABEL_COLUMNS, forward_labels, net_return

__all__ = ["COST_PER_TRADE", "LABEL_COLUMNS", "Fold", "forward_labels", "net_return", "walk_forward"]
