"""Opening the Dagster instance for the CLI, and saying plainly when its database cannot be reached.

``dagster.yaml`` may name a network database (``dagster.yaml.postgres.example``). Before the
instance is built, each PostgreSQL server it names is tried once over TCP, so a server that is
down is reported at once in one line — which database, where it is configured, what to do —
instead of after Dagster's retries as a stack trace. The storage errors a run can raise later
(the database went away mid-backfill) are :data:`STORAGE_ERRORS`, translated the same way.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy.exc
import yaml

#: Seconds a reachability probe waits for the database's port to accept.
PROBE_TIMEOUT_S = 3.0
POSTGRES_PORT = 5432
#: The top-level blocks of dagster.yaml that configure where the instance keeps its records.
STORAGE_BLOCKS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def _storage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                                         sqlalchemy.exc.TimeoutError]
    try:
        from dagster_postgres.utils import DagsterPostgresException
    except ImportError:  # pragma: no cover - dagster-postgres is a dependency, kept optional here
        pass
    else:
        errors.append(DagsterPostgresException)
    return tuple(errors)


#: What the instance raises when its database cannot be reached (at start or in the middle of a run).
STORAGE_ERRORS = _storage_errors()


@dataclass(frozen=True)
class Database:
    """A network database named by dagster.yaml."""

    host: str
    port: int
    name: str

    def __str__(self) -> str:
        return f"PostgreSQL database {self.name!r} at {self.host}:{self.port}"


class StorageUnreachable(RuntimeError):
    """The instance's database cannot be reached; the message is one line a person can act on."""


def _resolve(value):
    """A dagster.yaml scalar, ``{env: NAME}`` read from the environment (None where unset)."""
    if isinstance(value, dict) and set(value) == {"env"}:
        return os.environ.get(str(value["env"]))
    return value


def _walk(block) -> Iterator[tuple[str, object]]:
    if isinstance(block, dict):
        for key, value in block.items():
            yield key, value
            yield from _walk(value)


def _database(key: str, value) -> Database | None:
    if key == "postgres_url":
        url = _resolve(value)
        if not url:
            return None
        parsed = sqlalchemy.engine.make_url(str(url))
        return Database(parsed.host or "localhost", int(parsed.port or POSTGRES_PORT), parsed.database or "?")
    if key == "postgres_db" and isinstance(value, dict):
        host, port, name = (_resolve(value.get(k)) for k in ("hostname", "port", "db_name"))
        if not host:
            return None
        return Database(str(host), int(port or POSTGRES_PORT), str(name or "?"))
    return None


def configured_databases(config: Path) -> list[Database]:
    """The PostgreSQL databases ``config`` (a dagster.yaml) keeps the instance's records in."""
    try:
        data = yaml.safe_load(config.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []  # Dagster reports a missing or malformed dagster.yaml itself
    found: list[Database] = []
    for block in STORAGE_BLOCKS:
        for key, value in _walk(data.get(block)):
            db = _database(key, value)
            if db is not None and db not in found:
                found.append(db)
    return found


def probe(db: Database, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``db``'s port does not accept a connection (None when it does)."""
    try:
        with socket.create_connection((db.host, db.port), timeout=timeout):
            return None
    except TimeoutError:
        return f"no answer within {timeout:.0f}s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def unreachable(config: Path, reason: str, *, during: str | None = None, db: Database | None = None) -> StorageUnreachable:
    """The one-line error: which database, where it is configured, why, and what to do."""
    dbs = [db] if db else configured_databases(config)
    what = str(dbs[0]) if len(dbs) == 1 else f"the instance's storage ({', '.join(map(str, dbs)) or 'SQLite'})"
    when = f"became unreachable during {during}" if during else "is unreachable"
    return StorageUnreachable(
        f"the Dagster instance's {what}, configured in {config}, {when} ({reason}): start the database "
        "(or fix dagster.yaml and its PERPETUA_PG_* variables), then re-run the command"
    )


def error_reason(exc: BaseException) -> str:
    """The first line of the innermost error (the driver's own words, e.g. 'Connection refused')."""
    inner = exc
    while inner.__cause__ is not None or getattr(inner, "orig", None) is not None:
        inner = getattr(inner, "orig", None) or inner.__cause__
    lines = [ln.strip() for ln in str(inner).splitlines() if ln.strip()]
    return lines[0] if lines else type(inner).__name__


class _DropRetryNotices(logging.Filter):
    """dagster-postgres logs each reconnect attempt on the root logger; the CLI reports the outcome once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying failed database")  # connection and creation


def quiet_reconnect_notices() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _DropRetryNotices) for f in root.filters):
        root.addFilter(_DropRetryNotices())


def open_instance(home: Path):
    """``DagsterInstance.get()`` for ``home``; :class:`StorageUnreachable` when its database is down."""
    from dagster import DagsterInstance

    config = home / "dagster.yaml"
    for db in configured_databases(config):
        reason = probe(db)
        if reason is not None:
            raise unreachable(config, reason, db=db)
    try:
        return DagsterInstance.get()
    except STORAGE_ERRORS as exc:
        raise unreachable(config, error_reason(exc)) from exc
