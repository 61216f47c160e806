"""Turn rules into Dagster asset checks: ONE blocking check per asset, evaluated per hour partition
in the asset's own step (``audited``).

A rule is a pure function ``(frame, env) -> violations``. Each asset gets one check,
``<asset>__quality``, that computes every rule of the asset once over the window and reports them
together: the result names the rules that failed, their hours and first violations (metadata and
description), and passes only when every rule passes.

* one-hour run: one ``AssetCheckResult``, stamped with the partition (Dagster links it to the
  hour's materialisation);
* range run (single-run backfill): one evaluation per hour is logged, each linked to that hour's
  materialisation (``target_materialization_data``) so the UI counts the hour as checked —
  Passed or Failed, never "Missing" — then a summary result closes the step.

Why one check per asset and not one per rule: every evaluation is a stored event (three SQLite
statements and ~9 KB); 46 named checks cost 46 events an hour, the 14 asset checks 14, with the
same rules, counts and first violations in each result (see BENCHMARKS.md for the measured cost).

A failure of an ERROR rule (the default) trips the persistent kill switch once per failing rule (source ``check:<asset>__<rule>``)
with its hours and first reasons; the switch stays tripped until a person resets it. Blocking checks
only stop downstream assets in the same run, so the order path reads the kill switch itself. A WARN
rule (``Rule.severity``) is reported the same way but trips nothing: the check fails with WARN
severity, which Dagster does not block on, unless an ERROR rule failed too.
"""


import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    Failure,
    MetadataValue,
    Output,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import (
    DagsterEvent,
    DagsterEventBatchMetadata,
    DagsterEventType,
    generate_event_batch_id,
)
from dagster._core.execution.context.invocation import BaseDirectExecutionContext

from quant.market_data.tables import hours_of
from quant.market_data.universe import Universe
from quant.quality import by_hour, no_violations, violation_rows
from resources.kill_switch import KillSwitch
from resources.market import MarketUniverse
from resources.partitions import HOURLY, window_of
from resources.redaction import redact

#: Violations listed in a result's metadata (the count is always complete).
SHOWN_VIOLATIONS = 10


@dataclass(frozen=True)
class RuleEnv:
    """What a rule may look at besides the frame: the window and the expected universe."""

    hours: pd.DatetimeIndex
    universe: Universe


@dataclass(frozen=True)
class Rule:
    """One data-quality property of one asset.

    ``evaluate(frame, env)`` returns the violations (pandas/numpy). ``expectations(gx)``, where
    given, is the same property as great-expectations Expectations: not run by the check, but
    validated by the tests as an independent reference that must find the same rows.
    """

    name: str
    description: str
    threshold: str
    evaluate: Callable[[pd.DataFrame, RuleEnv], pd.DataFrame]
    expectations: Callable[[Any], list[Any]] | None = None
    #: ERROR (the default): a violation fails the check, blocks the step and trips the kill switch.
    #: WARN: a violation fails the check as a warning, reported like the others, and blocks nothing
    #: (for what concerns one producer, not the data every layer trades on).
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR

    def violations(self, frame: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        """The rule's violations; a rule that cannot run on this frame is a violation in every hour."""
        try:
            found = self.evaluate(frame, env)
        except Exception as exc:  # noqa: BLE001 - a crashed rule must fail the check, not pass it
            detail = f"rule {self.name} could not run on this frame: {type(exc).__name__}: {exc}"
            return violation_rows(pd.DataFrame({"hour": env.hours, "venue": "-", "symbol": "-"}), [detail] * len(env.hours))
        return found if len(found) else no_violations()


def partition_key(hour: pd.Timestamp) -> str:
    return hour.strftime("%Y-%m-%d-%H:%M")


def check_name(asset: str) -> str:
    """The one check of ``asset``."""
    return f"{asset}__quality"


def _first_lines(violations: pd.DataFrame) -> list[str]:
    shown = violations.head(SHOWN_VIOLATIONS)
    return [f"{h:%Y-%m-%d %H:00} {v} {s}: {d}" for h, v, s, d in shown.itertuples(index=False)]


def _metadata(rules: Sequence[Rule], found: dict[str, pd.DataFrame], hours: int) -> dict[str, MetadataValue]:
    """What one evaluation shows: counts always; per failing rule its threshold, hours and first violations."""
    failed = {name: v for name, v in found.items() if len(v)}
    meta = {
        "rules_checked": MetadataValue.int(len(rules)),
        "rules_failed": MetadataValue.int(len(failed)),
        "observed_violations": MetadataValue.int(sum(len(v) for v in failed.values())),
        "hours_checked": MetadataValue.int(hours),
    }
    if failed:
        by_name = {r.name: r for r in rules}
        lines = []
        for name, v in failed.items():
            warn = " — warning, blocks nothing" if by_name[name].severity == AssetCheckSeverity.WARN else ""
            lines.append(f"**{name}** ({len(v)} violation(s) in {v['hour'].nunique()} hour(s); threshold: "
                         f"{by_name[name].threshold}){warn}")
            lines += [f"- {line}" for line in _first_lines(v)]
        meta["failed_rules"] = MetadataValue.json({name: len(v) for name, v in failed.items()})
        meta["hours_failed"] = MetadataValue.int(int(pd.concat([v["hour"] for v in failed.values()]).nunique()))
        meta["violations"] = MetadataValue.md("\n".join(lines))
        warned = [name for name in failed if by_name[name].severity == AssetCheckSeverity.WARN]
        if warned:
            meta["warning_rules"] = MetadataValue.json(warned)
    return meta


def _severity(rules: Sequence[Rule], found: dict[str, pd.DataFrame]) -> AssetCheckSeverity:
    """ERROR unless every failing rule is a warning (then WARN: Dagster blocks only on ERROR)."""
    failing = [r for r in rules if len(found[r.name])]
    return AssetCheckSeverity.WARN if failing and all(r.severity == AssetCheckSeverity.WARN for r in failing) \
        else AssetCheckSeverity.ERROR


def _describe(rules: Sequence[Rule], found: dict[str, pd.DataFrame]) -> str:
    failed = [(name, v) for name, v in found.items() if len(v)]
    if not failed:
        return f"all {len(rules)} rules passed: " + ", ".join(r.name for r in rules)
    return "; ".join(_describe_rule(name, v) for name, v in failed)


def _describe_rule(name: str, violations: pd.DataFrame) -> str:
    first = violations.iloc[0]
    return (f"{name}: {len(violations)} violation(s); first: {first['hour']:%Y-%m-%d %H:00} "
            f"{first['venue']} {first['symbol']}: {first['detail']}")


def _span(hours: Sequence[pd.Timestamp]) -> str:
    first, last = partition_key(hours[0]), partition_key(hours[-1])
    return first if first == last else f"{first}..{last}"


def _targets(
    context: AssetExecutionContext, asset: str, hours: pd.DatetimeIndex
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """Each hour's latest materialisation, so a per-hour evaluation is linked to it (two queries a range)."""
    instance = context.instance
    key = AssetKey(asset)
    partitions = {partition_key(h) for h in hours}
    storage = instance.event_log_storage
    if hasattr(storage, "materialization_targets"):  # resources.instance_storage: the same, read cheaply
        return storage.materialization_targets(key, partitions)
    latest = storage.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION, partitions)
    if not latest:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    return {
        r.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp
        )
        for r in records
        if r.partition_key is not None
    }


def evaluate_rules(
    context: AssetExecutionContext,
    asset: str,
    rules: list[Rule],
    frame: pd.DataFrame,
    universe: Universe,
    kill_switch: KillSwitch,
) -> Iterator[AssetCheckResult]:
    start, end = window_of(context)
    hours = hours_of(start, end)
    env = RuleEnv(hours=hours, universe=universe)
    found = {rule.name: rule.violations(frame, env) for rule in rules}
    if len(hours) > 1:
        _log_hours(context, asset, rules, found, hours)
    severity = {r.name: r.severity for r in rules}
    for name, violations in found.items():
        if len(violations) and severity[name] == AssetCheckSeverity.ERROR:
            kill_switch.trip(
                source=f"check:{asset}__{name}",
                reason=_describe_rule(name, violations),
                partition=_span(sorted(violations["hour"].unique())),
                run_id=context.run_id,
            )
    yield AssetCheckResult(
        asset_key=AssetKey(asset),
        check_name=check_name(asset),
        passed=not any(len(v) for v in found.values()),
        severity=_severity(rules, found),
        metadata=_metadata(rules, found, len(hours)),
        description=_describe(rules, found),
    )


def _log_hours(
    context: AssetExecutionContext,
    asset: str,
    rules: list[Rule],
    found: dict[str, pd.DataFrame],
    hours: pd.DatetimeIndex,
) -> None:
    """One evaluation per hour of a range, linked to that hour's materialisation."""
    split = {name: by_hour(v, hours) for name, v in found.items()}
    targets = _targets(context, asset, hours)
    clean = {name: no_violations() for name in found}
    # a clean hour's result is the same for every clean hour: built once, not once an hour
    clean_result = (_metadata(rules, clean, 1), _severity(rules, clean), _describe(rules, clean))
    evaluations = []
    for hour in hours:
        key = partition_key(hour)
        mine = {name: parts[hour] for name, parts in split.items()}
        passed = not any(len(v) for v in mine.values())
        metadata, severity, description = clean_result if passed else (
            _metadata(rules, mine, 1), _severity(rules, mine), _describe(rules, mine))
        evaluations.append(
            AssetCheckEvaluation(
                asset_key=AssetKey(asset),
                check_name=check_name(asset),
                passed=passed,
                metadata=metadata,
                severity=severity,
                description=description,
                blocking=True,
                partition=key,
                target_materialization_data=targets.get(key),
            )
        )
    log_evaluations(context, evaluations)


def log_evaluations(context: AssetExecutionContext, evaluations: Sequence[AssetCheckEvaluation]) -> None:
    """Log a range's per-hour evaluations as ONE event batch, as Dagster logs a range's materialisations.

    ``context.log_event`` hands each evaluation to the storage alone (three statements, two
    transactions, the event serialised twice). Logged with Dagster's batch metadata, the instance
    buffers them (when ``DAGSTER_EVENT_BATCH_SIZE`` is set, as ``perpetua`` sets it) and passes them
    to ``store_event_batch`` together, which ``resources.instance_storage`` writes in one
    transaction per database. Where batching is off each is stored alone, as ``log_event`` would.
    Each event is the one ``log_event`` builds (same type, message and step), so the run's log,
    the check's partition view and the events the step yields are unchanged.
    """
    if isinstance(context, BaseDirectExecutionContext):  # called directly: no run, no instance to batch for
        for evaluation in evaluations:
            context.log_event(evaluation)
        return
    op = context.op_execution_context
    step = op._step_execution_context  # noqa: SLF001 - log_event's own route, with batch metadata
    batch = generate_event_batch_id()
    last = len(evaluations) - 1
    for i, evaluation in enumerate(evaluations):
        event = DagsterEvent.from_step(
            event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
            step_context=step,
            event_specific_data=evaluation,
            message=_check_message(evaluation),
            batch_metadata=DagsterEventBatchMetadata(batch, i == last),
        )
        op._events.append(event)  # noqa: SLF001 - yielded with the step's events, as log_event does


def _check_message(evaluation: AssetCheckEvaluation) -> str:
    """The run-log line Dagster writes for an evaluation (``DagsterEvent.asset_check_evaluation``)."""
    described = "" if evaluation.description is None else f" Description: '{evaluation.description}'"
    return (f"Asset check '{evaluation.check_name}' on '{evaluation.asset_key.to_user_string()}' "
            f"{'passed.' if evaluation.passed else 'did not pass.'}{described}")


def quality_spec(asset: str, rules: list[Rule]) -> AssetCheckSpec:
    """The one blocking check of ``asset``, ``<asset>__quality``, declared on the asset itself."""
    listing = "; ".join(f"{r.name}{' (warning)' if r.severity == AssetCheckSeverity.WARN else ''}: {r.description} "
                        f"(threshold: {r.threshold})" for r in rules)
    return AssetCheckSpec(
        name=check_name(asset),
        asset=asset,
        description=f"{len(rules)} rules, each named in a failing result — {listing}",
        blocking=True,
        partitions_def=HOURLY,
    )


_RESOURCES = (("kill_switch", KillSwitch), ("universe", MarketUniverse))


def audited(rules_by_asset: dict[str, list[Rule]], *, source: bool = False):
    """Run the asset's quality check in the asset's own step, on the frame it just produced.

    The decorated body returns its frame (or, for a multi-asset, yields one ``Output`` per asset);
    the wrapper yields those outputs — Dagster stores them and records each hour's materialisation
    — then evaluates the rules of each output with :func:`evaluate_rules`. A separate check step per
    asset would cost ~6 more events a run and read every frame back from storage. The
    ``kill_switch`` and ``universe`` resources are added to the body's parameters when it lacks
    them. Called directly (``build_asset_context``, unit tests) it yields the same events: the
    output(s), then each check result.

    ``source``: the asset reads a source (an exchange, a data file). When its body fails, the kill
    switch is tripped (``source:<asset>``, the window's hours, the cause) before the failure is
    re-raised as a ``Failure`` whose description names the cause: no hour is traded on a source
    that could not be read.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        missing = [(n, t) for n, t in _RESOURCES if n not in sig.parameters]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=t) for n, t in missing]

        @functools.wraps(fn)
        def body(context: AssetExecutionContext, *args, **kwargs):
            res = {n: (kwargs.pop(n, None) if (n, t) in missing else kwargs[n]) for n, t in _RESOURCES}
            if not source:
                return _checked(context, fn(context, *args, **kwargs), rules_by_asset, res["universe"], res["kill_switch"])
            try:
                result = fn(context, *args, **kwargs)
            except Exception as exc:
                raise _source_failed(context, fn.__name__, exc, res["kill_switch"]) from exc
            return _checked(context, result, rules_by_asset, res["universe"], res["kill_switch"])

        # the body now also yields check results: its outputs are no longer the one annotated frame
        body.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra],
                                         return_annotation=inspect.Signature.empty)
        body.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "return"}
        return body

    return decorate


def _source_failed(context: AssetExecutionContext, asset: str, exc: Exception, kill_switch: KillSwitch) -> Failure:
    """Trip the kill switch for a source that could not be read; the Failure to raise, naming the cause."""
    cause = redact(exc.description if isinstance(exc, Failure) and exc.description else f"{type(exc).__name__}: {exc}")
    start, end = window_of(context)
    span = _span(list(hours_of(start, end)))
    kill_switch.trip(source=f"source:{asset}", reason=cause, partition=span, run_id=context.run_id)
    metadata = dict(exc.metadata) if isinstance(exc, Failure) and exc.metadata else {}
    metadata["kill_switch"] = MetadataValue.text(f"tripped: source:{asset}")
    return Failure(description=f"{asset} could not read its source for {span}: {cause}", metadata=metadata)


def _checked(context: AssetExecutionContext, result, rules_by_asset: dict[str, list[Rule]], universe: MarketUniverse,
             kill_switch: KillSwitch) -> Iterator[Any]:
    outputs = list(result) if inspect.isgenerator(result) else [Output(result)]
    for out in outputs:
        yield out
    (only,) = rules_by_asset if len(rules_by_asset) == 1 else (None,)
    for out in outputs:
        asset = only or out.output_name
        yield from evaluate_rules(context, asset, rules_by_asset[asset], out.value, universe.get(), kill_switch)
