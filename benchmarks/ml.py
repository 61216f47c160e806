"""The ML sleeve's walk-forward on the bundled data: ``python -m benchmarks.ml [--folds N] [--workers 1|2]``.

1. The learning rows of the whole sample, built once (``quant.ml.dataset.learning_rows``) from the
   Binance perps' candles (``--venues binance,bybit``: every perp, as ``ml_fold_models`` trains),
   features and rule-based regimes, each data window computed on its own so that no look-back
   spans the withheld months (as ``benchmarks.pure`` reads the candles).
2. Every trainable weekly fold of both windows (``quant.ml.folds.walk_forward``, expanding, purged
   and embargoed; a fold with fewer than ``min_train_hours`` training hours is skipped and
   counted): ``quant.ml.models.fit`` of the six models and the stack, then ``predict`` of the
   fold's hours, one fold per task in a pool of ``--workers`` processes (spawned, one BLAS/torch
   thread each), largest folds first. A fold fits its models side by side on ``--fit-threads``
   threads (default: ``FIT_THREADS`` with one worker, as ``ml_fold_models`` trains a fold alone; 1
   with more, the pool being the parallelism). Per fold: training rows, wall seconds, ``fit_seconds``
   per model.
3. Inference per hourly partition: ``prediction_rows`` for one hour of every symbol from an
   ensemble round-tripped through ``quant.ml.artifacts.dump``/``load``, median over ``--hours``.
4. Out-of-sample scores per model (``quant.ml.metrics.fold_metrics``, the fold's training base
   rate, mom_4h > 0 as the momentum sign) against the always-flat and momentum baselines, and the
   AUC of vol_24h alone as a reference (it ranks how far the price moves, not which way).

Prints a markdown table and writes ``benchmarks/out/ml.json``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import load, machine
from quant.features.hourly import compute_features
from quant.features.regime import regime_scores
from quant.market_data import tables as md
from quant.ml import artifacts
from quant.ml.dataset import KEYS, ML_FEATURES, learning_rows
from quant.ml.folds import Fold, walk_forward
from quant.ml.metrics import HIT_THRESHOLD, auc, fold_metrics
from quant.ml.models import (
    BASE_MODELS,
    FIT_THREADS,
    REGIMES,
    SEQUENCE_H,
    EnsembleConfig,
    FoldPredictions,
    fit,
    predict,
)
from quant.ml.predictions import STATUS_OK, prediction_rows
from resources.exchange.replay import SAMPLE_WINDOWS, ReplayExchange
from resources.market import MarketUniverse

OUT = Path(__file__).resolve().parent / "out"
#: The venues measured by default: the Binance perps (5 symbols). ``ml_fold_models`` itself trains
#: on every venue of ``features_1h`` (``--venues binance,bybit``: twice the rows).
VENUES = ("binance",)
HORIZON_H = 4
MIN_TRAIN_HOURS = 24 * 14
#: The meta-learner (what the sleeve trades on) and the base models, each scored out of sample.
SCORED = ("stack", *BASE_MODELS)
#: A reference, not a model: the AUC of the last 24h's volatility alone (a 0.8% move is likelier when
#: the market moves a lot, whichever way), to tell direction learned from volatility ranked.
VOL_REFERENCE = "vol_24h (AUC only)"
#: Fit times reported per model: the base models, the regime classifier, the stack.
TIMED = (*BASE_MODELS, "regime", "stack")
#: A config small enough for the smoke test (seconds, not minutes, per fold).
TINY = EnsembleConfig(trees=10, epochs=1, hidden=4, sequence_rows=500, forest_samples=500)

_ROWS: pd.DataFrame | None = None  # the learning rows, set once per worker process


def say(msg: str) -> None:
    print(msg, flush=True)


def sample_rows(ex: ReplayExchange, pairs: list[tuple[str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Learning rows and the prediction frame (features with the bars' ``sigma_1h``) of every sample window."""
    bars, feats, regimes = [], [], []
    for start, end in SAMPLE_WINDOWS:
        candles = [(v, s, ex.candles(v, s, (start - md.OHLCV_WARMUP).to_pydatetime(), end.to_pydatetime()))
                   for v, s in pairs]
        ohlcv = md.ohlcv_table(candles, start)
        f = compute_features(ohlcv, md.hours_of(start, end))
        bars.append(ohlcv)
        feats.append(f)
        regimes.append(regime_scores(f))
    ohlcv, features = pd.concat(bars, ignore_index=True), pd.concat(feats, ignore_index=True)
    rows = learning_rows(features, pd.concat(regimes, ignore_index=True), ohlcv, horizon_h=HORIZON_H)
    frame = features.merge(ohlcv[[*KEYS, "sigma_1h"]], on=KEYS, how="left")
    return rows, frame


def _worker_init(rows: pd.DataFrame) -> None:
    """One thread per worker for BLAS/OpenMP (torch's own is set by ``fit``): the pool is the parallelism."""
    global _ROWS
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _ROWS = rows


def run_fold(fold: Fold, cfg: EnsembleConfig, keep_model: bool, fit_threads: int = 1) -> dict:
    """Fit ``fold``'s ensemble on its purged training rows and predict its hours (in a worker)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    rows = _ROWS
    train = rows[rows["hour"].isin(fold.train_hours) & (rows["label_end"] < fold.test_start)]
    known = train.dropna(subset=[*ML_FEATURES, "label"])
    t_fit = time.perf_counter()
    ensemble = fit(train, ML_FEATURES, cfg, fit_threads)
    fit_wall = time.perf_counter() - t_fit
    t_pred = time.perf_counter()
    history = rows[(rows["hour"] >= fold.test_start - (SEQUENCE_H - 1) * md.HOUR) & (rows["hour"] < fold.test_end)]
    # a week whose look-backs are still filling has no row to predict (and the models refuse zero rows)
    ready = history["hour"].isin(fold.test_hours) & history[ML_FEATURES].notna().all(axis=1)
    got = predict(ensemble, history, fold.test_hours) if ready.any() else None
    predict_s = time.perf_counter() - t_pred
    if got is None:
        empty = np.array([], dtype="float64")
        got = FoldPredictions({m: empty for m in cfg.models}, np.zeros((0, len(REGIMES))), empty, history[KEYS].iloc[:0])
    scored = got.rows.merge(rows[[*KEYS, "label", "mom_4h", "vol_24h"]], on=KEYS, how="left")
    return {
        "fold": fold.name,
        "train_hours": len(fold.train_hours),
        "test_hours": len(fold.test_hours),
        "train_rows": ensemble.train_rows,
        "train_base_rate": float(known["label"].mean()),
        "predicted_rows": len(got.meta),
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,  # below wall_s × fit threads: the fold waited for a core
        "fit_wall_s": fit_wall,
        "predict_s": predict_s,
        "fit_seconds": dict(ensemble.fit_seconds),
        "y": scored["label"].to_numpy(), "mom_4h": scored["mom_4h"].to_numpy(), "vol_24h": scored["vol_24h"].to_numpy(),
        "p": {"stack": got.meta, **got.base},
        "artifact": artifacts.dump(ensemble) if keep_model else None,
    }


def _eta(done: list[dict], left: list[Fold], workers: int) -> float:
    """Seconds left: a linear fit of fold seconds on training hours over the folds done, spread over the workers."""
    x = np.array([d["train_hours"] for d in done], dtype="float64")
    y = np.array([d["wall_s"] for d in done])
    todo = np.array([len(f.train_hours) for f in left], dtype="float64")
    if len(done) >= 3 and np.ptp(x) > 0.2 * x.mean():
        slope, icpt = np.polyfit(x, y, 1)
        guess = np.maximum(icpt + slope * todo, 0.2 * y.min())
    else:
        guess = todo * y.sum() / max(x.sum(), 1.0)
    return float(guess.sum()) / workers


def walk(rows: pd.DataFrame, folds: list[Fold], cfg: EnsembleConfig, workers: int, keep: str,
         fit_threads: int = 1) -> tuple[list[dict], float]:
    """Every fold in ``folds`` on a pool of ``workers`` processes; the results (chronological) and the wall time."""
    order = sorted(folds, key=lambda f: -len(f.train_hours))  # largest first: the shortest makespan
    t0 = time.perf_counter()
    done: list[dict] = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(rows,)) as pool:
        futures = {pool.submit(run_fold, f, cfg, f.name == keep, fit_threads): f for f in order}
        for future in as_completed(futures):
            if future.exception() is not None:  # stop now, not after every queued fold has run
                pool.shutdown(wait=False, cancel_futures=True)
            res = future.result()
            done.append(res)
            left = [f for f in order if f.name not in {d["fold"] for d in done}]
            say(f"  fold {res['fold']} [{len(done)}/{len(order)}]: {res['train_rows']:,} train rows, "
                f"{res['wall_s']:.1f}s (fit {res['fit_wall_s']:.1f}s, predict {res['predict_s']:.2f}s); "
                f"elapsed {time.perf_counter() - t0:.0f}s, ETA {_eta(done, left, workers):.0f}s")
    return sorted(done, key=lambda d: d["fold"]), time.perf_counter() - t0


def inference(artifact: bytes, fold: str, frame: pd.DataFrame, hours: pd.DatetimeIndex, n: int) -> dict:
    """``prediction_rows`` of one hour of every symbol from the loaded artifact: median ms over ``n`` hours.

    Each hour loads the artifact afresh (a one-hour run: ``ml_models.load``, then the first
    prediction rebuilds the sequence nets), then predicts the hour again with the same model.
    """
    sha = artifacts.sha256(artifact)
    loads, preds, again, ok = [], [], [], []
    picked = hours[np.linspace(0, len(hours) - 1, min(n, len(hours)) + 1).round().astype(int)]
    for i, hour in enumerate(picked):  # the first is a warm-up (imports, torch's first call), discarded
        window = frame[(frame["hour"] > hour - SEQUENCE_H * md.HOUR) & (frame["hour"] <= hour)]
        t0 = time.perf_counter()
        ensemble = artifacts.load(artifact, sha, fold)
        t1 = time.perf_counter()
        out = prediction_rows(window, pd.DatetimeIndex([hour]), ensemble=ensemble, fold=fold, model_version=fold,
                              horizon_h=HORIZON_H)
        t2 = time.perf_counter()
        prediction_rows(window, pd.DatetimeIndex([hour]), ensemble=ensemble, fold=fold, model_version=fold,
                        horizon_h=HORIZON_H)  # again, the model already used: a range run's later hours
        t3 = time.perf_counter()
        if i:
            loads.append((t1 - t0) * 1e3)
            preds.append((t2 - t1) * 1e3)
            again.append((t3 - t2) * 1e3)
            ok.append(int((out["status"] == STATUS_OK).sum()))
    return {"fold": fold, "hours": len(preds), "artifact_bytes": len(artifact), "rows_ok_per_hour": statistics.median(ok),
            "prediction_rows_ms_median": statistics.median(preds), "prediction_rows_ms_p90": float(np.percentile(preds, 90)),
            "prediction_rows_ms_median_model_reused": statistics.median(again), "load_ms_median": statistics.median(loads)}


def _fold_scores(r: dict) -> dict[str, dict]:
    """One fold's scores: every model of :data:`SCORED`, the two baselines and the vol_24h reference (AUC only)."""
    out = {m: fold_metrics(r["y"], r["p"][m], momentum_sign=r["mom_4h"], train_base_rate=r["train_base_rate"])
           for m in SCORED}
    first = out[SCORED[0]]
    out["momentum_sign"] = first["baselines"]["momentum_sign"] | {"n": first["n"]}
    out["always_flat"] = first["baselines"]["always_flat"] | {"n": first["n"], "auc": float("nan")}
    labelled = ~np.isnan(r["y"])
    nan = float("nan")
    out[VOL_REFERENCE] = {"n": first["n"], "auc": auc(r["y"][labelled], r["vol_24h"][labelled]),
                          "log_loss": nan, "brier": nan, "hit_rate": nan}
    return out


def _pooled_score(m: str, results: list[dict]) -> np.ndarray:
    """What model ``m`` said on every scored row of every fold (the momentum rule as 0/1)."""
    if m == "momentum_sign":
        return np.concatenate([np.where(np.nan_to_num(r["mom_4h"]) > 0, 1.0, 0.0) for r in results])
    if m == VOL_REFERENCE:
        return np.concatenate([r["vol_24h"] for r in results])
    return np.concatenate([r["p"][m] for r in results])


def scores(results: list[dict]) -> dict[str, dict]:
    """Per model: AUC mean over folds and pooled, log loss / Brier / hit rate pooled (row-weighted), folds beating flat.

    ``trade_share``: the labelled rows where p >= 0.5 (the hit rate's "trade"). Log loss is a mean per
    row, so its row-weighted mean over folds is the pooled log loss; the flat baseline's constant is
    each fold's own training base rate.
    """
    results = [r for r in results if len(r["y"]) and not np.isnan(r["y"]).all()]
    per = [_fold_scores(r) for r in results]
    y = np.concatenate([r["y"] for r in results]) if results else np.array([])
    labelled = ~np.isnan(y)
    out = {}
    for m in (*SCORED, "momentum_sign", "always_flat", VOL_REFERENCE):
        folds = [f[m] for f in per]
        n = np.array([f["n"] for f in folds], dtype="float64")
        row: dict[str, object] = {"folds": len(folds), "rows": int(n.sum())}
        aucs = np.array([f["auc"] for f in folds], dtype="float64")
        row["auc_mean"] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
        pooled = _pooled_score(m, results) if m != "always_flat" and results else None
        row["auc_pooled"] = auc(y[labelled], pooled[labelled]) if pooled is not None else float("nan")
        for key in ("log_loss", "brier", "hit_rate"):
            v = np.array([f[key] for f in folds], dtype="float64")
            keep = np.isfinite(v) & (n > 0)
            row[key] = float(np.average(v[keep], weights=n[keep])) if keep.any() else float("nan")
        if m in SCORED:
            flat = [f["baselines"]["always_flat"]["log_loss"] for f in folds]
            row["folds_beating_flat_log_loss"] = int(sum(f["log_loss"] < b for f, b in zip(folds, flat, strict=True)))
            row["trade_share"] = float(np.mean(pooled[labelled] >= HIT_THRESHOLD))
        out[m] = row
    return out


def markdown(results: list[dict], summary: dict) -> str:
    secs = [r["wall_s"] for r in results]
    lines = ["| | mean | max | total |", "|---|--:|--:|--:|",
             f"| fold wall s ({len(results)} folds) | {np.mean(secs):.1f} | {max(secs):.1f} | {sum(secs):.0f} |"]
    for m in TIMED:
        v = [r["fit_seconds"].get(m, 0.0) for r in results]
        lines.append(f"| fit s: {m} | {np.mean(v):.2f} | {max(v):.2f} | {sum(v):.0f} |")
    lines += ["", "| model | folds | rows | AUC mean | AUC pooled | log loss | Brier | hit rate | p ≥ 0.5 "
              "| folds beating flat (log loss) |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for m, s in summary.items():
        share = f"{s['trade_share']:.1%}" if "trade_share" in s else "–"
        lines.append(f"| {m} | {s['folds']} | {s['rows']:,} | {s['auc_mean']:.3f} | {s['auc_pooled']:.3f} | {s['log_loss']:.4f} "
                     f"| {s['brier']:.4f} | {s['hit_rate']:.3f} | {share} | {s.get('folds_beating_flat_log_loss', '–')} |")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ml", description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=None, help="only the first N trainable folds (default: all)")
    ap.add_argument("--workers", type=int, default=2, help="processes in the pool (default 2)")
    ap.add_argument("--fit-threads", type=int, default=None,
                    help=f"threads a fold fits its models on (default {FIT_THREADS} with one worker, 1 with more)")
    ap.add_argument("--hours", type=int, default=50, help="hours timed for inference (default 50)")
    ap.add_argument("--venues", type=lambda v: tuple(v.split(",")), default=VENUES,
                    help="comma-separated perp venues (default binance)")
    ap.add_argument("--tiny", action="store_true", help="a tiny model config (smoke test)")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default benchmarks/out)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cfg = TINY if args.tiny else EnsembleConfig(horizon_h=HORIZON_H)
    info, load_start = machine(), load()
    say(f"machine: {info['nproc']} × {info['cpu_model']}, Python {info['python']}; load {load_start}; "
        f"{args.workers} worker(s)")
    ex = ReplayExchange()
    pairs = [(v, s) for v, s in MarketUniverse().get().pairs("candles") if v in args.venues]
    t0 = time.perf_counter()
    rows, frame = sample_rows(ex, pairs)
    rows_s = time.perf_counter() - t0
    usable = rows.dropna(subset=[*ML_FEATURES, "label"])
    coins = ", ".join(sorted({s.split("/")[0] for _, s in pairs}))
    say(f"learning rows: {len(rows):,} ({len(usable):,} with every feature and a label) for {len(pairs)} perps "
        f"({', '.join(args.venues)}: {coins}) in {rows_s:.2f}s")
    folds = walk_forward(pd.DatetimeIndex(rows["hour"].unique()), horizon_h=HORIZON_H, min_train_hours=MIN_TRAIN_HOURS)
    trainable = [f for f in folds if f.trainable]
    chosen = trainable[: args.folds] if args.folds else trainable
    keep = max(chosen, key=lambda f: (f.test_start, len(f.train_hours))).name  # the latest fold: inference
    say(f"folds: {len(folds)} weekly, {len(folds) - len(trainable)} skipped (< {MIN_TRAIN_HOURS} training hours), "
        f"running {len(chosen)}")
    fit_threads = args.fit_threads if args.fit_threads is not None else (FIT_THREADS if args.workers == 1 else 1)
    say(f"each fold fits its models on {fit_threads} thread(s)")
    results, wall = walk(rows, chosen, cfg, args.workers, keep, fit_threads)
    cpu = sum(r["cpu_s"] for r in results) / sum(r["wall_s"] for r in results)
    say(f"walk-forward: {wall:.1f}s wall on {args.workers} worker(s); folds' CPU {cpu:.0%} of their wall time (up to {fit_threads:.0%} busy); "
        f"{sum(not r['predicted_rows'] for r in results)} fold(s) with no complete row to predict")
    last = next(r for r in results if r["fold"] == keep)
    fold = next(f for f in chosen if f.name == keep)
    ready = frame[frame["hour"].isin(fold.test_hours)].dropna(subset=ML_FEATURES)["hour"].unique()
    infer = inference(last["artifact"], keep, frame, pd.DatetimeIndex(np.sort(ready)), args.hours) if len(ready) else None
    if infer:
        say(f"inference, fold {keep}: prediction_rows {infer['prediction_rows_ms_median']:.1f} ms median per hour "
            f"({infer['rows_ok_per_hour']} symbols) on a freshly loaded model, "
            f"{infer['prediction_rows_ms_median_model_reused']:.1f} ms on one already used; "
            f"artifact load {infer['load_ms_median']:.1f} ms")
    summary = scores(results)
    table = markdown(results, summary)
    say("\n" + table)
    keys = ("fold", "train_hours", "test_hours", "train_rows", "train_base_rate", "predicted_rows", "wall_s", "cpu_s",
            "fit_wall_s", "predict_s", "fit_seconds")
    result = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info, "load_average": {"start": load_start, "end": load()},
        "config": asdict(cfg), "workers": args.workers, "fit_threads": fit_threads, "venues": list(args.venues), "symbols": [s for _, s in pairs],
        "learning_rows": {"rows": len(rows), "usable": len(usable), "seconds": rows_s},
        "folds": {"weekly": len(folds), "skipped": len(folds) - len(trainable), "trainable": len(trainable), "run": len(chosen)},
        "walk_forward_wall_s": wall, "cpu_share_of_fold_wall": cpu,
        "per_fold": [{k: r[k] for k in keys} for r in results],
        "inference": infer, "scores": summary, "table_markdown": table,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "ml" + (f"_{args.folds}folds" if args.folds else "") + (f"_workers{args.workers}" if args.workers != 2 else "")
    name += "".join(f"_{v}" for v in args.venues if args.venues != VENUES)
    name += "_tiny.json" if args.tiny else ".json"
    (args.out / name).write_text(json.dumps(result, indent=2, default=str))
    say(f"\nwrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
