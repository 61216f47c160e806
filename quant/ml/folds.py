"""Walk-forward folds: each fold's models learn only from hours strictly before it, purged and embargoed.

A fold is one calendar week (Monday 00:00 UTC to the next Monday; ``freq="W"``) or month
(``freq="MS"``) of the hours that have data, named by its first day (``2026-02-02``: the key of its
partition of ``ml_fold_models``, weekly — ``resources.partitions.FOLDS``). Its training hours are the data's hours before the
fold whose label ends before the fold starts (the **purge**: a label at t uses prices up to
t + horizon), minus a further **embargo** of ``embargo_h`` hours before the fold (serial correlation
of features and returns across the boundary). ``scheme="expanding"`` trains on everything before;
``"rolling"`` on the last ``train_hours`` of it. No training hour is at or after the fold's start,
none's label reaches into it, and no static train/test split exists.

A fold with fewer than ``min_train_hours`` training hours says so (``skip_reason``) and must
produce no model and no orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quant.market_data.tables import HOUR

FREQUENCIES = {"W": "W-MON", "MS": "MS"}
SCHEMES = ("expanding", "rolling")


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on ``train_hours``, predict ``test_hours``."""

    name: str
    test_start: pd.Timestamp
    test_end: pd.Timestamp  # exclusive
    test_hours: pd.DatetimeIndex
    train_hours: pd.DatetimeIndex
    skip_reason: str | None = None

    @property
    def trainable(self) -> bool:
        return self.skip_reason is None


def walk_forward(
    hours: pd.DatetimeIndex,
    *,
    horizon_h: int,
    embargo_h: int | None = None,
    freq: str = "W",
    scheme: str = "expanding",
    train_hours: int | None = None,
    min_train_hours: int = 24 * 14,
) -> list[Fold]:
    """The folds over ``hours`` (the hours that have data, UTC, any order, gaps allowed).

    ``embargo_h`` defaults to ``horizon_h`` (purge + embargo = twice the label horizon).
    """
    if freq not in FREQUENCIES:
        raise ValueError(f"freq must be one of {sorted(FREQUENCIES)}, got {freq!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "rolling" and (train_hours is None or train_hours < 1):
        raise ValueError("a rolling scheme needs train_hours >= 1")
    if horizon_h < 1:
        raise ValueError(f"horizon_h must be >= 1, got {horizon_h}")
    embargo_h = horizon_h if embargo_h is None else embargo_h
    if embargo_h < 0:
        raise ValueError(f"embargo_h must be >= 0, got {embargo_h}")
    hours = pd.DatetimeIndex(hours).sort_values().unique()
    if hours.empty:
        return []
    # Fold boundaries: the calendar periods that contain data hours.
    periods = hours.tz_convert("UTC").tz_localize(None).to_period("W-SUN" if freq == "W" else "M")
    folds = []
    for period in periods.unique():
        start = pd.Timestamp(period.start_time).tz_localize("UTC")
        end = pd.Timestamp(period.end_time).tz_localize("UTC").ceil("h")
        test = hours[(hours >= start) & (hours < end)]
        # purge: label_end = t + horizon must be < start; embargo: a further embargo_h hours
        cutoff = start - (horizon_h + embargo_h) * HOUR
        train = hours[hours < cutoff]
        if scheme == "rolling":
            train = train[-train_hours:]
        reason = None
        if len(train) < min_train_hours:
            reason = f"only {len(train)} training hours before {start:%Y-%m-%d %H:00} UTC, needs {min_train_hours}"
        folds.append(Fold(f"{start:%Y-%m-%d}", start, end, test, train, reason))
    return folds
