"""The Dagster code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

from __future__ import annotations

import os

from dagster import Definitions, ExecutorDefinition, in_process_executor, multiprocess_executor

from pipelines.environments import Settings, resources_for, settings
from pipelines.graph import ALL_ASSETS
from pipelines.housekeeping import purge_old_runs_job
from pipelines.jobs import JOBS
from pipelines.schedules import SCHEDULES
from pipelines.sensors import SENSORS

#: ``PERPETUA_EXECUTOR``: how a run executes its steps.
EXECUTORS = ("in_process", "multiprocess")


def executor_from_env() -> ExecutorDefinition:
    """``in_process`` (default: one process a run; a subprocess per step costs ~20 s a run on 2 cores)
    or ``multiprocess`` (Dagster's own: a process per step, at most ``PERPETUA_MAX_CONCURRENT`` at
    once, default the CPU count) — for a host with more cores and more symbols than the sample's."""
    kind = os.environ.get("PERPETUA_EXECUTOR", "in_process")
    if kind not in EXECUTORS:
        raise ValueError(f"PERPETUA_EXECUTOR must be one of {EXECUTORS}, got {kind!r}")
    if kind == "in_process":
        return in_process_executor
    raw = os.environ.get("PERPETUA_MAX_CONCURRENT", str(os.cpu_count() or 1))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"PERPETUA_MAX_CONCURRENT must be a positive whole number, got {raw!r}")
    return multiprocess_executor.configured({"max_concurrent": int(raw)})


def build_definitions(s: Settings, overrides: dict[str, object] | None = None) -> Definitions:
    """Everything Perpetua runs, wired to the resources of one environment (``overrides`` replace some)."""
    resources = {**resources_for(s), **(overrides or {})}
    return Definitions(
        assets=ALL_ASSETS,
        jobs=[*JOBS, purge_old_runs_job],
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources=resources,
        executor=executor_from_env(),
    )


defs = build_definitions(settings())
