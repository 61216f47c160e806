"""The backtest core — fills + funding + ledger — in symbol-hours per second over the whole sample,
side by side with the same computation written as a plain pandas ``iterrows`` loop.

``python -m benchmarks.bench_backtest_core [--loop-hours N]``. Every (venue, symbol) of the bundled
candles over every hour of the sample (~48k symbol-hours) trades a fixed, deterministic schedule:
each instrument alternates a market entry and a limit exit every 24 hours (perp legs settle real
funding every 8h). The loop reference runs over the first ``--loop-hours`` hours (it is slow) and
both results are compared on that window to the cent. Writes ``benchmarks/out/backtest_core.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quant.book.fills import FillParams, simulate_fills
from quant.book.ledger import run_ledger
from quant.book.orders import OrderIntent, intents_frame

OUT = Path(__file__).resolve().parent / "out"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
ENTRY_EVERY_H = 24
QTY_USD = 10_000.0


def load_bars() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_parquet(SAMPLE / "perp_ohlcv_1h/binance_bybit_2025.parquet")
    bars = pd.DataFrame({
        "hour": raw["timestamp"].astype("datetime64[ns, UTC]"), "venue": raw["venue"],
        "symbol": raw["coin"] + "/USDT:USDT", "open": raw["o"], "high": raw["h"], "low": raw["l"],
        "close": raw["c"], "volume": raw["v"],
    })
    f = pd.read_parquet(SAMPLE / "funding/binance_bybit_hyperliquid_2025.parquet")
    f = f[f["venue"].isin(["binance", "bybit"])]
    funding = pd.DataFrame({"hour": f["timestamp"].dt.round("h").astype("datetime64[ns, UTC]"), "venue": f["venue"],
                            "symbol": f["coin"] + "/USDT:USDT", "rate": f["funding_rate"]})
    return bars.sort_values(["venue", "symbol", "hour"]).reset_index(drop=True), funding


def schedule(bars: pd.DataFrame) -> pd.DataFrame:
    """Market buy at hour k·24, limit sell 0.5% above that close at hour k·24 + 12, per instrument."""
    intents = []
    for (venue, symbol), g in bars.groupby(["venue", "symbol"], sort=True):
        g = g.iloc[:-1]
        for i in range(0, len(g) - 12, ENTRY_EVERY_H):
            row, later = g.iloc[i], g.iloc[i + 12]
            qty = QTY_USD / row["close"]
            intents.append(OrderIntent(row["hour"], venue, symbol, "buy", qty, "market", None, "L2", f"in{i}", "bench"))
            intents.append(OrderIntent(later["hour"], venue, symbol, "sell", qty, "limit", row["close"] * 1.005, "L2", f"out{i}", "bench", True))
    return intents_frame(intents)


def prepare(bars: pd.DataFrame, funding: pd.DataFrame) -> dict:
    """Shape the inputs once (wide mark/rate arrays, leg index): data preparation, not the core."""
    keys = bars[["venue", "symbol"]].drop_duplicates().reset_index(drop=True)
    hours = pd.DatetimeIndex(sorted(bars["hour"].unique()))
    index = pd.MultiIndex.from_frame(keys)
    mark = bars.pivot(index=["venue", "symbol"], columns="hour", values="close").reindex(index, columns=hours)
    mark = mark.ffill(axis=1).bfill(axis=1).to_numpy()
    rate = funding.pivot_table(index=["venue", "symbol"], columns="hour", values="rate", aggfunc="last")
    rate = rate.reindex(index, columns=hours).to_numpy()
    return {"keys": keys, "hours": hours, "mark": mark, "rate": np.nan_to_num(rate), "settles": ~np.isnan(rate),
            "leg_of": {(v, s): k for k, (v, s) in enumerate(keys.itertuples(index=False))}}


def core(bars: pd.DataFrame, intents: pd.DataFrame, prep: dict, p: FillParams) -> np.ndarray:
    """The backtest core: fill every intent, then run the ledger (funding + P&L) over all hours."""
    fills = simulate_fills(intents, bars, p)
    done = fills[fills["filled_qty"] > 0].sort_values("exec_hour", kind="stable")
    hour_idx = prep["hours"].get_indexer(done["exec_hour"])
    sign = np.where(done["side"] == "buy", 1.0, -1.0)
    legs = np.array([prep["leg_of"][(v, s)] for v, s in zip(done["venue"], done["symbol"], strict=True)], dtype=np.int64)
    out = run_ledger(mark=prep["mark"], is_perp=np.ones(len(prep["keys"]), bool), settles=prep["settles"],
                     rate=prep["rate"], funding_px=prep["mark"],
                     fills=(legs, hour_idx, sign * done["filled_qty"].to_numpy(), done["fill_price"].to_numpy(), done["fee"].to_numpy()))
    return out.pnl()[:, -1]


def vectorised(bars: pd.DataFrame, funding: pd.DataFrame, intents: pd.DataFrame, p: FillParams):
    prep = prepare(bars, funding)
    return core(bars, intents, prep, p), prep["mark"].size, prep["keys"]


def loop_reference(bars: pd.DataFrame, funding: pd.DataFrame, intents: pd.DataFrame, p: FillParams) -> dict:
    """Fills, funding and the ledger as one plain loop over hours and rows (iterrows)."""
    by_bar = {(r["venue"], r["symbol"], r["hour"]): r for _, r in bars.iterrows()}
    by_rate = {(r["venue"], r["symbol"], r["hour"]): r["rate"] for _, r in funding.iterrows()}
    state: dict = {}
    pending = {}
    for _, it in intents.iterrows():
        pending.setdefault(it["exec_hour"], []).append(it)
    for _, b in bars.sort_values(["hour", "venue", "symbol"]).iterrows():
        key = (b["venue"], b["symbol"])
        s = state.setdefault(key, {"q": 0.0, "avg": 0.0, "pnl_real": 0.0, "fees": 0.0, "fund": 0.0, "mark": b["close"]})
        rate = by_rate.get((b["venue"], b["symbol"], b["hour"]))
        if rate is not None and s["q"] != 0:
            s["fund"] += -s["q"] * b["close"] * rate  # funding paid on the hour's mark (close), as the vectorised path
        for it in pending.get(b["hour"], []):
            if (it["venue"], it["symbol"]) != key:
                continue
            bar = by_bar[(it["venue"], it["symbol"], it["exec_hour"])]
            if it["order_type"] == "market":
                px, fee_bps = bar["open"] * (1 + p.entry_slippage_bps / 1e4), p.taker_fee_bps
            elif bar["high"] > it["limit"]:
                px, fee_bps = max(it["limit"], bar["open"]), p.maker_fee_bps
            else:
                continue
            qty = min(it["qty"], p.max_volume_share * bar["volume"]) * (1 if it["side"] == "buy" else -1)
            if s["q"] == 0 or math.copysign(1, s["q"]) == math.copysign(1, qty):
                s["avg"] = (s["avg"] * abs(s["q"]) + px * abs(qty)) / (abs(s["q"]) + abs(qty))
                s["q"] += qty
            else:
                closed = min(abs(qty), abs(s["q"]))
                s["pnl_real"] += closed * (px - s["avg"]) * math.copysign(1, s["q"])
                s["q"] += qty
                if abs(s["q"]) < 1e-12:
                    s["q"], s["avg"] = 0.0, 0.0
            s["fees"] += abs(qty) * px * fee_bps / 1e4
        s["mark"] = b["close"]
    return {k: s["pnl_real"] + s["q"] * (s["mark"] - s["avg"]) - s["fees"] + s["fund"] for k, s in state.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop-hours", type=int, default=24 * 14)
    args = ap.parse_args()
    bars, funding = load_bars()
    p = FillParams()
    intents = schedule(bars)
    vectorised(bars.head(500), funding, intents[intents["hour"] < bars["hour"].min() + pd.Timedelta(hours=48)], p)  # JIT warm-up
    times, core_times = [], []
    prep = prepare(bars, funding)
    for _ in range(7):
        t0 = time.perf_counter()
        pnl, symbol_hours, keys = vectorised(bars, funding, intents, p)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        core(bars, intents, prep, p)
        core_times.append(time.perf_counter() - t0)
    t_vec, t_core = float(np.median(times)), float(np.median(core_times))
    cut = bars["hour"].min() + pd.Timedelta(hours=args.loop_hours)
    small_bars, small_f = bars[bars["hour"] < cut], funding[funding["hour"] < cut]
    small_i = intents[intents["exec_hour"] < cut]
    t0 = time.perf_counter()
    ref = loop_reference(small_bars, small_f, small_i, p)
    t_loop = time.perf_counter() - t0
    small_pnl, small_sh, small_keys = vectorised(small_bars, small_f, small_i, p)
    diff = max(abs(small_pnl[k] - ref[(v, s)]) for k, (v, s) in enumerate(small_keys.itertuples(index=False)))
    loop_rate = len(small_bars) / t_loop
    result = {
        "symbol_hours": int(symbol_hours), "intents": len(intents), "vectorised_s": t_vec,
        "vectorised_symbol_hours_per_s": symbol_hours / t_vec,
        "core_s": t_core, "core_symbol_hours_per_s": symbol_hours / t_core,
        "loop_window_symbol_hours": len(small_bars), "loop_s": t_loop, "loop_symbol_hours_per_s": loop_rate,
        "speedup_end_to_end": (symbol_hours / t_vec) / loop_rate,
        "speedup_core": (symbol_hours / t_core) / loop_rate, "max_abs_pnl_diff_usd": diff,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "backtest_core.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
