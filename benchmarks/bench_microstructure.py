"""Microstructure kernels vs their plain-Python loops: ``python -m benchmarks.bench_microstructure``.

On the real BTC and ETH trades of data/sample (2024-08-08 23:54-24:00 UTC): VPIN with bulk-volume
classification and with the aggressor side on the fixed $50,000 bucket, both as the array core
(numbers in, numbers out, like the loop) and as the frame API (pandas in and out included); the
calibrated per-trade VPIN (bucket = the recording's daily volume / ``CALIBRATED_BUCKETS_PER_DAY``,
~200 buckets, since ELO's 50 a day fills none in six minutes) against ``ref.vpin_per_trade``, the
paper's method as its own plain loop; the Hawkes intensity and
log-likelihood at every distinct trade arrival. Each is compared with ``tests.references.microstructure``
(the same formulas as plain loops over ready-made Python lists); the Hawkes intensity also with
the textbook O(n^2) double sum, timed once. Each side is called once first (numba compiles or
loads its cache), then timed in alternation, ``--repeats`` fast calls and a fifth as many loop
calls, so a slow spell on a shared machine hits both; the medians give the ratio, the minima a
second ratio; the largest relative difference between the two results says whether they agree
(to 1e-9).

Then what the L1 gates (enter < 0.80, exit > 0.90) would see: mean, p95, max and the share of
buckets above each gate, under the old defaults and the new one (``gate_rows``).

Prints both tables and writes ``benchmarks/out/microstructure.json``. Timings are reported, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import load, machine
from quant.microstructure import measures as ms
from resources.exchange.replay import ReplayExchange
from tests.references import microstructure as ref

OUT = Path(__file__).resolve().parent / "out" / "microstructure.json"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START = pd.Timestamp("2024-08-08", tz="UTC")
END = pd.Timestamp("2024-08-10", tz="UTC")
SEC = 1_000_000_000
BUCKET_USD = ms.DEFAULT_BUCKET_USD
WINDOW = ms.DEFAULT_WINDOW
#: Buckets a day for the calibrated case: ~$750k (BTC) / ~$124k (ETH) buckets, ~200 in the recording.
CALIBRATED_BUCKETS_PER_DAY = 50_000.0
#: 30 x ELO's 50: buckets of ~58 s of average volume, the largest the recording fills 5 times.
MINUTE_BUCKETS_PER_DAY = 30 * ms.DEFAULT_BUCKETS_PER_DAY
GATES = (0.80, 0.90)
#: Fast calls timed between two loop calls.
FAST_PER_LOOP = 5
#: Results agreeing to this relative difference count as equal.
REL = 1e-9
BUCKET_COLUMNS = ("buy_usd", "sell_usd", "imbalance", "vpin")


def _clock(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(case: Case, repeats: int) -> tuple[list[float], list[float], object, object]:
    """Fast and loop timings taken in alternation (``FAST_PER_LOOP`` fast calls per loop call), so
    a slow spell on a shared machine hits both sides alike; one untimed warm-up call each first
    (numba compiles or loads its cache), except for a loop timed only once."""
    loop_calls = case.loop_repeats or max(3, repeats // FAST_PER_LOOP)
    fast_out = case.fast()
    loop_out = None if case.loop_repeats else case.loop()
    fast, loop = [], []
    for _ in range(loop_calls):
        for _ in range(FAST_PER_LOOP):
            seconds, fast_out = _clock(case.fast)
            fast.append(seconds)
        seconds, loop_out = _clock(case.loop)
        loop.append(seconds)
    return fast, loop, fast_out, loop_out


def max_rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    """Largest |got - want| / |want| (NaN where both are NaN counts as equal; a lone NaN as inf)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape or not np.array_equal(np.isnan(got), np.isnan(want)):
        return float("inf")
    ok = ~np.isnan(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got[ok] - want[ok]) / np.abs(want[ok])
    rel = np.where(got[ok] == want[ok], 0.0, rel)
    return float(rel.max()) if rel.size else 0.0


def bucket_diff(result: ms.VpinResult | ms.VpinBuckets, rows: list[ref.Bucket]) -> float:
    """Largest relative difference over the bucket columns; inf if the bucket end times differ."""
    if isinstance(result, ms.VpinResult):
        b = result.buckets
        ends = pd.DatetimeIndex(b["ts"]).as_unit("ns").asi8
        cols = [b[c].to_numpy() for c in BUCKET_COLUMNS]
    else:
        ends, cols = result.end_ns, [result.buy_usd, result.sell_usd, result.imbalance, result.vpin]
    if ends.tolist() != [r[0] for r in rows]:
        return float("inf")
    return max(max_rel_diff(col, [r[i] for r in rows]) for i, col in enumerate(cols, 1))


@dataclass(frozen=True)
class Case:
    """One comparison: ``fast`` and ``loop`` compute the same numbers; ``diff`` compares their results."""

    name: str
    n: int
    fast: Callable[[], object]
    loop: Callable[[], object]
    diff: Callable[[object, object], float]
    loop_repeats: int | None = None  # None: the run's default


def cases(trades: pd.DataFrame) -> list[Case]:
    """VPIN (array core and frame API) and Hawkes on one symbol's trades; Hawkes at its own MLE fit."""
    ns_arr = trades["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    price_arr, qty_arr, maker_arr = (trades[c].to_numpy() for c in ("price", "qty", "is_buyer_maker"))
    ns, price, qty, maker = ns_arr.tolist(), price_arr.tolist(), qty_arr.tolist(), maker_arr.tolist()
    times = ms.distinct_event_times(trades["ts"])
    times_list = times.tolist()
    fit = ms.fit_hawkes(times)
    mu, alpha, beta, end = fit.mu, fit.alpha, fit.beta, float(times[-1])
    vpin = {"bucket_usd": BUCKET_USD, "window": WINDOW}

    def bvc_loop() -> list[ref.Bucket]:
        return ref.vpin_bvc(ns, price, qty, BUCKET_USD, WINDOW, SEC)[0]

    def aggressor_loop() -> list[ref.Bucket]:
        return ref.vpin_aggressor(ns, price, qty, maker, BUCKET_USD, WINDOW)

    def per_trade_loop() -> list[ref.Bucket]:
        return ref.vpin_per_trade(ns, price, qty, maker, CALIBRATED_BUCKETS_PER_DAY, WINDOW)[1]

    def lam_loop() -> list[float]:
        return ref.hawkes_intensity_recursive(times_list, mu, alpha, beta)

    def lam_fast() -> np.ndarray:
        return ms.hawkes_intensity(times, mu, alpha, beta)

    return [
        Case("vpin_bvc_arrays (1 s bars)", len(ns), lambda: ms.vpin_bvc_arrays(ns_arr, price_arr, qty_arr, **vpin),
             bvc_loop, bucket_diff),
        Case("vpin_bvc (frame in/out)", len(ns), lambda: ms.vpin_bvc(trades, **vpin), bvc_loop, bucket_diff),
        Case("vpin_aggressor_arrays", len(ns),
             lambda: ms.vpin_aggressor_arrays(ns_arr, price_arr, qty_arr, maker_arr, **vpin), aggressor_loop, bucket_diff),
        Case("vpin_aggressor (frame in/out)", len(ns), lambda: ms.vpin_aggressor(trades, **vpin), aggressor_loop,
             bucket_diff),
        Case("vpin_aggressor_arrays, ADV/50,000", len(ns),
             lambda: ms.vpin_aggressor_arrays(ns_arr, price_arr, qty_arr, maker_arr,
                                              buckets_per_day=CALIBRATED_BUCKETS_PER_DAY, window=WINDOW),
             per_trade_loop, bucket_diff),
        Case("hawkes_intensity vs O(n) loop", len(times), lam_fast, lam_loop, max_rel_diff),
        Case("hawkes_intensity vs O(n^2) sum", len(times), lam_fast,
             lambda: ref.hawkes_intensity_direct(times_list, mu, alpha, beta, times_list), max_rel_diff, 1),
        Case("hawkes_log_likelihood", len(times),
             lambda: ms.hawkes_log_likelihood(times, mu, alpha, beta, start=0.0, end=end),
             lambda: ref.hawkes_log_likelihood(times_list, mu, alpha, beta, 0.0, end),
             lambda a, b: max_rel_diff(np.array([a]), np.array([b]))),
    ]


def _share(values: pd.Series) -> dict[str, float | int]:
    v = values.dropna()
    out: dict[str, float | int] = {"n": len(v), "mean": v.mean(), "p95": v.quantile(0.95), "max": v.max()}
    return out | {f"above_{g:.2f}": float((v > g).mean()) if len(v) else float("nan") for g in GATES}


def gate_rows(symbol: str, trades: pd.DataFrame) -> list[dict[str, object]]:
    """Per-bucket VPIN (and, at minute buckets, imbalance) statistics under each configuration."""
    configs = [
        ("old: BVC, 1 s bars, $50k, n=50", ms.vpin_bvc(trades, bucket_usd=BUCKET_USD), "vpin"),
        ("old bucket, aggressor, $50k, n=50", ms.vpin_aggressor(trades, bucket_usd=BUCKET_USD), "vpin"),
        ("new: aggressor, ADV/50, n=50", ms.vpin_aggressor(trades), "vpin"),
    ]
    minute = ms.vpin_aggressor(trades, buckets_per_day=MINUTE_BUCKETS_PER_DAY, window=5)
    configs += [("aggressor, ADV/1,500, imbalance", minute, "imbalance"), ("aggressor, ADV/1,500, n=5", minute, "vpin")]
    return [{"symbol": symbol, "config": name, "bucket_usd": r.bucket_usd, "buckets": len(r.buckets),
             **_share(r.buckets[col])} for name, r, col in configs]


def print_gates(rows: list[dict[str, object]]) -> None:
    print(f"\n{'symbol':<14} {'configuration':<36} {'bucket USD':>13} {'buckets':>7} {'n':>5} {'mean':>6} "
          f"{'p95':>6} {'max':>6} {'>0.80':>6} {'>0.90':>6}")
    for r in rows:
        nums = " ".join(f"{r[k]:>6.3f}" if r["n"] else f"{'-':>6}" for k in ("mean", "p95", "max"))
        shares = " ".join(f"{r[k]:>6.1%}" if r["n"] else f"{'-':>6}" for k in ("above_0.80", "above_0.90"))
        print(f"{r['symbol']:<14} {r['config']:<36} {r['bucket_usd']:>13,.0f} {r['buckets']:>7} {r['n']:>5} "
              f"{nums} {shares}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100, help="timed fast calls per case (loop: a fifth)")
    args = parser.parse_args(argv)
    exchange = ReplayExchange()
    rows, gates = [], []
    print(f"{'symbol':<14} {'case':<32} {'n':>6} {'fast ms':>9} {'loop ms':>10} {'ratio':>8} {'by min':>8}"
          "  max rel diff  equal")
    for symbol in SYMBOLS:
        trades = exchange.trades("binance", symbol, START, END)
        gates += gate_rows(symbol, trades)
        for case in cases(trades):
            fast, loop, fast_out, loop_out = interleaved(case, args.repeats)
            fast_s, loop_s = statistics.median(fast), statistics.median(loop)
            d = case.diff(fast_out, loop_out)
            row = {"symbol": symbol, "case": case.name, "n": case.n, "fast_s": fast_s, "loop_s": loop_s,
                   "ratio": loop_s / fast_s, "fast_min_s": min(fast), "loop_min_s": min(loop),
                   "ratio_of_min": min(loop) / min(fast), "fast_calls": len(fast), "loop_calls": len(loop),
                   "max_rel_diff": d, "equal": d <= REL}
            rows.append(row)
            print(f"{symbol:<14} {case.name:<32} {case.n:>6} {fast_s * 1e3:>9.3f} {loop_s * 1e3:>10.3f} "
                  f"{row['ratio']:>7.0f}x {row['ratio_of_min']:>7.0f}x  {d:>12.2e}  {row['equal']}", flush=True)
    print_gates(gates)
    info = {**machine(), "numpy": np.__version__, "numba": metadata.version("numba"), "load": load()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"when": datetime.now(UTC).isoformat(), "repeats": args.repeats, "machine": info,
                               "bucket_usd": BUCKET_USD, "window": WINDOW, "results": rows, "gates": gates},
                              indent=2, default=float))
    print(f"wrote {OUT}")
    return 0 if all(r["equal"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
