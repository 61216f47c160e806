"""resources.storage: one Parquet file per asset per UTC day, self-describing stored hours, atomic
rewrites, corrupt files as clear errors, on a local folder and on a ``memory://`` fsspec root."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, build_input_context, build_output_context
from upath import UPath

import resources.storage as storage
from resources.partitions import HOURLY
from resources.storage import (
    CorruptPartitionError,
    HourlyParquetIOManager,
    MissingPartitionError,
    day_path,
    frame_to_bytes,
    read_hours,
    split_by_hour,
    write_hours,
)

T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
ASSET = "perp_ohlcv_1h"
PROJECT = Path(__file__).resolve().parents[2]


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def window(n: int, start: float = 0) -> pd.DatetimeIndex:
    return pd.date_range(at(start), periods=n, freq="h", tz="UTC", unit="ns")


def rows() -> pd.DataFrame:
    """Rows of hours 2, 0 and 2 again (hour 1 has none), deliberately out of order."""
    return pd.DataFrame(
        {
            "hour": pd.Series([at(2), at(0), at(2)], dtype="datetime64[ns, UTC]"),
            "venue": pd.Series(["binance", "bybit", "bybit"], dtype="str"),
            "close": [101.5, 99.0, 101.25],
            "n": pd.Series([3, 1, 2], dtype="int64"),
            "live": [True, False, True],
        }
    )


def day_rows(start: float, n_hours: int, per_hour: int = 3, seed: int = 0) -> pd.DataFrame:
    """``per_hour`` rows for each of ``n_hours`` hours from ``at(start)``, shuffled, with a few empty hours."""
    rng = np.random.default_rng(seed)
    hours = window(n_hours, start).repeat(per_hour)
    keep = rng.random(len(hours)) > 0.2
    df = pd.DataFrame(
        {
            "hour": pd.Series(hours[keep], dtype="datetime64[ns, UTC]"),
            "venue": pd.Series(rng.choice(["binance", "bybit", "okx"], keep.sum()), dtype="str"),
            "close": rng.normal(100, 5, keep.sum()),
            "n": pd.Series(rng.integers(0, 50, keep.sum()), dtype="int64"),
            "live": rng.random(keep.sum()) > 0.5,
        }
    )
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def sorted_by_hour(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("hour", kind="stable").reset_index(drop=True)


# -- split_by_hour and frame_to_bytes ---------------------------------------------------------


def test_split_by_hour_puts_each_row_in_its_hour_keeping_their_order() -> None:
    by_hour = dict(split_by_hour(rows(), window(3)))
    assert list(by_hour) == [at(0), at(1), at(2)]
    assert by_hour[at(0)]["venue"].tolist() == ["bybit"]
    assert by_hour[at(2)]["close"].tolist() == [101.5, 101.25]
    assert by_hour[at(2)].index.tolist() == [0, 1]
    assert len(by_hour[at(1)]) == 0
    assert by_hour[at(1)].dtypes.to_dict() == rows().dtypes.to_dict()


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (at(3), r"row for hour 2025-09-01 03:00:00\+00:00 lies outside the window"),
        (at(-1), "2025-08-31 23:00:00"),
    ],
)
def test_split_by_hour_row_outside_the_window_raises_naming_it(bad: pd.Timestamp, match: str) -> None:
    df = rows()
    df.loc[1, "hour"] = bad
    with pytest.raises(ValueError, match=match):
        split_by_hour(df, window(3))


def test_split_by_hour_needs_an_hour_column() -> None:
    with pytest.raises(ValueError, match="needs an 'hour' column"):
        split_by_hour(rows().rename(columns={"hour": "ts"}), window(3))


def test_frame_to_bytes_is_deterministic_and_stores_no_index() -> None:
    assert frame_to_bytes(rows()) == frame_to_bytes(rows().copy())
    changed = rows()
    changed.loc[0, "close"] = 101.6
    assert frame_to_bytes(changed) != frame_to_bytes(rows())
    back = pq.read_table(io.BytesIO(frame_to_bytes(rows().set_axis([10, 20, 30])))).to_pandas()
    assert back.index.tolist() == [0, 1, 2]


# -- layout, stored hours, rewrites -----------------------------------------------------------


def test_layout_is_one_file_per_day_recording_its_hours(tmp_path: Path) -> None:
    root = str(tmp_path)
    counts = write_hours(root, ASSET, window(30), day_rows(0, 30))
    assert sorted(p.name for p in (tmp_path / ASSET).glob("*.parquet")) == [
        "2025-09-01.parquet",
        "2025-09-02.parquet",
    ]
    assert day_path(root, ASSET, at(7)).as_posix().endswith(f"{ASSET}/2025-09-01.parquet")
    meta = pq.read_schema(tmp_path / ASSET / "2025-09-02.parquet").metadata
    assert json.loads(meta[b"perpetua.stored_hours"]) == [f"2025-09-02T{h:02d}:00Z" for h in range(6)]
    assert list(counts) == list(window(30))
    assert sum(counts.values()) == len(day_rows(0, 30))


def test_round_trip_keeps_rows_in_hour_order_and_dtypes(tmp_path: Path) -> None:
    write_hours(str(tmp_path), ASSET, window(3), rows())
    pd.testing.assert_frame_equal(read_hours(str(tmp_path), ASSET, window(3)), sorted_by_hour(rows()))
    got = read_hours(str(tmp_path), ASSET, pd.DatetimeIndex([at(2), at(0)]))  # in the order asked
    assert got["close"].tolist() == [101.5, 101.25, 99.0]


def test_empty_hour_is_stored_with_the_schema_but_a_never_written_hour_raises(tmp_path: Path) -> None:
    root = str(tmp_path)
    write_hours(root, ASSET, window(3), rows())
    empty = read_hours(root, ASSET, pd.DatetimeIndex([at(1)]))
    assert len(empty) == 0
    assert empty.dtypes.to_dict() == rows().dtypes.to_dict()
    with pytest.raises(
        MissingPartitionError,
        match=f"{ASSET} has no stored hour 2025-09-01 03:00 UTC at .*2025-09-01.parquet",
    ):
        read_hours(root, ASSET, window(4))
    with pytest.raises(MissingPartitionError, match="2025-09-02 00:00 UTC"):  # no file for that day at all
        read_hours(root, ASSET, window(1, 24))


def test_rewriting_one_hour_replaces_it_and_keeps_the_others_byte_identical(tmp_path: Path) -> None:
    root = str(tmp_path)
    write_hours(root, ASSET, window(24), day_rows(0, 24))
    others = pd.DatetimeIndex([h for h in window(24) if h != at(5)])
    before = frame_to_bytes(read_hours(root, ASSET, others))
    again = rows().iloc[[0]].reset_index(drop=True)
    again["hour"] = pd.Series([at(5)], dtype="datetime64[ns, UTC]")
    write_hours(root, ASSET, pd.DatetimeIndex([at(5)]), again)
    pd.testing.assert_frame_equal(read_hours(root, ASSET, pd.DatetimeIndex([at(5)])), again)
    assert frame_to_bytes(read_hours(root, ASSET, others)) == before
    # Rewriting it with no rows keeps it stored, now empty; the others are untouched again.
    write_hours(root, ASSET, pd.DatetimeIndex([at(5)]), again.iloc[:0])
    assert len(read_hours(root, ASSET, pd.DatetimeIndex([at(5)]))) == 0
    assert frame_to_bytes(read_hours(root, ASSET, window(24))) == before


def test_a_day_decoded_once_is_served_by_its_bytes_never_stale_and_never_shared_mutably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(tmp_path)
    write_hours(root, ASSET, window(24), day_rows(0, 24))
    decoded: list[str] = []
    real = storage._decode_day
    monkeypatch.setattr(storage, "_decode_day", lambda path, name, data: decoded.append(path.name) or real(path, name, data))
    monkeypatch.setattr(storage, "_DAY_CACHE", type(storage._DAY_CACHE)())
    first = read_hours(root, ASSET, window(24))
    first.loc[0, "close"] = -1.0  # a reader changing its frame changes nothing stored or cached
    second = read_hours(root, ASSET, window(24))
    assert decoded == ["2025-09-01.parquet"]  # the same bytes: decoded once
    pd.testing.assert_frame_equal(second, sorted_by_hour(day_rows(0, 24)))
    # the day rewritten (same hours, other rows): its new bytes are read and decoded, never the old
    write_hours(root, ASSET, window(24), day_rows(0, 24, seed=9))
    pd.testing.assert_frame_equal(read_hours(root, ASSET, window(24)), sorted_by_hour(day_rows(0, 24, seed=9)))
    assert decoded == ["2025-09-01.parquet"] * 2
    # a file rewritten in place with the same size (no rename, same second): still its own bytes
    path = tmp_path / ASSET / "2025-09-01.parquet"
    old = path.read_bytes()
    write_hours(root, ASSET, window(24), day_rows(0, 24, seed=4))
    new = path.read_bytes()
    path.write_bytes(old)
    read_hours(root, ASSET, window(24))
    path.write_bytes(new)
    pd.testing.assert_frame_equal(read_hours(root, ASSET, window(24)), sorted_by_hour(day_rows(0, 24, seed=4)))


def test_the_day_cache_keeps_at_most_its_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_DAY_CACHE", type(storage._DAY_CACHE)())
    monkeypatch.setattr(storage, "_day_cache_bytes", 0)
    root = str(tmp_path)
    write_hours(root, ASSET, window(72), day_rows(0, 72))
    one = storage._read_day(UPath(day_path(root, ASSET, T0)), ASSET).table.nbytes
    monkeypatch.setattr(storage, "DAY_CACHE_BYTES", 2 * one)
    read_hours(root, ASSET, window(72))
    assert 1 <= len(storage._DAY_CACHE) <= 2
    assert storage._day_cache_bytes == sum(d.table.nbytes for d in storage._DAY_CACHE.values())


def test_hour_by_hour_writes_give_the_same_bytes_as_one_day_write(tmp_path: Path) -> None:
    df = day_rows(0, 24, per_hour=5, seed=3)
    write_hours(str(tmp_path / "day"), ASSET, window(24), df)
    for hour in reversed(window(24)):  # any order: the file depends only on what is stored
        write_hours(str(tmp_path / "hourly"), ASSET, pd.DatetimeIndex([hour]), df[df["hour"] == hour])
    name = f"{ASSET}/2025-09-01.parquet"
    assert (tmp_path / "day" / name).read_bytes() == (tmp_path / "hourly" / name).read_bytes()


def test_window_across_midnight_reads_each_day_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(tmp_path)
    df = day_rows(20, 8)  # 20:00 on day one .. 03:00 on day two
    write_hours(root, ASSET, window(8, 20), df)
    reads: list[str] = []
    real = storage._read_day
    monkeypatch.setattr(storage, "_read_day", lambda path, name: reads.append(path.name) or real(path, name))
    got = read_hours(root, ASSET, window(8, 20))
    pd.testing.assert_frame_equal(got, sorted_by_hour(df))
    assert reads == ["2025-09-01.parquet", "2025-09-02.parquet"]


def test_write_rejects_rows_outside_the_window_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lies outside the window"):
        write_hours(str(tmp_path), ASSET, window(2), rows())
    assert not list(tmp_path.rglob("*.parquet"))


# -- corrupt and half-written files -----------------------------------------------------------


@pytest.mark.parametrize("damage", ["zero_bytes", "truncated"])
def test_corrupt_day_file_raises_naming_path_and_asset(tmp_path: Path, damage: str) -> None:
    root = str(tmp_path)
    write_hours(root, ASSET, window(3), rows())
    path = tmp_path / ASSET / "2025-09-01.parquet"
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "zero_bytes" else data[: len(data) // 2])
    with pytest.raises(CorruptPartitionError, match="re-materialise that day") as info:
        read_hours(root, ASSET, window(3))
    assert str(path) in str(info.value)
    assert ASSET in str(info.value)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(CorruptPartitionError):  # merging one hour into it would lose the others
        write_hours(root, ASSET, pd.DatetimeIndex([at(1)]), rows().iloc[:0])
    write_hours(root, ASSET, window(24), rows())  # the whole day replaces it
    assert len(read_hours(root, ASSET, window(24))) == 3


def test_parquet_without_the_stored_hours_record_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / ASSET / "2025-09-01.parquet"
    path.parent.mkdir()
    path.write_bytes(frame_to_bytes(rows()))
    with pytest.raises(CorruptPartitionError, match="perpetua.stored_hours"):
        read_hours(str(tmp_path), ASSET, window(1))


def test_leftover_temp_file_is_ignored_and_no_temp_is_left_behind(tmp_path: Path) -> None:
    root = str(tmp_path)
    write_hours(root, ASSET, window(3), rows())
    (tmp_path / ASSET / ".2025-09-01.parquet.tmp-1-deadbeef").write_bytes(b"PAR1 half")
    (tmp_path / ASSET / ".2025-09-02.parquet.tmp-1-deadbeef").write_bytes(b"")
    pd.testing.assert_frame_equal(read_hours(root, ASSET, window(3)), sorted_by_hour(rows()))
    with pytest.raises(MissingPartitionError):
        read_hours(root, ASSET, window(1, 24))
    write_hours(root, ASSET, window(1, 24), rows().iloc[:0])
    left = sorted(p.name for p in (tmp_path / ASSET).iterdir() if "deadbeef" not in p.name)
    assert left == [".write.lock", "2025-09-01.parquet", "2025-09-02.parquet"]


def test_concurrent_writers_of_one_day_lose_no_hour(tmp_path: Path) -> None:
    root = str(tmp_path)
    df = day_rows(0, 24, per_hour=200, seed=5)
    threads = [
        threading.Thread(target=write_hours, args=(root, ASSET, pd.DatetimeIndex([h]), df[df["hour"] == h]))
        for h in window(24)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pd.testing.assert_frame_equal(read_hours(root, ASSET, window(24)), sorted_by_hour(df))


KILLED_WRITER = """
import sys
import numpy as np, pandas as pd
from resources.storage import write_hours
root, days = sys.argv[1], 8
hours = pd.date_range("2025-09-01", periods=24 * days, freq="h", tz="UTC", unit="ns")
version = 0
rng = np.random.default_rng(0)  # incompressible: the bytes take time to write
while True:
    for d in range(days):
        day = hours[24 * d : 24 * (d + 1)]
        n = 300_000 + version
        frame = pd.DataFrame({"hour": day.repeat(n // 24 + 1)[:n], "version": np.full(n, version), "x": rng.random(n)})
        write_hours(root, "killed", day, frame)
        if version == 1 and d == 0:  # the rewrite has begun: a kill from now on lands in version 1's writes
            print("ready", flush=True)
    version += 1
"""


def test_sigkill_mid_write_leaves_every_day_file_old_or_new_and_complete(tmp_path: Path) -> None:
    root = str(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, root], cwd=PROJECT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(np.random.default_rng().uniform(0.1, 0.6))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
    versions = set()
    for d in range(8):
        day = window(24, 24 * d)
        got = read_hours(root, "killed", day)  # raises CorruptPartitionError on a torn file
        assert got["version"].nunique() == 1, d
        version = int(got["version"].iloc[0])
        versions.add(version)
        assert len(got) == 300_000 + version, d  # every row of that version's frame
        assert got["hour"].is_monotonic_increasing
    assert max(versions) >= 1  # the child was rewriting when it died (ready once a day of version 1 was written)


# -- a non-local root -------------------------------------------------------------------------


@pytest.fixture
def memory_root(tmp_path: Path) -> Iterator[str]:
    root = f"memory://perpetua-tests/{tmp_path.name}"
    yield root
    base = UPath(root)
    if base.exists():
        base.fs.rm(base.path, recursive=True)


def test_memory_root_round_trip_rewrite_and_missing_hour(memory_root: str) -> None:
    write_hours(memory_root, ASSET, window(3), rows())
    path = day_path(memory_root, ASSET, at(2))
    assert path.protocol == "memory"
    assert path.exists()
    assert [p.name for p in path.parent.iterdir()] == ["2025-09-01.parquet"]  # the temp name was moved
    pd.testing.assert_frame_equal(read_hours(memory_root, ASSET, window(3)), sorted_by_hour(rows()))
    write_hours(memory_root, ASSET, pd.DatetimeIndex([at(0)]), rows().iloc[:0])
    assert read_hours(memory_root, ASSET, window(3))["close"].tolist() == [101.5, 101.25]
    with pytest.raises(MissingPartitionError, match="2025-09-01 03:00 UTC"):
        read_hours(memory_root, ASSET, window(4))


# -- the IO manager ---------------------------------------------------------------------------


def test_io_manager_outside_a_step_writes_and_reads_the_window(tmp_path: Path) -> None:
    manager = HourlyParquetIOManager(root=str(tmp_path))
    key = "2025-09-01-02:00"
    out = build_output_context(asset_key=AssetKey(ASSET), partition_key=key, asset_partitions_def=HOURLY)
    manager.handle_output(out, rows().iloc[[0, 2]].reset_index(drop=True))
    assert out.get_logged_metadata()["root"].value == str(tmp_path / ASSET)
    inp = build_input_context(asset_key=AssetKey(ASSET), partition_key=key, asset_partitions_def=HOURLY)
    assert manager.load_input(inp)["close"].tolist() == [101.5, 101.25]
