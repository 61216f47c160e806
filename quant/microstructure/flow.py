"""Order-flow imbalance (Cont, Kukanov, Stoikov 2014) and Kyle's lambda (Kyle 1985).

Cont, R., Kukanov, A., Stoikov, S. (2014), "The Price Impact of Order Book Events", Journal of
Financial Econometrics 12(1); Kyle, A. S. (1985), "Continuous Auctions and Insider Trading",
Econometrica 53(6). :mod:`quant.microstructure` re-exports the public names here.

Best quotes are one row per update with ``BOOK_COLUMNS``; trades are ``quant.frames.TRADES``.
Bad input (NaN or non-positive prices, negative sizes, decreasing timestamps) raises ValueError;
too little data gives an empty frame or NaN, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.microstructure.bars import (
    DEFAULT_BAR_SECONDS,
    _bar_ns,
    _non_negative,
    _positive,
    _sides,
    _trade_arrays,
    _utc,
    _utc_ns,
    time_bars,
)
from quant.microstructure.calibration import MAX_BUCKETS

BOOK_COLUMNS = ("ts", "bid_price", "bid_qty", "ask_price", "ask_qty")


@dataclass(frozen=True)
class KyleLambda:
    """OLS ``dP = intercept + slope * signed_volume``: ``slope`` in USD of price per base unit of
    net aggressor-buy volume; ``t_stat`` of the slope; NaN everywhere when degenerate."""

    slope: float
    intercept: float
    t_stat: float
    r_squared: float
    n_bars: int


# -- order-flow imbalance ---------------------------------------------------------------------------


def ofi_events(bid_price: np.ndarray, bid_qty: np.ndarray, ask_price: np.ndarray, ask_qty: np.ndarray) -> np.ndarray:
    """Order-flow contribution e_n of each best-quote update n >= 1 (Cont, Kukanov, Stoikov 2014).

    ``e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n
    + 1{Pa_n >= Pa_n-1} qa_n-1``, in base units; length N - 1 (the first update has no predecessor).
    """
    pb, pa = _positive("bid_price", bid_price), _positive("ask_price", ask_price)
    qb, qa = _non_negative("bid_qty", bid_qty), _non_negative("ask_qty", ask_qty)
    if not (pb.shape == qb.shape == pa.shape == qa.shape) or pb.ndim != 1:
        raise ValueError("bid/ask price and qty must be 1-D arrays of one length")
    return (
        (pb[1:] >= pb[:-1]) * qb[1:]
        - (pb[1:] <= pb[:-1]) * qb[:-1]
        - (pa[1:] <= pa[:-1]) * qa[1:]
        + (pa[1:] >= pa[:-1]) * qa[:-1]
    )


def ofi_buckets(book: pd.DataFrame, *, bucket_seconds: float = DEFAULT_BAR_SECONDS) -> pd.DataFrame:
    """OFI summed per epoch-aligned time bucket (Cont, Kukanov, Stoikov 2014).

    ``book`` holds ``BOOK_COLUMNS``, one row per best bid/ask update in time order. Each e_n goes to
    the bucket of update n's ``ts``. One row per bucket from the first to the last event, ``ts`` =
    bucket START: ``ofi`` (base units; a bucket without updates has OFI 0 by definition) and
    ``n_events``. Empty frame when there are fewer than two updates.
    """
    ts_ns = _utc_ns(book["ts"])
    e = ofi_events(book["bid_price"], book["bid_qty"], book["ask_price"], book["ask_qty"])
    if e.size == 0:
        return pd.DataFrame({"ts": _utc(np.empty(0, np.int64)), "ofi": np.empty(0), "n_events": np.empty(0, np.int64)})
    step = _bar_ns(bucket_seconds)
    ids = ts_ns[1:] // step
    rel = ids - ids[0]
    if rel[-1] >= MAX_BUCKETS:
        raise ValueError(f"bucket_seconds={bucket_seconds} makes more than {MAX_BUCKETS} buckets")
    return pd.DataFrame(
        {
            "ts": _utc((ids[0] + np.arange(rel[-1] + 1)) * step),
            "ofi": np.bincount(rel, weights=e),
            "n_events": np.bincount(rel).astype(np.int64),
        }
    )


# -- Kyle's lambda ----------------------------------------------------------------------------------


def ols_price_impact(signed_volume: np.ndarray, price_change: np.ndarray) -> KyleLambda:
    """OLS of ``price_change`` on ``signed_volume`` with intercept: slope, its t-stat and R².

    NaN fields (never 0) with fewer than 3 observations, any NaN, or zero variance in either
    variable. ``t_stat`` is +-inf for a perfect fit.
    """
    x = np.asarray(signed_volume, dtype=np.float64)
    y = np.asarray(price_change, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("signed_volume and price_change must have the same length")
    n = x.size
    nan = KyleLambda(math.nan, math.nan, math.nan, math.nan, n)
    if n < 3 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return nan
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = float((dx * dx).sum()), float((dy * dy).sum()), float((dx * dy).sum())
    if sxx <= 0 or syy <= 0:
        return nan
    slope = sxy / sxx
    resid = dy - slope * dx
    ssr = float((resid * resid).sum())
    se = math.sqrt(ssr / (n - 2) / sxx)
    t_stat = slope / se if se > 0 else math.copysign(math.inf, slope)
    return KyleLambda(slope, float(y.mean() - slope * x.mean()), t_stat, 1.0 - ssr / syy, n)


def kyle_lambda(trades: pd.DataFrame, *, bar_seconds: float = DEFAULT_BAR_SECONDS) -> KyleLambda:
    """Kyle's (1985) lambda: price impact per unit of net order flow, estimated over time bars.

    ``Delta P_i`` = last price of bar i minus that of the previous non-empty bar (USD);
    ``signed_volume_i`` = aggressive buys minus sells in bar i (base units); OLS slope via
    :func:`ols_price_impact`. NaN with fewer than 3 usable bars or no variation.
    """
    ts_ns, price, qty = _trade_arrays(trades)
    bars = time_bars(ts_ns, price, qty, _sides(trades), bar_seconds)
    return ols_price_impact(bars.signed_qty[1:], np.diff(bars.last_price))
