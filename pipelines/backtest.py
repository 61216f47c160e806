"""``perpetua backtest``: every layer once over a range, the book as one state machine, tables beside the audited store.

The audited path materialises every hour as Dagster partitions with checks and lineage; research
needs the same numbers without that bookkeeping. A backtest runs ``pipelines.range_chain`` (the
asset bodies' quant calls) once over each data window inside [start, end), predicts with the
model store's folds as ``model_predictions_1h`` does (``assets.ml.window_predictions``), steps
``quant.book.run_book`` from a fresh book at the range's first hour (and afresh at a later
window's first hour, as the audited book does) in chunks of hours while a worker process makes the
next chunk's tables (``pipelines.range_pipeline``; equal to one pass, tested), and writes the five book tables and the signals
as Parquet under ``<storage root>/../backtests/<start>_<end>/`` — beside the audited store,
never in it, so nothing a backtest does can change what the UI shows. No kill switch applies:
a backtest is research (the check rules still run in the audited path).

``--set key=value`` overrides ``quant.book.params.BookParams``: ``bankroll_usd=50000``,
``strategies.risk_pct=0.005``, ``allocator.tilt=0.3``, ``ml.min_probability=0.55`` (dotted
paths into the nested settings; values of the field's own type; an unknown key is refused).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from upath import UPath

from assets.ml import window_predictions
from pipelines.range_chain import HOUR, derived_tables, loader, lookback_of, source_tables
from pipelines.range_pipeline import CHUNK_H, chunks_of, pipelined
from quant.book.params import BookParams
from quant.book.step import fresh_state, range_inputs, run_book_on
from quant.market_data import tables as md
from quant.ml.models import SEQUENCE_H
from resources.exchange.replay import ReplayExchange
from resources.market import MarketUniverse
from resources.model_store import MlModelStore, ml_root

BOOK_TABLES = {"ledger_1h": "ledger", "positions_1h": "positions", "order_intents_1h": "intents", "fills_1h": "fills",
               "layer_allocations_1h": "allocations"}
SIGNAL_TABLES = ("carry_signals_1h", "cascade_signals_1h", "tail_hedge_signals_1h", "strategy_signals_1h",
                 "model_predictions_1h")


@dataclass(frozen=True)
class BacktestResult:
    tables: dict[str, pd.DataFrame]
    out: UPath
    hours: int
    seconds: dict[str, float]
    #: Processes that ran it: 2 when a worker made the chunks after the first, else 1.
    processes: int = 1


#: Settings the safeguards hold fixed (``quant.book.safeguards.RiskLimits`` screens every order with
#: its own caps): setting the allocator's copy would change budgets the screen then rejects.
FIXED = ("allocator.max_total_pct", "allocator.max_ladder_pct", "allocator.max_position_pct", "allocator.min_position_pct")


def book_params(sets: list[str]) -> BookParams:
    """``BookParams`` with each ``key=value`` applied (dotted keys reach nested settings); ValueError naming a bad one."""
    params = BookParams()
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: write key=value, e.g. bankroll_usd=50000 or strategies.risk_pct=0.005")
        if key in FIXED:
            raise ValueError(f"--set {key}: the safeguards' caps are fixed percentages of the bankroll "
                             "(quant/book/safeguards.py); set bankroll_usd to grow")
        params = _replace(params, key.split("."), raw, key)
    return params


def _replace(obj: object, path: list[str], raw: str, key: str) -> object:
    fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
    name = path[0]
    if name not in fields:
        raise ValueError(f"--set {key}: {type(obj).__name__} has no setting {name!r} (it has: {', '.join(sorted(fields))})")
    current = getattr(obj, name)
    if len(path) > 1:
        return dataclasses.replace(obj, **{name: _replace(current, path[1:], raw, key)})
    return dataclasses.replace(obj, **{name: _coerce(current, raw, key)})


def _coerce(current: object, raw: str, key: str) -> object:
    kind = type(current)
    if kind is bool:
        if raw.lower() not in ("true", "false"):
            raise ValueError(f"--set {key}={raw}: write true or false")
        return raw.lower() == "true"
    if kind not in (int, float):
        raise ValueError(f"--set {key}: a {kind.__name__} setting cannot be set from the command line")
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"--set {key}={raw}: {key} is a {kind.__name__}") from None
    if not math.isfinite(value):  # a NaN threshold compares false everywhere: it would switch a limit off unseen
        raise ValueError(f"--set {key}={raw}: a setting must be a finite number")
    return value


def out_dir(storage_root: str, start: pd.Timestamp, end: pd.Timestamp, sets: list[str] | None = None) -> UPath:
    """``<storage root>/../backtests/<start>_<end>[_<settings hash>]``: beside the audited store, one folder per settings.

    A store at a bucket's root has no parent: its backtests go to ``<root>-backtests`` instead, never inside it.
    """
    name = f"{start:%Y%m%dT%H}_{end:%Y%m%dT%H}"
    if sets:
        name += "_" + hashlib.sha256("\n".join(sorted(sets)).encode()).hexdigest()[:10]
    root = UPath(storage_root)
    beside = root.parent / "backtests"
    inside = str(beside).rstrip("/").startswith(str(root).rstrip("/") + "/") or str(beside) == str(root)
    return (UPath(str(root).rstrip("/") + "-backtests") if inside else beside) / name


def _piece(ex: ReplayExchange, uni, start: pd.Timestamp, end: pd.Timestamp, store: MlModelStore,
           seconds: dict[str, float], predict_from: pd.Timestamp | None = None) -> dict[str, pd.DataFrame]:
    """Every signal table of the hours [start, end), each stage timed into ``seconds``.

    ``predict_from``: the first hour to predict (default ``start``); the features of the hours
    before it are the sequence models' context, as a whole-window run has them."""
    hours = md.hours_of(start, end)
    t = time.perf_counter()
    before = lookback_of(ex, uni, start)
    tables = source_tables(ex, uni, start, end)
    load = loader(None, before, tables, start, end)
    seconds["sources"] = seconds.get("sources", 0.0) + time.perf_counter() - t

    def timed(asset: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[asset] = seconds.get(asset, 0.0) + now - t
        t = now

    t = time.perf_counter()
    derived_tables(load, hours, tables, on_step=timed)
    predicted = hours if predict_from is None else hours[hours >= predict_from]
    tables["model_predictions_1h"] = window_predictions(load("features_1h", pd.Timedelta(0)), tables["perp_ohlcv_1h"],
                                                        predicted, store, lambda msg: None)
    timed("model_predictions_1h")
    return tables


class WindowLayers:
    """The backtest's maker for ``pipelines.range_pipeline``: one chunk's signal tables (picklable; the exchange,
    universe and model store are opened in the process that makes the chunk).

    A chunk inside a window is computed from its own look-back (``lookback_of``) as the audited hours
    are, plus the ``SEQUENCE_H − 1`` hours before it (not before the window's first hour) so the
    sequence models read the features a whole-window run gives them; every table is then cut to
    the chunk's hours."""

    def __init__(self, storage_root: str, windows: list[tuple[pd.Timestamp, pd.Timestamp]], params: BookParams) -> None:
        self.storage_root, self.windows, self.params = storage_root, windows, params
        self._opened: tuple | None = None

    def __getstate__(self) -> dict:
        return {"storage_root": self.storage_root, "windows": self.windows, "params": self.params, "_opened": None}

    def __call__(self, hours: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        if self._opened is None:
            self._opened = (ReplayExchange(), MarketUniverse().get(), MlModelStore(root=ml_root(self.storage_root)))
        ex, uni, store = self._opened
        a, b = hours[0], hours[-1] + HOUR
        window_start = next(w for w, e in self.windows if w <= a < e)
        ext = max(window_start, a - (SEQUENCE_H - 1) * HOUR)
        seconds: dict[str, float] = {}
        tables = _piece(ex, uni, ext, b, store, seconds, predict_from=a)
        out = {k: v[v["hour"] >= a].reset_index(drop=True) if ext < a and "hour" in v.columns else v
               for k, v in tables.items()}
        t = time.perf_counter()  # the book's inputs split by hour here too: the consumer only steps the book
        inputs = range_inputs(out["perp_ohlcv_1h"], out["funding_settlements"], out["carry_signals_1h"],
                              out["cascade_signals_1h"], out["tail_hedge_signals_1h"], self.params,
                              ml=out["model_predictions_1h"], strategies=out["strategy_signals_1h"])
        seconds["book inputs"] = time.perf_counter() - t
        return {k: out[k] for k in SIGNAL_TABLES} | {"book_inputs": inputs, "stage_seconds": pd.DataFrame([seconds])}


def run_backtest(storage_root: str, start: pd.Timestamp, end: pd.Timestamp, windows: list[tuple[pd.Timestamp, pd.Timestamp]],
                 params: BookParams, say: Callable[[str], object] = print, sets: list[str] | None = None,
                 chunk_h: int = CHUNK_H, processes: bool = True) -> BacktestResult:
    """Backtest every hour of ``windows`` (the data windows inside [start, end)); writes and returns the tables.

    The hours go in chunks of ``chunk_h`` (``pipelines.range_pipeline``): a worker process makes the
    next chunk's signal tables while the book steps this one (``processes=False``: all in this
    process); the book starts afresh at each window's first hour, as the audited book does."""
    total_h = sum(len(md.hours_of(a, b)) for a, b in windows)
    chunks = [c for a, b in windows for c in chunks_of(md.hours_of(a, b), chunk_h)]
    firsts = {a for a, _ in windows}
    seconds: dict[str, float] = {}
    done_h, parts, t0, state = 0, [], time.perf_counter(), fresh_state()
    for chunk in pipelined(WindowLayers(storage_root, windows, params), chunks, processes=processes):
        tables = chunk.tables
        for k, v in tables.pop("stage_seconds").iloc[0].items():
            seconds[k] = seconds.get(k, 0.0) + float(v)
        seconds["waiting for the worker"] = seconds.get("waiting for the worker", 0.0) + chunk.waited_s
        t = time.perf_counter()
        if chunk.hours[0] in firsts:
            state = fresh_state()
        book, state = run_book_on(state, chunk.hours, tables.pop("book_inputs"), params)
        seconds["book"] = seconds.get("book", 0.0) + time.perf_counter() - t
        parts.append((tables, book))
        done_h += len(chunk.hours)
        spent = time.perf_counter() - t0
        say(f"  {chunk.hours[0]:%Y-%m-%d %H:00} -> {chunk.hours[-1] + HOUR:%Y-%m-%d %H:00}: {len(chunk.hours)} h, "
            f"{spent:.1f}s ({done_h}/{total_h} h; ETA {spent / done_h * (total_h - done_h):.0f}s)")
    out = {name: pd.concat([getattr(book, field) for _, book in parts], ignore_index=True) for name, field in BOOK_TABLES.items()}
    out |= {name: pd.concat([tables[name] for tables, _ in parts], ignore_index=True) for name in SIGNAL_TABLES}
    folder = out_dir(storage_root, start, end, sets)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in out.items():
        tmp = folder / f".{name}.parquet.tmp"
        frame.to_parquet(str(tmp), index=False)
        tmp.rename(folder / f"{name}.parquet")  # a half-written file is never read as a table
    seconds["wall"] = time.perf_counter() - t0
    return BacktestResult(out, folder, total_h, seconds, 2 if processes and len(chunks) > 1 else 1)


def books_of(result: BacktestResult, windows: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[tuple[pd.Timestamp, pd.Timestamp, dict[str, pd.DataFrame]]]:
    """The backtest's tables cut by data window: each window is its own book (started afresh at its first hour)."""
    out = []
    for a, b in windows:
        out.append((a, b, {name: frame[(frame["hour"] >= a) & (frame["hour"] < b)].reset_index(drop=True)
                           for name, frame in result.tables.items()}))
    return out

