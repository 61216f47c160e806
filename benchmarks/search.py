"""Parameter search: strategy-parameter trials per second on one symbol-year, beside the same trials through ``run_book``.

``python -m benchmarks.search [--strategies ema_cross,rsi_reversion,breakout] [--trials 400] [--reference 2]``

The symbol-year is the bundled 2025 window's Binance BTC perp (5,004 h) tiled to 8,760 h: the
second copy's prices are scaled so that its first close equals the first copy's last close,
volumes and funding rates repeat. Trials are a seeded uniform sample inside each declared range
(``quant.research.search.param_sample``). Each is the strategy's decisions (cached series, see
``quant.research.search_signals``) plus the compiled single-instrument book, with APR, Sharpe and
max drawdown. Timed, per strategy:

* ``1 process, cold``: the sample in one process, every cache empty at the start;
* ``1 process, warm``: the same sample again (the caches full: what a re-evaluation costs);
* ``2 processes, cold``: the sample sorted by its parameter values (the first declared parameter
  first, so the halves share fewer cached series) and split in two halves over 2 forked worker
  processes (each its own empty cache), wall time from submitting to the last result; the pool is started and the
  compiled kernel loaded before the clock starts;
* ``run_book``: ``--reference`` trials through ``run_strategy`` and ``quant.book.step.run_book``
  (the reference the kernel equals); its equity is compared with the kernel's.

Results go to ``benchmarks/out/search.json``. Timings are printed and stored, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

import quant.strategies as qs
from quant.book.params import BookParams
from quant.book.step import fresh_state, run_book
from quant.research.search import Market, market, param_sample, simulate, sweep
from quant.strategies.base import StrategyInput
from tests.quant.book.test_step import NO_CASCADE, NO_TAIL
from tests.quant.book.test_strategy_layer import NO_CARRY

OUT = Path(__file__).parent / "out" / "search.json"
HOURS_PER_YEAR = 8760
VENUE, SYMBOL = "binance", "BTC/USDT:USDT"


def symbol_year() -> StrategyInput:
    """The 2025 window's Binance BTC perp tiled to one year of hours (bars and funding)."""
    from resources.exchange.replay import SAMPLE_WINDOWS
    from tests.quant.strategies.conftest import bundled_window

    a, b = SAMPLE_WINDOWS[0]
    data = bundled_window(pd.Timestamp(a), pd.Timestamp(b))
    bars = data.bars[(data.bars["venue"] == VENUE) & (data.bars["symbol"] == SYMBOL)].sort_values("hour").reset_index(drop=True)
    funding = data.funding[(data.funding["venue"] == VENUE) & (data.funding["symbol"] == SYMBOL)].reset_index(drop=True)
    shift = pd.Timedelta(hours=len(bars))
    scale = float(bars["close"].iloc[-1] / bars["close"].iloc[0])
    again = bars.assign(hour=bars["hour"] + shift, **{c: bars[c] * scale for c in ("open", "high", "low", "close")})
    year = pd.concat([bars, again], ignore_index=True).iloc[:HOURS_PER_YEAR]
    end = year["hour"].iloc[-1]
    fund = pd.concat([funding, funding.assign(hour=funding["hour"] + shift)], ignore_index=True)
    return StrategyInput(year, pd.DataFrame(), fund[fund["hour"] <= end].reset_index(drop=True), pd.DataFrame())


_MARKET: Market | None = None


def _warm_worker() -> int:
    """Load the compiled kernel in a worker (one empty trial), leaving its signal cache empty."""
    m = _MARKET
    d = m.signals._on_grid(np.array([], dtype=np.int64), *(np.zeros(len(m.close)) for _ in range(5)))
    simulate(m, d, BookParams(), slice(0, 2))
    return os.getpid()


def _half(job: tuple[str, list[dict]]) -> int:
    name, sets = job
    return sweep(name, _MARKET, sets).n_trials


def run(strategies: list[str], trials: int, reference: int) -> list[dict]:
    global _MARKET
    data = symbol_year()
    rows = []
    for name in strategies:
        sets = param_sample(name, trials, seed=11)
        ordered = sorted(sets, key=lambda ps: tuple(ps.values()))  # halves share fewer cached series
        _MARKET = market(data, VENUE, SYMBOL)
        with ProcessPoolExecutor(2, mp_context=get_context("fork")) as pool:
            pids = {f.result() for f in [pool.submit(_warm_worker) for _ in range(4)]}
            t = time.perf_counter()
            done = sum(pool.map(_half, [(name, ordered[: trials // 2]), (name, ordered[trials // 2:])]))
            two = time.perf_counter() - t
        assert done == trials
        m = market(data, VENUE, SYMBOL)
        t = time.perf_counter()
        result = sweep(name, m, sets)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        sweep(name, m, sets)
        warm = time.perf_counter() - t
        ref_s, worst = _reference(name, m, sets[:reference])
        rows.append({"strategy": name, "hours": len(m.hours), "trials": trials, "workers": len(pids),
                     "cold_1p_per_s": trials / cold, "warm_1p_per_s": trials / warm, "cold_2p_per_s": trials / two,
                     "run_book_s_per_trial": ref_s, "run_book_per_s": 1.0 / ref_s, "max_equity_diff_usd": worst,
                     "median_trades": float(result.table["trades"].median())})
        print(_line(rows[-1]), flush=True)
    return rows


def _reference(name: str, m: Market, sets: list[dict]) -> tuple[float, float]:
    """Seconds per trial through run_strategy + run_book, and the largest |equity − kernel equity| seen."""
    worst, t = 0.0, time.perf_counter()
    runs = []
    for ps in sets:
        accepted, _ = qs.run_strategy(qs.get(name), m.signals.data, ps)
        out, _ = run_book(fresh_state(), m.hours, m.signals.data.bars, m.signals.data.funding, NO_CARRY, NO_CASCADE, NO_TAIL,
                          BookParams(), strategies=accepted.assign(status="accepted"))
        runs.append(out.ledger.loc[out.ledger["layer"] == "total", "equity_usd"].to_numpy())
    per = (time.perf_counter() - t) / max(len(sets), 1)
    for ps, equity in zip(sets, runs, strict=True):
        kernel = simulate(m, m.signals.decisions(qs.get(name), ps), BookParams()).equity
        worst = max(worst, float(np.max(np.abs(equity - kernel))))
    return per, worst


def _line(r: dict) -> str:
    return (f"{r['strategy']:<14} {r['hours']} h  {r['trials']} trials: 1 process cold {r['cold_1p_per_s']:7.1f}/s, "
            f"warm {r['warm_1p_per_s']:7.1f}/s, 2 processes cold {r['cold_2p_per_s']:7.1f}/s | run_book "
            f"{r['run_book_s_per_trial']:.2f} s/trial ({r['run_book_per_s']:.2f}/s), max |Δequity| {r['max_equity_diff_usd']:.1e} USD")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="ema_cross,rsi_reversion,breakout")
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--reference", type=int, default=2)
    args = ap.parse_args()
    rows = run(args.strategies.split(","), args.trials, args.reference)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
