"""The pooled event log: same tables as Dagster's, batched writes, and a live run view that still wakes up."""

from __future__ import annotations

import threading
import time

from dagster import DagsterInstance, asset, materialize

from pipelines.instance import instance_yaml
from resources.instance_storage import PooledSqliteEventLogStorage


@asset
def toy() -> int:
    return 1


def _instance(tmp_path) -> DagsterInstance:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    return DagsterInstance.from_config(str(home))


def test_the_local_instance_uses_the_pooled_storage_and_reads_back(tmp_path):
    with _instance(tmp_path) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = materialize([toy], instance=instance)
        assert result.success
        logs = instance.all_logs(result.run_id)
        assert any(e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION" for e in logs)
        assert instance.get_latest_materialization_event(toy.key).run_id == result.run_id


def test_a_watcher_sees_events_written_through_the_open_pool(tmp_path):
    """The UI follows a live run by watching its database file; with pooled connections commits
    land in the WAL, so the watcher must wake on the ``-wal`` file too."""
    with _instance(tmp_path) as instance:
        first = materialize([toy], instance=instance)  # creates the run's shard and an open engine
        seen = threading.Event()
        storage = instance.event_log_storage
        storage.watch(first.run_id, None, lambda *_: seen.set())
        try:
            instance.report_engine_event("a new event of the watched run", instance.get_run_by_id(first.run_id))
            assert seen.wait(10), "the watcher never woke: the live run view would stall"
        finally:
            storage.end_watch(first.run_id, next(iter(storage._watchers[first.run_id]), None))
            time.sleep(0.1)


def test_an_earlier_default_dagster_yaml_is_upgraded_and_an_edited_one_kept(tmp_path, monkeypatch):
    from pipelines.cli import prepare_home
    from pipelines.environments import Settings

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    earlier = ("# Perpetua local instance: SQLite under this folder (see dagster.yaml.postgres.example).\n"
               "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 2\n")
    for name, text, upgraded in (("old", earlier, True), ("edited", earlier + "# mine\n", False)):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(text)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        prepare_home(Settings("local", home, str(tmp_path / "s"), "sqlite://"))
        assert ("PooledSqliteEventLogStorage" in (home / "dagster.yaml").read_text()) is upgraded, name
