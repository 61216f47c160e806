"""The partition set is the data's hours: both windows, the withheld months excluded, runs never span them."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from dagster import PartitionKeyRange, TimeWindow

from resources.partitions import (
    HOURLY,
    SAMPLE_WINDOWS,
    SpansNoDataError,
    split_by_windows,
    starts_a_window,
    window_of,
)
from resources.storage import contiguous_tail

UTC = "UTC"


def test_the_keys_are_exactly_the_windows_hours():
    keys = HOURLY.get_partition_keys()
    expected = [f"{h:%Y-%m-%d-%H:%M}" for a, b in SAMPLE_WINDOWS for h in pd.date_range(a, b, freq="h", inclusive="left")]
    assert keys == expected
    assert len(keys) == 6190
    assert keys[-1] == "2026-03-05-09:00"  # ends where the data ends, not at today
    assert "2025-11-15-00:00" not in keys  # the withheld months are no partitions at all


def test_a_run_across_the_gap_is_refused_naming_the_split():
    ctx = SimpleNamespace(partition_time_window=TimeWindow(pd.Timestamp("2025-09-30 00:00", tz=UTC),
                                                           pd.Timestamp("2026-01-16 00:00", tz=UTC)))
    with pytest.raises(SpansNoDataError, match="2025-09-30 00:00 .. 2025-09-30 23:00, 2026-01-15 00:00 .. 2026-01-15 23:00"):
        window_of(ctx)
    inside = SimpleNamespace(partition_time_window=TimeWindow(pd.Timestamp("2026-02-01", tz=UTC), pd.Timestamp("2026-02-08", tz=UTC)))
    assert window_of(inside) == (pd.Timestamp("2026-02-01", tz=UTC), pd.Timestamp("2026-02-08", tz=UTC))


def test_windows_split_and_the_book_restarts_only_after_the_gap():
    parts = split_by_windows(pd.Timestamp("2025-09-30 22:00", tz=UTC), pd.Timestamp("2026-01-15 02:00", tz=UTC))
    assert parts == [(pd.Timestamp("2025-09-30 22:00", tz=UTC), pd.Timestamp("2025-10-01 00:00", tz=UTC)),
                     (pd.Timestamp("2026-01-15 00:00", tz=UTC), pd.Timestamp("2026-01-15 02:00", tz=UTC))]
    assert split_by_windows(pd.Timestamp("2025-11-01", tz=UTC), pd.Timestamp("2025-12-01", tz=UTC)) == []
    assert starts_a_window(pd.Timestamp("2026-01-15 00:00", tz=UTC))
    assert not starts_a_window(pd.Timestamp("2025-03-06 12:00", tz=UTC))  # the very first hour has no earlier book
    assert not starts_a_window(pd.Timestamp("2026-01-15 01:00", tz=UTC))


def test_a_look_back_stops_at_the_gap():
    keys = HOURLY.get_partition_keys_in_range(PartitionKeyRange("2025-09-30-21:00", "2026-01-15-01:00"))
    window = pd.date_range("2025-09-30 21:00", "2026-01-15 02:00", freq="h", inclusive="left", tz=UTC)
    tail = contiguous_tail(window, keys)
    assert list(tail) == [pd.Timestamp("2026-01-15 00:00", tz=UTC), pd.Timestamp("2026-01-15 01:00", tz=UTC)]
    inside = pd.date_range("2026-02-01", periods=5, freq="h", tz=UTC)
    assert contiguous_tail(inside, [f"{h:%Y-%m-%d-%H:%M}" for h in inside]).equals(inside)
