"""A plain-text status report: the hours stored per asset, the book, failing checks, kill switch.

What is stored is read from storage (each day file's stored-hours record), not from the
instance's run records, so it stays true after ``perpetua purge-runs``, on a new
``DAGSTER_HOME`` or a move to Postgres. Check results exist only as the instance's records.
"""

from __future__ import annotations

import contextlib

import pandas as pd
from dagster import AssetKey, DagsterInstance
from upath import UPath

from pipelines.environments import Settings
from resources.kill_switch import KillSwitchStore
from resources.partitions import HOURLY, data_windows, describe_windows
from resources.storage import (
    PARTITION_KEY_FORMAT,
    CorruptPartitionError,
    MissingPartitionError,
    read_hours,
    stored_hours,
)


def _asset_names() -> list[str]:
    from pipelines.graph import ALL_ASSETS

    return [key.to_user_string() for a in ALL_ASSETS for key in sorted(a.keys, key=lambda k: k.to_user_string())]


def summary(instance: DagsterInstance, s: Settings) -> str:
    lines = [f"instance: {s.home}   storage: {s.storage_root}   environment: {s.environment}", ""]
    lines.append(f"{'asset':24s} {'hours':>7s}  {'first':16s}  {'last':16s}  {'failed check evaluations (last 50)':s}")
    folds = _fold_manifests(s)
    for name in _asset_names():
        key = AssetKey(name)
        if name in FOLD_ASSETS:  # partitioned by week: what the model store holds, not hours
            lines.append(_fold_line(name, folds, _failed_checks(instance, key)))
            continue
        try:
            hours = stored_hours(s.storage_root, name)
        except CorruptPartitionError as exc:  # say which file, and go on with the other assets
            lines.append(f"{name:24s} {'?':>7s}  unreadable: {exc}")
            continue
        count = len(hours)
        first, last = (f"{hours[0]:{PARTITION_KEY_FORMAT}}", f"{hours[-1]:{PARTITION_KEY_FORMAT}}") if count else ("-", "-")
        if not count and (made := _report_made(instance, s, key)) is not None:
            # not partitioned (the report): say when it was last made
            first = last = f"{made:%Y-%m-%d %H:%M}"
            count = 1
        failed = _failed_checks(instance, key)
        lines.append(f"{name:24s} {count:7d}  {first:16s}  {last:16s}  {failed}")
    try:
        book = [book_line(s.storage_root), *book_detail(s.storage_root)]
    except CorruptPartitionError as exc:
        book = [f"book: unreadable: {exc}"]
    lines += ["", *book]
    active = KillSwitchStore(s.kill_switch_url).active()
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


#: The assets partitioned by walk-forward fold (a week), counted in folds.
FOLD_ASSETS = ("ml_fold_models", "ml_fold_evaluation")


def _fold_manifests(s: Settings) -> dict[str, dict] | str:
    from quant.ml.artifacts import ArtifactError
    from resources.model_store import MlModelStore, ml_root

    try:
        return MlModelStore(root=ml_root(s.storage_root)).manifests()
    except ArtifactError as exc:
        return f"unreadable: {exc}"


def _fold_line(name: str, folds: dict[str, dict] | str, failed: str) -> str:
    if isinstance(folds, str):
        return f"{name:24s} {'?':>7s}  {folds}"
    if name == "ml_fold_models":
        trained = sum(m.get("status") == "trained" for m in folds.values())
        done, note = list(folds), f"folds: {trained} trained, {len(folds) - trained} skipped (too little history)"
    else:
        done = [k for k, m in folds.items() if "evaluation" in m]
        note = f"folds scored: {len(done)}"
    first, last = (done[0], done[-1]) if done else ("-", "-")
    return f"{name:24s} {len(done):7d}  {first:16s}  {last:16s}  {failed}   {note}"


def book_line(root: str) -> str:
    """The stored book at its latest hour: equity, P&L, drawdown and open legs (from ledger_1h, positions_1h)."""
    hours = stored_hours(root, "ledger_1h")
    if hours.empty:
        return "book: none stored yet"
    last = hours[-1:]
    ledger = read_hours(root, "ledger_1h", last)
    total = ledger[ledger["layer"] == "total"]
    try:
        legs = f"{len(read_hours(root, 'positions_1h', last))} open legs"
    except MissingPartitionError:
        legs = "positions not stored"
    if total.empty:
        return f"book: {last[0]:%Y-%m-%d %H:00} UTC (no total row stored), {legs}"
    t = total.iloc[-1]
    return (f"book: {last[0]:%Y-%m-%d %H:00} UTC  equity {t['equity_usd']:,.2f} USD  P&L {t['pnl_usd']:+,.2f}  "
            f"drawdown {100 * t['drawdown']:.2f}%  {legs}  ({len(hours)} stored hours)")


def book_detail(root: str, limit: int = 12) -> list[str]:
    """The stored book's latest hour in detail: bankroll and cash, what is at risk per layer (open
    legs' |qty × mark|), each layer's budget and cap, and the open positions (the first ``limit``)."""
    hours = stored_hours(root, "ledger_1h")
    if hours.empty:
        return []
    last = hours[-1:]
    ledger = read_hours(root, "ledger_1h", last)
    total = ledger[ledger["layer"] == "total"]
    out = []
    try:
        alloc = read_hours(root, "layer_allocations_1h", last)
    except MissingPartitionError:
        alloc = pd.DataFrame()
    try:
        legs = read_hours(root, "positions_1h", last)
    except MissingPartitionError:
        legs = pd.DataFrame()
    if not total.empty:
        t = total.iloc[-1]
        out.append(f"  bankroll {_bankroll(root, last):,.2f} USD   cash {t['cash_usd']:,.2f} USD   equity {t['equity_usd']:,.2f} USD"
                   f"   peak {t['peak_equity_usd']:,.2f} USD   risk level {t['risk_level']}")
    if len(legs):
        risk = (legs["qty"].abs() * legs["mark"]).groupby(legs["layer"]).agg(["sum", "size"])
        out.append("  at risk by layer (open |qty x mark|; options at their premium): " + ", ".join(f"{layer} {row['sum']:,.2f} USD ({int(row['size'])} legs)"
                                                      for layer, row in risk.iterrows()))
    else:
        out.append("  at risk by layer: nothing open")
    if len(alloc):
        out.append("  layers: " + ", ".join(f"{r.layer} budget {r.budget_usd:,.0f} / cap {r.cap_usd:,.0f} USD"
                                           + (" (kill switch)" if r.kill_switch_active else "")
                                           for r in alloc[alloc["layer"] != "total"].itertuples()))
    out.append("  orders: simulated fills (live orders off: see the README's Production section)")
    for r in legs.head(limit).itertuples():
        out.append(f"    {r.layer:3s} {r.venue:8s} {r.instrument:28s} {r.leg:8s} qty {r.qty:+,.6g}  mark {r.mark:,.6g}  "
                   f"unrealised {r.unrealised_usd:+,.2f} USD")
    if len(legs) > limit:
        out.append(f"    … and {len(legs) - limit} more legs")
    return out


def _bankroll(root: str, last: pd.DatetimeIndex) -> float:
    """The bankroll the book sized the hour with (its intents record it), else the book's default."""
    from quant.book.params import BookParams

    with contextlib.suppress(MissingPartitionError):
        intents = read_hours(root, "order_intents_1h", last)
        if len(intents) and "bankroll_usd" in intents:
            return float(intents["bankroll_usd"].iloc[-1])
    return BookParams().bankroll_usd


def _report_made(instance: DagsterInstance, s: Settings, key: AssetKey) -> pd.Timestamp | None:
    """When the unpartitioned ``key`` (the report) was last made: its stored file, else the instance's record."""
    if key == AssetKey("performance_report"):
        with contextlib.suppress(OSError, AttributeError, TypeError):
            return pd.Timestamp((UPath(s.storage_root) / "reports" / "layers.txt").stat().st_mtime, unit="s", tz="UTC")
    latest = instance.get_latest_materialization_event(key)
    return None if latest is None else pd.Timestamp(latest.timestamp, unit="s", tz="UTC")


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
