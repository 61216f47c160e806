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

#: The demo window: the sample's last week. Dagster records ~46 events per hour (7 assets, 31
#: checks) at ~30 ms each on SQLite, so the whole sample takes 1-2 hours on 2 cores;
#: ``perpetua backfill`` does the rest (see BENCHMARKS.md).
DEMO_START = "2025-09-24T00:00:00Z"
DEMO_END = "2025-10-01T00:00:00Z"
SAMPLE_START = "2025-03-06T12:00:00Z"
SAMPLE_END = DEMO_END

DAGSTER_YAML = """# Perpetua local instance: SQLite under this folder (see dagster.yaml.postgres.example).
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""


def prepare_home(s: Settings) -> Path:
    """Create the instance folder and its dagster.yaml (SQLite) if missing; export DAGSTER_HOME."""
    s.home.mkdir(parents=True, exist_ok=True)
    cfg = s.home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(s.home)
    return s.home


def _instance(s: Settings):
    from dagster import DagsterInstance

    prepare_home(s)
    return DagsterInstance.get()


def cmd_backfill(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.definitions import build_definitions
    from pipelines.runner import hour_floor, run_window

    start, end = hour_floor(args.start), hour_floor(args.end)
    instance = _instance(s)
    defs = build_definitions(s)
    print(f"backfill {start:%Y-%m-%d %H:00} -> {end:%Y-%m-%d %H:00} UTC in runs of {args.chunk_hours}h on {s.home}")

    def report(c) -> None:
        status = "ok" if c.success else "FAILED"
        bad = ", ".join(f"{k} x{v}" for k, v in sorted(c.checks_failed.items())) or "all checks passed"
        print(f"  {c.job:14s} {c.start} .. {c.end}  {status:6s} {c.seconds:6.1f}s  {c.events:6d} events  {bad}")
        if c.error:
            print(f"    error: {c.error}")

    results = run_window(defs, instance, start, end, chunk_hours=args.chunk_hours, on_chunk=report)
    seconds = sum(c.seconds for c in results)
    events = sum(c.events for c in results)
    print(f"{len(results)} run(s), {seconds:.1f}s, {events} events ({events / max(seconds, 1e-9):.0f} events/s)")
    return 0 if results and all(c.success for c in results) else 1


def cmd_demo(args: argparse.Namespace, s: Settings) -> int:
    args.start, args.end = args.start or DEMO_START, args.end or DEMO_END
    code = cmd_backfill(args, s)
    print()
    cmd_status(args, s)
    if code == 0:
        code = cmd_report(args, s)
    print("\nOpen the UI on this instance with: make ui   (http://127.0.0.1:3000)")
    return code


def cmd_report(args: argparse.Namespace, s: Settings) -> int:
    """Materialise ``performance_report`` and print its per-layer table (rows L1, L2, L3, total)."""
    from pipelines.definitions import build_definitions

    instance = _instance(s)
    res = build_definitions(s).resolve_job_def("performance_report_job").execute_in_process(instance=instance, raise_on_error=False)
    if not res.success:
        print("performance report FAILED; see the run in the UI")
        return 1
    meta = res.asset_materializations_for_node("performance_report")[0].metadata
    if "window" not in meta:
        print(meta["note"].value)
        return 1
    reports = Path(s.storage_root) / "reports"
    print(f"\n{meta['window'].value} ({meta['modelled_fills'].value} modelled fills: L1 spot legs and L3 options)")
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
    b.add_argument("--start", default=SAMPLE_START, help="first hour (UTC), default: sample start")
    b.add_argument("--end", default=SAMPLE_END, help="end hour, exclusive (UTC), default: sample end")
    b.add_argument("--chunk-hours", type=int, default=168)
    b.set_defaults(fn=cmd_backfill)

    d = sub.add_parser("demo", help=f"backfill the demo window ({DEMO_START[:10]} .. {DEMO_END[:10]}) and print a summary")
    d.add_argument("--start", default=None)
    d.add_argument("--end", default=None)
    d.add_argument("--chunk-hours", type=int, default=168)
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
    r.add_argument("--older-than-days", type=int, default=30)
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
    s = settings(args.env)
    pd.set_option("display.width", 140)
    try:
        return int(args.fn(args, s))
    except ValueError as exc:
        print(f"perpetua: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
