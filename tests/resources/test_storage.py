"""resources.storage: splitting a window into hours, deterministic Parquet bytes, and reading the
hours back from a local folder and from a non-local (``memory://``) fsspec root."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from upath import UPath

from resources.storage import MissingPartitionError, frame_to_bytes, hour_path, read_hours, split_by_hour

T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
ASSET = "perp_ohlcv_1h"


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def window(n: int) -> pd.DatetimeIndex:
    return pd.date_range(T0, periods=n, freq="h", tz="UTC", unit="ns")


def rows() -> pd.DataFrame:
    """Rows of hours 2, 0 and 2 again (hour 1 has none), deliberately out of order."""
    return pd.DataFrame(
        {
            "hour": pd.Series([at(2), at(0), at(2)], dtype="datetime64[ns, UTC]"),
            "venue": pd.Series(["binance", "bybit", "bybit"], dtype="str"),
            "close": [101.5, 99.0, 101.25],
            "n": pd.Series([3, 1, 2], dtype="int64"),
        }
    )


def write(root: str, df: pd.DataFrame, hours: pd.DatetimeIndex) -> None:
    for hour, part in split_by_hour(df, hours):
        path = hour_path(root, ASSET, hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(frame_to_bytes(part))


# -- split_by_hour ----------------------------------------------------------------------------


def test_split_by_hour_puts_each_row_in_its_hour() -> None:
    parts = split_by_hour(rows(), window(3))
    assert [h for h, _ in parts] == [at(0), at(1), at(2)]
    by_hour = dict(parts)
    assert by_hour[at(0)]["venue"].tolist() == ["bybit"]
    # Rows keep their relative order within an hour (stable).
    assert by_hour[at(2)]["venue"].tolist() == ["binance", "bybit"]
    assert by_hour[at(2)]["close"].tolist() == [101.5, 101.25]
    assert by_hour[at(2)].index.tolist() == [0, 1]


def test_split_by_hour_empty_hour_keeps_the_columns_and_dtypes() -> None:
    empty = dict(split_by_hour(rows(), window(3)))[at(1)]
    assert len(empty) == 0
    assert empty.dtypes.to_dict() == rows().dtypes.to_dict()


def test_split_by_hour_empty_frame_gives_every_hour_an_empty_frame() -> None:
    parts = split_by_hour(rows().iloc[:0], window(2))
    assert [h for h, _ in parts] == [at(0), at(1)]
    assert all(len(p) == 0 and list(p.columns) == list(rows().columns) for _, p in parts)


def test_split_by_hour_row_outside_the_window_raises_naming_it() -> None:
    df = rows()
    df.loc[1, "hour"] = at(3)
    with pytest.raises(ValueError, match=r"row for hour 2025-09-01 03:00:00\+00:00 lies outside the window"):
        split_by_hour(df, window(3))


def test_split_by_hour_row_before_the_window_raises() -> None:
    df = rows()
    df.loc[0, "hour"] = at(-1)
    with pytest.raises(ValueError, match="2025-08-31 23:00:00"):
        split_by_hour(df, window(3))


def test_split_by_hour_needs_an_hour_column() -> None:
    with pytest.raises(ValueError, match="needs an 'hour' column"):
        split_by_hour(rows().rename(columns={"hour": "ts"}), window(3))


# -- frame_to_bytes ---------------------------------------------------------------------------


def test_frame_to_bytes_is_deterministic() -> None:
    assert frame_to_bytes(rows()) == frame_to_bytes(rows())
    assert frame_to_bytes(rows()) == frame_to_bytes(rows().copy())
    changed = rows()
    changed.loc[0, "close"] = 101.6
    assert frame_to_bytes(changed) != frame_to_bytes(rows())


def test_frame_to_bytes_stores_no_index() -> None:
    df = rows().set_axis([10, 20, 30])
    back = pq.read_table(io.BytesIO(frame_to_bytes(df))).to_pandas()
    assert list(back.columns) == list(rows().columns)
    assert back.index.tolist() == [0, 1, 2]


# -- read_hours on a local root ---------------------------------------------------------------


def test_hour_path_layout(tmp_path: Path) -> None:
    path = hour_path(str(tmp_path), ASSET, pd.Timestamp("2025-09-01 07:00", tz="UTC"))
    assert path.as_posix().endswith(f"{ASSET}/2025-09-01/07.parquet")


def test_read_hours_round_trip_local(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    write(root, rows(), window(3))
    assert (tmp_path / "store" / ASSET / "2025-09-01" / "01.parquet").is_file()  # empty hour stored too
    got = read_hours(root, ASSET, window(3))
    expected = rows().sort_values("hour", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


def test_read_hours_subset_of_the_stored_hours(tmp_path: Path) -> None:
    root = str(tmp_path)
    write(root, rows(), window(3))
    got = read_hours(root, ASSET, pd.DatetimeIndex([at(2)]))
    assert got["close"].tolist() == [101.5, 101.25]


def test_read_hours_only_empty_hours_keeps_the_schema(tmp_path: Path) -> None:
    root = str(tmp_path)
    write(root, rows(), window(3))
    got = read_hours(root, ASSET, pd.DatetimeIndex([at(1)]))
    assert len(got) == 0
    assert got.dtypes.to_dict() == rows().dtypes.to_dict()


def test_read_hours_rewriting_an_hour_replaces_it(tmp_path: Path) -> None:
    root = str(tmp_path)
    write(root, rows(), window(3))
    again = rows().iloc[[0]].reset_index(drop=True)  # hour 2 now holds one row
    write(root, again, pd.DatetimeIndex([at(2)]))
    got = read_hours(root, ASSET, pd.DatetimeIndex([at(2)]))
    pd.testing.assert_frame_equal(got, again)


def test_read_hours_missing_hour_names_asset_and_hour(tmp_path: Path) -> None:
    root = str(tmp_path)
    write(root, rows(), window(3))
    with pytest.raises(MissingPartitionError, match=f"{ASSET} has no stored hour 2025-09-01 03:00 UTC"):
        read_hours(root, ASSET, window(4))


# -- a non-local root -------------------------------------------------------------------------


@pytest.fixture
def memory_root(tmp_path: Path) -> Iterator[str]:
    root = f"memory://perpetua-tests/{tmp_path.name}"
    yield root
    base = UPath(root)
    if base.exists():
        base.fs.rm(base.path, recursive=True)


def test_read_hours_round_trip_memory_root(memory_root: str) -> None:
    write(memory_root, rows(), window(3))
    path = hour_path(memory_root, ASSET, at(2))
    assert path.protocol == "memory"
    assert path.exists()
    got = read_hours(memory_root, ASSET, window(3))
    expected = rows().sort_values("hour", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


def test_read_hours_missing_hour_memory_root(memory_root: str) -> None:
    df = rows()
    write(memory_root, df[df["hour"] < at(2)], window(2))  # hours 0 and 1 stored, 2 never
    with pytest.raises(MissingPartitionError, match="2025-09-01 02:00 UTC"):
        read_hours(memory_root, ASSET, window(3))
