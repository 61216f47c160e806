"""Every layer's quant functions ONCE over one long range: N synthetic symbols × Y years (issue 11).

``python -m benchmarks.range_scale [--symbols 50] [--years 2 | --hours H | --bundled] [--stages …] [--label after]``

The universe is ``benchmarks.synthetic`` (block-bootstrapped from the bundled real data; its
docstring says how). The hours are [FIRST, FIRST + H) with FIRST the first hourly partition;
the source tables start :data:`benchmarks.pure.LOOKBACK` earlier, so every look-back of the first
hour is full, as a backfill's upstream read would be. Then, each called once over the whole range
(no per-hour or per-week chunking) and timed on its own, the calls ``benchmarks.pure`` makes per
window:

==============  ==============================================================================
``sources``     ``ohlcv_table`` / ``funding_table`` / ``open_interest_table`` from the
                per-instrument exchange frames (generating those frames is not timed)
``universe``    ``universe_scan``
``features``    ``compute_features``
``regime``      ``regime_scores``
``carry``       ``calm_market`` + ``quant.carry.scan``
``cascade``     ``armed_cascade_scores`` (open interest borrowed per coin, the 24h arming replay)
``tail_hedge``  ``tail_hedge_signals`` on the bundled Deribit ETH snapshot (parsed once, untimed,
                as ``benchmarks.pure``): one strangle per hour, the chain recentred each hour
``ml``          ``prediction_rows`` with no trained ensemble (the untrained rows of
                ``benchmarks.pure``) in ONE call; the fold column is then set per hour's week
                (a trained run calls it once per fold, with that fold's ensemble)
``book``        ``quant.book.step.run_book`` from a fresh book over every hour (no ``strategies``
                input: the strategy layer is not part of this benchmark)
==============  ==============================================================================

Symbol-hours are instruments (coin × venue, 2 per coin) × hours. ``--stages`` times the stages
named and runs the ones they read, untimed.

``--pipelined [--chunk-h 2000]`` runs every stage as the range engine does on two cores
(``pipelines.range_pipeline``): the hours in chunks, each chunk's sources and layers (with their
look-back) and the book's inputs split by hour (``range_inputs``) made by a worker process while
this one steps the book through the chunk before; the
wall time from the first source row to the book's last table is what it reports, beside the
book's own seconds, the time the book waited for the worker, and the worker's seconds per stage.
The chunked tables equal the serial run's (``tests/pipelines/test_range_pipeline.py``). Results go to ``benchmarks/out/range_scale.json``,
keyed by label and shape. Timings are printed and stored, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from assets.signals import CASCADE, HEDGE
from benchmarks.pure import FIRST_HOUR, LOOKBACK
from benchmarks.synthetic import PERP_VENUES, raw_parts, source_tables
from pipelines.range_pipeline import CHUNK_H, chunks_of, pipelined
from quant.book.params import BookParams
from quant.book.step import fresh_state, range_inputs, run_book, run_book_on
from quant.carry import scan as carry_scan
from quant.cascade.arming import armed_cascade_scores
from quant.features.hourly import compute_features
from quant.features.regime import calm_market, regime_scores
from quant.market_data import tables as md
from quant.ml.predictions import prediction_rows
from quant.options.chain import parse_book_summary_cached
from quant.options.tail_hedge import tail_hedge_signals
from resources.exchange.replay import SAMPLE_WINDOWS
from resources.exchange.replay_options import ReplayOptions

OUT = Path(__file__).parent / "out" / "range_scale.json"
HOURS_PER_YEAR = 24 * 365
#: The horizon ``benchmarks.pure`` gives the untrained prediction rows.
ML_HORIZON_H = 4
Tables = dict[str, pd.DataFrame]


def _window(t: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """Rows of ``t`` stamped inside ``hours`` (what ``benchmarks.pure``'s ``load(asset, NONE)`` returns)."""
    return t[(t["hour"] >= hours[0]) & (t["hour"] <= hours[-1])]


def fold_keys(hours: pd.Series) -> pd.Series:
    """The weekly fold key (its Monday, ``YYYY-MM-DD``) of each hour, as ``resources.partitions.FOLDS`` names it."""
    monday = hours.dt.normalize() - pd.to_timedelta(hours.dt.day_of_week, unit="D")
    keys = pd.Series(monday.unique())
    return monday.map(dict(zip(keys, keys.dt.strftime("%Y-%m-%d"), strict=True)))


def _ml(t: Tables, hours: pd.DatetimeIndex) -> pd.DataFrame:
    frame = t["features_1h"].merge(_window(t["perp_ohlcv_1h"], hours)[["hour", "venue", "symbol", "sigma_1h"]],
                                   on=["hour", "venue", "symbol"], how="left")
    rows = prediction_rows(frame, hours, ensemble=None, fold="", model_version="", horizon_h=ML_HORIZON_H,
                           no_model_reason="too little history")
    rows["fold"] = fold_keys(rows["hour"]).astype(object)
    return rows


def _book(t: Tables, hours: pd.DatetimeIndex) -> pd.DataFrame:
    out, _ = run_book(fresh_state(), hours, _window(t["perp_ohlcv_1h"], hours), _window(t["funding_settlements"], hours),
                      t["carry_signals_1h"], t["cascade_signals_1h"], t["tail_hedge_signals_1h"], BookParams(),
                      ml=t["model_predictions_1h"])
    return out.ledger


_CHAIN: list = []


def _tail(t: Tables, hours: pd.DatetimeIndex) -> pd.DataFrame:
    return tail_hedge_signals(_CHAIN, _window(t["perp_ohlcv_1h"], hours), hours, underlying=HEDGE)


#: stage -> (tables it reads, table it writes, the call).
STAGES: dict[str, tuple[tuple[str, ...], str, Callable[[Tables, pd.DatetimeIndex], pd.DataFrame]]] = {
    "universe": (("perp_ohlcv_1h", "funding_settlements"), "universe_scan_1h",
                 lambda t, h: md.universe_scan(t["perp_ohlcv_1h"], t["funding_settlements"], h)),
    "features": (("perp_ohlcv_1h",), "features_1h", lambda t, h: compute_features(t["perp_ohlcv_1h"], h)),
    "regime": (("features_1h",), "regime_scores_1h", lambda t, h: regime_scores(t["features_1h"])),
    "carry": (("universe_scan_1h", "regime_scores_1h"), "carry_signals_1h",
              lambda t, h: carry_scan(t["universe_scan_1h"], hibernate=calm_market(t["regime_scores_1h"], h))),
    "cascade": (("open_interest_1h", "perp_ohlcv_1h", "funding_settlements"), "cascade_signals_1h",
                lambda t, h: armed_cascade_scores(t["open_interest_1h"], t["perp_ohlcv_1h"], t["funding_settlements"], h,
                                                  CASCADE)),
    "tail_hedge": (("perp_ohlcv_1h",), "tail_hedge_signals_1h", _tail),
    "ml": (("features_1h", "perp_ohlcv_1h"), "model_predictions_1h", _ml),
    "book": (("perp_ohlcv_1h", "funding_settlements", "carry_signals_1h", "cascade_signals_1h",
              "tail_hedge_signals_1h", "model_predictions_1h"), "ledger_1h", _book),
}
SOURCE_TABLES = ("perp_ohlcv_1h", "funding_settlements", "open_interest_1h")
ALL = ("sources", *STAGES)


def needed(wanted: list[str]) -> list[str]:
    """``wanted`` and every stage they read from, in dependency (= :data:`ALL`) order."""
    writer = {out: name for name, (_, out, _) in STAGES.items()}
    need, todo = {"sources"}, [w for w in wanted if w != "sources"]
    while todo:
        name = todo.pop()
        if name not in need:
            need.add(name)
            todo += [writer[i] for i in STAGES[name][0] if i in writer]
    return [s for s in ALL if s in need]


def _universe(symbols: int, hours_n: int):
    """The range's hours, the sources' first hour, the synthetic frames and the seconds generating them took
    (the Deribit snapshot parsed once as well, untimed as in ``benchmarks.pure``)."""
    hours = md.hours_of(FIRST_HOUR, FIRST_HOUR + hours_n * pd.Timedelta(hours=1))
    first = FIRST_HOUR - LOOKBACK
    t0 = time.perf_counter()
    parts = raw_parts(symbols, first, hours[-1] + pd.Timedelta(hours=1))
    _CHAIN[:] = [parse_book_summary_cached(ReplayOptions().book_summary(HEDGE.currency))]
    return hours, first, parts, time.perf_counter() - t0


def run(symbols: int, hours_n: int, wanted: list[str]) -> dict:
    """Build the universe, run the stages, return per-stage seconds, rows and symbol-hours/s."""
    hours, first, parts, generate_s = _universe(symbols, hours_n)
    symbol_hours = symbols * len(PERP_VENUES) * len(hours)
    stages: dict[str, dict] = {}
    tables: Tables = {}
    for name in needed(wanted):
        gc.collect()
        t = time.perf_counter()
        if name == "sources":
            tables |= source_tables(parts, first)
            rows = sum(len(tables[k]) for k in SOURCE_TABLES)
        else:
            _, out, call = STAGES[name]
            tables[out] = call(tables, hours)
            rows = len(tables[out])
        s = time.perf_counter() - t
        stages[name] = {"seconds": round(s, 3), "rows": rows, "symbol_hours_per_s": round(symbol_hours / s),
                        "timed": name in wanted or wanted == list(ALL)}
        print(f"  {name:<11} {s:9.2f} s  {rows:>10,} rows", flush=True)
    total = sum(v["seconds"] for v in stages.values())
    return {"symbols": symbols, "instruments": symbols * len(PERP_VENUES), "hours": len(hours),
            "symbol_hours": symbol_hours, "generate_s": round(generate_s, 2), "stages": stages,
            "total_s": round(total, 2), "load_avg_before": None}


#: The tables the book reads: what a chunk of the pipelined run hands from the worker to the book.
BOOK_INPUTS = STAGES["book"][0]


class SyntheticLayers:
    """The pipelined run's maker: one chunk's source tables and every layer before the book (picklable).

    The sources of a chunk start :data:`LOOKBACK` before its first hour (the candles a further
    ``OHLCV_WARMUP`` before that, as :func:`benchmarks.synthetic.source_tables` reads) and end with
    its last hour, so every look-back is the one a whole-range run reads.
    """

    def __init__(self, parts, stages: list[str], *, keep_tables: bool = False) -> None:
        self.parts, self.stages, self.keep_tables = parts, stages, keep_tables

    def _parts_of(self, first: pd.Timestamp, end: pd.Timestamp):
        lo = first - md.OHLCV_WARMUP
        return tuple([(v, sym, f[(f["ts"] >= lo) & (f["ts"] < end)]) for v, sym, f in part] for part in self.parts)

    def __call__(self, hours: pd.DatetimeIndex) -> Tables:
        seconds: dict[str, float] = {}
        if not _CHAIN:  # in the worker process: the snapshot is parsed once there, untimed as in ``run``
            _CHAIN[:] = [parse_book_summary_cached(ReplayOptions().book_summary(HEDGE.currency))]
        t = time.perf_counter()
        first, end = hours[0] - LOOKBACK, hours[-1] + pd.Timedelta(hours=1)
        tables = source_tables(self._parts_of(first, end), first)
        seconds["sources"] = time.perf_counter() - t
        for name in self.stages:
            t = time.perf_counter()
            _, out, call = STAGES[name]
            tables[out] = call(tables, hours)
            seconds[name] = time.perf_counter() - t
        book = {k: _window(tables[k], hours) for k in BOOK_INPUTS}
        t = time.perf_counter()  # the book's inputs split by hour here, in the worker: the book only steps
        inputs = range_inputs(book["perp_ohlcv_1h"], book["funding_settlements"], book["carry_signals_1h"],
                              book["cascade_signals_1h"], book["tail_hedge_signals_1h"], BookParams(),
                              ml=book["model_predictions_1h"])
        seconds["book inputs"] = time.perf_counter() - t
        return (book if self.keep_tables else {}) | {"book_inputs": inputs, "stage_seconds": pd.DataFrame([seconds])}


def run_pipelined(symbols: int, hours_n: int, chunk_h: int = CHUNK_H, processes: bool = True) -> dict:
    """Every stage over the range as ``pipelines.range_pipeline`` runs it; returns wall, book, waited and worker seconds."""
    hours, first, parts, generate_s = _universe(symbols, hours_n)
    maker = SyntheticLayers(parts, [s for s in needed(["book"]) if s not in ("sources", "book")])
    gc.collect()
    t0 = time.perf_counter()
    state, ledgers, book_s, waited_s, stage_s, done_h = fresh_state(), [], 0.0, 0.0, {}, 0
    chunks = chunks_of(hours, chunk_h)
    for chunk in pipelined(maker, chunks, processes=processes):
        waited_s += chunk.waited_s
        for k, v in chunk.tables["stage_seconds"].iloc[0].items():
            stage_s[k] = stage_s.get(k, 0.0) + float(v)
        t = time.perf_counter()
        out, state = _book_chunk(state, chunk.tables, chunk.hours)
        ledgers.append(out.ledger)
        book_s += time.perf_counter() - t
        done_h += len(chunk.hours)
        spent = time.perf_counter() - t0
        print(f"  {chunk.hours[0]:%Y-%m-%d} .. {chunk.hours[-1]:%Y-%m-%d %H:00}: {spent:6.1f} s "
              f"(ETA {spent / done_h * (len(hours) - done_h):.0f} s)", flush=True)
    t = time.perf_counter()
    ledger = pd.concat(ledgers, ignore_index=True)
    book_s += time.perf_counter() - t
    wall = time.perf_counter() - t0
    return {"symbols": symbols, "instruments": symbols * len(PERP_VENUES), "hours": len(hours),
            "symbol_hours": symbols * len(PERP_VENUES) * len(hours), "generate_s": round(generate_s, 2),
            "chunk_h": chunk_h, "chunks": len(chunks), "processes": 2 if processes and len(chunks) > 1 else 1,
            "wall_s": round(wall, 2), "book_s": round(book_s, 2), "waited_s": round(waited_s, 2),
            "layer_stage_s": {k: round(v, 2) for k, v in stage_s.items()}, "ledger_rows": len(ledger)}


def _book_chunk(state, t: Tables, hours: pd.DatetimeIndex):
    if "book_inputs" in t:
        return run_book_on(state, hours, t["book_inputs"], BookParams())
    return run_book(state, hours, t["perp_ohlcv_1h"], t["funding_settlements"], t["carry_signals_1h"],
                    t["cascade_signals_1h"], t["tail_hedge_signals_1h"], BookParams(), ml=t["model_predictions_1h"])


def bundled_hours() -> int:
    """Hours of the bundled sample's windows (``SAMPLE_WINDOWS``): the hourly partitions it has."""
    return sum(len(md.hours_of(a, b)) for a, b in SAMPLE_WINDOWS)


def table(result: dict) -> str:
    lines = [f"{result['symbols']} symbols ({result['instruments']} instruments) × {result['hours']:,} hours "
             f"= {result['symbol_hours']:,} symbol-hours; load average {result['load_avg_before']}",
             "", "| stage | seconds | rows | symbol-hours/s |", "|---|---:|---:|---:|"]
    for name, s in result["stages"].items():
        lines.append(f"| {name} | {s['seconds']:.2f} | {s['rows']:,} | {s['symbol_hours_per_s']:,} |")
    lines.append(f"| **total** | **{result['total_s']:.2f}** | | {round(result['symbol_hours'] / result['total_s']):,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--years", type=float, default=2.0)
    ap.add_argument("--hours", type=int, default=None, help="overrides --years")
    ap.add_argument("--bundled", action="store_true", help="as many hours as the bundled sample's partitions")
    ap.add_argument("--stages", nargs="+", choices=ALL, default=list(ALL))
    ap.add_argument("--label", default="current", help="key of this measurement in the JSON (e.g. before, after)")
    ap.add_argument("--pipelined", action="store_true", help="every stage in chunks, the layers in a worker process "
                    "while the book steps (the two-core range engine)")
    ap.add_argument("--chunk-h", type=int, default=CHUNK_H, help="hours per chunk of --pipelined")
    ap.add_argument("--one-process", action="store_true", help="--pipelined's chunks, all made in this process")
    args = ap.parse_args(argv)
    hours_n = bundled_hours() if args.bundled else args.hours or round(args.years * HOURS_PER_YEAR)
    if args.symbols < 1 or hours_n < 1 or args.chunk_h < 1:
        ap.error("--symbols, the hours and --chunk-h must be positive")
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"range_scale: {args.symbols} symbols × {hours_n:,} hours (load average {load}, {os.cpu_count()} cores)")
    if args.pipelined:
        result = run_pipelined(args.symbols, hours_n, args.chunk_h, processes=not args.one_process)
        result["load_avg_before"], result["load_avg_after"] = load, [round(x, 2) for x in os.getloadavg()]
        print(f"pipelined, {result['chunks']} chunks of {args.chunk_h} h, {result['processes']} processes: "
              f"wall {result['wall_s']:.2f} s (book {result['book_s']:.2f} s, waited for the worker "
              f"{result['waited_s']:.2f} s); the layers' seconds summed over chunks: {result['layer_stage_s']}")
        _store(args.label, f"{args.symbols}x{hours_n}h_pipelined{'_one_process' if args.one_process else ''}", result)
        return
    result = run(args.symbols, hours_n, args.stages)
    result["load_avg_before"] = load
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(table(result))
    _store(args.label, f"{args.symbols}x{hours_n}h", result)


def _store(label: str, key: str, result: dict) -> None:
    OUT.parent.mkdir(exist_ok=True)
    stored = json.loads(OUT.read_text()) if OUT.exists() else {}
    stored.setdefault(label, {})[key] = result
    OUT.write_text(json.dumps(stored, indent=2) + "\n")


if __name__ == "__main__":
    main()
