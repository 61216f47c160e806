"""``perpetua``: the command line (demo, backfill, status, kill switch, UI, run purge).

Every command works on the project-local Dagster instance (``var/dagster_home`` unless
``DAGSTER_HOME`` says otherwise), the same one ``make ui`` opens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.environments import PROJECT_ROOT, Settings, settings

#: The demo window: three weeks of the 2026 window through the real sell-off (BTC 97k -> 60k, the
#: 2026-02-06 bar fell 4.9% open to low) and the cascade triggers after it: open interest overlaps the candles.
DEMO_START = "2026-02-02T00:00:00Z"
DEMO_END = "2026-02-23T00:00:00Z"
#: The whole bundled data: both windows (the months between are skipped as "no data").
SAMPLE_START = "2025-03-06T12:00:00Z"
SAMPLE_END = "2026-03-05T10:00:00Z"

def prepare_home(s: Settings) -> Path:
    """Create the instance folder and its dagster.yaml (SQLite, pooled event log) if missing; export DAGSTER_HOME."""
    from pipelines.instance import instance_yaml, set_event_batching, upgradable

    s.home.mkdir(parents=True, exist_ok=True)
    cfg = s.home / "dagster.yaml"
    if not cfg.exists() or upgradable(cfg.read_text()):
        cfg.write_text(instance_yaml(s.home))
    os.environ["DAGSTER_HOME"] = str(s.home)
    set_event_batching()
    return s.home


def _instance(s: Settings):
    from dagster import DagsterInstance

    prepare_home(s)
    return DagsterInstance.get()


def utc_hour(value: str) -> pd.Timestamp:
    """An ISO-8601 date or time as a UTC hour; naive times are UTC, other offsets are converted.

    Refuses anything that is not ISO-8601 (``2026-02-01``, ``2026-02-01T13:00Z``) and times that
    are not on the hour, so a typo never silently shifts a backfill.
    """
    try:
        ts = pd.Timestamp(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 date or time (e.g. 2026-02-01T13:00Z)") from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.floor("h"):
        raise argparse.ArgumentTypeError(f"{value!r} is not on the hour (partitions are whole UTC hours)")
    return ts


def positive_int(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive number of hours")
    return n


def non_negative_int(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return n


class Progress:
    """One line per run with the hours done, the rate and an ETA for the rest."""

    def __init__(self, warmup_job: str) -> None:
        self.warmup_job = warmup_job  # its hours are look-backs, not hours of the cycle
        self.total_hours = 0
        self.done_hours = 0
        self.seconds = 0.0

    def plan(self, plan) -> None:
        self.total_hours = sum(int((b - a) / pd.Timedelta(hours=1)) for job, a, b in plan if job != self.warmup_job)
        print(f"  {len(plan)} run(s), {self.total_hours} hours of the hourly cycle", flush=True)

    def chunk(self, c) -> None:
        self.seconds += c.seconds
        hours = _hours_between(c.start, c.end)
        if c.job != self.warmup_job and not c.kept_before_failure:  # a re-run of hours already counted
            self.done_hours += hours
        rate = self.done_hours / self.seconds if self.seconds and self.done_hours else 0.0
        left = (self.total_hours - self.done_hours) / rate if rate else float("nan")
        status = "ok" if c.success else "FAILED"
        bad = ", ".join(f"{k} x{v}h" for k, v in sorted(c.checks_failed.items())) or "all checks passed"
        eta = f"ETA {left:4.0f}s" if left == left else "ETA   ?"
        print(f"  {c.job:14s} {c.start} .. {c.end}  {status:6s} {c.seconds:6.1f}s  {c.events:6d} events  "
              f"{self.done_hours:5d}/{self.total_hours}h  {eta}  {bad}", flush=True)
        if c.error:
            print(f"    error: {c.error}", flush=True)
        if c.first_failed_hour is not None:
            print(f"    stopped at {c.first_failed_hour:%Y-%m-%d %H:00} UTC: the first hour whose data failed a check",
                  flush=True)
        if c.kept_before_failure:
            kept = "kept" if c.success else "could not keep"
            print(f"    {kept} the hours before the failure ({c.start} .. {c.end})", flush=True)


def _hours_between(first_key: str, last_key: str) -> int:
    from dagster import PartitionKeyRange

    from pipelines.partitions import HOURLY

    return len(HOURLY.get_partition_keys_in_range(PartitionKeyRange(first_key, last_key)))


def cmd_backfill(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.definitions import build_definitions
    from pipelines.partitions import describe_windows
    from pipelines.runner import WARMUP_JOB, check_window, run_window

    start, end = args.start, args.end  # already UTC hours (``utc_hour``, defaults included)
    parts = check_window(start, end)  # refuses bad windows before any work
    instance = _instance(s)
    defs = build_definitions(s)
    print(f"backfill {start:%Y-%m-%d %H:00} -> {end:%Y-%m-%d %H:00} UTC in runs of {args.chunk_hours}h on {s.home}")
    if parts != [(start, end)]:
        print(f"  hours with data: {describe_windows(parts)} (the rest is no data: the sample withholds it)")
    progress = Progress(WARMUP_JOB)
    results = run_window(defs, instance, start, end, chunk_hours=args.chunk_hours, on_chunk=progress.chunk,
                         on_plan=progress.plan)
    seconds = sum(c.seconds for c in results)
    events = sum(c.events for c in results)
    print(f"{len(results)} run(s), {seconds:.1f}s, {events} events ({events / max(seconds, 1e-9):.0f} events/s)")
    return 0 if results and all(c.success for c in results) else 1


def cmd_demo(args: argparse.Namespace, s: Settings) -> int:
    code = cmd_backfill(args, s)
    print()
    cmd_status(args, s)
    if code == 0:
        code = cmd_report(args, s)
    print("\nOpen the UI on this instance with: make ui   (http://127.0.0.1:3000)")
    return code


def cmd_report(args: argparse.Namespace, s: Settings) -> int:
    """Materialise ``performance_report`` and print its per-layer table (rows L1, L2, L3, total)."""
    from dagster import AssetKey

    from pipelines.definitions import build_definitions
    from pipelines.runner import CONSOLE_LOG_LEVEL

    instance = _instance(s)
    quiet = {"loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}}
    res = build_definitions(s).resolve_job_def("performance_report_job").execute_in_process(
        instance=instance, run_config=quiet, raise_on_error=False
    )
    if not res.success:
        print("performance report FAILED; see the run in the UI")
        return 1
    meta = res.asset_materializations_for_node("performance_report")[0].metadata
    if "window" not in meta:
        print(meta["note"].value)
        return 1
    reports = Path(s.storage_root) / "reports"
    stored = len(instance.get_materialized_partitions(AssetKey("ledger_1h")))
    print(f"\n{meta['window'].value} ({meta['modelled_fills'].value} modelled fills: L1 spot legs and L3 options)")
    if stored > meta["hours"].value:
        print(f"(the latest unbroken book: {stored - meta['hours'].value} earlier stored book hour(s), another book "
              "before a gap, are not in this report)")
    print((reports / "layers.txt").read_text())
    print(f"equity and drawdown plot: {reports / 'equity.png'} (also on the performance_report asset in the UI)")
    return 0


def cmd_status(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.status import summary

    print(summary(_instance(s), s))
    return 0


def cmd_kill_switch(args: argparse.Namespace, s: Settings) -> int:
    from resources.kill_switch import KillSwitchStore

    store = KillSwitchStore(s.kill_switch_url)
    if args.action == "reset":
        n = store.reset(by=args.by, note=args.note or "")
        print(f"kill switch reset by {args.by}: {n} trip(s) cleared")
        return 0
    if args.action == "trip":
        store.trip(source=f"operator:{args.by}", reason=args.note or "manual trip")
        print("kill switch TRIPPED by operator")
        return 0
    active = store.active()
    if not active:
        print("kill switch: clear")
        return 0
    print(f"kill switch: TRIPPED ({len(active)} active trip(s)); reset with: perpetua kill-switch reset --by NAME")
    for t in active:
        print(f"  #{t.id} {t.tripped_at:%Y-%m-%d %H:%M:%S} {t.source} [{t.partition or '-'}] {t.reason}")
    return 2


def cmd_ui(args: argparse.Namespace, s: Settings) -> int:
    prepare_home(s)
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    return subprocess.call(cmd, cwd=PROJECT_ROOT)  # noqa: S603 - fixed argv, no shell


def cmd_purge_runs(args: argparse.Namespace, s: Settings) -> int:
    from dagster import RunsFilter

    instance = _instance(s)
    cutoff = datetime.now(UTC) - timedelta(days=args.older_than_days)
    records = instance.get_run_records(filters=RunsFilter(created_before=cutoff))
    for rec in records:
        instance.delete_run(rec.dagster_run.run_id)
    print(f"deleted {len(records)} run(s) created before {cutoff:%Y-%m-%d %H:%M} UTC (stored Parquet outputs are kept)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpetua", description=__doc__)
    p.add_argument("--env", choices=["local", "paper", "live"], default=None, help="overrides PERPETUA_ENV")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("backfill", help="materialise a window of hours in chunked single runs")
    b.add_argument("--start", type=utc_hour, default=SAMPLE_START, help="first hour, ISO-8601 UTC (default: the data's start)")
    b.add_argument("--end", type=utc_hour, default=SAMPLE_END, help="end hour, exclusive, ISO-8601 UTC (default: the data's end)")
    b.add_argument("--chunk-hours", type=positive_int, default=168)
    b.set_defaults(fn=cmd_backfill)

    d = sub.add_parser("demo", help=f"backfill the demo window ({DEMO_START[:10]} .. {DEMO_END[:10]}) and print a summary")
    d.add_argument("--start", type=utc_hour, default=DEMO_START)
    d.add_argument("--end", type=utc_hour, default=DEMO_END)
    d.add_argument("--chunk-hours", type=positive_int, default=168)
    d.set_defaults(fn=cmd_demo)

    sub.add_parser("status", help="what is materialised, failing checks, kill switch").set_defaults(fn=cmd_status)
    sub.add_parser("report", help="materialise the performance report and print the per-layer table").set_defaults(fn=cmd_report)

    k = sub.add_parser("kill-switch", help="show, reset (by a person) or trip the kill switch")
    k.add_argument("action", choices=["status", "reset", "trip"])
    k.add_argument("--by", default="", help="who resets/trips it (required for reset)")
    k.add_argument("--note", default="")
    k.set_defaults(fn=cmd_kill_switch)

    u = sub.add_parser("ui", help="open the Dagster UI on this instance")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(fn=cmd_ui)

    r = sub.add_parser("purge-runs", help="delete run records (events) older than N days")
    r.add_argument("--older-than-days", type=non_negative_int, default=30)
    r.set_defaults(fn=cmd_purge_runs)
    return p


def _quiet_warnings() -> None:
    """Dagster's preview/beta notices are for developers, not for someone running a backfill."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*(preview|beta|deprecat).*")
    try:
        from dagster import BetaWarning, PreviewWarning

        warnings.filterwarnings("ignore", category=PreviewWarning)
        warnings.filterwarnings("ignore", category=BetaWarning)
    except ImportError:  # pragma: no cover - older dagster
        pass


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _quiet_warnings()
    if args.env:  # the partitions (and every window check) follow the environment
        os.environ["PERPETUA_ENV"] = args.env
    s = settings(args.env)
    pd.set_option("display.width", 140)
    try:
        return int(args.fn(args, s))
    except ValueError as exc:
        print(f"perpetua: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
