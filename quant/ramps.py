"""The linear ramp every rule-based score in Perpetua is built from (cascade, regimes)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def linear_ramp(x: ArrayLike, zero_at: float, one_at: float) -> np.ndarray:
    """0 at or before ``zero_at``, 1 at or beyond ``one_at``, linear between; NaN stays NaN.

    ``one_at < zero_at`` gives a falling ramp (used for volatility compression).
    """
    if zero_at == one_at:
        raise ValueError("a ramp needs two distinct end points")
    return np.clip((np.asarray(x, dtype="float64") - zero_at) / (one_at - zero_at), 0.0, 1.0)
