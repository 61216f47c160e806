"""One code path for an hour and for history: a 24-hour single-run range stores exactly the same
bytes as the same 24 hours materialised one by one — the trading book (which carries its state
from the previous hour) included. The range runs on the default local instance (SQLite with the
pooled, batched event log), the hours one by one on Dagster's in-memory instance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.environments import Settings
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from resources.storage import read_hours

#: Near the partitions' start, so the 7-day warm-up is clipped to 42 hours; funding starts inside.
START = pd.Timestamp("2025-03-08 06:00", tz="UTC")
HOURS = 24


def _settings(root: Path) -> Settings:
    return Settings("local", root / "home", str(root / "storage"), f"sqlite:///{root / 'ks.db'}")


def _files(root: Path) -> dict[str, bytes]:
    storage = root / "storage"
    return {str(p.relative_to(storage)): p.read_bytes() for p in sorted(storage.rglob("*.parquet"))}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_range_equals_hour_by_hour_bit_for_bit(tmp_path):
    end = START + pd.Timedelta(hours=HOURS)
    ranged, hourly = tmp_path / "ranged", tmp_path / "hourly"

    home = ranged / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(home))
    set_event_batching()
    with DagsterInstance.from_config(str(home)) as inst:
        results = run_window(build_definitions(_settings(ranged)), inst, START, end, chunk_hours=HOURS)
        assert [r.job for r in results] == ["market_sources", "ml_walk_forward", "hourly_cycle", "ml_fold_evaluation_job"]  # the fold: too little history
        assert all(r.success for r in results)

    defs = build_definitions(_settings(hourly))
    with DagsterInstance.ephemeral() as inst:
        # the same warm-up hours and first hour, then every other hour as its own run
        warm = run_window(defs, inst, START, START + pd.Timedelta(hours=1), chunk_hours=1)
        assert all(r.success for r in warm)
        job = defs.resolve_job_def("hourly_cycle")
        for hour in pd.date_range(START + pd.Timedelta(hours=1), end, freq="h", inclusive="left"):
            assert job.execute_in_process(instance=inst, partition_key=partition_key(hour)).success

    a, b = _files(ranged), _files(hourly)
    assert set(a) == set(b)
    assert sorted(k for k in a if k.startswith("universe_scan_1h/")) == [
        "universe_scan_1h/2025-03-08.parquet", "universe_scan_1h/2025-03-09.parquet"]  # one file a day
    differing = [k for k in a if a[k] != b[k]]
    assert differing == []
    # and the stored hours are not trivially empty
    scan = read_hours(str(ranged / "storage"), "universe_scan_1h", pd.DatetimeIndex([START + pd.Timedelta(hours=23)]))
    assert scan["volume_24h_usd"].notna().sum() >= 9
    assert scan["last_funding_rate"].notna().sum() >= 10
    feats = read_hours(str(ranged / "storage"), "features_1h", pd.DatetimeIndex([START + pd.Timedelta(hours=23)]))
    assert feats["mom_24h"].notna().all()
    # the book traded (the L3 hedge at least) and every hour of its five tables is identical
    for table in ("ledger_1h", "positions_1h", "order_intents_1h", "fills_1h", "layer_allocations_1h"):
        assert len([k for k in a if k.startswith(f"{table}/")]) == 2, table  # two days
    fills = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "ranged" / "storage" / "fills_1h").rglob("*.parquet")))
    assert (fills["filled_qty"] > 0).any()
