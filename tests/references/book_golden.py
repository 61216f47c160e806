"""The book's golden record: its inputs and tables over both bundled windows, to hold the range engine to.

``python -m tests.references.book_golden OUT_DIR`` computes, for each real window of the bundled
sample, the book's same-hour inputs exactly as ``benchmarks.pure`` (the asset bodies' quant calls)
computes them, plus deterministic synthetic ML predictions (so the ML sleeve trades: no trained
model is needed), runs the book over the whole window and writes inputs and outputs as Parquet;
``--record OUT_DIR FIXTURE_DIR`` then keeps, in ``tests/fixtures/book_golden/``, the signal
inputs that are slow to recompute (carry, cascade, tail hedge; the columns the book reads) and a
content hash and row count of each output table (``golden.json``). Bars, funding and the
synthetic predictions are recomputed from ``data/sample`` in seconds.

The record was written by the hour-by-hour pandas book that preceded the range engine (commit
55b47d5; 740 s and 258 s for the two windows against the engine's ~10 s and ~5 s). The test
``tests/quant/book/test_golden.py`` replays it through today's book and demands the same tables,
bit for bit. Regenerate it only for an intended change of behaviour, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import pure
from pipelines import range_chain as chain
from quant.book.allocator import AllocatorParams
from quant.book.params import BookParams
from quant.book.step import fresh_state, run_book
from quant.market_data import tables as md
from quant.ml.predictions import PREDICTION_COLUMNS, PREDICTION_DTYPES
from resources.exchange.replay import SAMPLE_WINDOWS, ReplayExchange
from resources.market import MarketUniverse

#: Inputs of ``run_book`` in its order, then the ML predictions.
INPUTS = ("bars", "funding", "carry", "cascade", "tail", "ml")
OUTPUTS = ("allocations", "intents", "fills", "positions", "ledger")
#: The kill switch holds the last this many hours of the second window (its reduce-only path).
KILL_SWITCH_LAST_H = 120
#: The allocator's split when the record was written (before the strategies layer, ST, took 0.15
#: of carry's 0.40): with ST at 0 and no strategy decisions, every other layer's budgets are the
#: pandas book's, so the record still pins the engine to it; ST's own allocation rows are left out.
RECORD_WEIGHTS = {"L1": 0.40, "L2": 0.25, "L3": 0.15, "ML": 0.20, "ST": 0.0}
RECORD_PARAMS = BookParams(allocator=AllocatorParams(base_weights=RECORD_WEIGHTS))
UNRECORDED_LAYERS = ("ST",)


def recorded(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as the record holds it (allocations without the layers the record predates)."""
    if name == "allocations":
        return table[~table["layer"].isin(UNRECORDED_LAYERS)].reset_index(drop=True)
    return table


def synthetic_predictions(features: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Deterministic ``model_predictions_1h`` rows: p = logistic(40 × mom_24h), edge (p − 0.55) × 5%."""
    f = features.merge(bars[["hour", "venue", "symbol", "sigma_1h"]], on=["hour", "venue", "symbol"], how="left")
    p = 1.0 / (1.0 + np.exp(-40.0 * f["mom_24h"].to_numpy("float64")))
    ok = np.isfinite(p) & np.isfinite(f["sigma_1h"].to_numpy("float64"))
    out = pd.DataFrame({"hour": f["hour"], "venue": f["venue"], "symbol": f["symbol"],
                        "probability": np.where(ok, p, np.nan), "expected_return": np.where(ok, (p - 0.55) * 0.05, np.nan),
                        "regime": "range"})
    for c in PREDICTION_COLUMNS:
        if c.startswith("p_"):
            out[c] = out["probability"]
    out["sigma_1h"] = f["sigma_1h"]
    out["corr_btc_7d"] = f["corr_btc_7d"]
    out["horizon_h"] = 4
    out["fold"] = "synthetic"
    out["model_version"] = "golden"
    out["status"] = np.where(ok, "ok", "no model: warming up")
    return out[PREDICTION_COLUMNS].astype(PREDICTION_DTYPES)


#: The stored signal inputs and the columns of each the book reads.
STORED = {
    "carry": ["hour", "venue", "symbol", "entry", "exit", "funding_apr", "volume_24h_usd", "reason"],
    "cascade": ["hour", "venue", "symbol", "armed", "direction", "score", "close", "rv_24h"],
    "tail": None,  # every column (one row an hour)
}
_ASSET = dict(zip(INPUTS[:5], pure.BOOK_INPUTS, strict=True))


def window_inputs(start: pd.Timestamp, end: pd.Timestamp, stored: Path | None = None, index: int = 0) -> dict[str, pd.DataFrame]:
    """The book's inputs over [start, end), computed as the asset bodies compute them.

    ``stored``: read the carry, cascade and tail-hedge signals of window ``index`` from that
    folder (the golden record) instead of recomputing them (~75 s for the first window).
    """
    ex, uni = ReplayExchange(), MarketUniverse().get()
    hours = md.hours_of(start, end)
    lookback = chain.lookback_of(ex, uni, start)
    tables = chain.source_tables(ex, uni, start, end)
    load = chain.loader(None, lookback, tables, start, end)
    for asset, compute in chain.DERIVED.items():
        if asset == "features_1h" or (stored is None and asset != "strategy_signals_1h"):
            tables[asset] = compute(load, hours)
    got = {name: load(_ASSET[name], chain.NONE) for name in ("bars", "funding")}
    for name in STORED:
        got[name] = pd.read_parquet(stored / f"w{index}_{name}.parquet") if stored is not None else load(_ASSET[name], chain.NONE)
    got["ml"] = synthetic_predictions(load("features_1h", chain.NONE), got["bars"])
    return got


def table_hash(df: pd.DataFrame) -> str:
    """SHA-256 of a table's values row by row (pandas' own hashing) and its columns' names and dtypes."""
    rows = pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
    layout = ",".join(f"{c}:{t}" for c, t in df.dtypes.astype(str).items()).encode()
    return hashlib.sha256(rows + layout).hexdigest()


def record(run_dir: Path, fixture: Path) -> None:
    """Keep the slow signal inputs and the output tables' hashes of a ``main`` run in ``fixture``."""
    fixture.mkdir(parents=True, exist_ok=True)
    golden = {}
    for i, _ in enumerate(SAMPLE_WINDOWS):
        for name, cols in STORED.items():
            frame = pd.read_parquet(run_dir / f"w{i}_in_{name}.parquet")
            frame = frame if cols is None else frame[cols]
            frame.to_parquet(fixture / f"w{i}_{name}.parquet", index=False, compression="zstd", compression_level=19)
        golden[f"w{i}"] = {name: {"rows": len(t := pd.read_parquet(run_dir / f"w{i}_out_{name}.parquet")), "sha256": table_hash(t)}
                           for name in OUTPUTS}
    (fixture / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")


def kill_switch_from(index: int, end: pd.Timestamp) -> pd.Timestamp | None:
    return end - pd.Timedelta(hours=KILL_SWITCH_LAST_H) if index == 1 else None


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(SAMPLE_WINDOWS):
        start, end = pd.Timestamp(a), pd.Timestamp(b)
        t0 = time.perf_counter()
        inputs = window_inputs(start, end)
        t1 = time.perf_counter()
        tables, _ = run_book(fresh_state(), md.hours_of(start, end), *(inputs[n] for n in INPUTS[:5]), RECORD_PARAMS,
                             kill_switch_from=kill_switch_from(i, end), ml=inputs["ml"])
        t2 = time.perf_counter()
        for name, frame in inputs.items():
            frame.to_parquet(out / f"w{i}_in_{name}.parquet", index=False)
        for name in OUTPUTS:
            recorded(name, getattr(tables, name)).to_parquet(out / f"w{i}_out_{name}.parquet", index=False)
        print(f"window {i} {start:%Y-%m-%d}..{end:%Y-%m-%d}: inputs {t1 - t0:.1f}s, book {t2 - t1:.1f}s, "
              + ", ".join(f"{n} {len(getattr(tables, n))}" for n in OUTPUTS), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--record":
        record(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main(Path(sys.argv[1]))
