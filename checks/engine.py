"""Turn rules into Dagster asset checks: one check per property, evaluated per hour partition.

A rule is a pure function ``(frame, env) -> violations``. The factory below builds one
``multi_asset_check`` per asset that computes every rule once over the window and reports each
rule as its own blocking check named ``<asset>__<property>``:

* one-hour run: one ``AssetCheckResult`` per rule, stamped with the partition;
* range run (single-run backfill): one evaluation per hour per rule is logged, so every hourly
  partition shows its own result in the UI, then a summary result closes the step.

A failure trips the persistent kill switch with the rule, the hours and the first reasons; the
switch stays tripped until a person resets it. Blocking checks only stop downstream assets in the
same run, so the order path reads the kill switch itself.
"""


from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from checks.ge_engine import gx_expectations, violations_by_rule
from pipelines.partitions import HOURLY, window_of
from quant.market_data import hours_of
from quant.quality import by_hour, no_violations
from quant.universe import Universe
from resources.kill_switch import KillSwitch
from resources.market import MarketUniverse

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

    ``expectations(gx)`` returns great-expectations Expectations (all of an asset's are validated
    in one run); ``evaluate(frame, env)`` returns violations computed in Python. Either or both.
    """

    name: str
    description: str
    threshold: str
    evaluate: Callable[[pd.DataFrame, RuleEnv], pd.DataFrame] | None = None
    expectations: Callable[[Any], list[Any]] | None = None

    def violations(self, frame: pd.DataFrame, env: RuleEnv, from_ge: pd.DataFrame | None) -> pd.DataFrame:
        parts = [p for p in (from_ge, self.evaluate(frame, env) if self.evaluate else None) if p is not None and len(p)]
        if not parts:
            return no_violations()
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def ge_violations(frame: pd.DataFrame, rules: list[Rule]) -> dict[str, pd.DataFrame]:
    """Every rule's great-expectations violations from a single validation of ``frame``."""
    gx = gx_expectations()
    table = {r.name: (r.expectations(gx), r.description) for r in rules if r.expectations is not None}
    return violations_by_rule(frame, table)


def partition_key(hour: pd.Timestamp) -> str:
    return hour.strftime("%Y-%m-%d-%H:%M")


def _metadata(rule: Rule, violations: pd.DataFrame, hours: int) -> dict[str, MetadataValue]:
    shown = violations.head(SHOWN_VIOLATIONS)
    lines = [f"{h:%Y-%m-%d %H:00} {v} {s}: {d}" for h, v, s, d in shown.itertuples(index=False)]
    return {
        "observed_violations": MetadataValue.int(len(violations)),
        "hours_checked": MetadataValue.int(hours),
        "hours_failed": MetadataValue.int(violations["hour"].nunique() if len(violations) else 0),
        "threshold": MetadataValue.text(rule.threshold),
        "violations": MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none"),
    }


def _describe(rule: Rule, violations: pd.DataFrame) -> str:
    if violations.empty:
        return f"{rule.description}: ok"
    first = violations.iloc[0]
    return f"{rule.description}: {len(violations)} violation(s); first: {first['hour']:%Y-%m-%d %H:00} {first['venue']} {first['symbol']}: {first['detail']}"


def evaluate_rules(
    context: AssetCheckExecutionContext,
    asset: str,
    rules: list[Rule],
    frame: pd.DataFrame,
    universe: Universe,
    kill_switch: KillSwitch,
) -> Iterator[AssetCheckResult]:
    start, end = window_of(context.op_execution_context)
    hours = hours_of(start, end)
    env = RuleEnv(hours=hours, universe=universe)
    ranged = len(hours) > 1
    from_ge = ge_violations(frame, rules)
    for rule in rules:
        check_name = f"{asset}__{rule.name}"
        violations = rule.violations(frame, env, from_ge.get(rule.name))
        if ranged:
            for hour, part in by_hour(violations, hours).items():
                context.op_execution_context.log_event(
                    AssetCheckEvaluation(
                        asset_key=AssetKey(asset),
                        check_name=check_name,
                        passed=part.empty,
                        metadata=_metadata(rule, part, 1),
                        severity=AssetCheckSeverity.ERROR,
                        description=_describe(rule, part),
                        blocking=True,
                        partition=partition_key(hour),
                    )
                )
        passed = violations.empty
        if not passed:
            hours_failed = sorted(violations["hour"].unique())
            kill_switch.store().trip(
                source=f"check:{check_name}",
                reason=_describe(rule, violations),
                partition=partition_key(hours_failed[0]) + (f"..{partition_key(hours_failed[-1])}" if len(hours_failed) > 1 else ""),
                run_id=context.run.run_id,
            )
        yield AssetCheckResult(
            asset_key=AssetKey(asset),
            check_name=check_name,
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
            metadata=_metadata(rule, violations, len(hours)),
            description=_describe(rule, violations),
        )


def checks_for(asset: str, rules: list[Rule]):
    """One ``multi_asset_check`` reporting every rule of ``asset`` as its own blocking check."""
    specs = [
        AssetCheckSpec(
            name=f"{asset}__{rule.name}",
            asset=asset,
            description=f"{rule.description} (threshold: {rule.threshold})",
            blocking=True,
            partitions_def=HOURLY,
        )
        for rule in rules
    ]

    @multi_asset_check(specs=specs, name=f"{asset}__quality", ins={"frame": AssetIn(key=asset)})
    def _check(
        context: AssetCheckExecutionContext, frame: pd.DataFrame, kill_switch: KillSwitch, universe: MarketUniverse
    ) -> Iterator[AssetCheckResult]:
        yield from evaluate_rules(context, asset, rules, frame, universe.get(), kill_switch)

    return _check
