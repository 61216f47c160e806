"""Walk-forward folds (``quant.ml.folds``): no training row's label reaches into its fold, on the real data's hours."""

from __future__ import annotations

import pandas as pd
import pytest

from quant.ml.folds import walk_forward
from quant.ml.labels import forward_labels
from resources.exchange.replay import SAMPLE_WINDOWS

HOUR = pd.Timedelta(hours=1)


def data_hours() -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        [h for a, b in SAMPLE_WINDOWS for h in pd.date_range(a, b, freq="h", inclusive="left")]
    )


@pytest.mark.parametrize("freq", ["W", "MS"])
@pytest.mark.parametrize(("horizon_h", "embargo_h"), [(1, 0), (4, None), (24, 12)])
@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
def test_no_training_row_overlaps_its_evaluation_window(freq, horizon_h, embargo_h, scheme):
    hours = data_hours()
    folds = walk_forward(hours, horizon_h=horizon_h, embargo_h=embargo_h, freq=freq, scheme=scheme,
                         train_hours=24 * 30 if scheme == "rolling" else None)
    embargo = horizon_h if embargo_h is None else embargo_h
    closes = pd.DataFrame({"hour": hours, "venue": "binance", "symbol": "BTC/USDT:USDT", "close": 100.0})
    label_end = forward_labels(closes, horizon_h=horizon_h).set_index("hour")["label_end"]
    assert sum(len(f.test_hours) for f in folds) == len(hours)  # every data hour is predicted exactly once
    for f in folds:
        if f.train_hours.empty:
            continue
        # purge: every training label ends before the fold's first hour; embargo: a further gap
        assert label_end.reindex(f.train_hours).max() < f.test_start
        assert f.train_hours.max() + (horizon_h + embargo) * HOUR < f.test_start
        assert not f.train_hours.isin(f.test_hours).any()
        if scheme == "rolling":
            assert len(f.train_hours) <= 24 * 30


def test_weekly_folds_by_hand():
    hours = pd.date_range("2026-02-02", "2026-02-23", freq="h", tz="UTC", inclusive="left")  # three Mondays
    folds = walk_forward(hours, horizon_h=4, freq="W", min_train_hours=100)
    assert [f.name for f in folds] == ["2026-02-02", "2026-02-09", "2026-02-16"]
    first, second = folds[0], folds[1]
    assert not first.trainable
    assert first.skip_reason.startswith("only 0 training hours before 2026-02-02 00:00 UTC")
    # fold 2 starts 2026-02-09 00:00; horizon 4 + embargo 4: the last training hour is 2026-02-08 15:00
    assert second.train_hours.max() == pd.Timestamp("2026-02-08 15:00", tz="UTC")
    assert len(second.train_hours) == 168 - 8
    assert second.trainable


def test_the_withheld_months_are_no_data_not_training_hours():
    folds = walk_forward(data_hours(), horizon_h=4, freq="MS")
    jan = next(f for f in folds if f.name == "2026-01-01")
    assert jan.train_hours.max() < pd.Timestamp("2025-10-01", tz="UTC")
    assert len(jan.test_hours) == 17 * 24  # 2026-01-15 .. 01-31


def test_bad_settings_are_refused():
    hours = pd.date_range("2026-02-02", periods=48, freq="h", tz="UTC")
    with pytest.raises(ValueError, match="freq"):
        walk_forward(hours, horizon_h=4, freq="D")
    with pytest.raises(ValueError, match="rolling scheme needs train_hours"):
        walk_forward(hours, horizon_h=4, scheme="rolling")
    with pytest.raises(ValueError, match="horizon_h"):
        walk_forward(hours, horizon_h=0)
