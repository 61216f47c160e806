"""The hourly cycle without Dagster: the same fetches, quant functions and check rules, called directly.

This is the work the asset and check bodies of the ``hourly_cycle`` job do, minus the
orchestration: ``ReplayExchange`` fetches -> ``quant.market_data`` tables -> universe scan,
``quant.features`` -> ``quant.features.regime`` -> ``quant.carry`` scan, the ``quant.cascade`` scores and
the ``quant.options.tail_hedge`` strangles (the bundled Deribit snapshot parsed once per window, as the
asset does) -> the ``trading_book`` multi-asset (``quant.book.run_book``: allocations, intents,
fills, positions, ledger, stepped hour by hour from the book of the hour before the window), then
every rule of the asset checks (pandas/numpy, split per hour in a range as the range checks do). Optionally each table is also written
and read back as hourly Parquet exactly as ``HourlyParquetIOManager`` does, so the storage part of
a Dagster run can be told apart from Dagster's own bookkeeping. ``ASSETS`` lists what is covered;
``benchmarks.run`` warns when the job materialises more.

The book's starting state is what the asset reads: with a store, the stored positions, ledger and
intents of the hour before the window (a fresh book when that hour was never written); without
one, the final state of the window run here that ended at that hour (so consecutive one-hour
windows chain as consecutive one-hour runs do), else a fresh book. ``measure`` with Parquet
writes that carried state into its temp folder untimed, like the look-back hours.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from assets.book import OUTPUTS as BOOK_OUTPUTS
from checks.book import ALLOCATION_RULES, FILL_RULES, INTENT_RULES, LEDGER_RULES, POSITION_RULES
from checks.engine import Rule, RuleEnv
from checks.features import FEATURE_RULES, REGIME_RULES
from checks.market_data import FUNDING_RULES, OHLCV_RULES, OI_RULES, UNIVERSE_RULES
from checks.ml import PREDICTION_RULES
from checks.signals import CARRY_RULES, CASCADE_RULES, TAIL_HEDGE_RULES
from checks.strategies import STRATEGY_SIGNAL_RULES
from pipelines.range_chain import (
    DERIVED as CHAIN,
)
from pipelines.range_chain import (
    HOUR,
    LOOKBACK,
    NONE,
    SOURCES,
    Load,
    Tables,
    loader,
    lookback_of,  # noqa: F401 - re-exported for benchmarks.audit
    source_tables,
)
from quant.book.params import BookParams
from quant.book.step import BookState, fresh_state, run_book, state_from_tables
from quant.market_data import tables as md
from quant.market_data.universe import Universe
from quant.ml.predictions import prediction_rows
from quant.quality import by_hour
from resources.exchange.replay import ReplayExchange
from resources.partitions import FIRST_HOUR, FOLDS, fold_window
from resources.storage import MissingPartitionError, read_hours
from resources.storage import write_hours as store_hours

RULES: dict[str, list[Rule]] = {
    "perp_ohlcv_1h": OHLCV_RULES,
    "funding_settlements": FUNDING_RULES,
    "open_interest_1h": OI_RULES,
    "universe_scan_1h": UNIVERSE_RULES,
    "features_1h": FEATURE_RULES,
    "regime_scores_1h": REGIME_RULES,
    "carry_signals_1h": CARRY_RULES,
    "cascade_signals_1h": CASCADE_RULES,
    "tail_hedge_signals_1h": TAIL_HEDGE_RULES,
    "strategy_signals_1h": STRATEGY_SIGNAL_RULES,
    "model_predictions_1h": PREDICTION_RULES,
    "ledger_1h": LEDGER_RULES,
    "positions_1h": POSITION_RULES,
    "order_intents_1h": INTENT_RULES,
    "fills_1h": FILL_RULES,
    "layer_allocations_1h": ALLOCATION_RULES,
}


#: Derived assets in dependency order: the product's range chain, plus the ML predictions of a
#: store without trained folds (the audit's fresh store).
DERIVED: dict[str, Callable[[Load, pd.DatetimeIndex], pd.DataFrame]] = {
    **CHAIN,
    "model_predictions_1h": lambda load, hours: _untrained_predictions(load, hours),
}
#: The ``trading_book`` outputs, each the ``quant.book.HourTables`` field it is.
BOOK: dict[str, str] = {
    "ledger_1h": "ledger",
    "positions_1h": "positions",
    "order_intents_1h": "intents",
    "fills_1h": "fills",
    "layer_allocations_1h": "allocations",
}
assert set(BOOK) == set(BOOK_OUTPUTS), "benchmarks.pure.BOOK must name every output of assets.book.trading_book"
#: The book's same-hour inputs, in ``run_book``'s order.
BOOK_INPUTS = ("perp_ohlcv_1h", "funding_settlements", "carry_signals_1h", "cascade_signals_1h", "tail_hedge_signals_1h")
#: The stored tables of an hour that the next hour's book starts from, in ``state_from_tables``'s order.
STATE_TABLES = ("positions_1h", "ledger_1h", "order_intents_1h")
#: The assets this module computes: compared with the ``hourly_cycle`` job by ``benchmarks.run``.
ASSETS = (*SOURCES, *DERIVED, *BOOK)
#: The final book of every window computed here, by its last hour: a window starting the hour after picks it up.
_CARRIED: dict[pd.Timestamp, BookState] = {}


@dataclass(frozen=True)
class PureResult:
    seconds: float
    hours: int
    rows: dict[str, int]
    violations: int
    #: Of ``seconds``: the book (its starting state read, ``run_book``, its five tables written).
    book_seconds: float = 0.0
    #: The book at the end of the window (what the next hour starts from).
    book: BookState | None = None


def check_rules(asset: str, frame: pd.DataFrame, hours: pd.DatetimeIndex, uni: Universe) -> int:
    """Every rule of ``asset`` over ``frame`` as ``checks.engine.evaluate_rules`` runs them; violation count."""
    rules = RULES[asset]
    env = RuleEnv(hours=hours, universe=uni)
    found = 0
    for rule in rules:
        violations = rule.violations(frame, env)
        if len(hours) > 1:  # a range run logs one evaluation per hour
            by_hour(violations, hours)
        found += len(violations)
    return found


def write_hours(root: Path, asset: str, df: pd.DataFrame, hours: pd.DatetimeIndex) -> None:
    """What ``HourlyParquetIOManager.handle_output`` does: ``resources.storage.write_hours`` (one file per day)."""
    store_hours(str(root), asset, hours, df)


def carried_state(start: pd.Timestamp) -> BookState:
    """The book at the end of the hour before ``start`` as a window computed here left it; fresh if none did."""
    state = _CARRIED.get(start - HOUR)
    return state if state is not None else fresh_state()


def stored_state(store: Path, start: pd.Timestamp) -> BookState:
    """What ``assets.book._previous_state`` reads: the stored tables of the hour before ``start``, or a fresh book."""
    prev = start - HOUR
    try:
        positions, ledger, intents = [read_hours(str(store), name, pd.DatetimeIndex([prev])) for name in STATE_TABLES]
    except MissingPartitionError:
        return fresh_state()
    return state_from_tables(prev, positions, ledger, intents)


def write_state(root: Path, state: BookState) -> None:
    """The three tables of ``state``'s hour as the book asset stored them (nothing for a fresh book)."""
    if state.hour is None:
        return
    hour = pd.DatetimeIndex([state.hour])
    for asset, frame in zip(STATE_TABLES, (state.positions, state.ledger, state.pending), strict=True):
        write_hours(root, asset, frame, hour)


def _untrained_predictions(load: Load, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """``model_predictions_1h`` where no fold is trained (the audit's fresh store: the fold before the
    window has under two weeks of stored history): every row says so, and the sleeve holds."""
    frame = load("features_1h", NONE).merge(load("perp_ohlcv_1h", NONE)[["hour", "venue", "symbol", "sigma_1h"]],
                                            on=["hour", "venue", "symbol"], how="left")
    parts = []
    for key in sorted({FOLDS.get_partition_key_for_timestamp(h.timestamp()) for h in hours}):
        a, b = fold_window(key)
        week = hours[(hours >= a) & (hours < b)]
        parts.append(prediction_rows(frame, week, ensemble=None, fold=key, model_version="", horizon_h=4,
                                     no_model_reason="too little history"))
    return pd.concat(parts, ignore_index=True)


def book_tables(load: Load, hours: pd.DatetimeIndex, state: BookState) -> tuple[Tables, BookState]:
    """The ``trading_book`` body: ``hours`` stepped from ``state`` (default ``BookParams``, kill switch not tripped)."""
    out, final = run_book(state, hours, *(load(asset, NONE) for asset in BOOK_INPUTS), BookParams(),
                          ml=load("model_predictions_1h", NONE), strategies=load("strategy_signals_1h", NONE))
    return {asset: getattr(out, field) for asset, field in BOOK.items()}, final


def run_window(
    ex: ReplayExchange,
    uni: Universe,
    start: pd.Timestamp,
    end: pd.Timestamp,
    lookback: Tables,
    store: Path | None = None,
    book: BookState | None = None,
) -> PureResult:
    """The whole hourly cycle over [start, end), timed.

    ``lookback`` holds the source tables of the :data:`LOOKBACK` hours before ``start``
    (computed beforehand, like the untimed warm-up run); with ``store`` those hours must already
    be written there and every table goes through hourly Parquet (written, then read back for
    its consumers and its checks). The book starts from the stored hour before ``start`` with
    ``store``, else from ``book`` (default :func:`carried_state`).
    """
    hours = md.hours_of(start, end)
    t0 = time.perf_counter()
    tables = source_tables(ex, uni, start, end)
    load = loader(store, lookback, tables, start, end)
    if store is not None:
        for asset in SOURCES:
            write_hours(store, asset, tables[asset], hours)
    for asset, compute in DERIVED.items():
        tables[asset] = compute(load, hours)
        if store is not None:
            write_hours(store, asset, tables[asset], hours)
    t_book = time.perf_counter()
    if store is not None:
        state = stored_state(store, start)
    else:
        state = book if book is not None else carried_state(start)
    booked, final = book_tables(load, hours, state)
    tables |= booked
    if store is not None:
        for asset, frame in booked.items():
            write_hours(store, asset, frame, hours)
    book_seconds = time.perf_counter() - t_book
    violations = sum(check_rules(asset, load(asset, NONE), hours, uni) for asset in ASSETS)
    seconds = time.perf_counter() - t0
    _CARRIED[final.hour] = final
    return PureResult(seconds, len(hours), {k: len(v) for k, v in tables.items()}, violations, book_seconds, final)


def measure(
    ex: ReplayExchange,
    uni: Universe,
    start: pd.Timestamp,
    end: pd.Timestamp,
    lookback: Tables,
    *,
    parquet: bool = False,
    book: BookState | None = None,
) -> PureResult:
    """``run_window`` after a garbage collection; with ``parquet`` through a fresh temp folder.

    ``book``: the book at the end of the hour before ``start`` (default :func:`carried_state`);
    with ``parquet`` it is written to the temp folder untimed, as the previous hourly run stored it.
    """
    state = book if book is not None else carried_state(start)
    if not parquet:
        gc.collect()
        return run_window(ex, uni, start, end, lookback, book=state)
    with tempfile.TemporaryDirectory(prefix="perpetua-bench-io-") as tmp:
        before = md.hours_of(max(start - LOOKBACK, FIRST_HOUR), start)
        for asset, frame in lookback.items():  # the look-back hours, written untimed (the warm-up run)
            write_hours(Path(tmp), asset, frame, before)
        write_state(Path(tmp), state)  # the book's previous hour, likewise
        gc.collect()
        return run_window(ex, uni, start, end, lookback, Path(tmp))
