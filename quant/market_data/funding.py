"""Funding settlements: the settlement grid, interval inference and annualisation.

Exchanges stamp a settlement a few milliseconds after the grid time (``16:00:00.003``). Perpetua
aligns every settlement explicitly to the grid (CONVENTIONS "Numbers") and keeps the offset so a
quality check can prove the row really is a settlement and not a mis-stamped event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365
#: A raw settlement may sit at most this far from its grid hour (Binance jitter is < 20 ms).
SNAP_TOLERANCE = pd.Timedelta(seconds=60)
#: Intervals the venues use: Hyperliquid 1h, Binance 4h/8h, Bybit 8h (and 1h/2h on some listings).
KNOWN_INTERVALS_H = (1.0, 2.0, 4.0, 8.0)


def infer_interval_hours(ts: pd.Series) -> pd.Series:
    """Hours between each settlement and the previous one, rounded to a whole hour.

    The first settlement of a series takes the spacing to the next one: venues publish their
    schedule in advance, so that interval is known at the first settlement too.

    Parameters
    ----------
    ts : pd.Series
        Settlement timestamps of ONE (venue, symbol), sorted ascending.

    Returns
    -------
    pd.Series of float hours, same index; NaN for a lone settlement.
    """
    gaps = ts.diff().dt.total_seconds() / 3600.0
    hours = gaps.round()
    if len(hours) > 1:
        hours.iloc[0] = hours.iloc[1]
    return hours.astype("float64")


def snap_to_grid(raw_ts: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Round raw settlement timestamps to the nearest hour.

    Returns
    -------
    (snapped, offset_ms) : the grid timestamp and ``raw - snapped`` in milliseconds.
    """
    snapped = raw_ts.dt.round("h")
    offset_ms = (raw_ts - snapped).dt.total_seconds() * 1000.0
    return snapped, offset_ms


def on_settlement_grid(snapped: pd.Series, offset_ms: pd.Series, interval_hours: pd.Series) -> pd.Series:
    """True where a settlement sits on its interval's grid (00:00 + k·interval) within tolerance.

    A NaN or unknown interval is never on the grid.
    """
    hour = snapped.dt.hour.astype("float64")
    known = interval_hours.isin(KNOWN_INTERVALS_H)
    with np.errstate(invalid="ignore", divide="ignore"):
        aligned = np.mod(hour, interval_hours.where(known, np.nan)) == 0
    close = offset_ms.abs() <= SNAP_TOLERANCE.total_seconds() * 1000.0
    return (known & aligned & close).astype(bool)


def annualise(rate_per_interval: pd.Series | float, interval_hours: pd.Series | float) -> pd.Series | float:
    """APR of a per-interval funding rate: ``rate × (24 / interval_hours) × 365``.

    >>> annualise(0.0001, 8.0)  # 1 bp per 8h
    0.1095
    """
    return rate_per_interval * (HOURS_PER_DAY / interval_hours) * DAYS_PER_YEAR
