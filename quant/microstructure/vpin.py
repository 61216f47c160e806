"""VPIN array kernels (Easley, López de Prado, O'Hara 2012), numba-compiled.

"Flow Toxicity and Liquidity in a High-frequency World", Review of Financial Studies 25(5):
bulk-volume classification, equal-volume buckets, VPIN over a window of buckets, and the array
cores of the tick VPIN (numbers in, numbers out). The frame API (``vpin_bvc``, ``vpin_aggressor``,
``vpin_kline``) lives in :mod:`quant.microstructure`, which re-exports the public names here.
Inputs are validated as :mod:`quant.microstructure.bars` describes (bad input raises ValueError).

Bucket sizes and their checks live in :mod:`quant.microstructure.calibration`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from quant.microstructure.bars import DEFAULT_BAR_SECONDS, _bar_ns, _bars, _non_negative, _trades
from quant.microstructure.calibration import (
    DEFAULT_BUCKETS_PER_DAY,
    DEFAULT_WINDOW,
    _check_bucket,
    _check_window,
    bucket_size,
)

SQRT2 = math.sqrt(2.0)


class VpinBuckets(NamedTuple):
    """One entry per completed bucket: end time (ns), buy and sell USD, imbalance, VPIN; then the sigma
    (BVC), the bucket in USD and, for BVC, the mean non-empty bars per bucket (NaN per trade)."""

    end_ns: np.ndarray
    buy_usd: np.ndarray
    sell_usd: np.ndarray
    imbalance: np.ndarray
    vpin: np.ndarray
    sigma: float
    bucket_usd: float = math.nan
    bars_per_bucket: float = math.nan


def _empty(sigma: float, bucket_usd: float) -> VpinBuckets:
    e = np.empty(0)
    return VpinBuckets(np.empty(0, np.int64), e, e, e, e, sigma, bucket_usd)


@njit(cache=True)
def _phi_ratio(dlogp: np.ndarray, sigma: float) -> np.ndarray:
    """Phi(d / sigma) = erfc(-d / (sigma sqrt 2)) / 2, accurate in both tails; NaN unless sigma > 0 finite."""
    out = np.full(dlogp.size, np.nan)
    if 0.0 < sigma < np.inf:
        for i in range(dlogp.size):
            out[i] = 0.5 * math.erfc(-(dlogp[i] / sigma) / SQRT2)
    return out


def bvc_buy_fraction(dlogp: np.ndarray, sigma: float) -> np.ndarray:
    """Bulk-volume classification: buy share of a bar's volume ``Phi(dlogp / sigma)`` (ELO 2012).

    NaN everywhere when ``sigma`` is not a positive finite number (no price variation).
    """
    return _phi_ratio(np.ascontiguousarray(dlogp, dtype=np.float64), float(sigma))


@njit(cache=True)
def _fill_buckets(volume: np.ndarray, buy_fraction: np.ndarray, bucket: float) -> tuple:
    """Pour bars into equal-volume buckets in order, splitting a bar across a boundary pro rata."""
    cap = int(volume.sum() / bucket * (1.0 + 1e-9)) + 2
    end_idx = np.empty(cap, np.int64)
    buy = np.empty(cap)
    sell = np.empty(cap)
    room, b, s, k = bucket, 0.0, 0.0, 0
    for i in range(volume.size):
        v, f = volume[i], buy_fraction[i]
        while v >= room and k < cap:  # this bar fills the open bucket: close it, carry the rest
            b += f * room
            s += (1.0 - f) * room
            v -= room
            end_idx[k], buy[k], sell[k] = i, b, s
            k += 1
            room, b, s = bucket, 0.0, 0.0
        if v > 0.0:
            b += f * v
            s += (1.0 - f) * v
            room -= v
    return end_idx[:k].copy(), buy[:k].copy(), sell[:k].copy()


@njit(cache=True, fastmath=True)
def _notional(price: np.ndarray, qty: np.ndarray) -> float:
    """Total USD traded, for the ADV estimate and the bucket-count guard (validated finite input, so
    fastmath may reorder the sum); a loop, as ``price @ qty`` would wake BLAS threads for one dot product."""
    total = 0.0
    for i in range(price.size):
        total += price[i] * qty[i]
    return total


def volume_buckets(
    volume_usd: np.ndarray, buy_fraction: np.ndarray, bucket_usd: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-volume buckets (ELO 2012): ``(end_index, buy_usd, sell_usd)`` per COMPLETED bucket.

    ``end_index`` is the bar that completed the bucket; the unfinished last bucket is dropped. A
    bar straddling a boundary contributes its volume to each bucket pro rata at its buy fraction.
    """
    vol = _non_negative("volume", volume_usd)
    frac = np.ascontiguousarray(buy_fraction, dtype=np.float64)
    if frac.shape != vol.shape:
        raise ValueError("volume and buy_fraction must have the same length")
    return _fill_buckets(vol, frac, _check_bucket(bucket_usd, vol.sum()))


@njit(cache=True)
def _window_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Running sum of the finite values and a count of the others, re-summed exactly every ``window``
    steps so rounding cannot drift; a window holding any NaN or inf gives NaN."""
    out = np.full(x.size, np.nan)
    total, bad = 0.0, 0
    for k in range(x.size):
        if k % window == 0:
            total, bad = 0.0, 0
            for j in range(max(0, k - window + 1), k + 1):
                if math.isfinite(x[j]):
                    total += x[j]
                else:
                    bad += 1
        else:
            if math.isfinite(x[k]):
                total += x[k]
            else:
                bad += 1
            if k >= window and math.isfinite(x[k - window]):
                total -= x[k - window]
            elif k >= window:
                bad -= 1
        if k >= window - 1 and bad == 0:
            out[k] = total / window
    return out


def vpin_series(imbalance: np.ndarray, window: int) -> np.ndarray:
    """VPIN_k = mean of ``imbalance`` over buckets k-window+1..k (ELO 2012).

    NaN for k < window - 1 and for any window holding a NaN (e.g. unclassifiable bars); O(n).
    """
    return _window_mean(np.ascontiguousarray(imbalance, dtype=np.float64), _check_window(window))


@njit(cache=True)
def _bucketed(end_ns: np.ndarray, volume: np.ndarray, frac: np.ndarray, bucket: float, window: int) -> tuple:
    """Buckets, imbalance |buy - sell| / bucket and VPIN in one compiled call."""
    idx, buy, sell = _fill_buckets(volume, frac, bucket)
    imbalance = np.abs(buy - sell) / bucket
    return end_ns[idx], buy, sell, imbalance, _window_mean(imbalance, window)


@njit(cache=True)
def _sample_std(x: np.ndarray) -> float:
    """Two-pass sample standard deviation (ddof 1); NaN below two values."""
    n = x.size
    if n < 2:
        return np.nan
    mean = x.sum() / n
    ss = 0.0
    for v in x:
        ss += (v - mean) ** 2
    return math.sqrt(ss / (n - 1))


@njit(cache=True)
def _bvc(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray, bar_ns: int, bucket: float, window: int,
         sigma: float, estimate: bool) -> tuple:
    """Time bars -> Phi(dlog p / sigma) -> buckets -> VPIN, one compiled call; sigma estimated if asked."""
    end, last, notional, _, _ = _bars(ts_ns, price, qty, np.zeros(ts_ns.size, np.bool_), bar_ns)
    dlogp = np.diff(np.log(last))
    sig = _sample_std(dlogp) if estimate else sigma
    end_b, buy, sell, imbalance, vpin = _bucketed(end[1:], notional[1:], _phi_ratio(dlogp, sig), bucket, window)
    classified = notional[1:].sum()
    bars_per_bucket = (notional.size - 1) * bucket / classified if classified > 0.0 else np.nan
    return end_b, buy, sell, imbalance, vpin, sig, bucket, bars_per_bucket


def _span(ns: np.ndarray) -> int:
    return int(ns[-1] - ns[0]) if ns.size else 0


def vpin_bvc_arrays(
    ts_ns: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    *,
    bucket_usd: float | None = None,
    daily_volume_usd: float | None = None,
    buckets_per_day: float = DEFAULT_BUCKETS_PER_DAY,
    window: int = DEFAULT_WINDOW,
    bar_seconds: float = DEFAULT_BAR_SECONDS,
    sigma: float | None = None,
) -> VpinBuckets:
    """Array core of :func:`vpin_bvc` (same parameters), one compiled call after validation.

    Parameters
    ----------
    ts_ns : np.ndarray
        Trade times, int64 nanoseconds since the epoch, non-decreasing.
    price, qty : np.ndarray
        USD per unit (> 0) and base units (>= 0).

    Returns
    -------
    VpinBuckets: bucket end times (ns), buy/sell USD, imbalance, VPIN, the sigma, the bucket used
    and the mean bars per bucket; no buckets (bucket NaN) when the ADV is unknown.
    """
    ns, p, q = _trades(ts_ns, price, qty)
    bar_ns, n = _bar_ns(bar_seconds), _check_window(window)
    bucket = bucket_size(_notional(p, q), _span(ns), bucket_usd=bucket_usd, daily_volume_usd=daily_volume_usd,
                         buckets_per_day=buckets_per_day)
    sig = math.nan if sigma is None else float(sigma)
    if math.isnan(bucket):
        return _empty(sig, bucket)
    return VpinBuckets(*_bvc(ns, p, q, bar_ns, bucket, n, sig, sigma is None))


@njit(cache=True)
def _aggressor(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray, sold: np.ndarray, bucket: float,
               window: int) -> tuple:
    buy = np.empty(ts_ns.size)
    for i in range(ts_ns.size):
        buy[i] = 0.0 if sold[i] else 1.0
    return _bucketed(ts_ns, price * qty, buy, bucket, window)


def vpin_aggressor_arrays(
    ts_ns: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    is_buyer_maker: np.ndarray,
    *,
    bucket_usd: float | None = None,
    daily_volume_usd: float | None = None,
    buckets_per_day: float = DEFAULT_BUCKETS_PER_DAY,
    window: int = DEFAULT_WINDOW,
) -> VpinBuckets:
    """Array core of :func:`vpin_aggressor`; ``is_buyer_maker`` True = the aggressor sold.

    Each trade's whole notional is on its aggressor's side; a trade crossing a bucket boundary
    is split, the part beyond the boundary opening the next bucket (several, for a large one).
    """
    ns, p, q = _trades(ts_ns, price, qty)
    sold = np.ascontiguousarray(is_buyer_maker, dtype=np.bool_)
    if sold.shape != ns.shape:
        raise ValueError("is_buyer_maker must have one entry per trade")
    n = _check_window(window)
    bucket = bucket_size(_notional(p, q), _span(ns), bucket_usd=bucket_usd, daily_volume_usd=daily_volume_usd,
                         buckets_per_day=buckets_per_day)
    if math.isnan(bucket):
        return _empty(math.nan, bucket)
    return VpinBuckets(*_aggressor(ns, p, q, sold, bucket, n), math.nan, bucket)
