"""Hourly features of the perps and the rule-based regime (trend / range / high-vol / crash).

The face of ``quant.features``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.features.hourly import (
    FEATURE_COLUMNS,
    FEATURE_LOOKBACK_H,
    FeatureParams,
    compute_features,
)
from quant.features.regime import (
    LABELS,
    REGIME_COLUMNS,
    RegimeParams,
    calm_market,
    label,
    regime_scores,
)

__all__ = [
    "FEATURE_COLUMNS",
    "FEATURE_LOOKBACK_H",
    "FeatureParams",
    "LABELS",
    "REGIME_COLUMNS",
    "RegimeParams",
    "calm_market",
    "compute_features",
    "label",
    "regime_scores",
]
