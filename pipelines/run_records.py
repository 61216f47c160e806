"""What the CLI does to the instance's run records: end the runs a killed process left STARTED, and
purge old runs while saying exactly what is forgotten and what stays.

A backfill's runs execute in the CLI's own process. Killed (SIGKILL, the OOM killer, a power cut)
they stay STARTED forever: nothing else ever ends them. Every Dagster event carries the pid of the
process that wrote it, so at the next ``perpetua backfill``/``demo`` a STARTED or STARTING run
whose writer is no longer a live process on this machine is marked FAILURE, with the reason.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from resources.storage import PARTITION_KEY_FORMAT

#: Characters of a walk-forward fold's partition key (its Monday, ``2026-02-02``).
FOLD_KEY_LENGTH = 10

#: The tag a run marked FAILURE by :func:`mark_orphaned_runs` carries (its value: why).
ORPHAN_TAG = "perpetua/orphaned"
#: On a store several machines may share (Postgres), a pid that is not alive here may be alive on
#: another machine: such a run must also have written nothing for this long.
SHARED_STORE_QUIET_S = 15 * 60
#: A run with no event yet has no pid to look at: it is orphaned once this old.
NO_EVENT_QUIET_S = 15 * 60
#: /proc start times are whole seconds since boot: a process started this much after the run's
#: first event is another process that was given the same pid.
PID_REUSE_SLACK_S = 5.0
#: Recent events looked at for the pid of the run's writer.
EVENTS_FOR_PID = 20


@dataclass(frozen=True)
class Orphan:
    run_id: str
    job_name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.job_name} {self.run_id[:8]}"


def _proc_start(pid: int) -> tuple[float | None, str | None]:
    """(start time in epoch seconds, state letter) of ``pid`` from /proc; (None, None) off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(int(ln.split()[1]) for ln in Path("/proc/stat").read_text().splitlines() if ln.startswith("btime"))
    except (OSError, StopIteration, ValueError):
        return None, None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3, starttime field 22
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"), fields[0]


def process_alive(pid: int, since: float) -> bool:
    """Whether ``pid`` is a live process on this machine, started no later than ``since`` (epoch s)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    started, state = _proc_start(pid)
    if state == "Z":
        return False  # killed, not yet reaped by its parent
    return started is None or started <= since + PID_REUSE_SLACK_S


def _single_machine(instance: DagsterInstance) -> bool:
    """Whether only this machine's processes can write the instance's runs (SQLite or in memory)."""
    from dagster._core.storage.runs import InMemoryRunStorage, SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage | InMemoryRunStorage)


def _writer(instance: DagsterInstance, run_id: str) -> tuple[int | None, float | None, float | None]:
    """(pid of the run's latest writer, time of its first event, time of its latest event)."""
    storage = instance.event_log_storage
    first = storage.get_records_for_run(run_id, limit=1).records
    latest = storage.get_records_for_run(run_id, limit=EVENTS_FOR_PID, ascending=False).records
    pid = next((r.event_log_entry.dagster_event.pid for r in latest
                if r.event_log_entry.dagster_event is not None and r.event_log_entry.dagster_event.pid), None)
    return pid, first[0].timestamp if first else None, latest[0].timestamp if latest else None


def find_orphaned_runs(instance: DagsterInstance, now: float | None = None) -> list[Orphan]:
    """STARTED/STARTING runs whose process is gone (see the module doc)."""
    now = time.time() if now is None else now
    single = _single_machine(instance)
    found = []
    for rec in instance.get_run_records(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        run = rec.dagster_run
        pid, first, latest = _writer(instance, run.run_id)
        quiet = now - (latest if latest is not None else rec.create_timestamp.timestamp())
        if pid is None:
            if quiet < NO_EVENT_QUIET_S:
                continue
            reason = f"it has been {run.status.value} for {quiet / 60:.0f} min without writing an event"
        else:
            if process_alive(pid, since=first if first is not None else rec.create_timestamp.timestamp()):
                continue
            if not single and quiet < SHARED_STORE_QUIET_S:
                continue  # maybe alive on another machine sharing this database
            reason = f"its process (pid {pid}) is gone: killed, or its machine stopped"
        found.append(Orphan(run.run_id, run.job_name, reason))
    return found


def mark_orphaned_runs(instance: DagsterInstance) -> list[Orphan]:
    """Mark every orphaned run FAILURE (a RUN_FAILURE event saying why, and :data:`ORPHAN_TAG`)."""
    orphans = find_orphaned_runs(instance)
    for o in orphans:
        run = instance.get_run_by_id(o.run_id)
        instance.add_run_tags(o.run_id, {ORPHAN_TAG: o.reason})
        instance.report_run_failed(run, message=f"marked FAILURE by perpetua: this run was {run.status.value} but "
                                                f"{o.reason}; re-run its window (finished hours are rewritten, not doubled)")
    return orphans


@dataclass(frozen=True)
class PurgePlan:
    """The runs created before ``cutoff``: their ids, event count, creation times and the hours they ran."""

    cutoff: pd.Timestamp
    run_ids: list[str]
    events: int
    created: tuple[pd.Timestamp, pd.Timestamp] | None
    hours: tuple[pd.Timestamp, pd.Timestamp] | None


def _run_hours(tags) -> list[pd.Timestamp]:
    """The hours a run covered, from its partition tags. A walk-forward fold's run (key ``2026-02-02``)
    covers a week of training, not hours of the cycle: it names none."""
    keys = [tags.get(t) for t in (ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG, PARTITION_NAME_TAG)]
    return [pd.to_datetime(k, format=PARTITION_KEY_FORMAT, utc=True) for k in keys if k and len(k) > FOLD_KEY_LENGTH]


def _count_events(instance: DagsterInstance, run_id: str) -> int:
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return len(instance.all_logs(run_id))
    query = sa.select(sa.func.count()).select_from(SqlEventLogStorageTable).where(SqlEventLogStorageTable.c.run_id == run_id)
    with storage.run_connection(run_id) as conn:
        return int(conn.execute(query).scalar() or 0)


def plan_purge(instance: DagsterInstance, cutoff: pd.Timestamp) -> PurgePlan:
    records = instance.get_run_records(filters=RunsFilter(created_before=cutoff.to_pydatetime()))
    created = sorted(pd.Timestamp(r.create_timestamp).tz_convert("UTC") for r in records)
    hours = sorted(h for r in records for h in _run_hours(r.dagster_run.tags))
    return PurgePlan(
        cutoff, [r.dagster_run.run_id for r in records], sum(_count_events(instance, r.dagster_run.run_id) for r in records),
        (created[0], created[-1]) if created else None, (hours[0], hours[-1]) if hours else None,
    )


def describe_purge(plan: PurgePlan, verb: str) -> str:
    """``verb`` ("would delete", "deleted") the plan's runs and events; what stays is said too."""
    line = f"{verb} {len(plan.run_ids)} run(s) created before {plan.cutoff:%Y-%m-%d %H:%M} UTC"
    if plan.created:
        line += (f" ({plan.created[0]:%Y-%m-%d %H:%M} .. {plan.created[1]:%Y-%m-%d %H:%M} UTC) and their "
                 f"{plan.events} events")
    if plan.hours:
        line += f": the run history of hours {plan.hours[0]:%Y-%m-%d %H:00} .. {plan.hours[1]:%Y-%m-%d %H:00} UTC"
    return line


def delete_runs(instance: DagsterInstance, plan: PurgePlan) -> None:
    for run_id in plan.run_ids:
        instance.delete_run(run_id)
