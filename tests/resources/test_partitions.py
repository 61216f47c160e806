"""The partition set is the data's hours: both windows, the withheld months excluded, runs never span them."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from dagster import AssetKey, PartitionKeyRange, TimeWindow

from resources.partitions import (
    HOURLY,
    SAMPLE_WINDOWS,
    SpansNoDataError,
    hourly_partitions,
    lookback,
    lookback_start,
    partition_hours,
    split_by_windows,
    starts_a_window,
    window_of,
)

UTC = "UTC"


def test_the_keys_are_exactly_the_windows_hours():
    keys = HOURLY.get_partition_keys()
    expected = [f"{h:%Y-%m-%d-%H:%M}" for a, b in SAMPLE_WINDOWS for h in pd.date_range(a, b, freq="h", inclusive="left")]
    assert keys == expected
    assert len(keys) == 6190
    assert keys[-1] == "2026-03-05-09:00"  # ends where the data ends, not at today
    assert "2025-11-15-00:00" not in keys  # the withheld months are no partitions at all


def test_partition_hours_are_the_partition_keys_of_any_span():
    keys = set(HOURLY.get_partition_keys())
    for start, end in (("2025-09-28 05:00", "2026-01-16 02:00"), ("2025-03-01 00:00", "2025-03-07 00:00"),
                       ("2026-03-02 00:00", "2026-03-09 00:00"), ("2025-11-01 00:00", "2025-11-08 00:00")):
        a, b = pd.Timestamp(start, tz=UTC), pd.Timestamp(end, tz=UTC)
        hours = pd.date_range(a, b, freq="h", inclusive="left")
        expected = [h for h in hours if f"{h:%Y-%m-%d-%H:%M}" in keys]
        assert list(partition_hours(a, b)) == expected, start
    assert len(partition_hours(pd.Timestamp("2025-09-30 22:00", tz=UTC), pd.Timestamp("2026-01-15 02:00", tz=UTC))) == 4
    # open-ended (paper, live): from the first hour up to the last complete hour
    now = pd.Timestamp.now(tz=UTC).floor("h")
    live = hourly_partitions("paper")
    got = partition_hours(now - pd.Timedelta(hours=3), now + pd.Timedelta(hours=3), "paper")
    assert list(got) == [h for h in pd.date_range(now - pd.Timedelta(hours=3), now + pd.Timedelta(hours=3), freq="h",
                                                  inclusive="left") if live.has_partition_key(f"{h:%Y-%m-%d-%H:%M}")]
    assert len(got) == 3


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


def test_a_look_back_stops_at_the_gap_and_at_the_first_hour():
    # the first hour after the withheld months: its history starts there, not in September
    assert lookback_start(pd.Timestamp("2026-01-15 01:00", tz=UTC), 168) == pd.Timestamp("2026-01-15 00:00", tz=UTC)
    assert lookback_start(pd.Timestamp("2026-01-22 05:00", tz=UTC), 24) == pd.Timestamp("2026-01-21 05:00", tz=UTC)
    assert lookback_start(pd.Timestamp("2025-09-30 21:00", tz=UTC), 3) == pd.Timestamp("2025-09-30 18:00", tz=UTC)
    # never before the partitions' first hour
    assert lookback_start(pd.Timestamp("2025-03-06 14:00", tz=UTC), 168) == pd.Timestamp("2025-03-06 12:00", tz=UTC)
    assert lookback_start(pd.Timestamp("2026-02-01", tz=UTC), 0) == pd.Timestamp("2026-02-01", tz=UTC)
    with pytest.raises(ValueError, match="hours >= 0"):
        lookback(-1)


def test_the_io_manager_reads_an_inputs_look_back_and_never_across_the_gap(tmp_path):
    from dagster import build_input_context

    from resources.storage import HourlyParquetIOManager, write_hours

    def frame(hours):
        return pd.DataFrame({"hour": hours, "x": range(len(hours))})

    one = pd.date_range("2025-09-30 18:00", "2025-09-30 23:00", freq="h", tz=UTC, unit="ns")
    two = pd.date_range("2026-01-15 00:00", "2026-01-15 03:00", freq="h", tz=UTC, unit="ns")
    write_hours(str(tmp_path), "bars", one, frame(one))
    write_hours(str(tmp_path), "bars", two, frame(two))
    io = HourlyParquetIOManager(root=str(tmp_path))

    def read(first, last, back):
        ctx = build_input_context(asset_key=AssetKey("bars"), asset_partitions_def=HOURLY, definition_metadata=lookback(back).metadata,
                                  asset_partition_key_range=PartitionKeyRange(f"{first:%Y-%m-%d-%H:%M}", f"{last:%Y-%m-%d-%H:%M}"))
        return list(io.load_input(ctx)["hour"])

    assert read(two[2], two[3], 24) == list(two)  # the first window's hours are not this hour's history
    assert read(two[2], two[2], 1) == list(two[1:3])
    assert read(one[4], one[5], 2) == list(one[2:])


def test_every_hourly_input_maps_hour_to_hour(local_settings):
    """The IO manager reads an input's hours as the run's (``resources.storage._run_hours``): that holds only
    while no hourly asset LOADS an input mapped other than hour to hour (a look-back is ``lookback``'s
    metadata; the book's previous-hour ``deps`` are ordering only, never loaded)."""
    from dagster import TimeWindowPartitionMapping

    from pipelines.definitions import build_definitions

    graph = build_definitions(local_settings).resolve_asset_graph()
    checked = 0
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.partitions_def != HOURLY:
            continue
        for parent in _loaded_inputs(node.assets_def):
            if graph.get(parent).partitions_def != HOURLY:
                continue
            mapping = graph.get_partition_mapping(key, parent)
            assert isinstance(mapping, TimeWindowPartitionMapping), (key, parent, mapping)
            assert (mapping.start_offset, mapping.end_offset) == (0, 0), (key, parent, mapping)
            checked += 1
    assert checked >= 10  # carry, cascade, strategies, features, the book ... all read their inputs this way


def _loaded_inputs(assets_def) -> set:
    """The upstream assets loaded through an input (not the ``deps`` a step only runs after)."""
    return {k for name, k in assets_def.keys_by_input_name.items()
            if not assets_def.node_def.input_def_named(name).dagster_type.is_nothing}


def test_an_assets_description_says_its_inputs_look_backs(local_settings):
    """Lineage shows hour H feeding hour H; the look-back an hour really reads is in the asset's description (the UI)."""
    from dagster import AssetKey

    from assets.features import FEATURE_LOOKBACK_H
    from pipelines.definitions import build_definitions

    graph = build_definitions(local_settings).resolve_asset_graph()
    assert f"perp_ohlcv_1h {FEATURE_LOOKBACK_H} h" in graph.get(AssetKey("features_1h")).description
    assert "look-back" not in (graph.get(AssetKey("perp_ohlcv_1h")).description or "").split("\n\n")[-1]


def test_a_range_across_the_months_with_no_data_is_refused_before_any_read_or_write(tmp_path):
    """The IO manager refuses it by name (not as a missing hour no one can materialise), and writes nothing."""
    from dagster import asset, materialize

    from resources.storage import HourlyParquetIOManager

    @asset(partitions_def=HOURLY, io_manager_key="hourly")
    def raw(context) -> pd.DataFrame:
        w = context.partition_time_window
        return pd.DataFrame({"hour": pd.date_range(w.start, w.end, freq="h", inclusive="left", tz=UTC), "x": 1.0})

    @asset(partitions_def=HOURLY, io_manager_key="hourly", ins={"raw": lookback(2)})
    def derived(raw: pd.DataFrame) -> pd.DataFrame:
        return raw

    io = HourlyParquetIOManager(root=str(tmp_path))
    across = {"dagster/asset_partition_range_start": "2025-09-30-23:00", "dagster/asset_partition_range_end": "2026-01-15-00:00"}
    res = materialize([raw, derived], resources={"hourly": io}, tags=across, raise_on_error=False)
    assert not res.success
    messages = " ".join(e.step_failure_data.error.to_string() for e in res.all_events if e.is_step_failure)
    assert "reaches across hours with no data" in messages
    assert "2025-09-30 23:00 .. 2025-09-30 23:00, 2026-01-15 00:00 .. 2026-01-15 00:00" in messages
    assert not list(tmp_path.rglob("*.parquet"))  # nothing written for the withheld months
    inside = {"dagster/asset_partition_range_start": "2026-01-15-00:00", "dagster/asset_partition_range_end": "2026-01-15-03:00"}
    assert materialize([raw, derived], resources={"hourly": io}, tags=inside).success


def test_the_partitions_follow_the_environment_set_after_the_cli_is_imported():
    """``perpetua --env paper`` sets PERPETUA_ENV after importing the CLI: nothing may freeze the partitions first."""
    import subprocess
    import sys

    code = ("import os, pipelines.cli; os.environ['PERPETUA_ENV'] = 'paper'; "
            "from resources.partitions import HOURLY; print(HOURLY.end is None and not HOURLY.exclusions)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={
        k: v for k, v in __import__("os").environ.items() if k not in ("PERPETUA_ENV", "PERPETUA_PARTITIONS")})
    assert out.stdout.strip() == "True", out.stderr[-2000:]
