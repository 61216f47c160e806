"""Dagster's share of Perpetua's hourly cycle and of a backfill: ``python -m benchmarks.run [--quick]``.

(a) ONE ``hourly_cycle`` run of a mid-sample hour (23 warm-up hours materialised first, untimed)
    on a fresh on-disk SQLite instance and on the in-memory ephemeral instance, against the same
    hour computed directly (``benchmarks.pure``); median of ``--repeats`` after a discarded warm run.
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
from quant.universe import Universe  # noqa: E402
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
    """(a): interleaved repeats of the four ways to compute one hour; the first round is discarded."""
    end = MID_HOUR + HOUR
    lookback = pure.lookback_of(ex, uni, MID_HOUR)
    samples: dict[str, list[float]] = {"pure": [], "pure_io": [], "memory": [], "sqlite": []}
    events: dict[str, int] = {}
    types: dict[str, dict[str, int]] = {}
    warmups: dict[str, list[float]] = {"memory": [], "sqlite": []}
    for i in range(repeats + 1):
        p = pure.measure(ex, uni, MID_HOUR, end, lookback)
        pio = pure.measure(ex, uni, MID_HOUR, end, lookback, parquet=True)
        runs = {}
        with harness.stderr_to(log):
            for kind in ("memory", "sqlite"):
                runs[kind] = harness.hourly(kind, MID_HOUR)
        if not all(r.success for r in runs.values()):
            raise RuntimeError(f"hourly run failed: {runs}")
        tag = "warm-up round (discarded)" if i == 0 else f"repeat {i}/{repeats}"
        say(
            f"  hourly {tag}: pure {p.seconds:.3f}s, pure+Parquet {pio.seconds:.3f}s, "
            f"in-memory {runs['memory'].seconds:.3f}s, SQLite {runs['sqlite'].seconds:.3f}s"
        )
        if i == 0:
            continue
        samples["pure"].append(p.seconds)
        samples["pure_io"].append(pio.seconds)
        for kind, r in runs.items():
            samples[kind].append(r.seconds)
            events[kind] = r.events
            types[kind] = r.event_types
            warmups[kind].append(r.warmup_seconds)
    med = {k: statistics.median(v) for k, v in samples.items()}
    label = f"{span(MID_HOUR, end)} (after 23 warm-up hours)"
    name = f"one hourly run, median of {repeats}"
    rows = [
        Row(name, "SQLite on disk", label, 1, med["sqlite"], med["pure"], med["pure_io"], events["sqlite"]),
        Row(name, "in-memory", label, 1, med["memory"], med["pure"], med["pure_io"], events["memory"]),
    ]
    raw = {
        "partition": f"{MID_HOUR:%Y-%m-%d-%H:%M}",
        "samples_s": samples,
        "median_s": med,
        "events": events,
        "event_types": types,
        "warmup_run_s": warmups,
        "violations": p.violations,
        "rows": p.rows,
    }
    return rows, raw


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

    say(f"(a) one hourly run of {MID_HOUR:%Y-%m-%d %H:00} UTC, {repeats} repeats")
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
