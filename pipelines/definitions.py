"""The Dagster code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from pipelines.environments import Settings, resources_for, settings
from pipelines.graph import ALL_ASSETS
from pipelines.jobs import JOBS
from pipelines.schedules import SCHEDULES
from pipelines.sensors import SENSORS


def build_definitions(s: Settings, overrides: dict[str, object] | None = None) -> Definitions:
    """Everything Perpetua runs, wired to the resources of one environment (``overrides`` replace some)."""
    resources = {**resources_for(s), **(overrides or {})}
    return Definitions(
        assets=ALL_ASSETS,
        jobs=JOBS,
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources=resources,
        # A subprocess per step costs ~20 s a run on 2 cores; the graph is small and in-process.
        executor=in_process_executor,
    )


defs = build_definitions(settings())
