"""The audit's cost, lever by lever: ``python -m benchmarks.audit [--hours 48] [--repeats 5] [--whole]``.

One process, side by side, on the same window of real data (default: 48 hours of the 2026 window):

1. the pure computation (``benchmarks.pure``: the same fetches, quant functions and check rules,
   no Dagster) and the same with the Parquet I/O the IO manager does;
2. ONE single-run range of ``hourly_cycle`` on a fresh SQLite instance per storage choice, each
   adding one lever on top of the last: Dagster's own SQLite event log; the pooled WAL event log
   (``resources.instance_storage``) with one planned event per hour; + planned events as a
   partition subset; + Dagster's batched materialisation writes (``DAGSTER_EVENT_BATCH_SIZE``),
   which is what ``perpetua`` runs; and Dagster's in-memory instance as the floor;
3. orchestration per asset-partition = (wall − pure with I/O) / (assets × hours), events per hour;
4. one-hour ``hourly_cycle`` runs (median of ``--repeats`` after a discarded first) against one pure hour;
5. with ``--whole``: the whole bundled data (both windows) as ``perpetua backfill`` runs it.

Writes ``benchmarks/out/audit.json`` and prints a markdown table. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
warnings.filterwarnings("ignore")

import pandas as pd  # noqa: E402
from dagster import DagsterInstance  # noqa: E402

from benchmarks import pure  # noqa: E402
from benchmarks.harness import RUN_CONFIG, stderr_to  # noqa: E402
from benchmarks.report import load, machine  # noqa: E402
from checks.engine import partition_key  # noqa: E402
from pipelines.definitions import build_definitions  # noqa: E402
from pipelines.environments import Settings  # noqa: E402
from pipelines.instance import EVENT_BATCH_SIZE, HEADER  # noqa: E402
from pipelines.jobs import ML_EVALUATION_JOB, ML_FOLD_JOB  # noqa: E402
from pipelines.runner import WARMUP_HOURS, WARMUP_JOB, run_window  # noqa: E402
from resources.exchange.replay import ReplayExchange  # noqa: E402
from resources.instance_storage import EVENT_LOG_YAML  # noqa: E402
from resources.market import MarketUniverse  # noqa: E402
from resources.partitions import SAMPLE_WINDOWS  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
HOUR = pd.Timedelta(hours=1)
#: Inside one fold's week (a range never crosses a Monday: the fold after it learns from its hours).
DEFAULT_START = pd.Timestamp("2026-02-03 00:00", tz="UTC")
#: (name, event_log yaml or None for Dagster's own, planned subsets, batched writes); "memory" apart.
LEVERS = (
    ("Dagster's SQLite event log", None, False, False),
    ("+ pooled WAL event log", "pooled", False, False),
    ("+ planned events as partition subsets", "pooled", True, False),
    ("+ batched materialisation writes (perpetua's default)", "pooled", True, True),
)


def say(msg: str) -> None:
    print(msg, flush=True)


def instance_config(home: Path, storage: str | None, subsets: bool) -> str:
    if storage is None:
        return HEADER
    block = EVENT_LOG_YAML.format(base_dir=home / "history" / "runs")
    return HEADER + block + ("" if subsets else "    planned_subsets: false\n")


@contextmanager
def fresh(storage: str | None, subsets: bool, batched: bool) -> Iterator[tuple[Settings, DagsterInstance]]:
    """A new local environment in a temp folder with the given event-log choice (None: in-memory)."""
    saved = os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    if batched:
        os.environ["DAGSTER_EVENT_BATCH_SIZE"] = str(EVENT_BATCH_SIZE)
    # the runner turns planned subsets on for range runs unless told not to: rows without the lever say so
    os.environ["PERPETUA_PLANNED_SUBSETS"] = "1" if subsets else "0"
    with tempfile.TemporaryDirectory(prefix="perpetua-audit-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_config(home, storage, subsets))
        s = Settings("local", home, str(root / "storage"), f"sqlite:///{root / 'ks.db'}")
        inst = DagsterInstance.ephemeral() if storage == "memory" else DagsterInstance.from_config(str(home))
        try:
            with inst:
                yield s, inst
        finally:
            os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)
            os.environ.pop("PERPETUA_PLANNED_SUBSETS", None)
            if saved is not None:
                os.environ["DAGSTER_EVENT_BATCH_SIZE"] = saved


def event_types(inst: DagsterInstance, run_id: str) -> dict[str, int]:
    return dict(Counter(e.dagster_event.event_type_value for e in inst.all_logs(run_id) if e.dagster_event).most_common())


def range_run(storage: str | None, subsets: bool, batched: bool, start: pd.Timestamp, hours: int, log: Path) -> dict:
    """The warm-up (untimed), then [start, start + hours) as ONE hourly_cycle run."""
    with fresh(storage, subsets, batched) as (s, inst), stderr_to(log):
        defs = build_definitions(s)
        gc.collect()
        results = run_window(defs, inst, start, start + hours * HOUR, chunk_hours=hours)
        main = [c for c in results if c.job == "hourly_cycle"]
        warm = [c for c in results if c.job == WARMUP_JOB]
        ml = [c for c in results if c.job in (ML_FOLD_JOB, ML_EVALUATION_JOB)]  # per week, not per hour
        if len(main) != 1 or not all(c.success for c in results):
            raise RuntimeError(f"range run failed (or crossed a fold's Monday): {[c.error for c in results]}")
        types = event_types(inst, main[0].run_id)
        assets = len(defs.resolve_job_def("hourly_cycle").asset_layer.executable_asset_keys)
        return {"seconds": main[0].seconds, "events": sum(types.values()), "event_types": types, "assets": assets,
                "warmup_seconds": sum(c.seconds for c in warm),
                "warmup_events": sum(sum(event_types(inst, c.run_id).values()) for c in warm),
                "ml_fold_seconds": sum(c.seconds for c in ml), "ml_fold_events": sum(c.events for c in ml)}


def hourly_runs(start: pd.Timestamp, repeats: int, log: Path) -> dict:
    """``repeats + 1`` one-hour runs on perpetua's default instance after the warm-up; the first is discarded."""
    with fresh("pooled", True, True) as (s, inst), stderr_to(log):
        defs = build_definitions(s)
        warm = run_window(defs, inst, start - WARMUP_HOURS * HOUR, start, job_name=WARMUP_JOB,
                          chunk_hours=WARMUP_HOURS, warmup_hours=0)
        if not all(c.success for c in warm):
            raise RuntimeError(f"warm-up failed: {[c.error for c in warm]}")
        job = defs.resolve_job_def("hourly_cycle")
        seconds, events = [], []
        for i in range(repeats + 1):
            gc.collect()
            t0 = time.perf_counter()
            res = job.execute_in_process(instance=inst, partition_key=partition_key(start + i * HOUR),
                                         run_config=RUN_CONFIG, raise_on_error=False)
            seconds.append(time.perf_counter() - t0)
            if not res.success:
                raise RuntimeError(f"hourly run {start + i * HOUR} failed")
            events.append(sum(event_types(inst, res.run_id).values()))
    return {"samples_s": seconds[1:], "median_s": statistics.median(seconds[1:]), "events": statistics.median(events[1:])}


def pure_times(start: pd.Timestamp, hours: int) -> dict:
    ex, uni = ReplayExchange(), MarketUniverse().get()
    end = start + hours * HOUR
    lookback = pure.lookback_of(ex, uni, start)
    pure.measure(ex, uni, start, start + HOUR, lookback)  # discarded: numba compiles, caches fill
    p = pure.measure(ex, uni, start, end, lookback)
    pio = pure.measure(ex, uni, start, end, lookback, parquet=True)
    one = [pure.measure(ex, uni, start + i * HOUR, start + (i + 1) * HOUR, pure.lookback_of(ex, uni, start + i * HOUR))
           for i in range(4)]
    return {"pure_s": p.seconds, "pure_io_s": pio.seconds, "pure_hour_s": statistics.median(r.seconds for r in one[1:])}


def whole_sample(log: Path) -> dict:
    """Both windows through ``run_window`` as ``perpetua backfill`` does (weekly single runs)."""
    with fresh("pooled", True, True) as (s, inst), stderr_to(log):
        defs = build_definitions(s)
        t0 = time.perf_counter()
        results = run_window(defs, inst, SAMPLE_WINDOWS[0][0], SAMPLE_WINDOWS[-1][1])
        wall = time.perf_counter() - t0
    hours = sum(int((b - a) / HOUR) for a, b in SAMPLE_WINDOWS)
    return {"seconds": wall, "hours": hours, "runs": len(results), "success": all(c.success for c in results),
            "events": sum(c.events for c in results), "failed": [c.error for c in results if not c.success]}


def table(rows: list[dict], pure_io: float, hours: int) -> str:
    lines = ["| instance / lever | wall s | events | events / h | ms per asset-partition (wall − pure+I/O) |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        per = (r["seconds"] - pure_io) / (r["assets"] * hours) * 1000
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {r['events']:,} | {r['events'] / hours:.1f} | {per:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.audit", description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=int, default=48)
    ap.add_argument("--start", default=str(DEFAULT_START))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--whole", action="store_true", help="also backfill the whole bundled data (~minutes)")
    ap.add_argument("--only-hourly", action="store_true", help="only the one-hour runs (e.g. with PERPETUA_PARTITIONS=open)")
    args = ap.parse_args(argv)
    start = pd.Timestamp(args.start).tz_convert("UTC") if pd.Timestamp(args.start).tzinfo else pd.Timestamp(args.start, tz="UTC")
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "audit_dagster.log"
    info = machine()
    say(f"machine: {info['nproc']} x {info['cpu_model']}, load {load()}; window {start:%Y-%m-%d %H:00} + {args.hours} h")
    p = pure_times(start, args.hours)
    say(f"  pure {p['pure_s']:.2f}s, pure+Parquet {p['pure_io_s']:.2f}s, one pure hour {p['pure_hour_s']:.3f}s")
    say(f"  partitions: {os.environ.get('PERPETUA_PARTITIONS', 'windows')}")
    rows = []
    levers = () if args.only_hourly else (*LEVERS, ("Dagster in-memory instance (floor, not persistent)", "memory", True, True))
    for name, storage, subsets, batched in levers:
        r = range_run(storage, subsets, batched, start, args.hours, log) | {"name": name}
        rows.append(r)
        say(f"  {name}: {r['seconds']:.1f}s, {r['events']:,} events; warm-up {r['warmup_seconds']:.1f}s, {r['warmup_events']:,} events")
    hourly = hourly_runs(start, args.repeats, log)
    say(f"  one-hour runs: median {hourly['median_s']:.2f}s ({hourly['events']:.0f} events) vs pure {p['pure_hour_s']:.3f}s")
    whole = whole_sample(log) if args.whole else None
    if whole:
        say(f"  whole sample: {whole['seconds']:.0f}s for {whole['hours']} h in {whole['runs']} runs, {whole['events']:,} events")
    md = table(rows, p["pure_io_s"], args.hours) if rows else ""
    say("\n" + md)
    result = {"machine": info, "load_end": load(), "window": f"{start:%Y-%m-%d %H:00} + {args.hours} h", **p,
              "levers": rows, "hourly": hourly, "whole_sample": whole, "table_markdown": md}
    name = "audit_hourly_open.json" if args.only_hourly else "audit.json"
    (OUT / name).write_text(json.dumps(result, indent=2, default=str))
    say(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
