"""Dagster's SQLite event log, kept open: pooled engines, WAL, one commit per batch.

Dagster's own ``SqliteEventLogStorage`` creates and disposes a SQLAlchemy engine (``NullPool``)
for every statement and commits with a full fsync per event, and its ``store_event_batch`` loops
over ``store_event``. On 2 cores that bookkeeping was ~95% of an hourly range run. This subclass
changes only how the same tables are written, so the UI, ``dagster`` CLI and every reader see an
ordinary SQLite instance:

* one engine per shard (the index and the most recent runs), kept open and pooled;
* every connection in WAL mode with ``synchronous=NORMAL``: a commit is durable once the WAL is
  checkpointed and never corrupts the database on a crash (SQLite's documented guarantee for WAL);
  a power cut may lose the last transactions, which a re-run of the hour rewrites;
* a real ``store_event_batch`` for the materialisations Dagster batches (``DAGSTER_EVENT_BATCH_SIZE``):
  one transaction in the run shard, one in the index; the same for a range's per-hour check
  evaluations, which ``checks.engine.log_evaluations`` logs as one batch;
* planned materialisations as one event per asset with the run's partition subset, for backfill
  range runs only (``supports_partition_subset_in_asset_materialization_planned_events``);
* a run-log watcher that also wakes on the WAL file (the UI's live run view).

Register it in ``dagster.yaml`` (``perpetua`` writes this for its local instance)::

    event_log_storage:
      module: resources.instance_storage
      class: PooledSqliteEventLogStorage
      config:
        base_dir: /abs/path/to/dagster_home/history/runs
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster import AssetKey, Field
from dagster._config import StringSource
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy.engine import Connection, Engine

#: Seconds a writer waits on a lock held by another process (the webserver, a daemon) before failing.
BUSY_TIMEOUT_S = 30
CHECK_EVALUATION = DagsterEventType.ASSET_CHECK_EVALUATION
CHECK_PLANNED = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
#: What ``store_event_batch`` writes itself: the asset events and the run's planned checks.
_BATCHED = frozenset(ASSET_EVENTS | {CHECK_PLANNED})
#: Run shards kept open besides the index; older ones are disposed (a run writes to one shard).
OPEN_RUN_SHARDS = 4


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.close()


class RangeChecks:
    """What a range run's per-hour checks need from the event log, without per-hour overhead
    (mixed into the SQLite and the Postgres storage).

    * Planned check rows with the planned event serialised ONCE:
      ``SqlEventLogStorage._store_asset_check_evaluation_planned`` writes one PLANNED execution row
      per partition of the run, each with its own ``serialize_value`` of the same event (a week's
      range: 168 serialisations per check, ~2,700 a run) in one multi-row VALUES statement compiled
      afresh. This writes the same rows, with the same values, as one executemany.
    * :meth:`materialization_targets`: each hour's latest materialisation as a check's target.
    """

    def materialization_targets(
        self, asset_key: AssetKey, partitions: set[str]
    ) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
        """Each partition's latest materialisation as (storage id, run id, timestamp), as
        ``fetch_materializations`` records give them, reading the three fields instead of
        deserialising every record (~1 ms each: 168 per asset and range)."""
        latest = self.get_latest_storage_id_by_partition(asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions)
        if not latest:
            return {}
        table = SqlEventLogStorageTable
        with self.index_connection() as conn:
            rows = conn.execute(db.select(table.c.id, table.c.run_id, table.c.event)
                                .where(table.c.id.in_(list(latest.values())))).all()
        # the record's timestamp is the stored entry's own float (json round-trips a float exactly)
        found = {int(i): (run_id, json.loads(event)["timestamp"]) for i, run_id, event in rows}
        return {p: AssetCheckEvaluationTargetMaterializationData(storage_id=i, run_id=found[i][0], timestamp=found[i][1])
                for p, i in latest.items() if i in found}

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        with self.index_connection() as conn:
            self._planned_check_rows(conn, event, event_id)

    def _planned_check_rows(self, conn: Connection, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().event_specific_data
        keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        common = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event),
            evaluation_event_storage_id=event_id,
        )
        conn.execute(AssetCheckExecutionsTable.insert(), [{**common, "partition": key} for key in keys])


class PooledSqliteEventLogStorage(RangeChecks, SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with pooled WAL engines and real batched writes (same schema, same files)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None,
                 planned_subsets: bool | None = None):
        self._planned_subsets = planned_subsets
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.RLock()
        self._tables_seen: set[str] = set()
        self._index_cols_seen = False
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict:
        # planned_subsets: unset = Dagster's own switch (DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS,
        # which `perpetua backfill` sets for its range runs only); true/false forces it.
        return {"base_dir": StringSource, "planned_subsets": Field(bool, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = db.create_engine(
                create_db_conn_string(self._base_dir, shard),
                poolclass=db.pool.QueuePool,
                pool_size=2,
                max_overflow=4,
                connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _pragmas)
            self._engines[shard] = engine
            runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in runs[: max(0, len(runs) - OPEN_RUN_SHARDS)]:
                self._engines.pop(old).dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Dagster asks this before EVERY check evaluation (``supports_asset_checks``), each time
        with a new engine; a table, once there, stays, so a positive answer is kept."""
        if table_name in self._tables_seen:
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_seen.add(table_name)
        return found

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store many events in one run-shard and one index transaction (Dagster loops instead)."""
        events = [e for e in events if not (e.dagster_event and e.dagster_event.is_asset_failed_to_materialize)]
        if not events:
            return
        checks = is_check_batch(events)
        # else asset events (and the run's planned checks) of one run only: no check result or
        # run-status event, whose mirrors store_event writes differently
        simple = all(e.is_dagster_event and e.dagster_event_type in _BATCHED for e in events)
        if not checks and (not simple or len({e.run_id for e in events}) != 1):
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(e) for e in events]
        run_id = events[0].run_id
        with self.run_connection(run_id) as conn:
            run_ids = insert_events(conn, rows)
        try:
            (self._index_checks if checks else self._index_batch)(events, rows)
        except Exception:
            # Dagster falls back to storing each event alone: take the run-shard rows back first,
            # or the run's log would hold every event twice.
            with self.run_connection(run_id) as conn:
                conn.execute(SqlEventLogStorageTable.delete().where(SqlEventLogStorageTable.c.id.in_(run_ids)))
            raise

    def _index_checks(self, events: Sequence[EventLogEntry], rows: list[dict]) -> None:
        """The index's share of a range's check evaluations: each event's mirror and the check's
        execution row for its partition (what ``store_event`` writes for each), in one transaction,
        each event serialised once (``rows``)."""
        with self.index_transaction() as conn:
            store_execution_rows(conn, events, rows, insert_events(conn, rows))

    def _index_batch(self, events: Sequence[EventLogEntry], rows: list[dict]) -> None:
        """The index's share of a batch in one transaction: every event's mirror; for asset events
        their tags and each asset's row (the asset table keeps each asset's LATEST event: only the
        last of the batch counts, as in dagster-postgres' own batch write); for a planned check its
        PLANNED execution rows (what ``store_event`` writes for the run's planned events one by one)."""
        with self.index_transaction() as conn:
            ids = insert_events(conn, rows)
            assets = [(e, i) for e, i in zip(events, ids, strict=True) if e.dagster_event_type in ASSET_EVENTS]
            self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
            last = {e.dagster_event.asset_key: (e, i) for e, i in assets}
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)
            for event, event_id in zip(events, ids, strict=True):
                if event.dagster_event_type == CHECK_PLANNED:
                    self._planned_check_rows(conn, event, event_id)

    def _has_asset_key_index_cols_on_connection(self, conn: Connection) -> bool:
        """Dagster inspects the asset table's columns for every asset event it stores; a migrated
        table stays migrated, so a positive answer is kept (as for ``has_table``)."""
        if not self._index_cols_seen:
            self._index_cols_seen = super()._has_asset_key_index_cols_on_connection(conn)
        return self._index_cols_seen

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        """One planned event per asset per run instead of one per hour — but Dagster then never marks
        the hours of a FAILED run as failed, so by default only backfills (``perpetua backfill``
        sets Dagster's env switch around its range runs) use it, never the scheduled hourly run."""
        if self._planned_subsets is None:
            return super().supports_partition_subset_in_asset_materialization_planned_events
        return self._planned_subsets

    def watch(self, run_id: str, cursor: str | None, callback) -> None:
        """As Dagster's, but the watcher also wakes on the run's ``-wal`` file: with connections kept
        open, commits land in the WAL and the ``.db`` file changes only at checkpoints, so the UI's
        live run log would otherwise stall."""
        if not self._obs:
            from watchdog.observers import Observer

            self._obs = Observer()
            self._obs.start()
        handler = _WalAwareWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (handler, self._obs.schedule(handler, self._base_dir, recursive=True))

    def delete_events(self, run_id: str) -> None:
        with self._engines_lock:
            engine = self._engines.pop(run_id, None)
            if engine is not None:
                engine.dispose()
        super().delete_events(run_id)

    def wipe(self) -> None:
        self._dispose_engines()
        self._tables_seen.clear()
        self._index_cols_seen = False
        super().wipe()

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


def is_check_batch(events: Sequence[EventLogEntry]) -> bool:
    """Whether ``events`` are check evaluations of one run (what ``checks.engine.log_evaluations`` batches)."""
    return (bool(events) and bool(events[0].run_id) and len({e.run_id for e in events}) == 1
            and all(e.is_dagster_event and e.dagster_event_type == CHECK_EVALUATION for e in events))


def insert_events(conn: Connection, rows: list[dict]) -> list[int]:
    """Insert event-log rows (``_event_to_row``) as ONE executemany; their ids in the rows' order.

    One compiled statement for the batch: a ``.values(...)`` statement per row costs SQLAlchemy a
    fresh cache key and compile lookup each (~0.3 ms), more than SQLite's insert itself.
    """
    table = SqlEventLogStorageTable
    result = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows)
    return [int(i) for i in result.scalars().all()]


def store_execution_rows(conn: Connection, events: Sequence[EventLogEntry], rows: list[dict],
                         ids: list[int]) -> None:
    """:func:`store_execution_row` for a batch: one executemany UPDATE of the planned rows; where it
    did not update exactly one row per evaluation (no planned row, or a driver that does not sum
    executemany's row counts) each evaluation is written alone, which rewrites the same values."""
    table = AssetCheckExecutionsTable
    evaluations = [e.get_dagster_event().event_specific_data for e in events]
    if all(ev.partition is not None for ev in evaluations):
        update = table.update().where(db.and_(
            table.c.asset_key == db.bindparam("k_asset_key"), table.c.check_name == db.bindparam("k_check_name"),
            table.c.run_id == db.bindparam("k_run_id"), table.c.partition == db.bindparam("k_partition"),
        )).values(**{c: db.bindparam(c) for c in _EXECUTION_COLUMNS})
        params = [{"k_asset_key": ev.asset_key.to_string(), "k_check_name": ev.check_name, "k_run_id": e.run_id,
                   "k_partition": ev.partition, **_execution_values(ev, row, i)}
                  for e, ev, row, i in zip(events, evaluations, rows, ids, strict=True)]
        if conn.execute(update, params).rowcount == len(params):
            return
    for event, row, event_id in zip(events, rows, ids, strict=True):
        store_execution_row(conn, event, row, event_id)


_EXECUTION_COLUMNS = ("execution_status", "evaluation_event", "evaluation_event_timestamp",
                      "evaluation_event_storage_id", "materialization_event_storage_id", "partition")


def _execution_values(evaluation: Any, row: dict, event_id: int) -> dict:
    target = evaluation.target_materialization_data
    return dict(
        execution_status=(AssetCheckExecutionRecordStatus.SUCCEEDED if evaluation.passed
                          else AssetCheckExecutionRecordStatus.FAILED).value,
        evaluation_event=row["event"],
        evaluation_event_timestamp=row["timestamp"],
        evaluation_event_storage_id=event_id,
        materialization_event_storage_id=target.storage_id if target else None,
        partition=evaluation.partition,
    )


def store_execution_row(conn: Connection, event: EventLogEntry, row: dict, event_id: int) -> None:
    """Dagster's ``_update_asset_check_evaluation`` on an open transaction, with the event serialised once
    (``row`` is ``_event_to_row(event)``): the planned row of (asset, check, run, partition) takes the
    result, or a row is inserted where none was planned."""
    evaluation = event.get_dagster_event().event_specific_data
    table = AssetCheckExecutionsTable
    values = _execution_values(evaluation, row, event_id)
    asset_key = evaluation.asset_key.to_string()
    partition = (table.c.partition.is_(None) if evaluation.partition is None
                 else table.c.partition == evaluation.partition)
    updated = conn.execute(
        table.update().where(db.and_(table.c.asset_key == asset_key, table.c.check_name == evaluation.check_name,
                                     table.c.run_id == event.run_id, partition)).values(**values)
    ).rowcount
    if updated == 0:
        conn.execute(table.insert().values(asset_key=asset_key, check_name=evaluation.check_name,
                                           run_id=event.run_id, **values))
    elif updated > 1:
        raise DagsterInvariantViolationError(
            f"Updated {updated} rows for asset check evaluation {evaluation.asset_check_key} "
            "as a result of duplicate AssetCheckPlanned events.")


class _WalAwareWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's run-log watcher, matching the run's database and its write-ahead log."""

    def __init__(self, storage: SqliteEventLogStorage, run_id: str, callback, cursor: str | None):
        super().__init__(storage, run_id, callback, cursor)
        self._patterns = [self._log_path, f"{self._log_path}-wal"]

    def on_modified(self, event) -> None:
        self._process_log()


#: What ``perpetua`` writes into a new local ``dagster.yaml`` (``base_dir`` filled in).
EVENT_LOG_YAML = """event_log_storage:
  module: resources.instance_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""

