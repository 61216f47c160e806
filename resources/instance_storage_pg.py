"""dagster-postgres' event log with a connection pool: the Postgres side of ``resources.instance_storage``.

``PostgresEventLogStorage`` opens a new connection for every statement (``NullPool``, ~9 ms each on
loopback here) outside the webserver, where Dagster itself switches to a pooled engine
(``optimize_for_webserver``). This subclass uses that same pooled engine everywhere. Batched
materialisation writes are dagster-postgres' own (``store_event_batch``); a range's per-hour check
evaluations, which dagster-postgres refuses to batch (it would fall back to one write each, after
printing the refusal), are written in one transaction, as the SQLite storage does; planned events
follow Dagster's switch, which ``perpetua backfill`` sets for its range runs.

Register it in ``dagster.yaml`` (``dagster.yaml.postgres.example``)::

    event_log_storage:
      module: resources.instance_storage_pg
      class: PooledPostgresEventLogStorage
      config:
        postgres_db: {...}      # as for dagster-postgres
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events.log import EventLogEntry
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from resources.instance_storage import RangeChecks, insert_events, is_check_batch, store_execution_rows

#: Connections kept open per process, and how many more a burst may open.
POOL_SIZE, MAX_OVERFLOW = 1, 4
#: Seconds after which a pooled connection is replaced (server-side idle timeouts).
POOL_RECYCLE_S = 3600


class PooledPostgresEventLogStorage(RangeChecks, PostgresEventLogStorage):
    """``PostgresEventLogStorage`` with a pooled engine."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_recycle=POOL_RECYCLE_S, pool_pre_ping=True,
        )

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> PooledPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A range's check evaluations of one run in one transaction (each event and its execution
        row, as ``store_event`` writes them); everything else as dagster-postgres batches it."""
        if not is_check_batch(events):
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(e) for e in events]
        with self.index_transaction() as conn:
            store_execution_rows(conn, events, rows, insert_events(conn, rows))

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
