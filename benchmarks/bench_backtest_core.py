"""The backtest core — fills + funding + ledger — in symbol-hours per second, side by side with a
plain pandas ``iterrows`` loop on the real sample and with vectorbt on a 50-symbol shape.

``python -m benchmarks.bench_backtest_core [--loop-hours N] [--reps N] [--no-vectorbt]``.

1. The real sample. Every (venue, symbol) of the bundled candles over every hour (~50k
   symbol-hours) trades a fixed, deterministic schedule: each instrument alternates a market entry
   and a limit exit every 24 hours (perp legs settle real funding every 8h). The loop reference
   runs over the first ``--loop-hours`` hours (it is slow) and both results are compared on that
   window to the cent.
2. Against vectorbt, 50 and 5 symbols × 15,000 hours built from the real bars (``synthetic_bars``):
   symbol j replays the real bars of instrument j mod 10 (the 10 sorted (venue, symbol) pairs) —
   each bar's open/high/low/close as ratios to the previous close, chained from the real first
   close, from a seeded start offset and wrapping round, with seeded N(0, 5 bps) noise on each
   hour's level (copies 1..4 only; copy 0 is the real series from its start) and the real
   USD volume; perp funding settles every 8h at the source instrument's latest real rate. One EMA
   crossover (12/26 on close, ``ema_crossover``) gives the SAME entries/exits to both:
   (a) ``vectorbt.Portfolio.from_signals`` (long only, $10k per entry, 5 bps fee and 5 bps
       slippage, filled at the signal bar's close, no counterparty check) then ``total_profit``;
   (b) our core: each signal becomes an order intent decided at the signal hour — a market buy of
       $10k / close, and a market reduce-only sell of the same quantity (market exit, so both
       sides trade every signal) — filled by ``simulate_fills`` at the next bar's open ± slippage
       with the counterparty check and the volume cap, then the numba ledger (fills, 8h funding,
       mark to market every hour).
   Both are timed in the same process on the same prepared arrays (median of ``--reps``,
   alternating); signal generation is outside both timings. Agreement: the number of entries
   filled, and the P&L of a second vectorbt run set up to fill as we do (signals shifted one bar,
   price = open, same quantity) against our P&L before funding.

vectorbt is optional and never installed into ``.venv`` (CI does not need it). Install it beside
the project with ``make bench-vectorbt-install`` (``pip install --target .bench-vendor --no-deps``
of the pinned ``benchmarks/requirements-vectorbt.txt``: vectorbt 1.2.0, which supports numpy 2.4 /
pandas 3, and the pure-Python packages it imports that ``.venv`` lacks). This script puts
``.bench-vendor`` on ``sys.path``; without vectorbt it says so, measures our core alone and exits 0.
Writes ``benchmarks/out/backtest_core.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quant.book.fills import BPS, FillParams, simulate_fills
from quant.book.ledger import LedgerArrays, run_ledger
from quant.book.orders import INTENT_COLUMNS, OrderIntent, intents_frame

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
#: Where ``make bench-vectorbt-install`` puts vectorbt and the packages it needs beyond ``.venv``.
VENDOR = ROOT / ".bench-vendor"
ENTRY_EVERY_H = 24
QTY_USD = 10_000.0
#: The vectorbt comparison: shapes (symbols, hours), EMA spans, the synthetic series' noise and seed.
VBT_SHAPES = ((50, 15_000), (5, 15_000))
EMA_FAST, EMA_SLOW = 12, 26
NOISE_BPS = 5.0
SEED = 20251
SYN_START = pd.Timestamp("2025-01-01", tz="UTC")
FUNDING_EVERY_H = 8


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
            "leg_index": index}


def ledger_fills(fills: pd.DataFrame, prep: dict) -> tuple[np.ndarray, ...]:
    """The traded fills as the ledger's (leg, hour index, signed qty, price, fee), in hour order."""
    filled = fills["filled_qty"].to_numpy()
    take = np.flatnonzero(filled > 0)
    hour_idx = prep["hours"].get_indexer(fills["exec_hour"].iloc[take])
    by_hour = np.argsort(hour_idx, kind="stable")
    take = take[by_hour]
    legs = prep["leg_index"].get_indexer(pd.MultiIndex.from_arrays([fills["venue"], fills["symbol"]]))[take]
    sign = np.where((fills["side"] == "buy").to_numpy()[take], 1.0, -1.0)
    return (legs.astype(np.int64), hour_idx[by_hour], sign * filled[take], fills["fill_price"].to_numpy()[take],
            fills["fee"].to_numpy()[take])


def core(bars: pd.DataFrame, intents: pd.DataFrame, prep: dict, p: FillParams) -> np.ndarray:
    """The backtest core: fill every intent, then run the ledger (funding + P&L) over all hours."""
    return core_arrays(bars, intents, prep, p)[1].pnl()[:, -1]


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


def synthetic_bars(bars: pd.DataFrame, funding: pd.DataFrame, n_symbols: int, n_hours: int,
                   seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n_symbols`` × ``n_hours`` bars and 8h funding built deterministically from the real sample.

    Symbol j replays instrument ``j % 10`` (sorted (venue, symbol)); copy ``c = j // 10`` is named
    ``<COIN><c>/USDT:USDT`` (copy 0 keeps the real name). Each synthetic hour t takes the real bar
    ``k = 1 + (offset + t) mod (n - 1)`` as ratios to the real previous close (open, high, low,
    close), chained from the real first close, so the high/low envelope stays valid; copies ≥ 1
    start at a seeded offset and multiply each hour by ``exp(N(0, 5 bps))`` (seeded by (seed, j)).
    Volume keeps the real bar's USD volume (base volume × real close / synthetic close). Funding
    settles at hours ≡ 0 mod 8 at the source instrument's latest real rate at bar k.
    """
    keys = bars[["venue", "symbol"]].drop_duplicates().sort_values(["venue", "symbol"]).to_numpy()
    hours = pd.date_range(SYN_START, periods=n_hours, freq="h")
    out_b, out_f = [], []
    for j in range(n_symbols):
        copy, (venue, symbol) = j // len(keys), keys[j % len(keys)]
        g = bars[(bars["venue"] == venue) & (bars["symbol"] == symbol)].sort_values("hour")
        o, h, lo, c, v = (g[col].to_numpy(dtype="float64") for col in ("open", "high", "low", "close", "volume"))
        f = funding[(funding["venue"] == venue) & (funding["symbol"] == symbol)].drop_duplicates("hour", keep="last")
        rate_src = f.set_index("hour")["rate"].reindex(g["hour"]).ffill().bfill().to_numpy()
        rng = np.random.default_rng([seed, j])
        n = len(g)
        offset = 0 if copy == 0 else int(rng.integers(0, n - 1))
        k = 1 + (offset + np.arange(n_hours)) % (n - 1)
        noise = np.ones(n_hours) if copy == 0 else np.exp(rng.normal(0.0, NOISE_BPS * BPS, n_hours))
        step = c[k] / c[k - 1] * noise
        close = c[k[0] - 1] * np.cumprod(step)
        prev = np.concatenate([[c[k[0] - 1]], close[:-1]]) * noise / c[k - 1]
        name = symbol if copy == 0 else symbol.replace("/", f"{copy}/", 1)
        out_b.append(pd.DataFrame({"hour": hours, "venue": venue, "symbol": name, "open": prev * o[k], "high": prev * h[k],
                                   "low": prev * lo[k], "close": close, "volume": v[k] * c[k] / close}))
        settle = np.arange(0, n_hours, FUNDING_EVERY_H)
        out_f.append(pd.DataFrame({"hour": hours[settle], "venue": venue, "symbol": name, "rate": rate_src[k[settle]]}))
    b = pd.concat(out_b, ignore_index=True).astype({"venue": "str", "symbol": "str"})
    return b.sort_values(["venue", "symbol", "hour"]).reset_index(drop=True), pd.concat(out_f, ignore_index=True)


def ema_crossover(close: np.ndarray, fast: int = EMA_FAST, slow: int = EMA_SLOW) -> tuple[np.ndarray, np.ndarray]:
    """[hours, symbols] entries (fast EMA crosses above slow) and exits (crosses below).

    EMAs are ``ewm(span, adjust=False)`` after ``slow`` hours of warm-up; a tie keeps the last side,
    so entries and exits alternate per symbol.
    """
    frame = pd.DataFrame(close)
    d = (frame.ewm(span=fast, adjust=False).mean() - frame.ewm(span=slow, adjust=False).mean()).to_numpy()
    side = np.sign(d)
    side[:slow - 1] = np.nan
    side = pd.DataFrame(np.where(side == 0, np.nan, side)).ffill().to_numpy()
    prev = np.vstack([np.full((1, side.shape[1]), np.nan), side[:-1]])
    return (side > 0) & (prev < 0), (side < 0) & (prev > 0)


def crossover_intents(entries: np.ndarray, exits: np.ndarray, close: np.ndarray, hours: pd.DatetimeIndex,
                      keys: pd.DataFrame) -> pd.DataFrame:
    """The signals as intents (``INTENT_COLUMNS``): market buy of $10k / close at each entry, market
    reduce-only sell of that quantity at the next exit (an exit while flat is ignored, as vectorbt
    does without accumulation)."""
    cols = {c: [] for c in ("t", "j", "buy", "qty")}
    for j in range(close.shape[1]):
        ev = np.flatnonzero(entries[:, j] | exits[:, j])
        if len(ev) and exits[ev[0], j]:
            ev = ev[1:]
        ins, outs = ev[0::2], ev[1::2]
        if not (entries[ins, j].all() and exits[outs, j].all()):
            raise ValueError(f"symbol {j}: entries and exits must alternate")
        qty = QTY_USD / close[ins, j]
        cols["t"] += [ins, outs]
        cols["j"] += [np.full(len(ins), j), np.full(len(outs), j)]
        cols["buy"] += [np.ones(len(ins), bool), np.zeros(len(outs), bool)]
        cols["qty"] += [qty, qty[:len(outs)]]
    t, j, buy, qty = (np.concatenate(cols[c]) for c in ("t", "j", "buy", "qty"))
    hour = hours[t]
    venue, symbol = keys["venue"].to_numpy()[j], keys["symbol"].to_numpy()[j]
    df = pd.DataFrame({
        "hour": hour, "exec_hour": hour + pd.Timedelta(hours=1), "venue": venue, "symbol": symbol,
        "side": np.where(buy, "buy", "sell"), "qty": qty, "order_type": "market", "limit": np.nan, "layer": "L2",
        "leg": "perp", "reason": np.where(buy, "ema cross up", "ema cross down"), "reduce_only": ~buy,
        "client_order_id": [f"ema-{a}-{b}" for a, b in zip(j, t, strict=True)],
    })[INTENT_COLUMNS]
    df["client_order_id"] = df["client_order_id"] + np.where(buy, "-in", "-out")
    return df.astype({c: "str" for c in ("venue", "symbol", "side", "order_type", "layer", "leg", "reason", "client_order_id")})


def core_arrays(bars: pd.DataFrame, intents: pd.DataFrame, prep: dict, p: FillParams) -> tuple[pd.DataFrame, LedgerArrays]:
    """The fills and every ledger array: ``simulate_fills``, then the ledger over all hours."""
    fills = simulate_fills(intents, bars, p)
    out = run_ledger(mark=prep["mark"], is_perp=np.ones(len(prep["keys"]), bool), settles=prep["settles"],
                     rate=prep["rate"], funding_px=prep["mark"], fills=ledger_fills(fills, prep))
    return fills, out


def load_vectorbt():
    """vectorbt from ``.bench-vendor`` (or wherever it is importable), or None."""
    if VENDOR.is_dir() and str(VENDOR) not in sys.path:
        sys.path.insert(0, str(VENDOR))
    try:
        import vectorbt as vbt
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"vectorbt is not installed ({type(exc).__name__}: {exc}); `make bench-vectorbt-install` adds it "
              f"under .bench-vendor. Measuring our core alone.")
        return None
    return vbt


def vbt_canonical(vbt, close: pd.DataFrame, entries: pd.DataFrame, exits: pd.DataFrame, p: FillParams):
    """vectorbt as it is usually run: fills at the signal bar's close, no counterparty, no funding."""
    pf = vbt.Portfolio.from_signals(close, entries, exits, size=QTY_USD, size_type="value", fees=p.taker_fee_bps * BPS,
                                    slippage=p.entry_slippage_bps * BPS, init_cash=1e12, freq="1h")
    return pf, pf.total_profit()


def vbt_aligned(vbt, close: pd.DataFrame, open_: pd.DataFrame, entries: pd.DataFrame, exits: pd.DataFrame, p: FillParams):
    """vectorbt set up to fill as our core does: at the next bar's open ± slippage, $10k / signal close."""
    size = (QTY_USD / close).shift(1)
    pf = vbt.Portfolio.from_signals(close, entries.shift(1, fill_value=False), exits.shift(1, fill_value=False),
                                    price=open_, size=size, size_type="amount", fees=p.taker_fee_bps * BPS,
                                    slippage=p.entry_slippage_bps * BPS, init_cash=1e12, freq="1h")
    return pf, pf.total_profit()


def versus_vectorbt(vbt, real_bars: pd.DataFrame, real_funding: pd.DataFrame, n_symbols: int, n_hours: int,
                    reps: int, p: FillParams) -> dict:
    bars, funding = synthetic_bars(real_bars, real_funding, n_symbols, n_hours)
    prep = prepare(bars, funding)
    close_np = prep["mark"].T  # [hours, symbols]
    names = [f"{v}:{s}" for v, s in prep["keys"].itertuples(index=False)]
    entries, exits = ema_crossover(close_np)
    intents = crossover_intents(entries, exits, close_np, prep["hours"], prep["keys"])
    symbol_hours = close_np.size
    core_arrays(bars, intents, prep, p)  # warm-up (JIT)
    result = {"symbols": n_symbols, "hours": n_hours, "symbol_hours": symbol_hours, "intents": len(intents),
              "entry_signals": int(entries.sum()), "exit_signals": int(exits.sum())}
    core_t, vbt_t = [], []
    if vbt is not None:
        close = pd.DataFrame(close_np, index=prep["hours"], columns=names)
        e_df, x_df = pd.DataFrame(entries, index=close.index, columns=names), pd.DataFrame(exits, index=close.index, columns=names)
        vbt_canonical(vbt, close, e_df, x_df, p)  # warm-up (JIT)
    for _ in range(reps):
        t0 = time.perf_counter()
        fills, led = core_arrays(bars, intents, prep, p)
        core_t.append(time.perf_counter() - t0)
        if vbt is not None:
            t0 = time.perf_counter()
            pf, profit = vbt_canonical(vbt, close, e_df, x_df, p)
            vbt_t.append(time.perf_counter() - t0)
    t_core = float(np.median(core_t))
    statuses = fills["status"].value_counts().to_dict()
    buys = fills["side"] == "buy"
    result.update({
        "core_s": t_core, "core_symbol_hours_per_s": symbol_hours / t_core, "core_runs_s": core_t,
        "core_fill_statuses": statuses, "core_entries_filled": int((buys & (fills["filled_qty"] > 0)).sum()),
        "core_exits_filled": int((~buys & (fills["filled_qty"] > 0)).sum()),
        "core_pnl_usd": float(led.pnl()[:, -1].sum()), "core_funding_usd": float(led.funding[:, -1].sum()),
        "core_fees_usd": float(led.fees[:, -1].sum()),
    })
    if vbt is None:
        return result
    t_vbt = float(np.median(vbt_t))
    open_ = bars.pivot(index="hour", columns=["venue", "symbol"], values="open")
    open_ = open_[list(prep["keys"].itertuples(index=False, name=None))].to_numpy()
    apf, aprofit = vbt_aligned(vbt, close, pd.DataFrame(open_, index=close.index, columns=names), e_df, x_df, p)
    ours_before_funding = led.realised[:, -1] + led.unrealised[:, -1] - led.fees[:, -1]
    orders = pf.orders.records_readable
    result.update({
        "vectorbt_s": t_vbt, "vectorbt_symbol_hours_per_s": symbol_hours / t_vbt, "vectorbt_runs_s": vbt_t,
        "core_over_vectorbt": t_vbt / t_core,
        "vectorbt_trades": int(pf.trades.count().sum()), "vectorbt_entries_filled": int((orders["Side"] == "Buy").sum()),
        "vectorbt_exits_filled": int((orders["Side"] == "Sell").sum()),
        "vectorbt_pnl_usd": float(profit.sum()), "vectorbt_fees_usd": float(pf.orders.records["fees"].sum()),
        "aligned_vectorbt_entries_filled": int((apf.orders.records_readable["Side"] == "Buy").sum()),
        "aligned_vectorbt_pnl_usd": float(aprofit.sum()),
        "aligned_max_abs_pnl_diff_usd": float(np.max(np.abs(aprofit.to_numpy() - ours_before_funding))),
    })
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop-hours", type=int, default=24 * 14)
    ap.add_argument("--reps", type=int, default=7, help="timed runs per shape against vectorbt (median reported)")
    ap.add_argument("--no-vectorbt", action="store_true", help="skip the vectorbt shapes")
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
    if not args.no_vectorbt:
        vbt = load_vectorbt()
        result["vectorbt_version"] = None if vbt is None else vbt.__version__
        result["vs_vectorbt"] = [versus_vectorbt(vbt, bars, funding, n, h, args.reps, p) for n, h in VBT_SHAPES]
        for r in result["vs_vectorbt"]:
            line = f"{r['symbols']} symbols x {r['hours']} h: core {r['core_symbol_hours_per_s'] / 1e6:.2f} M symbol-hours/s"
            if vbt is not None:
                line += f", vectorbt {r['vectorbt_symbol_hours_per_s'] / 1e6:.2f} M/s, core/vectorbt {r['core_over_vectorbt']:.2f}x"
            print(line)
    OUT.mkdir(exist_ok=True)
    (OUT / "backtest_core.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
