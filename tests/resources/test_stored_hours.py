"""``stored_hours``: what storage holds, read from the day files' stored-hours records alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from resources.storage import CorruptPartitionError, stored_hours, write_hours

DAY = pd.Timestamp("2025-09-24 00:00", tz="UTC")


def _store(root: str, hours: pd.DatetimeIndex, *, with_rows: bool = True) -> None:
    frame = pd.DataFrame({"hour": hours, "x": range(len(hours))}) if with_rows else pd.DataFrame(
        {"hour": pd.Series([], dtype="datetime64[ns, UTC]"), "x": pd.Series([], dtype="int64")})
    write_hours(root, "ledger_1h", hours, frame)


def test_lists_every_stored_hour_across_days_including_empty_ones(tmp_path: Path) -> None:
    root = str(tmp_path)
    late = pd.date_range(DAY + pd.Timedelta(hours=22), periods=4, freq="h")  # 22:00 .. 01:00 the next day
    _store(root, late)
    _store(root, pd.DatetimeIndex([DAY + pd.Timedelta(hours=3)]), with_rows=False)  # stored with no rows
    got = stored_hours(root, "ledger_1h")
    assert list(got) == [DAY + pd.Timedelta(hours=3), *late]
    assert str(got.dtype) == "datetime64[ns, UTC]"


def test_start_and_end_bound_the_hours_half_open(tmp_path: Path) -> None:
    root = str(tmp_path)
    hours = pd.date_range(DAY, periods=48, freq="h")
    _store(root, hours)
    got = stored_hours(root, "ledger_1h", DAY + pd.Timedelta(hours=23), DAY + pd.Timedelta(hours=25))
    assert list(got) == [DAY + pd.Timedelta(hours=23), DAY + pd.Timedelta(hours=24)]
    assert list(stored_hours(root, "ledger_1h", end=DAY + pd.Timedelta(hours=2))) == list(hours[:2])
    assert list(stored_hours(root, "ledger_1h", start=DAY + pd.Timedelta(hours=46))) == list(hours[46:])


def test_nothing_stored_is_an_empty_index(tmp_path: Path) -> None:
    assert stored_hours(str(tmp_path), "ledger_1h").empty
    (tmp_path / "ledger_1h").mkdir()
    (tmp_path / "ledger_1h" / ".write.lock").touch()
    (tmp_path / "ledger_1h" / "notes.parquet").write_bytes(b"not a day")  # not a day file: ignored
    assert stored_hours(str(tmp_path), "ledger_1h").empty


def test_a_day_file_with_a_broken_footer_is_corrupt(tmp_path: Path) -> None:
    root = str(tmp_path)
    _store(root, pd.date_range(DAY, periods=2, freq="h"))
    (tmp_path / "ledger_1h" / "2025-09-24.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(CorruptPartitionError, match="2025-09-24.parquet"):
        stored_hours(root, "ledger_1h")
    # a day outside the bounds is not opened
    assert stored_hours(root, "ledger_1h", start=DAY + pd.Timedelta(days=1)).empty


def test_works_on_an_fsspec_root() -> None:
    root = f"memory://stored-hours-{uuid.uuid4().hex}"
    _store(root, pd.date_range(DAY, periods=3, freq="h"))
    assert len(stored_hours(root, "ledger_1h")) == 3
