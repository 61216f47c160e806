"""Trailing-window kernels of the hourly features: each window reduced on its own, NaN unless complete.

Sums add the window's terms oldest first from 0.0 (:func:`window_reduce`). On 2-D arrays the sum
and the centred products run as compiled loops that do exactly those additions, element by
element, instead of ``w`` passes over whole arrays: the same bits, without the temporaries.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit


def lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    out[k:] = x[: x.shape[0] - k]
    return out


def window_reduce(shape: tuple[int, ...], w: int, term: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """``Σ_k term(k, n)`` for k = 0…w−1, where ``term(k, n)`` is the k-th oldest element of the
    n complete windows; rows before the first complete window are NaN."""
    out = np.full(shape, np.nan)
    n = shape[0] - w + 1
    if n > 0:
        acc = np.zeros((n, *shape[1:]))
        for k in range(w):
            acc += term(k, n)
        out[w - 1 :] = acc
    return out


def window_sum(x: np.ndarray, w: int) -> np.ndarray:
    if x.ndim == 2 and x.dtype == np.float64:
        return _sum_2d(x, w)
    return window_reduce(x.shape, w, lambda k, n: x[k : k + n])


@njit(cache=True)
def _sum_2d(x: np.ndarray, w: int) -> np.ndarray:
    rows, cols = x.shape
    out = np.full((rows, cols), np.nan)
    for t in range(w - 1, rows):
        for j in range(cols):
            acc = 0.0
            for k in range(t - w + 1, t + 1):
                acc += x[k, j]
            out[t, j] = acc
    return out


@njit(cache=True)
def _centred_2d(a: np.ndarray, b: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray, w: int) -> np.ndarray:
    rows, cols = a.shape
    out = np.full((rows, cols), np.nan)
    for t in range(w - 1, rows):
        for j in range(cols):
            ma, mb = mean_a[t - w + 1, j], mean_b[t - w + 1, j]
            acc = 0.0
            for k in range(t - w + 1, t + 1):
                acc += (a[k, j] - ma) * (b[k, j] - mb)
            out[t, j] = acc
    return out


def window_mean(x: np.ndarray, w: int) -> np.ndarray:
    return window_sum(x, w) / w


def centred_products(a: np.ndarray, b: np.ndarray, w: int) -> np.ndarray:
    """``Σ (a − ā)(b − b̄)`` over each window, two-pass (window means first)."""
    mean_a, mean_b = window_mean(a, w)[w - 1 :], window_mean(b, w)[w - 1 :]
    shape = np.broadcast_shapes(a.shape, b.shape)
    if len(shape) == 2 and shape[0] >= w:
        a2, b2, ma, mb = (np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), (len(v), shape[1])))
                          for v in (a, b, mean_a, mean_b))
        return _centred_2d(a2, b2, ma, mb, w)
    return window_reduce(shape, w, lambda k, n: (a[k : k + n] - mean_a) * (b[k : k + n] - mean_b))


def window_std(x: np.ndarray, w: int) -> np.ndarray:
    return np.sqrt(centred_products(x, x, w) / (w - 1))


def window_extreme(x: np.ndarray, w: int, pick: Callable[..., np.ndarray]) -> np.ndarray:
    """Max or min of each window (exact whatever the order; NaN if any element is NaN)."""
    out = np.full(x.shape, np.nan)
    if x.shape[0] >= w:
        out[w - 1 :] = pick(np.lib.stride_tricks.sliding_window_view(x, w, axis=0), axis=-1)
    return out


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is not positive (degenerate) or unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def flag(condition: np.ndarray, known: np.ndarray) -> np.ndarray:
    """1.0 / 0.0 where ``known`` is a number, NaN elsewhere."""
    return np.where(np.isnan(known), np.nan, condition.astype("float64"))

