"""The pooled event log: same tables as Dagster's, batched writes, and a live run view that still wakes up."""

from __future__ import annotations

import threading
import time

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    BackfillPolicy,
    DagsterInstance,
    HourlyPartitionsDefinition,
    MaterializeResult,
    asset,
    materialize,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from checks.engine import log_evaluations
from pipelines.instance import instance_yaml
from resources import instance_storage
from resources.instance_storage import PooledSqliteEventLogStorage


@asset
def toy() -> int:
    return 1


def _instance(tmp_path) -> DagsterInstance:
    home = tmp_path / "home"
    home.mkdir(parents=True)
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


# -- a range's check evaluations as one batch -------------------------------------------------

_HOURS = HourlyPartitionsDefinition(start_date="2025-03-06-00:00", end_date="2025-03-06-04:00")
_CHECK = "toy_hourly__quality"
_BAD = "2025-03-06-01:00"


@asset(partitions_def=_HOURS, check_specs=[AssetCheckSpec(_CHECK, asset="toy_hourly", partitions_def=_HOURS)],
       backfill_policy=BackfillPolicy.single_run())
def toy_hourly(context):  # no annotation: this module has postponed annotations
    keys = context.partition_keys
    yield MaterializeResult()  # no IO manager: the records are the subject
    targets = {r.partition_key: r for r in context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("toy_hourly"), asset_partitions=keys), limit=len(keys)).records}
    log_evaluations(context, [
        AssetCheckEvaluation(asset_key=AssetKey("toy_hourly"), check_name=_CHECK, passed=key != _BAD,
                             description=f"hour {key}", partition=key, target_materialization_data=(
                                 AssetCheckEvaluationTargetMaterializationData(
                                     storage_id=targets[key].storage_id, run_id=targets[key].run_id,
                                     timestamp=targets[key].timestamp)))
        for key in keys])
    yield AssetCheckResult(check_name=_CHECK, passed=False, description="the range: one hour failed")


def _range_statuses(tmp_path, monkeypatch, batch: str) -> tuple[dict, int, int]:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch)
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    calls = []
    real = PooledSqliteEventLogStorage._index_checks
    monkeypatch.setattr(PooledSqliteEventLogStorage, "_index_checks",
                        lambda self, events, rows: calls.append(len(events)) or real(self, events, rows))
    alone = []  # evaluations the batch had to write one by one (its executemany missed a planned row)
    one = instance_storage.store_execution_row
    monkeypatch.setattr(instance_storage, "store_execution_row", lambda *a: alone.append(1) or one(*a))
    with _instance(tmp_path) as instance:
        result = materialize([toy_hourly], instance=instance, raise_on_error=False,
                             tags={"dagster/asset_partition_range_start": "2025-03-06-00:00",
                                   "dagster/asset_partition_range_end": "2025-03-06-02:00"})
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey("toy_hourly"), _CHECK), limit=20)
        materialised = {r.partition_key: r.storage_id for r in instance.fetch_materializations(
            AssetKey("toy_hourly"), limit=20).records}
        got = {}
        for r in records:
            if r.partition is None:
                continue
            evaluation = r.event.dagster_event.event_specific_data
            got[r.partition] = (r.status.value, evaluation.description,
                                r.event.dagster_event.event_specific_data.target_materialization_data.storage_id
                                == materialised[r.partition])
        logged = [e for e in instance.all_logs(result.run_id)
                  if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert not alone
        return got, len(logged), sum(calls)


def test_a_ranges_check_evaluations_are_stored_as_one_batch_exactly_as_one_by_one(tmp_path, monkeypatch):
    batched = _range_statuses(tmp_path / "batched", monkeypatch, "1000")
    alone = _range_statuses(tmp_path / "alone", monkeypatch, "0")
    expected = {
        "2025-03-06-00:00": ("SUCCEEDED", "hour 2025-03-06-00:00", True),
        "2025-03-06-01:00": ("FAILED", "hour 2025-03-06-01:00", True),
        "2025-03-06-02:00": ("SUCCEEDED", "hour 2025-03-06-02:00", True),
    }
    assert batched[0] == expected  # each hour its own status, linked to its own materialisation
    assert alone[0] == expected
    assert batched[1] == alone[1] == 4  # three hours and the range's summary, in the run's log
    assert (batched[2], alone[2]) == (3, 0)  # the batch path wrote the hours, in one call


def test_planned_check_rows_are_dagsters_own_rows(tmp_path, monkeypatch):
    """A range's PLANNED execution rows, written with the event serialised once, equal the rows
    Dagster's own method writes for the same planned event."""
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    with _instance(tmp_path / "run") as instance:
        result = materialize([toy_hourly], instance=instance, raise_on_error=False,
                             tags={"dagster/asset_partition_range_start": "2025-03-06-00:00",
                                   "dagster/asset_partition_range_end": "2025-03-06-03:00"})
        (planned,) = [e for e in instance.all_logs(result.run_id)
                      if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION_PLANNED"]
    written = []
    for name, method in (("ours", PooledSqliteEventLogStorage._store_asset_check_evaluation_planned),
                         ("dagsters", SqliteEventLogStorage._store_asset_check_evaluation_planned)):
        with _instance(tmp_path / name) as instance:
            storage = instance.event_log_storage
            method(storage, planned, 7)
            with storage.index_connection() as conn:
                columns = [c for c in AssetCheckExecutionsTable.c if c.name not in ("id", "create_timestamp")]  # the database sets these
                written.append(sorted(conn.execute(sa.select(*columns)).all(), key=lambda r: str(r.partition)))
    assert len(written[0]) == 4  # one PLANNED row per hour of the range
    assert written[0] == written[1]


def _targets_as_dagster_reads_them(instance, key: AssetKey, partitions: set[str]) -> dict:
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=key, asset_partitions=sorted(partitions)),
                                              limit=100).records
    latest = {}
    for r in sorted(records, key=lambda r: r.storage_id):
        latest[r.partition_key] = AssetCheckEvaluationTargetMaterializationData(
            storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp)
    return latest


def test_materialization_targets_are_the_records_latest_materialisations(tmp_path):
    hours = {"2025-03-06-00:00", "2025-03-06-01:00", "2025-03-06-02:00"}
    with _instance(tmp_path) as instance:
        tags = {"dagster/asset_partition_range_start": "2025-03-06-00:00",
                "dagster/asset_partition_range_end": "2025-03-06-02:00"}
        materialize([toy_hourly], instance=instance, raise_on_error=False, tags=tags)
        materialize([toy_hourly], instance=instance, raise_on_error=False, partition_key="2025-03-06-01:00")
        key = AssetKey("toy_hourly")
        got = instance.event_log_storage.materialization_targets(key, hours | {"2025-03-06-03:00"})
        assert got == _targets_as_dagster_reads_them(instance, key, hours)
        assert set(got) == hours  # an hour never materialised has no target
        assert len({t.run_id for t in got.values()}) == 2  # the re-run hour points at its own run


@asset(partitions_def=_HOURS, check_specs=[AssetCheckSpec("toy_failing__quality", asset="toy_failing",
                                                          partitions_def=_HOURS)],
       backfill_policy=BackfillPolicy.single_run())
def toy_failing(context):
    raise RuntimeError("fails after its run planned it: the planned rows stay as written")


def _what_a_run_leaves(instance, assets=(toy_hourly,), **run) -> tuple:
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, AssetKeyTable

    result = materialize(list(assets), instance=instance, raise_on_error=False, **run)
    storage = instance.event_log_storage
    with storage.index_connection() as conn:
        t = AssetCheckExecutionsTable
        executions = sorted(conn.execute(sa.select(t.c.asset_key, t.c.check_name, t.c.partition, t.c.execution_status,
                                                   t.c.run_id == result.run_id)).all(), key=str)
        a = AssetKeyTable
        assets = conn.execute(sa.select(a.c.asset_key, a.c.last_run_id == result.run_id,
                                        a.c.last_materialization_timestamp.is_not(None))).all()
    logged = sorted(e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event)
    planned = instance.get_latest_planned_materialization_info(AssetKey("toy_hourly"))
    return executions, assets, logged, planned.run_id == result.run_id


def test_a_runs_planned_events_in_one_batch_leave_what_dagsters_storage_leaves(tmp_path, monkeypatch):
    """The run's planned events (assets and checks) are written as one batch; the index then holds
    exactly what Dagster's own SQLite storage, writing them one by one, leaves — for a one-hour run
    and for a range with planned partition subsets."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    runs = {"hour": {"partition_key": "2025-03-06-01:00"},
            "range": {"tags": {"dagster/asset_partition_range_start": "2025-03-06-00:00",
                               "dagster/asset_partition_range_end": "2025-03-06-02:00"}}}
    for name, run in runs.items():
        monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true" if name == "range" else "false")
        with _instance(tmp_path / f"ours-{name}") as ours:
            mine = _what_a_run_leaves(ours, (toy_hourly, toy_failing), **run)
        with _dagster_sqlite(tmp_path / f"dagsters-{name}") as theirs:
            reference = _what_a_run_leaves(theirs, (toy_hourly, toy_failing), **run)
        assert mine == reference, name
        # toy_hourly's hours (and the range's summary), and toy_failing's PLANNED rows as written
        assert len(mine[0]) == (2 if name == "hour" else 4 + 3), name
        assert sum(1 for row in mine[0] if row.execution_status == "PLANNED") == (1 if name == "hour" else 3), name


def _dagster_sqlite(path):
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(path))
