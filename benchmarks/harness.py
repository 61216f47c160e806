"""The Dagster side: throwaway instances (on-disk SQLite or in-memory) and timed runs of the real jobs."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance

from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.environments import Settings
from pipelines.runner import CONSOLE_LOG_LEVEL, WARMUP_HOURS, WARMUP_JOB, run_window

#: A fresh on-disk instance: SQLite run, event-log and schedule storage under the folder.
DAGSTER_YAML = "telemetry:\n  enabled: false\n"
INSTANCES = ("sqlite", "memory")
HOUR = pd.Timedelta(hours=1)
#: The console log level ``pipelines.runner`` (``perpetua backfill``) runs with; every event is still stored.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}}


@dataclass(frozen=True)
class DagsterResult:
    """One timed run. ``events`` counts what the instance stored for it (planned events included);
    ``result_events`` what ``execute_in_process`` returned (``len(result.all_events)``)."""

    instance: str
    seconds: float
    success: bool
    hours: int
    result_events: int
    warmup_seconds: float
    warmup_result_events: int
    #: Stored events of the timed run by type (ASSET_CHECK_EVALUATION, ASSET_MATERIALIZATION, ...).
    event_types: dict[str, int]

    @property
    def events(self) -> int:
        return sum(self.event_types.values())


def _count(types: Iterable[str]) -> dict[str, int]:
    return dict(Counter(types).most_common())


def _run_event_types(inst: DagsterInstance, run_id: str) -> dict[str, int]:
    return _count(
        e.dagster_event.event_type_value for e in inst.all_logs(run_id) if e.dagster_event is not None
    )


@contextmanager
def throwaway(kind: str) -> Iterator[tuple[Settings, DagsterInstance]]:
    """Settings of a fresh local environment in a temp folder and an instance of ``kind``.

    ``sqlite``: ``DagsterInstance.from_config`` on the folder (what ``perpetua`` uses by default);
    ``memory``: ``DagsterInstance.ephemeral()``. Parquet storage and the kill switch are on disk
    in both cases: only Dagster's own storage differs.
    """
    if kind not in INSTANCES:
        raise ValueError(f"instance must be one of {INSTANCES}, got {kind!r}")
    with tempfile.TemporaryDirectory(prefix="perpetua-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(DAGSTER_YAML)
        s = Settings("local", home, str(root / "storage"), f"sqlite:///{root / 'kill_switch.db'}")
        inst = DagsterInstance.from_config(str(home)) if kind == "sqlite" else DagsterInstance.ephemeral()
        with inst:
            yield s, inst


def hourly(kind: str, first: pd.Timestamp, runs: int) -> list[DagsterResult]:
    """``runs`` consecutive ONE-hour ``hourly_cycle`` runs from ``first`` on a fresh instance.

    The warm-up hours (``pipelines.runner.WARMUP_HOURS`` of sources before ``first``) are
    materialised first, untimed, as the hourly schedule finds them in production; each hour's
    run then materialises what the next hour's look-backs read.
    """
    with throwaway(kind) as (s, inst):
        defs = build_definitions(s)
        job = defs.resolve_job_def("hourly_cycle")
        warm = run_window(
            defs, inst, first - WARMUP_HOURS * HOUR, first,
            job_name=WARMUP_JOB, chunk_hours=WARMUP_HOURS, warmup_hours=0,
        )  # fmt: skip
        if not all(c.success for c in warm):
            raise RuntimeError(f"warm-up failed: {[c.error for c in warm]}")
        out = []
        for i in range(runs):
            key = partition_key(first + i * HOUR)
            gc.collect()
            t0 = time.perf_counter()
            res = job.execute_in_process(
                instance=inst, partition_key=key, run_config=RUN_CONFIG, raise_on_error=False
            )
            seconds = time.perf_counter() - t0
            out.append(
                DagsterResult(
                    instance=kind,
                    seconds=seconds,
                    success=res.success,
                    hours=1,
                    result_events=len(res.all_events),
                    warmup_seconds=sum(c.seconds for c in warm) if i == 0 else 0.0,
                    warmup_result_events=sum(c.events for c in warm) if i == 0 else 0,
                    event_types=_run_event_types(inst, res.run_id),
                )
            )
        return out


def window(kind: str, start: pd.Timestamp, end: pd.Timestamp) -> DagsterResult:
    """[start, end) as ONE ``hourly_cycle`` run (chunk = window), after its warm-up run (reported apart)."""
    hours = int((end - start) / HOUR)
    with throwaway(kind) as (s, inst):
        gc.collect()
        results = run_window(build_definitions(s), inst, start, end, chunk_hours=hours)
        warm = [c for c in results if c.job == WARMUP_JOB]
        main = [c for c in results if c.job != WARMUP_JOB]
        if len(main) != 1 or not main[0].success:
            errors = [c.error for c in results if c.error]
            raise RuntimeError(f"backfill {start} .. {end} did not complete in one run: {errors}")
        return DagsterResult(
            instance=kind,
            seconds=main[0].seconds,
            success=True,
            hours=hours,
            result_events=main[0].events,
            warmup_seconds=sum(c.seconds for c in warm),
            warmup_result_events=sum(c.events for c in warm),
            event_types=_run_event_types(inst, main[0].run_id),
        )


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 (Dagster's console log lines) to ``path`` while timing.

    Dagster still formats and writes every log line, as in ``perpetua backfill``; they just do
    not flood the terminal.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
