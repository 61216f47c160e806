"""Run hourly windows against a persistent instance: the engine behind ``perpetua backfill`` and ``demo``.

A window is cut into chunks (a week by default) and each chunk is ONE in-process run over its
partition range (``BackfillPolicy.single_run``): a failure loses at most one chunk, and
re-running converges because every hour is overwritten, never appended.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, Definitions
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.ml import FoldConfig, fit_fold
from assets.signals import CASCADE_FUNDING_LOOKBACK_H, CASCADE_OI_LOOKBACK_H, CASCADE_PRICE_LOOKBACK_H
from assets.strategies import STRATEGY_FLOW_LOOKBACK_H, STRATEGY_PRICE_LOOKBACK_H
from checks.engine import partition_key
from pipelines.jobs import CYCLE_DECISIONS_JOB, CYCLE_INPUTS_JOB, ML_EVALUATION_JOB, ML_FOLD_JOB
from pipelines.lineage import code_version_tags
from quant.features.hourly import FEATURE_LOOKBACK_H
from resources.fit_ahead import FitAhead
from resources.partitions import (
    FOLDS,
    HOURLY,
    data_windows,
    describe_windows,
    fold_window,
    split_by_windows,
    window_containing,
)
from resources.redaction import redact
from resources.storage import CorruptPartitionError, stored_hours

#: Console log level of CLI runs (every event is still stored in the instance for the UI).
CONSOLE_LOG_LEVEL = "WARNING"
#: Hours per single run of a backfill: a failure loses at most this much work.
DEFAULT_CHUNK_HOURS = 168
#: Source hours materialised before a window so its look-backs exist: 7 days of candles for the
#: features (``quant.features.FEATURE_LOOKBACK_H``) and the cascade score (7 days of candles and
#: open interest, a day of funding), 23 hours for the scan, and the strategy registry's history
#: (``assets.strategies``: up to 887 hours of funding and open interest, a week more of candles for
#: their features), the longest. Hours already stored are not run again.
WARMUP_HOURS = max(FEATURE_LOOKBACK_H, CASCADE_PRICE_LOOKBACK_H, CASCADE_OI_LOOKBACK_H, CASCADE_FUNDING_LOOKBACK_H,
                   STRATEGY_PRICE_LOOKBACK_H, STRATEGY_FLOW_LOOKBACK_H)
WARMUP_JOB = "market_sources"
HOURLY_CYCLE_JOB = "hourly_cycle"
#: The asset whose presence in a job makes a backfill train the folds first.
PREDICTIONS_ASSET = "model_predictions_1h"


@dataclass
class ChunkResult:
    job: str
    start: str
    end: str
    run_id: str
    success: bool
    seconds: float
    events: int
    checks_failed: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    #: The first hour whose data failed a check (the hour that stopped the run), when one did.
    first_failed_hour: pd.Timestamp | None = None
    #: This run re-materialised the hours before ``first_failed_hour`` of the failed run above it.
    kept_before_failure: bool = False


def hour_floor(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("h")


def chunks(start: pd.Timestamp, end: pd.Timestamp, hours: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive [a, b) windows of at most ``hours`` covering [start, end)."""
    if end <= start:
        raise ValueError(f"empty window: {start} .. {end}")
    out = []
    a = start
    while a < end:
        b = min(a + pd.Timedelta(hours=hours), end)
        out.append((a, b))
        a = b
    return out


def _first_missing(defs: Definitions, start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp | None:
    """The first hour of [start, end) that some warm-up asset lacks in storage (None when all are there).

    Storage, not the instance's run records, says what exists: after ``purge-runs`` or on a new
    ``DAGSTER_HOME`` the stored look-backs are not run again. A day file that cannot be read counts
    as missing (the warm-up run then names it).
    """
    if start >= end:
        return None
    keys = defs.resolve_job_def(WARMUP_JOB).asset_layer.executable_asset_keys
    hours = pd.date_range(start, end, freq="h", inclusive="left").as_unit("ns")
    root = defs.resources["hourly_parquet"].root
    missing: set[pd.Timestamp] = set()
    for key in keys:
        try:
            have = set(stored_hours(root, key.to_user_string(), start, end).as_unit("ns"))
        except CorruptPartitionError:
            return start
        missing |= set(hours) - have
    return min(missing) if missing else None


#: Dagster's switch for one planned materialisation per asset per run (its partition subset).
PLANNED_SUBSETS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@contextmanager
def planned_subsets(on: bool) -> Iterator[None]:
    """Dagster's planned-subset switch on for a range run (168 planned events per asset become 1).

    Dagster then does not mark a FAILED run's hours as failed in the partition view — acceptable
    for a backfill chunk, whose failure the runner reports and stops at, not for the hourly run.
    """
    saved = os.environ.get(PLANNED_SUBSETS_ENV)
    if on and os.environ.get("PERPETUA_PLANNED_SUBSETS", "1") != "0":  # 0: one planned event per hour, as Dagster
        os.environ[PLANNED_SUBSETS_ENV] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(PLANNED_SUBSETS_ENV, None)
        else:
            os.environ[PLANNED_SUBSETS_ENV] = saved


def failed_rule_hours(events) -> dict[str, int]:
    """``<asset>__<rule>`` -> failing hours, from a run's check evaluations.

    A range run logs one evaluation per hour (with its partition) and a summary (without): the
    hours count. A one-hour run has only the result without a partition: that is its one hour.
    """
    evaluations = [ev.event_specific_data for ev in events if ev.event_type_value == "ASSET_CHECK_EVALUATION"]
    per_hour = {d.check_name for d in evaluations if d.partition is not None}
    failed: dict[str, int] = {}
    for data in evaluations:
        if data.passed or (data.partition is None and data.check_name in per_hour):
            continue
        rules = data.metadata.get("failed_rules")
        names = list(rules.value) if rules is not None else [data.check_name]
        asset = data.asset_key.to_user_string()
        for rule in names:
            key = rule if rule.startswith(f"{asset}__") else f"{asset}__{rule}"
            failed[key] = failed.get(key, 0) + 1
    return failed


def failure_text(data) -> str:
    """What failed, in one line: a ``Failure``'s own description, else the first cause that is not a
    Dagster wrapper (Dagster's outer message only says "Error occurred while executing op ..."); secrets redacted."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return redact(user.description.strip())
    # the outermost error that is not Dagster's own wrapper: e.g. a CorruptPartitionError naming
    # the file, not the pyarrow error beneath it
    chain, error = [], data.error
    while error is not None:
        chain.append(error)
        error = error.cause
    ours = [e for e in chain if not (e.cls_name or "").startswith("Dagster")]
    chosen = ours[0] if ours else (chain[-1] if chain else None)
    text = chosen.message.strip() if chosen is not None else "step failed"
    return redact(text)


def first_failed_hour(events) -> pd.Timestamp | None:
    """The earliest hour any per-hour check evaluation of a run failed (None when none did)."""
    hours = [
        ev.event_specific_data.partition for ev in events
        if ev.event_type_value == "ASSET_CHECK_EVALUATION"
        and not ev.event_specific_data.passed and ev.event_specific_data.partition is not None
    ]
    return min((pd.Timestamp(HOURLY.time_window_for_partition_key(k).start) for k in hours), default=None)


def check_window(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The parts of [start, end) that have data; a ValueError naming the data's dates otherwise.

    Hours before the first or after the last hour with data are refused up front. Hours between two
    data windows are "no data" (the sample withholds them): they are skipped, not run.
    """
    if end <= start:
        raise ValueError(f"empty window: {start:%Y-%m-%d %H:00} .. {end:%Y-%m-%d %H:00} UTC (end must be after start)")
    windows = data_windows()
    first = hour_floor(HOURLY.start)
    if start < first:
        raise ValueError(f"{start:%Y-%m-%d %H:00} UTC is before the first partition ({first:%Y-%m-%d %H:00} UTC)")
    if windows is not None and end > windows[-1][1]:
        raise ValueError(
            f"{end:%Y-%m-%d %H:00} UTC is past the data: its last hour is "
            f"{windows[-1][1] - pd.Timedelta(hours=1):%Y-%m-%d %H:00} UTC (--end is exclusive); "
            f"the data's windows are {describe_windows(windows)}"
        )
    parts = split_by_windows(start, end)
    if not parts:
        raise ValueError(f"{start:%Y-%m-%d %H:00} .. {end:%Y-%m-%d %H:00} UTC has no data: the data's windows are "
                         f"{describe_windows(windows or ())}")
    return parts


def _predicts(defs: Definitions, job_name: str) -> bool:
    keys = defs.resolve_job_def(job_name).asset_layer.executable_asset_keys
    return any(k.to_user_string() == PREDICTIONS_ASSET for k in keys)


def fold_chunks(a: pd.Timestamp, b: pd.Timestamp, hours: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """:func:`chunks` of [a, b) that never cross a fold's start (a UTC Monday 00:00): [a, next Monday),
    then each week in runs of at most ``hours``.

    A fold learns from the stored hours before it, so those hours must be materialised by an
    earlier run than the one that predicts the fold.
    """
    mondays = [m for m in pd.date_range(a.floor("D"), b, freq="W-MON") if a < m < b]
    cuts = [a, *mondays, b]
    return [c for x, y in zip(cuts, cuts[1:], strict=False) for c in chunks(x, y, hours)]


def plan_window(
    defs: Definitions, start: pd.Timestamp, end: pd.Timestamp, *, job_name: str, chunk_hours: int, warmup_hours: int,
    retrain: bool = False, train_folds: bool = True, fit_ahead: bool = True,
) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(job, a, b) runs covering the data inside [start, end): per data window, its look-back warm-up, then chunks.

    Where the job predicts with the ML sleeve, each chunk stays inside one fold and the fold's
    training run (``ML_FOLD_JOB``, [fold start, fold end)) comes before the fold's first chunk,
    unless the fold already has a model (``retrain``: train it again). ``train_folds=False`` plans
    the hourly runs alone (their predictions then say which folds were never trained, and the
    sleeve holds). What already exists is read from storage alone, so no instance is asked.

    When ``job_name`` is the hourly cycle and some fold will have the history to fit a model (its
    stored and planned hours before it reach ``FoldConfig.min_train_hours``), the cycle runs in its two halves
    (``pipelines.jobs``): first the inputs (market data, scan, features, regimes) of every chunk of
    every window, then, week by week, the fold's training run and the decisions (signals,
    predictions, the book). A fold learns only from inputs, so :func:`run_window` can fit it in a
    second process as soon as the inputs before it are stored, while the main process goes on.
    ``fit_ahead=False`` keeps the plain order (the same bytes, one process).
    """
    ml = train_folds and _predicts(defs, job_name)
    store = defs.resources.get("ml_models") if ml else None
    trained: set[str] = set()
    warmups, cycle = [], []
    for a, b in check_window(start, end):
        home = window_containing(a)
        floor = home[0] if home else hour_floor(HOURLY.start)
        warm_start = _first_missing(defs, max(floor, a - pd.Timedelta(hours=warmup_hours)), a)
        warmups.append([(WARMUP_JOB, warm_start, a)] if warm_start is not None else [])
        runs = []
        for x, y in (fold_chunks(a, b, chunk_hours) if ml else chunks(a, b, chunk_hours)):
            if ml:
                key = FOLDS.get_partition_key_for_timestamp(x.timestamp())
                if key not in trained and (retrain or not store.has_manifest(key)):
                    runs.append((ML_FOLD_JOB, *fold_window(key)))
                trained.add(key)
            runs.append((job_name, x, y))
        cycle.append(runs)
    folds = [a for runs in cycle for job, a, _ in runs if job == ML_FOLD_JOB]
    halves = fit_ahead and job_name == HOURLY_CYCLE_JOB and _fits_a_fold(defs, folds, [h for runs in cycle for h in runs])
    if halves:
        plan = [run for warm, runs in zip(warmups, cycle, strict=True)
                for run in [*warm, *((CYCLE_INPUTS_JOB, x, y) for job, x, y in runs if job == job_name)]]
        plan += [(CYCLE_DECISIONS_JOB if job == job_name else job, x, y) for runs in cycle for job, x, y in runs]
    else:
        plan = [run for warm, runs in zip(warmups, cycle, strict=True) for run in [*warm, *runs]]
    if ml:  # each trained fold's scores on its own hours, once they are predicted (labels need the bars after)
        plan += [(ML_EVALUATION_JOB, *fold_window(key)) for key in sorted(trained)]
    return plan


def _fits_a_fold(defs: Definitions, fold_starts: list[pd.Timestamp], runs: list[tuple[str, pd.Timestamp, pd.Timestamp]]) -> bool:
    """Whether some fold starting at ``fold_starts`` will learn from enough hours to fit a model:
    the features stored before it and the planned cycle hours before it (a fold short of history is
    skipped in a moment, and halving the cycle would only add runs)."""
    if not fold_starts:
        return False
    stored = stored_hours(defs.resources["hourly_parquet"].root, "features_1h", None, max(fold_starts))
    planned = [pd.date_range(a, b, freq="h", inclusive="left") for job, a, b in runs if job != ML_FOLD_JOB]
    have = stored.union(pd.DatetimeIndex([]).append(planned)) if planned else stored
    need = FoldConfig().min_train_hours
    return any(int((have < start).sum()) >= need for start in fold_starts)


def run_window(
    defs: Definitions,
    instance: DagsterInstance,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    job_name: str = HOURLY_CYCLE_JOB,
    chunk_hours: int = DEFAULT_CHUNK_HOURS,
    warmup_hours: int = WARMUP_HOURS,
    on_chunk=None,
    on_plan=None,
    train_folds: bool = True,
    fit_ahead: bool = True,
) -> list[ChunkResult]:
    """Materialise every hour of [start, end) with data (plus warm-up) in chunked single runs; stop at the first failure.

    Where the job predicts with the ML sleeve, each fold is trained before its first hour and
    scored at the end (``train_folds=False``: the hourly runs alone, see :func:`plan_window`).
    When the plan runs the cycle in halves, each fold is fitted ahead in a second process once the
    inputs before it are stored (``resources.fit_ahead``), and a failed hour of the inputs still
    lets the decisions run up to it.
    """
    plan = plan_window(defs, start, end, job_name=job_name, chunk_hours=chunk_hours, warmup_hours=warmup_hours,
                       train_folds=train_folds, fit_ahead=fit_ahead)
    if on_plan:
        on_plan(plan)
    results = []

    def record(chunk: ChunkResult) -> ChunkResult:
        results.append(chunk)
        if on_chunk:
            on_chunk(chunk)
        return chunk

    code = code_version_tags()  # the code every run of the window ran, for a replay to compare
    with _FoldsAhead(defs, plan) as ahead:
        i = 0
        while i < len(plan):
            name, a, b = plan[i]
            i += 1
            chunk = record(_run_chunk(defs, instance, name, a, b, code=code))
            if chunk.success:
                if name == CYCLE_INPUTS_JOB:
                    ahead.inputs_stored_until(b)
                continue
            # A failing hour holds back only itself and what follows: the hours before it are run again
            # (their data passed), so the book and signals reach the last good hour. A rule of a
            # downstream asset may then fail earlier still; each retry ends strictly earlier.
            good = a if chunk.first_failed_hour == a else None
            stop = chunk.first_failed_hour
            while stop is not None and a < stop < b:
                kept = record(_run_chunk(defs, instance, name, a, stop, kept_before_failure=True, code=code))
                if kept.success:
                    good = stop
                    break
                stop = kept.first_failed_hour if kept.first_failed_hour is not None and kept.first_failed_hour < stop else None
            if name != CYCLE_INPUTS_JOB or good is None:
                break
            # the inputs failed at ``good``: the decisions and folds before it still run, then the backfill stops
            plan = plan[:i] + decisions_before(plan[i:], good)
    return results


def decisions_before(rest: list[tuple[str, pd.Timestamp, pd.Timestamp]], hour: pd.Timestamp):
    """The decision runs of ``rest`` cut at ``hour`` (the inputs' first failed hour), each with the
    training run of its fold before it: what a halved plan still runs after its inputs failed there."""
    out = []
    for job, a, b in rest:
        if job == CYCLE_DECISIONS_JOB and a < hour:
            out.append((job, a, min(b, hour)))
        elif job == ML_FOLD_JOB and a < hour:
            out.append((job, a, b))
    # a fold whose decision hours all fall at or after ``hour`` is not trained
    return [run for k, run in enumerate(out)
            if run[0] != ML_FOLD_JOB or (k + 1 < len(out) and out[k + 1][0] == CYCLE_DECISIONS_JOB)]


class _FoldsAhead:
    """The plan's folds, each submitted to the fit-ahead process once the inputs before it are stored.

    Only folds with enough stored hours to train are sent (a fold short of history is skipped by its
    own run, no second process needed); with no halved plan nothing is ever started.
    """

    def __init__(self, defs: Definitions, plan: list[tuple[str, pd.Timestamp, pd.Timestamp]]) -> None:
        halved = any(job == CYCLE_INPUTS_JOB for job, _, _ in plan)
        self.folds = [(a, FOLDS.get_partition_key_for_timestamp(a.timestamp())) for job, a, _ in plan
                      if halved and job == ML_FOLD_JOB]
        self.root = defs.resources["hourly_parquet"].root if self.folds else ""
        self.config = FoldConfig()
        self.pool = FitAhead(fit_fold)

    def inputs_stored_until(self, hour: pd.Timestamp) -> None:
        if not (self.folds and self.folds[0][0] <= hour):
            return
        days = [p.stem for p in (Path(self.root) / "features_1h").glob("*.parquet")]
        while self.folds and self.folds[0][0] <= hour:
            start, key = self.folds.pop(0)
            # at most 24 hours a stored day: a fold with fewer days than that needs cannot train
            if 24 * sum(d < f"{start:%Y-%m-%d}" for d in days) >= self.config.min_train_hours:
                self.pool.submit(self.root, key, self.config.model_dump())

    def __enter__(self) -> _FoldsAhead:
        self.pool.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.__exit__(*exc)


def _run_chunk(defs: Definitions, instance: DagsterInstance, name: str, a: pd.Timestamp, b: pd.Timestamp,
               *, kept_before_failure: bool = False, code: dict[str, str] | None = None) -> ChunkResult:
    job = defs.resolve_job_def(name)
    last = b - pd.Timedelta(hours=1)
    t0 = time.perf_counter()
    run_config = {"loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}}
    if name in (ML_FOLD_JOB, ML_EVALUATION_JOB):  # one fold: a weekly partition
        fold = FOLDS.get_partition_key_for_timestamp(a.timestamp())
        res = job.execute_in_process(instance=instance, partition_key=fold, run_config=run_config, raise_on_error=False,
                                     tags=code or None)
        return _result(name, a, last, res, t0, kept_before_failure)
    tags = {**(code or {}), ASSET_PARTITION_RANGE_START_TAG: partition_key(a), ASSET_PARTITION_RANGE_END_TAG: partition_key(last)}
    with planned_subsets(b - a > pd.Timedelta(hours=1)):
        res = job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)
    return _result(name, a, last, res, t0, kept_before_failure)


def _result(name: str, a: pd.Timestamp, last: pd.Timestamp, res, t0: float, kept_before_failure: bool) -> ChunkResult:
    error = None
    if not res.success:
        failures = [ev for ev in res.all_events if ev.event_type_value == "STEP_FAILURE"]
        error = "; ".join(f"{ev.step_key}: {failure_text(ev.event_specific_data)}" for ev in failures) or "run failed"
    failed = failed_rule_hours(res.all_events)
    first_bad = first_failed_hour(res.all_events) if not res.success else None
    if first_bad is None and failed and last == a:  # a one-hour run's result names no partition
        first_bad = a
    return ChunkResult(name, partition_key(a), partition_key(last), res.run_id, res.success, time.perf_counter() - t0,
                       len(res.all_events), failed, error, first_bad, kept_before_failure)
