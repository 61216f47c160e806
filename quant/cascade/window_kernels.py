"""Compiled trailing-window reductions of the cascade score, the same numbers as its numpy windows.

``quant.cascade.score`` reduces ``trailing_windows`` views ((hours × instruments × window) in
numpy, several GB at two years × 100 instruments × 168 hours). These kernels walk each window in
place instead:

* counts (observed hours, values at or below the current one) are integers, so any order gives
  the same numbers;
* the sum of squared returns adds the window's values oldest first, which is the order numpy's
  ``nansum`` over a (hours × instruments × window) view of a C-ordered array with two or more
  instruments uses (it accumulates the window axis one step at a time; NaN adds 0). With one
  instrument numpy sums pairwise instead, so the caller keeps its numpy path there.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def window_sum_squares(r: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, column): Σ r² over the ``window`` rows ending at the row (NaN adds 0, oldest first) and the count of finite r."""
    rows, cols = r.shape
    total = np.empty((rows, cols))
    count = np.zeros((rows, cols), dtype=np.int64)
    for j in range(cols):
        for t in range(rows):
            acc = 0.0
            n = 0
            for k in range(window):
                i = t - window + 1 + k
                v = r[i, j] * r[i, j] if i >= 0 else np.nan
                if v != v:
                    v = 0.0
                else:
                    n += 1
                acc = v if k == 0 else acc + v
            total[t, j] = acc
            count[t, j] = n
    return total, count


@njit(cache=True)
def window_rank_counts(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, column): how many of the ``window`` values ending at the row are <= the row's value, and how many are finite."""
    rows, cols = values.shape
    below = np.zeros((rows, cols), dtype=np.int64)
    count = np.zeros((rows, cols), dtype=np.int64)
    for j in range(cols):
        for t in range(rows):
            now = values[t, j]
            b = 0
            n = 0
            for i in range(max(t - window + 1, 0), t + 1):
                v = values[i, j]
                if np.isfinite(v):
                    n += 1
                if v <= now:
                    b += 1
            below[t, j] = b
            count[t, j] = n
    return below, count


def observed_counts(values: np.ndarray, window: int) -> np.ndarray:
    """Finite values among the ``window`` rows ending at each row (float); NaN until a whole window exists."""
    seen = np.cumsum(np.isfinite(values), axis=0, dtype="int64")
    out = np.full(values.shape, np.nan)
    out[window - 1:] = seen[window - 1:] - np.concatenate([np.zeros((1, *values.shape[1:]), "int64"), seen[:-window]])
    return out
