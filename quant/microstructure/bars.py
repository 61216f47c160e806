"""Trade validation and time bars shared by :mod:`quant.microstructure` and its VPIN module.

Trades are numbers: nanosecond timestamps (non-decreasing; exchanges stamp in ms so ties are
normal), prices in USD (finite, > 0), quantities in base units (finite, >= 0). Anything else raises
ValueError naming the column. Bars are epoch-aligned ``[k·bar, (k+1)·bar)`` labelled by their END,
the first instant they are known; empty bars are skipped, so a price change between consecutive
bars spans any gap back to the previous non-empty one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from numba import njit

NS_PER_SECOND = 1_000_000_000
#: Default time bar for bulk-volume classification and Kyle's lambda, and OFI bucket.
DEFAULT_BAR_SECONDS = 1.0
#: numpy's NaT as int64 nanoseconds (sorts first, so a sorted array can only hold it at index 0).
NAT = np.iinfo(np.int64).min


class Bars(NamedTuple):
    """Non-empty time bars: end time (ns), last price, USD notional, base qty, aggressor-signed qty."""

    end_ns: np.ndarray
    last_price: np.ndarray
    notional_usd: np.ndarray
    qty: np.ndarray
    signed_qty: np.ndarray


# -- validation (min/max reductions: one pass each, and NaN fails every comparison) ----------------


def _positive(name: str, values: object) -> np.ndarray:
    a = np.ascontiguousarray(values, dtype=np.float64)
    if a.size and not (a.min() > 0 and a.max() < math.inf):
        raise ValueError(f"{name} must be finite and positive (found NaN, inf or <= 0)")
    return a


def _non_negative(name: str, values: object) -> np.ndarray:
    a = np.ascontiguousarray(values, dtype=np.float64)
    if a.size and not (a.min() >= 0 and a.max() < math.inf):
        raise ValueError(f"{name} must be finite and non-negative (found NaN, inf or < 0)")
    return a


def _sorted_ns(values: object) -> np.ndarray:
    ns = np.ascontiguousarray(values, dtype=np.int64)
    if ns.size > 1 and (ns[1:] < ns[:-1]).any():
        raise ValueError("timestamps must be non-decreasing")
    if ns.size and ns[0] == NAT:
        raise ValueError("timestamps contain NaT")
    return ns


@njit(cache=True)
def _trade_flags(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray) -> tuple:
    """(time goes back, bad price, bad qty) in one branch-free pass each (NaN fails ``> 0``)."""
    back = bad_price = bad_qty = False
    for i in range(1, ts_ns.size):
        back |= ts_ns[i] < ts_ns[i - 1]
    for i in range(price.size):
        bad_price |= not (price[i] > 0.0) or price[i] == np.inf
    for i in range(qty.size):
        bad_qty |= not (qty[i] >= 0.0) or qty[i] == np.inf
    return back, bad_price, bad_qty


def _trades(ts_ns: object, price: object, qty: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated contiguous (ns, price, qty) arrays of one length."""
    ns = np.ascontiguousarray(ts_ns, dtype=np.int64)
    p = np.ascontiguousarray(price, dtype=np.float64)
    q = np.ascontiguousarray(qty, dtype=np.float64)
    if not (ns.shape == p.shape == q.shape) or ns.ndim != 1:
        raise ValueError("ts, price and qty must be 1-D arrays of one length")
    back, bad_price, bad_qty = _trade_flags(ns, p, q)
    if back:
        raise ValueError("timestamps must be non-decreasing")
    if bad_price:
        raise ValueError("price must be finite and positive (found NaN, inf or <= 0)")
    if bad_qty:
        raise ValueError("qty must be finite and non-negative (found NaN, inf or < 0)")
    if ns.size and ns[0] == NAT:
        raise ValueError("timestamps contain NaT")
    return ns, p, q


def _utc_ns(ts: pd.Series, check_sorted: bool = True) -> np.ndarray:
    """Nanoseconds since the epoch of a timezone-aware column (ValueError if naive or decreasing)."""
    if getattr(ts.dtype, "tz", None) is None:
        raise ValueError("timestamps must be timezone-aware UTC")
    ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return _sorted_ns(ns) if check_sorted else ns


def _trade_arrays(trades: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _trades(_utc_ns(trades["ts"], check_sorted=False), trades["price"].to_numpy(), trades["qty"].to_numpy())


def _sides(trades: pd.DataFrame) -> np.ndarray:
    side = trades["is_buyer_maker"]
    if side.dtype != np.bool_:
        raise ValueError(f"is_buyer_maker must be bool, got {side.dtype}")
    return side.to_numpy()


def _bar_ns(bar_seconds: float) -> int:
    if not (math.isfinite(bar_seconds) and bar_seconds > 0):
        raise ValueError(f"bar length must be positive seconds, got {bar_seconds}")
    return max(1, round(bar_seconds * NS_PER_SECOND))


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"), tz="UTC")


# -- bars and bulk-volume classification ----------------------------------------------------------


@njit(cache=True)
def _bars(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray, sell: np.ndarray, bar_ns: int) -> tuple:
    """One pass over sorted trades, sums kept in registers; a division only when a new bar opens."""
    n = ts_ns.size
    cap = min(n, ts_ns[-1] // bar_ns - ts_ns[0] // bar_ns + 1) if n else 0  # bars the span can hold
    end = np.empty(cap, np.int64)
    last, notional, volume, signed = np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap)
    k = -1
    bar_end = 0
    p = usd = base = net = 0.0
    for i in range(n):
        if k < 0 or ts_ns[i] >= bar_end:
            if k >= 0:
                end[k], last[k], notional[k], volume[k], signed[k] = bar_end, p, usd, base, net
            k += 1
            bar_end = (ts_ns[i] // bar_ns + 1) * bar_ns
            usd = base = net = 0.0
        p, q = price[i], qty[i]
        usd += p * q
        base += q
        net += -q if sell[i] else q
    if k >= 0:
        end[k], last[k], notional[k], volume[k], signed[k] = bar_end, p, usd, base, net
    k += 1
    return end[:k].copy(), last[:k].copy(), notional[:k].copy(), volume[:k].copy(), signed[:k].copy()


def time_bars(
    ts_ns: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    is_buyer_maker: np.ndarray | None = None,
    bar_seconds: float = DEFAULT_BAR_SECONDS,
) -> Bars:
    """Sorted trades (ns, USD, base qty) -> non-empty epoch-aligned bars, labelled by their end.

    ``signed_qty`` = aggressive buys minus sells (all buys when ``is_buyer_maker`` is None).
    """
    ns, p, q = _trades(ts_ns, price, qty)
    sell = np.zeros(ns.size, np.bool_) if is_buyer_maker is None else np.asarray(is_buyer_maker, dtype=np.bool_)
    if sell.shape != ns.shape:
        raise ValueError("is_buyer_maker must have one entry per trade")
    return Bars(*_bars(ns, p, q, sell, _bar_ns(bar_seconds)))
