"""``perpetua``: the command line (demo, backfill, status, kill switch, UI, run purge, research journal, replay, explain).

Every command works on the project-local Dagster instance (``var/dagster_home`` unless
``DAGSTER_HOME`` says otherwise), the same one ``make ui`` opens. Bad input is refused before any
work (``pipelines.cli_input``); an instance database that cannot be reached is one line and exit
code 3, at start or in the middle of a backfill (``pipelines.instance_access``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.cli_input import ACCEPTED_FORM, non_negative_int, positive_int, utc_hour, window_with_data
from pipelines.environments import ENVIRONMENTS, PROJECT_ROOT, Settings, settings
from pipelines.instance_access import STORAGE_ERRORS, StorageUnreachable, error_reason, unreachable
from pipelines.journal_cli import add_journal_parser
from pipelines.operator_orders import add_orders_parser

#: Exit codes: bad input (argparse's own), a failed run, the instance's database unreachable.
EXIT_BAD_INPUT, EXIT_RUN_FAILED, EXIT_UNREACHABLE = 2, 1, 3

#: The demo window: the 2026 window from its first hour through the real sell-off (BTC 97k -> 60k, the
#: 2026-02-06 bar fell 4.9% open to low) and the cascade triggers after it: open interest overlaps the
#: candles. Starting at the window's first hour gives the ML sleeve's folds from 2026-02-02 on the
#: two weeks of stored history they need (earlier folds say "too little history" and do not trade).
DEMO_START = "2026-01-15T00:00:00Z"
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
    from pipelines.instance_access import open_instance

    return open_instance(prepare_home(s))


def cmd_backfill(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.definitions import build_definitions
    from pipelines.jobs import ML_EVALUATION_JOB, ML_FOLD_JOB
    from pipelines.progress import Progress
    from pipelines.run_records import mark_orphaned_runs
    from pipelines.runner import WARMUP_JOB, run_window
    from resources.partitions import describe_windows

    start, end = args.start, args.end  # already UTC hours (``utc_hour``, defaults included)
    parts = window_with_data(start, end)  # refuses bad windows before any work
    instance = _instance(s)
    if orphans := mark_orphaned_runs(instance):
        print(f"marked {len(orphans)} orphaned run(s) FAILURE (left STARTED by a process that is gone): "
              + ", ".join(map(str, orphans)))
    defs = build_definitions(s)
    print(f"backfill {start:%Y-%m-%d %H:00} -> {end:%Y-%m-%d %H:00} UTC in runs of {args.chunk_hours}h on {s.home}")
    if parts != [(start, end)]:
        print(f"  hours with data: {describe_windows(parts)} (the rest is no data: the sample withholds it)")
    progress = Progress(WARMUP_JOB, ML_FOLD_JOB, ML_EVALUATION_JOB)
    try:
        results = run_window(defs, instance, start, end, chunk_hours=args.chunk_hours, on_chunk=progress.chunk,
                             on_plan=progress.plan, fit_ahead=not getattr(args, "no_fit_ahead", False))
    except STORAGE_ERRORS as exc:
        print(progress.before_outage(), flush=True)
        raise unreachable(s.home / "dagster.yaml", error_reason(exc), during="the backfill") from exc
    seconds = sum(c.seconds for c in results)
    events = sum(c.events for c in results)
    print(f"{len(results)} run(s), {seconds:.1f}s, {events} events ({events / max(seconds, 1e-9):.0f} events/s)")
    return 0 if results and all(c.success for c in results) else EXIT_RUN_FAILED


def cmd_backtest(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.backtest import book_params, books_of, run_backtest
    from quant.report.display import format_layer_table
    from quant.report.strategies import markdown_strategy_table, strategy_table
    from quant.report.tables import layer_table
    from resources.partitions import describe_windows

    try:
        params = book_params(args.set or [])
    except ValueError as exc:
        raise SystemExit(f"perpetua backtest: {exc}") from None
    parts = window_with_data(args.start, args.end)  # refuses bad windows before any work
    print(f"backtest {args.start:%Y-%m-%d %H:00} -> {args.end:%Y-%m-%d %H:00} UTC over {describe_windows(parts)}"
          + (f" with {', '.join(args.set)}" if args.set else ""))
    result = run_backtest(s.storage_root, args.start, args.end, parts, params, sets=args.set)
    wall = result.seconds.pop("wall")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(result.seconds.items(), key=lambda kv: -kv[1]))
    print(f"{result.hours} h in {wall:.1f}s wall, {'two processes' if result.processes == 2 else 'one process'} "
          f"(seconds per stage, summed over chunks: {stages})")
    for a, b, tables in books_of(result, parts):  # each data window is its own book, started afresh
        ledger, fills = tables["ledger_1h"], tables["fills_1h"]
        print(f"\nBook {a:%Y-%m-%d %H:00} .. {b - pd.Timedelta(hours=1):%Y-%m-%d %H:00} UTC ({len(ledger['hour'].unique())} h):")
        print(format_layer_table(layer_table(ledger, fills, params.bankroll_usd)))
        print("\nStrategies (layer ST):")
        print(markdown_strategy_table(strategy_table(ledger, fills, tables["positions_1h"])))
    print(f"tables: {result.out} (beside the audited store; the UI is unchanged)")
    return 0


def cmd_demo(args: argparse.Namespace, s: Settings) -> int:
    code = cmd_backfill(args, s)
    print()
    cmd_status(args, s)
    if code == 0:
        code = cmd_report(args, s)
    print("\nOpen the UI on this instance with: make ui   (http://127.0.0.1:3000)")
    return code


def cmd_report(args: argparse.Namespace, s: Settings) -> int:
    """Materialise ``performance_report`` and print its per-layer table (rows L1, L2, L3, ML, total), then its
    ML section (the sleeve beside its signals and the baselines, with the deflated Sharpe)."""
    from pipelines.definitions import build_definitions
    from pipelines.runner import CONSOLE_LOG_LEVEL

    instance = _instance(s)
    quiet = {"loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}}
    res = build_definitions(s).resolve_job_def("performance_report_job").execute_in_process(
        instance=instance, run_config=quiet, raise_on_error=False
    )
    if not res.success:
        print("performance report FAILED; see the run in the UI")
        return EXIT_RUN_FAILED
    meta = res.asset_materializations_for_node("performance_report")[0].metadata
    if "window" not in meta:
        print(meta["note"].value)
        _say_what_the_report_leaves_out(s.storage_root, 0)
        return EXIT_RUN_FAILED
    reports = Path(s.storage_root) / "reports"
    print(f"\n{meta['window'].value} ({meta['modelled_fills'].value} modelled fills: L1 spot legs and L3 options)")
    _say_what_the_report_leaves_out(s.storage_root, meta["hours"].value)
    print((reports / "layers.txt").read_text())
    print()
    print((reports / "ml.txt").read_text())
    print("\nStrategies (layer ST, the registry's decisions traded through the book):")
    print((reports / "strategies.txt").read_text())
    print(f"equity and drawdown plot: {reports / 'equity.png'} (also on the performance_report asset in the UI)")
    return 0


def _say_what_the_report_leaves_out(root: str, reported: int) -> None:
    """Compare the report's hours with the book storage holds (the truth, whatever the instance recalls)."""
    from assets.report import book_hours
    from resources.storage import PARTITION_KEY_FORMAT, stored_hours

    stored = stored_hours(root, "ledger_1h")
    book = book_hours({f"{h:{PARTITION_KEY_FORMAT}}" for h in stored})  # the latest unbroken stored book
    if len(book) > reported:
        print(f"(the stored book runs {book[0]:%Y-%m-%d %H:00} .. {book[-1]:%Y-%m-%d %H:00} UTC, {len(book)} hours; "
              f"this report covers {reported or 'none'} of them: it was made before the rest were stored; "
              "run perpetua report again)")
    elif len(stored) > reported:
        print(f"(the latest unbroken book: {len(stored) - reported} earlier stored book hour(s), another book "
              "before a gap, are not in this report)")


def cmd_status(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.status import summary

    print(summary(_instance(s), s))
    return 0


def cmd_kill_switch(args: argparse.Namespace, s: Settings) -> int:
    from resources.kill_switch import KillSwitchStore

    if args.action in ("reset", "trip") and not args.by.strip():  # refused before the store is touched
        verb = {"reset": "resetting", "trip": "tripping"}[args.action]
        raise ValueError(f"a kill-switch {args.action} must name the person {verb} it (--by)")
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


def cmd_init_db(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.service import init_db

    for line in init_db(s, _instance(s)):
        print(line)
    return 0


def cmd_run(args: argparse.Namespace, s: Settings) -> int:
    """The scheduled service (``dagster dev``: webserver + daemon) with every schedule and sensor RUNNING."""
    from pipelines.service import startup_problems

    if s.environment == "local":
        print("perpetua run starts the hourly service against live data: set PERPETUA_ENV=paper (or live). "
              "The local sample ends 2026-03-05; use perpetua backfill or make ui for it.", file=sys.stderr)
        return EXIT_BAD_INPUT
    prepare_home(s)
    problems = startup_problems(s)
    if problems:
        print(f"refusing to start: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return EXIT_RUN_FAILED
    env = {**os.environ, "PERPETUA_SCHEDULES": "on", "PERPETUA_ENV": s.environment}
    print(f"starting the {s.environment} service on http://{args.host}:{args.port} (schedules and sensors on)")
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    return subprocess.call(cmd, cwd=PROJECT_ROOT, env=env)  # noqa: S603 - fixed argv, no shell


def cmd_prelive(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.service import FAIL, prelive_checklist

    checks = prelive_checklist(s, _instance(s))
    print(f"pre-live checklist ({s.environment}):")
    for c in checks:
        print(c.line())
    failed = [c.name for c in checks if c.status == FAIL]
    print(f"REFUSED: {len(failed)} check(s) failed: {', '.join(failed)}" if failed else "all checks passed: ready for live")
    return EXIT_RUN_FAILED if failed else 0


def cmd_purge_runs(args: argparse.Namespace, s: Settings) -> int:
    """Forget old run records (their events too); the Parquet outputs, and so the book, stay."""
    from pipelines.run_records import delete_runs, describe_purge, plan_purge
    from pipelines.status import book_line

    instance = _instance(s)
    plan = plan_purge(instance, pd.Timestamp(datetime.now(UTC) - timedelta(days=args.older_than_days)))
    if not args.dry_run:
        delete_runs(instance, plan)
    print(describe_purge(plan, "would delete" if args.dry_run else "deleted"))
    book = book_line(s.storage_root)
    stays = "no book is stored yet" if book.endswith("none stored yet") else f"the book stays: {book.removeprefix('book: ')}"
    print(f"Parquet outputs under {s.storage_root} stay, and {stays}; the next backfill continues from storage")
    if args.dry_run:
        print("(dry run: nothing was deleted)")
    return 0



def _replay_parts(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The data's parts of [start, end); an hour or window outside the data is refused before any work."""
    from pipelines.cli_input import data_range

    if end - start == pd.Timedelta(hours=1):  # one hour: say so, not "--end is exclusive"
        try:
            return window_with_data(start, end)
        except ValueError:
            raise ValueError(f"{start:%Y-%m-%d %H:00} UTC is not an hour with data: the data's hours are {data_range()}") from None
    return window_with_data(start, end)


def _replay(args: argparse.Namespace, s: Settings, start: pd.Timestamp, end: pd.Timestamp, chunk_hours: int) -> int:
    from pipelines.replay import replay

    parts = _replay_parts(start, end)
    report = replay(_instance(s), s, parts, chunk_hours=chunk_hours, keep=args.keep_scratch)
    return 0 if report.identical else EXIT_RUN_FAILED


def cmd_replay_hour(args: argparse.Namespace, s: Settings) -> int:
    """Re-make one stored hour in a scratch instance and diff it with what is stored (0 identical, 1 not)."""
    return _replay(args, s, args.hour, args.hour + pd.Timedelta(hours=1), 1)


def cmd_replay_window(args: argparse.Namespace, s: Settings) -> int:
    return _replay(args, s, args.start, args.end, args.chunk_hours)


def cmd_replay_manifest(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.replay_manifest import manifest

    _replay_parts(args.hour, args.hour + pd.Timedelta(hours=1))
    print(manifest(_instance(s), s, args.hour))
    return 0


def cmd_explain(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.explain import explain

    if not args.order_id.strip():
        raise ValueError("perpetua explain needs a client order id (the client_order_id of order_intents_1h or fills_1h)")
    print(explain(_instance(s), s, args.order_id))
    return 0


def cmd_scan(args: argparse.Namespace, s: Settings) -> int:
    """One hour's L1 carry candidates from the environment's exchange, as ``carry_signals_1h`` computes them (nothing stored)."""
    from pipelines.operator import default_hour, scan
    from resources.exchange.errors import ExchangeError

    hour = args.hour if args.hour is not None else default_hour()
    _replay_parts(hour, hour + pd.Timedelta(hours=1))  # an hour without data is refused before any fetch
    try:
        print(scan(s, hour, args.top))
    except (ExchangeError, FileNotFoundError) as exc:
        print(f"perpetua scan: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


def cmd_audit(args: argparse.Namespace, s: Settings) -> int:
    """Read-only connectivity and permission checks of the environment's venues (exit 1 when one fails)."""
    from pipelines.operator_audit import audit

    report, code = audit(s.environment)
    print(report)
    return EXIT_RUN_FAILED if code else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpetua", description=__doc__)
    p.add_argument("--env", choices=["local", "paper", "live"], default=None, help="overrides PERPETUA_ENV")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("backfill", help="materialise a window of hours in chunked single runs")
    b.add_argument("--start", type=utc_hour, default=SAMPLE_START, help="first hour, ISO-8601 UTC (default: the data's start)")
    b.add_argument("--end", type=utc_hour, default=SAMPLE_END, help="end hour, exclusive, ISO-8601 UTC (default: the data's end)")
    b.add_argument("--chunk-hours", type=positive_int, default=168)
    b.add_argument("--no-fit-ahead", action="store_true",
                   help="fit each fold in its own run, one process, in the plain order (the same bytes, slower)")
    b.set_defaults(fn=cmd_backfill)

    t = sub.add_parser("backtest", help="every layer over a window in one pass; tables beside the audited store")
    t.add_argument("--start", type=utc_hour, required=True, help=f"first hour, {ACCEPTED_FORM}")
    t.add_argument("--end", type=utc_hour, required=True, help="end hour (exclusive), same form")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a book setting, e.g. bankroll_usd=50000 or strategies.risk_pct=0.005 (repeatable)")
    t.set_defaults(fn=cmd_backtest)
    d = sub.add_parser("demo", help=f"backfill the demo window ({DEMO_START[:10]} .. {DEMO_END[:10]}) and print a summary")
    d.add_argument("--start", type=utc_hour, default=DEMO_START)
    d.add_argument("--end", type=utc_hour, default=DEMO_END)
    d.add_argument("--chunk-hours", type=positive_int, default=168)
    d.set_defaults(fn=cmd_demo)

    sub.add_parser("status", help="what is materialised, failing checks, kill switch").set_defaults(fn=cmd_status)
    sub.add_parser("report", help="materialise the performance report and print the per-layer table").set_defaults(fn=cmd_report)

    k = sub.add_parser("kill-switch", help="show, reset (by a person) or trip the kill switch")
    k.add_argument("action", choices=["status", "reset", "trip"])
    k.add_argument("--by", default="", help="the person who resets or trips it (required for both)")
    k.add_argument("--note", default="")
    k.set_defaults(fn=cmd_kill_switch)

    u = sub.add_parser("ui", help="open the Dagster UI on this instance")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(fn=cmd_ui)

    sub.add_parser("init-db", help="create the instance, the kill-switch table and the order journal where missing"
                   ).set_defaults(fn=cmd_init_db)
    sv = sub.add_parser("run", help="start the service: UI + daemon, every schedule and sensor on (paper/live); "
                        "refuses while the kill switch is tripped or the book and venues disagree")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=3000)
    sv.set_defaults(fn=cmd_run)
    sub.add_parser("prelive", help="the pre-live checklist (kill switch, feed, uptime, signals, risk bounds, "
                   "error rate, reconciliation); refuses while any check fails").set_defaults(fn=cmd_prelive)

    r = sub.add_parser("purge-runs", help="delete run records (events) older than N days; Parquet outputs and the book stay")
    r.add_argument("--older-than-days", type=non_negative_int, default=30)
    r.add_argument("--dry-run", action="store_true", help="say what would be forgotten, delete nothing")
    r.set_defaults(fn=cmd_purge_runs)

    rh = sub.add_parser("replay-hour", help="re-make a stored hour in a scratch instance and diff it with what is stored")
    rh.add_argument("--hour", type=utc_hour, required=True, help=f"the hour, {ACCEPTED_FORM}")
    rh.add_argument("--keep-scratch", action="store_true", help="keep the scratch instance and storage (prints where)")
    rh.set_defaults(fn=cmd_replay_hour)
    rw = sub.add_parser("replay-window", help="re-make stored hours [start, end) in a scratch instance and diff them")
    rw.add_argument("--start", type=utc_hour, required=True, help=f"first hour, {ACCEPTED_FORM}")
    rw.add_argument("--end", type=utc_hour, required=True, help="end hour (exclusive), same form")
    rw.add_argument("--chunk-hours", type=positive_int, default=24, help="hours per replay run (default 24)")
    rw.add_argument("--keep-scratch", action="store_true", help="keep the scratch instance and storage (prints where)")
    rw.set_defaults(fn=cmd_replay_window)
    rm = sub.add_parser("replay-manifest", help="what an hour consumed and produced: asset, partition, data version, hash, run")
    rm.add_argument("--hour", type=utc_hour, required=True, help=f"the hour, {ACCEPTED_FORM}")
    rm.set_defaults(fn=cmd_replay_manifest)
    ex = sub.add_parser("explain", help="an order's chain: market data -> signal -> allocation -> intent -> fill -> P&L")
    ex.add_argument("order_id", help="a client order id (order_intents_1h / fills_1h), e.g. pp-L3-20d6cdd7e20c07bb50c30082")
    ex.set_defaults(fn=cmd_explain)
    from pipelines.cli_input import positive_count
    from pipelines.operator import DEFAULT_TOP

    sc = sub.add_parser("scan", help="one hour's L1 funding-carry candidates from the configured exchange, entries first")
    sc.add_argument("--hour", type=utc_hour, default=None,
                    help=f"the hour, {ACCEPTED_FORM} (default: the data's last hour; paper/live: the last complete hour)")
    sc.add_argument("--top", type=positive_count, default=DEFAULT_TOP, help=f"rows printed (default {DEFAULT_TOP})")
    sc.set_defaults(fn=cmd_scan)
    sub.add_parser("audit", help="read-only connectivity and permission check of the configured exchanges (no orders)"
                   ).set_defaults(fn=cmd_audit)

    add_journal_parser(sub)
    add_orders_parser(sub)
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


def _env_first(argv: list[str] | None) -> None:
    """Set ``PERPETUA_ENV`` from ``--env`` before the dates are parsed: their messages name that env's data."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env")
    known, _ = pre.parse_known_args(argv)
    if known.env in ENVIRONMENTS:  # the partitions (and every window check) follow the environment
        os.environ["PERPETUA_ENV"] = known.env


def main(argv: list[str] | None = None) -> int:
    from pipelines.instance_access import quiet_reconnect_notices

    _env_first(argv)
    args = parser().parse_args(argv)
    _quiet_warnings()
    quiet_reconnect_notices()
    s = settings(args.env)
    pd.set_option("display.width", 140)
    try:
        return int(args.fn(args, s))
    except StorageUnreachable as exc:
        print(f"perpetua: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except STORAGE_ERRORS as exc:  # a command without its own translation
        print(f"perpetua: {unreachable(s.home / 'dagster.yaml', error_reason(exc))}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ValueError as exc:
        print(f"perpetua: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
