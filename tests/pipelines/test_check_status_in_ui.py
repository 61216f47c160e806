"""What the UI shows after a range run, read through Dagster's own APIs (GraphQL and the instance).

A single-run range of the hourly cycle on the default local instance (SQLite, pooled event log):
every hour of every check reads Passed (SUCCEEDED) on the check's partition view — linked to that
hour's materialisation, never "Missing" — and every hour's materialisation carries its own figures,
not the range's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.definitions.asset_checks.asset_check_spec import AssetCheckKey
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.environments import PROJECT_ROOT, Settings
from pipelines.graph import ALL_CHECK_KEYS
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from resources.storage import read_hours

#: The data's first hours: no warm-up needed, so the test is one short range run.
START = pd.Timestamp("2025-03-06 12:00", tz="UTC")
HOURS = 6
KEYS = [partition_key(START + pd.Timedelta(hours=i)) for i in range(HOURS)]

CHECK_STATUSES = """
query {
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          partitionStatuses {
            ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def ranged(tmp_path_factory) -> tuple[Settings, DagsterInstance, str]:
    root = Path(tmp_path_factory.mktemp("ui"))
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    saved = os.environ.get("DAGSTER_EVENT_BATCH_SIZE")
    set_event_batching()
    s = Settings("local", home, str(root / "storage"), f"sqlite:///{root / 'ks.db'}")
    instance = DagsterInstance.from_config(str(home))
    results = run_window(build_definitions(s), instance, START, START + pd.Timedelta(hours=HOURS), chunk_hours=HOURS,
                         train_folds=False)  # the hourly runs alone: their checks are the subject
    assert [r.job for r in results] == ["hourly_cycle"]
    assert results[0].success, results[0].error
    assert results[0].checks_failed == {}
    yield s, instance, results[0].run_id
    instance.dispose()
    if saved is None:
        os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)


def _check_keys() -> list[AssetCheckKey]:
    return list(ALL_CHECK_KEYS)


def test_every_hour_of_every_check_is_current_and_passed(ranged):
    _, instance, run_id = ranged
    keys = _check_keys()
    assert len(keys) == 16  # one check per asset (the ML predictions and the strategy registry too)
    infos = instance.event_log_storage.get_asset_check_partition_info(keys)
    by_check: dict[AssetCheckKey, dict[str, object]] = {}
    for info in infos:
        if info.partition_key is not None:
            by_check.setdefault(info.check_key, {})[info.partition_key] = info
    for key in keys:
        got = by_check.get(key, {})
        assert sorted(got) == KEYS, f"{key.to_user_string()}: checked hours {sorted(got)}"
        for pk, info in got.items():
            assert info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED, (key, pk)
            assert info.is_current, f"{key.to_user_string()} {pk} does not target the hour's latest materialisation"
            assert info.latest_planned_run_id == run_id


@pytest.mark.slow
def test_graphql_partition_view_reads_passed_for_every_hour(ranged):
    """The query the check's Partitions tab runs: one SUCCEEDED range over the six hours, no gap."""
    _, instance, _ = ranged
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    with define_out_of_process_context(workspace, None, instance) as context:
        result = execute_dagster_graphql(context, CHECK_STATUSES)
    assert result.errors is None, result.errors
    seen = 0
    for node in result.data["assetNodes"]:
        checks = (node["assetChecksOrError"] or {}).get("checks") or []
        for chk in checks:
            if chk["partitionStatuses"] is None:  # unpartitioned: the operations check, not an hourly one
                assert chk["name"] == "venue_reconciliation__agrees"
                continue
            ranges = chk["partitionStatuses"]["ranges"]
            assert [(r["startKey"], r["endKey"], r["status"]) for r in ranges] == [(KEYS[0], KEYS[-1], "SUCCEEDED")], chk["name"]
            seen += 1
    assert seen == 16


def test_each_hour_carries_its_own_metadata(ranged):
    s, instance, _ = ranged
    hours = pd.DatetimeIndex([START + pd.Timedelta(hours=i) for i in range(HOURS)])
    candles = read_hours(s.storage_root, "perp_ohlcv_1h", hours)
    ledger = read_hours(s.storage_root, "ledger_1h", hours)
    mats = {e.partition: e for e in _materialisations(instance, "perp_ohlcv_1h")}
    assert sorted(mats) == KEYS
    for hour, key in zip(hours, KEYS, strict=True):
        assert mats[key].metadata["rows"].value == int((candles["hour"] == hour).sum())
    books = {e.partition: e for e in _materialisations(instance, "ledger_1h")}
    for hour, key in zip(hours, KEYS, strict=True):
        total = ledger[(ledger["hour"] == hour) & (ledger["layer"] == "total")].iloc[0]
        meta = books[key].metadata
        assert meta["equity_usd"].value == round(float(total["equity_usd"]), 2)
        assert meta["drawdown_pct"].value == round(100 * float(total["drawdown"]), 2)
        assert "| total |" in meta["totals"].value
    assert "started_fresh" in books[KEYS[0]].metadata
    assert "started_fresh" not in books[KEYS[1]].metadata


def _materialisations(instance: DagsterInstance, asset: str):
    records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    return [r.asset_materialization for r in records]
