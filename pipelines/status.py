"""A plain-text status report of the instance: partitions materialised, failing checks, kill switch."""

from __future__ import annotations

import pandas as pd
from dagster import AssetKey, DagsterInstance

from pipelines.environments import Settings
from pipelines.partitions import HOURLY, data_windows, describe_windows
from resources.kill_switch import KillSwitchStore


def _asset_names() -> list[str]:
    from pipelines.graph import ALL_ASSETS

    return [key.to_user_string() for a in ALL_ASSETS for key in sorted(a.keys, key=lambda k: k.to_user_string())]


def summary(instance: DagsterInstance, s: Settings) -> str:
    lines = [f"instance: {s.home}   storage: {s.storage_root}   environment: {s.environment}", ""]
    lines.append(f"{'asset':24s} {'hours':>7s}  {'first':16s}  {'last':16s}  {'failed check evaluations (last 50)':s}")
    for name in _asset_names():
        key = AssetKey(name)
        parts = sorted(instance.get_materialized_partitions(key))
        first, last = (parts[0], parts[-1]) if parts else ("-", "-")
        if not parts and (latest := instance.get_latest_materialization_event(key)) is not None:
            # not partitioned (the report): say when it was last materialised
            first = last = f"{pd.Timestamp(latest.timestamp, unit='s', tz='UTC'):%Y-%m-%d %H:%M}"
            parts = ["materialised"]
        failed = _failed_checks(instance, key)
        lines.append(f"{name:24s} {len(parts):7d}  {first:16s}  {last:16s}  {failed}")
    active = KillSwitchStore(s.kill_switch_url).active()
    lines.append("")
    if active:
        lines.append(f"kill switch: TRIPPED ({len(active)}); first: {active[0].source}: {active[0].reason}")
        lines.append("  reset with: perpetua kill-switch reset --by NAME --note WHY")
    else:
        lines.append("kill switch: clear")
    windows = data_windows()
    if windows is None:
        lines.append(f"partitions: hourly from {HOURLY.start:%Y-%m-%d %H:00} UTC to the current hour")
    else:
        lines.append(f"partitions: hourly, the data's windows {describe_windows(windows)} "
                     f"({len(HOURLY.get_partition_keys())} hours; the months between are no data)")
    return "\n".join(lines)


def _failed_checks(instance: DagsterInstance, key: AssetKey) -> str:
    from dagster import AssetCheckKey
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    out = []
    for check_key in _check_keys(key):
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(key, check_key), limit=50
        )
        failed = sum(1 for r in records if r.status == AssetCheckExecutionRecordStatus.FAILED)
        if failed:
            out.append(f"{check_key} x{failed}")
    return ", ".join(out) or "none"


def _check_keys(key: AssetKey) -> list[str]:
    from pipelines.graph import ALL_CHECK_KEYS

    return [ck.name for ck in ALL_CHECK_KEYS if ck.asset_key == key]
