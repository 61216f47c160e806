"""The local Dagster instance Perpetua writes: SQLite, with the pooled event log of ``resources.instance_storage``.

Everything here is a choice a user could make in ``dagster.yaml`` and the environment:

* ``event_log_storage`` names ``resources.instance_storage.PooledSqliteEventLogStorage`` (same
  tables and files as Dagster's own SQLite storage; pooled WAL engines, real batched writes);
* ``DAGSTER_EVENT_BATCH_SIZE`` turns on Dagster's own batching of the materialisations a range
  run emits (one per hour per asset), which that storage writes in one transaction.
"""

from __future__ import annotations

import os
from pathlib import Path

from resources.instance_storage import EVENT_LOG_YAML

#: Materialisations Dagster hands to the storage at once (a range's hours of one asset).
EVENT_BATCH_SIZE = 1000

_EVENT_LOG_NOTE = """# The event log is Dagster's SQLite event log with pooled WAL connections and batched writes
# (resources/instance_storage.py); delete the event_log_storage block to use Dagster's default.
"""
HEADER = """# Perpetua local instance: SQLite under this folder (see dagster.yaml.postgres.example).
""" + _EVENT_LOG_NOTE + """telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""


def upgradable(text: str) -> bool:
    """Whether ``text`` is the ``dagster.yaml`` earlier versions wrote (Dagster's default event log),
    which ``perpetua`` replaces with :func:`instance_yaml`; a file a person edited is left alone."""
    return text == HEADER.replace(_EVENT_LOG_NOTE, "")


def instance_yaml(home: Path) -> str:
    """The ``dagster.yaml`` of a local instance in ``home``."""
    return HEADER + EVENT_LOG_YAML.format(base_dir=Path(home).resolve() / "history" / "runs")


def set_event_batching() -> None:
    """Let Dagster batch a range's materialisations (left alone where the user set a size)."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
