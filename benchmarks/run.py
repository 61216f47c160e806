"""Dagster's share of Perpetua's hourly cycle and of a backfill: ``python -m benchmarks.run [--quick]``.

(a) ONE-hour ``hourly_cycle`` runs of mid-sample hours (the warm-up hours materialised first,
    untimed) on a fresh on-disk SQLite instance and on the in-memory ephemeral instance, against
    the same hours computed directly (``benchmarks.pure``); median of ``--repeats`` consecutive
    hours after a discarded first one.
(b) Backfill windows as ONE run: the sample's last week in memory and on SQLite, then the largest
    window that fits ``--budget-s`` in memory (the whole sample when it fits), against the pure
    computation of the same window and of the whole sample.

Prints a markdown table and writes ``benchmarks/out/results.json``; Dagster's console log goes
to ``benchmarks/out/dagster.log``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
warnings.filterwarnings("ignore", message=".*(preview|beta|deprecated).*")

import pandas as pd  # noqa: E402

from benchmarks import harness, pure  # noqa: E402
from benchmarks.report import Row, load, machine, markdown, sample_data  # noqa: E402
from quant.market_data.universe import Universe  # noqa: E402
from resources.exchange.replay import ReplayExchange  # noqa: E402
from resources.market import MarketUniverse  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
HOUR = pd.Timedelta(hours=1)
#: A mid-sample hour on the 8h funding grid (every funding interval settles in it).
MID_HOUR = pd.Timestamp("2025-06-18 16:00", tz="UTC")
SAMPLE_START = pure.FIRST_HOUR
SAMPLE_END = pd.Timestamp("2025-10-01 00:00", tz="UTC")
SAMPLE_HOURS = int((SAMPLE_END - SAMPLE_START) / HOUR)
WEEK_H = 168


def say(msg: str) -> None:
    print(msg, flush=True)


def span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    return f"{start:%Y-%m-%d %H:00} → {end:%Y-%m-%d %H:00}"


def timed_import() -> dict[str, float]:
    """Import great-expectations before anything is timed (~5 s; dagster is imported with this module)."""
    out = {}
    for name in ("great_expectations",):
        t0 = time.perf_counter()
        __import__(name)
        out[name] = round(time.perf_counter() - t0, 3)
    return out


def bench_hourly(ex: ReplayExchange, uni: Universe, repeats: int, log: Path) -> tuple[list[Row], dict]:
    """(a): ``repeats + 1`` consecutive hours from MID_HOUR, each computed four ways; the first is discarded."""
    hours = [MID_HOUR + i * HOUR for i in range(repeats + 1)]
    samples: dict[str, list[float]] = {"pure": [], "pure_io": []}
    for i, hour in enumerate(hours):
        lookback = pure.lookback_of(ex, uni, hour)
        p = pure.measure(ex, uni, hour, hour + HOUR, lookback)
        pio = pure.measure(ex, uni, hour, hour + HOUR, lookback, parquet=True)
        say(
            f"  pure {hour:%H:00}: {p.seconds:.3f}s, with Parquet {pio.seconds:.3f}s"
            + (" (discarded)" * (i == 0))
        )
        if i:
            samples["pure"].append(p.seconds)
            samples["pure_io"].append(pio.seconds)
    runs = {}
    for kind in ("memory", "sqlite"):
        with harness.stderr_to(log):
            runs[kind] = harness.hourly(kind, MID_HOUR, len(hours))
        if not all(r.success for r in runs[kind]):
            raise RuntimeError(f"an hourly run failed on {kind}")
        times = ", ".join(f"{r.seconds:.2f}" for r in runs[kind])
        say(
            f"  {kind}: warm-up {runs[kind][0].warmup_seconds:.1f}s, then hourly runs {times} s (first discarded)"
        )
        samples[kind] = [r.seconds for r in runs[kind][1:]]
    med = {k: statistics.median(v) for k, v in samples.items()}
    events = {k: statistics.median(r.events for r in v[1:]) for k, v in runs.items()}
    label = f"{span(hours[1], hours[-1] + HOUR)}, each hour after {harness.WARMUP_HOURS} warm-up hours"
    name = f"one hourly run, median of {repeats}"
    rows = [
        Row(
            name,
            "SQLite on disk",
            label,
            1,
            med["sqlite"],
            med["pure"],
            med["pure_io"],
            int(events["sqlite"]),
        ),
        Row(name, "in-memory", label, 1, med["memory"], med["pure"], med["pure_io"], int(events["memory"])),
    ]
    raw = {
        "partitions": [f"{h:%Y-%m-%d-%H:%M}" for h in hours[1:]],
        "discarded": f"{hours[0]:%Y-%m-%d-%H:%M}",
        "samples_s": samples,
        "median_s": med,
        "events": events,
        "event_types": {k: v[-1].event_types for k, v in runs.items()},
        "warmup_run_s": {k: v[0].warmup_seconds for k, v in runs.items()},
        "warmup_result_events": {k: v[0].warmup_result_events for k, v in runs.items()},
        "violations": p.violations,
        "rows": p.rows,
    }
    return rows, raw


def coverage() -> dict[str, object]:
    """Which assets the ``hourly_cycle`` job materialises, and whether ``benchmarks.pure`` computes the same."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def("hourly_cycle")
    assets = sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
    checks = sorted(str(k) for k in job.asset_layer.asset_graph.asset_check_keys)
    missing = sorted(set(assets) - set(pure.ASSETS))
    if missing:
        say(f"WARNING: benchmarks.pure does not compute {missing}: the 'pure' column undercounts the job")
    return {
        "job_assets": assets,
        "job_checks": len(checks),
        "pure_assets": list(pure.ASSETS),
        "not_in_pure": missing,
    }


def bench_window(
    ex: ReplayExchange,
    uni: Universe,
    kinds: list[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    log: Path,
    name: str,
    *,
    with_io: bool = True,
) -> tuple[list[Row], dict]:
    """(b): [start, end) as one Dagster run per instance kind, and the same window computed directly."""
    lookback = pure.lookback_of(ex, uni, start)
    p = pure.measure(ex, uni, start, end, lookback)
    pio = pure.measure(ex, uni, start, end, lookback, parquet=True) if with_io else None
    say(
        f"  {span(start, end)}: pure {p.seconds:.2f}s" + (f", pure+Parquet {pio.seconds:.2f}s" if pio else "")
    )
    pio_s = pio.seconds if pio else None
    rows: list[Row] = []
    raw: dict = {"window": span(start, end), "hours": p.hours, "pure_s": p.seconds, "pure_io_s": pio_s}
    raw |= {"violations": p.violations, "rows": p.rows}
    for kind in kinds:
        with harness.stderr_to(log):
            r = harness.window(kind, start, end)
        say(
            f"  {span(start, end)} on {kind}: {r.seconds:.1f}s, {r.events:,} events "
            f"({r.events / r.seconds:.0f}/s); warm-up run {r.warmup_seconds:.1f}s"
        )
        instance = "SQLite on disk" if kind == "sqlite" else "in-memory"
        rows.append(Row(name, instance, span(start, end), r.hours, r.seconds, p.seconds, pio_s, r.events))
        raw[kind] = {
            "seconds": r.seconds,
            "events": r.events,
            "result_events": r.result_events,
            "warmup_run_s": r.warmup_seconds,
            "warmup_result_events": r.warmup_result_events,
            "event_types": r.event_types,
        }
    return rows, raw


def choose_window(seconds_per_hour: float, budget_s: float) -> tuple[pd.Timestamp, str, float]:
    """The whole sample if its in-memory estimate fits the budget, else the largest whole-day window that does."""
    estimate = seconds_per_hour * SAMPLE_HOURS
    if estimate <= budget_s:
        return SAMPLE_START, "whole sample", estimate
    hours = max(WEEK_H, int(budget_s / seconds_per_hour) // 24 * 24)
    return SAMPLE_END - hours * HOUR, f"largest window fitting {budget_s:.0f} s", estimate


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: a 24h window and 3 repeats")
    ap.add_argument("--repeats", type=int, default=None, help="hourly repeats (default 5, 3 with --quick)")
    ap.add_argument(
        "--budget-s",
        type=float,
        default=600.0,
        help="longest in-memory backfill run to attempt (default 600 s)",
    )
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default benchmarks/out)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = out / "dagster.log"
    log.write_text("")
    started = time.perf_counter()
    load_start = load()
    imports = timed_import()
    ex, uni = ReplayExchange(), MarketUniverse().get()
    info = machine()
    say(
        f"machine: {info['nproc']} × {info['cpu_model']}, {info['ram_gib']} GiB, Python {info['python']}, "
        f"dagster {info['dagster']}; load {load_start}; imports {imports}"
    )

    graph = coverage()
    say(f"hourly_cycle: {len(graph['job_assets'])} assets, {graph['job_checks']} checks")
    say(f"(a) one hourly run from {MID_HOUR:%Y-%m-%d %H:00} UTC, {repeats} repeats")
    rows, hourly_raw = bench_hourly(ex, uni, repeats, log)

    short_h = 24 if args.quick else WEEK_H
    short_start = SAMPLE_END - short_h * HOUR
    name = f"backfill, one run of {short_h} h"
    say(f"(b) {name}")
    short_rows, short_raw = bench_window(ex, uni, ["memory", "sqlite"], short_start, SAMPLE_END, log, name)
    rows += short_rows
    windows = [short_raw]
    decision = None
    if not args.quick:
        rate = short_raw["memory"]["seconds"] / short_h
        start, why, estimate = choose_window(rate, args.budget_s)
        decision = {
            "seconds_per_hour_in_memory": rate,
            "whole_sample_estimate_s": estimate,
            "budget_s": args.budget_s,
            "chosen": why,
            "window": span(start, SAMPLE_END),
        }
        say(f"  whole sample in memory estimated at {estimate:.0f}s -> {why}: {span(start, SAMPLE_END)}")
        big_h = int((SAMPLE_END - start) / HOUR)
        name = f"backfill, one run of {big_h:,} h ({why})"
        big_rows, big_raw = bench_window(ex, uni, ["memory"], start, SAMPLE_END, log, name)
        rows += big_rows
        windows.append(big_raw)
        if start != SAMPLE_START:
            _, full_raw = bench_window(ex, uni, [], SAMPLE_START, SAMPLE_END, log, "", with_io=False)
            rows.append(
                Row(
                    "pure computation only, whole sample",
                    "none",
                    full_raw["window"],
                    full_raw["hours"],
                    None,
                    full_raw["pure_s"],
                    None,
                    None,
                )
            )
            windows.append(full_raw)

    table = markdown(rows)
    say("\n" + table)
    result = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": info,
        "load_average": {"start": load_start, "end": load()},
        "import_seconds": imports,
        "data": {
            **sample_data(),
            "sample_window": span(SAMPLE_START, SAMPLE_END),
            "sample_hours": SAMPLE_HOURS,
        },
        "graph": graph,
        "hourly": hourly_raw,
        "windows": windows,
        "window_choice": decision,
        "rows": [r.as_json() for r in rows],
        "table_markdown": table,
        "total_seconds": time.perf_counter() - started,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    say(f"\nwrote {out / 'results.json'} in {result['total_seconds']:.0f}s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
