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
named and runs the ones they read, untimed. Results go to ``benchmarks/out/range_scale.json``,
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
from quant.book.params import BookParams
from quant.book.step import fresh_state, run_book
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


def run(symbols: int, hours_n: int, wanted: list[str]) -> dict:
    """Build the universe, run the stages, return per-stage seconds, rows and symbol-hours/s."""
    hours = md.hours_of(FIRST_HOUR, FIRST_HOUR + hours_n * pd.Timedelta(hours=1))
    first = FIRST_HOUR - LOOKBACK
    t0 = time.perf_counter()
    parts = raw_parts(symbols, first, hours[-1] + pd.Timedelta(hours=1))
    _CHAIN[:] = [parse_book_summary_cached(ReplayOptions().book_summary(HEDGE.currency))]
    generate_s = time.perf_counter() - t0
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
    args = ap.parse_args(argv)
    hours_n = bundled_hours() if args.bundled else args.hours or round(args.years * HOURS_PER_YEAR)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"range_scale: {args.symbols} symbols × {hours_n:,} hours (load average {load}, {os.cpu_count()} cores)")
    result = run(args.symbols, hours_n, args.stages)
    result["load_avg_before"] = load
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(table(result))
    OUT.parent.mkdir(exist_ok=True)
    stored = json.loads(OUT.read_text()) if OUT.exists() else {}
    stored.setdefault(args.label, {})[f"{args.symbols}x{hours_n}h"] = result
    OUT.write_text(json.dumps(stored, indent=2) + "\n")


if __name__ == "__main__":
    main()
