"""The production instance shape on a real PostgreSQL: dagster.yaml.postgres.example, end to end.

A throwaway cluster (tests/support/postgres.py) stands in for the production database. The
example config itself is copied into a temp ``DAGSTER_HOME`` and resolved through its
``PERPETUA_PG_*`` variables; the hourly cycle runs over the sample's first hours and everything
that must land in Postgres is read back from Postgres: runs, materialisations, asset-check
executions and the kill-switch table.

The window is short on purpose: dagster-postgres opens a new connection per storage call
(``NullPool``), and a ranged run writes one check evaluation per check per hour, so a 24-hour
window costs ~40 s against ~12 s for six hours on a two-core machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, PartitionKeyRange
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import get_conn_string

from resources.instance_storage_pg import PooledPostgresEventLogStorage
from resources.partitions import HOURLY, PARTITIONS_START
from tests.support.postgres import port_accepts, throwaway_postgres

EXAMPLE = Path(__file__).resolve().parents[2] / "dagster.yaml.postgres.example"
ASSETS = (
    "perp_ohlcv_1h", "funding_settlements", "open_interest_1h", "universe_scan_1h", "features_1h", "regime_scores_1h",
    "carry_signals_1h", "cascade_signals_1h", "tail_hedge_signals_1h", "strategy_signals_1h", "model_predictions_1h",
    "ledger_1h", "positions_1h", "order_intents_1h", "fills_1h", "layer_allocations_1h",
)
#: The sample's first hours: starting at the first partition, the scan's 23-hour look-back needs no warm-up.
RANGE = PartitionKeyRange(PARTITIONS_START, "2025-03-06-17:00")
HOURS = 6
#: The bundled sample has no funding before 2025-03-08 16:00 and no open interest before 2025-12-07:
#: in this window those hours are stored as empty files with the full schema.
WITH_ROWS = (
    "perp_ohlcv_1h", "universe_scan_1h", "features_1h", "regime_scores_1h", "carry_signals_1h", "cascade_signals_1h",
    "tail_hedge_signals_1h", "ledger_1h", "layer_allocations_1h",
)
RANGE_TAGS = {
    "dagster/asset_partition_range_start": RANGE.start,
    "dagster/asset_partition_range_end": RANGE.end,
}


def _point_example_at(pg, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Copy the example into ``home`` and set the variables it reads to the throwaway cluster."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE, home / "dagster.yaml")
    for name, value in {
        "PERPETUA_PG_HOST": pg.host,
        "PERPETUA_PG_PORT": str(pg.port),
        "PERPETUA_PG_USER": pg.user,
        "PERPETUA_PG_PASSWORD": "",  # trust auth; the variable must still be set
        "PERPETUA_PG_DB": pg.db,
        "PERPETUA_KILL_SWITCH_URL": pg.url,
        "DAGSTER_HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT"):
        monkeypatch.delenv(name, raising=False)


def test_example_spells_the_psycopg2_driver():
    """SQLAlchemy 2.1 reads bare ``postgresql://`` as psycopg 3; dagster-postgres ships psycopg2."""
    config = yaml.safe_load(EXAMPLE.read_text())
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        db = config[storage]["config"]["postgres_db"]
        url = get_conn_string(username="u", hostname="h", db_name="d", port="5432", scheme=db["scheme"])
        assert sa.engine.make_url(url).get_dialect().driver == "psycopg2", storage
    assert "postgresql+psycopg2://" in EXAMPLE.read_text().split("PERPETUA_KILL_SWITCH_URL=", 1)[1]


@pytest.mark.postgres
@pytest.mark.slow
def test_hourly_cycle_on_a_postgres_instance(postgres, tmp_path, monkeypatch):
    from pipelines.definitions import build_definitions
    from pipelines.environments import settings
    from resources.kill_switch import KillSwitchStore
    from resources.storage import read_hours

    pg = postgres.create_database("hourly_cycle_instance")
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # as perpetua runs: a range's evaluations as one batch
    home = tmp_path / "dagster_home"
    _point_example_at(pg, monkeypatch, home)
    s = settings("local", home=home)
    assert s.kill_switch_url == pg.url
    defs = build_definitions(s)

    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        # the example's pooled subclass (resources/instance_storage_pg.py), not a connection per statement
        assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
        assert instance.event_log_storage._engine.pool.__class__.__name__ == "QueuePool"
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.run_storage.postgres_url == pg.url

        result = defs.resolve_job_def("hourly_cycle").execute_in_process(
            instance=instance, tags=RANGE_TAGS, raise_on_error=False
        )
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        run_id = result.run_id

        # Runs and materialisations, read back from Postgres.
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
        expected = set(HOURLY.get_partition_keys_in_range(RANGE))
        assert len(expected) == HOURS
        stored_rows = {}
        for asset in ASSETS:
            assert instance.get_materialized_partitions(AssetKey(asset)) == expected, asset
            latest = instance.get_latest_materialization_event(AssetKey(asset))
            assert latest is not None, asset
            assert latest.run_id == run_id, asset
            # each hour's materialisation carries that hour's own row count
            stored_rows[asset] = (latest.asset_materialization.partition, latest.asset_materialization.metadata["rows"].value)

        # Asset-check executions, through the storage API and as rows in Postgres.
        check_keys = {e.asset_check_key for e in result.get_asset_check_evaluations()}
        assert {k.asset_key for k in check_keys} == {AssetKey(a) for a in ASSETS}
        for key in check_keys:
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
            mine = [r for r in history if r.run_id == run_id]
            assert mine, key
            partitions = {r.partition for r in mine if r.partition}
            targets = instance.event_log_storage.materialization_targets(key.asset_key, partitions)
            assert {p: t.storage_id for p, t in targets.items()} == {
                r.partition: r.event.dagster_event.event_specific_data.target_materialization_data.storage_id
                for r in mine if r.partition}, key
            assert all(r.status == AssetCheckExecutionRecordStatus.SUCCEEDED for r in mine), key

    engine = sa.create_engine(pg.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT asset_key, check_name, partition, execution_status, materialization_event_storage_id"
                    " FROM asset_check_executions WHERE run_id = :r"
                ),
                {"r": run_id},
            ).all()
            assert {(AssetKey.from_db_string(a), c) for a, c, *_ in rows} == {
                (k.asset_key, k.name) for k in check_keys
            }
            assert {status for *_, status, _ in rows} == {"SUCCEEDED"}
            # every hour of every check has its own row, linked to that hour's materialisation
            per_hour = {(a, c, p): m for a, c, p, _, m in rows if p is not None}
            assert len(per_hour) == len(check_keys) * HOURS
            assert all(m is not None for m in per_hour.values())
            run_status = conn.execute(
                sa.text("SELECT status FROM runs WHERE run_id = :r"), {"r": run_id}
            ).scalar()
            assert run_status == "SUCCESS"
    finally:
        engine.dispose()

    # The Parquet outputs: every hour stored, each hour as many rows as its event says.
    hours = pd.date_range(HOURLY.time_window_for_partition_key(RANGE.start).start, periods=HOURS, freq="h")
    for asset in ASSETS:
        frame = read_hours(s.storage_root, asset, hours)  # raises if an hour was never stored
        assert len(frame.columns) > 1, asset
        partition, rows = stored_rows[asset]
        hour = pd.Timestamp(HOURLY.time_window_for_partition_key(partition).start)
        assert int((frame["hour"] == hour).sum()) == rows, asset
    for asset in WITH_ROWS:
        assert stored_rows[asset][1] > 0, asset

    # The kill switch table lives in the same Postgres database: trip, then read back afresh.
    writer = KillSwitchStore(pg.url)
    try:
        trip_id = writer.trip(
            "test_postgres_instance", "postgres round trip", partition=RANGE.start, run_id=run_id
        )
    finally:
        writer.dispose()
    reader = KillSwitchStore(pg.url)
    try:
        active = reader.active()
        assert [(t.id, t.source, t.partition, t.run_id) for t in active] == [
            (trip_id, "test_postgres_instance", RANGE.start, run_id)
        ]
        assert reader.is_tripped()
    finally:
        reader.dispose()
    engine = sa.create_engine(pg.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regclass('public.perpetua_kill_switch')")).scalar()
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == pg.db
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_throwaway_postgres_really_stops():
    with throwaway_postgres(db="stop_check") as pg:
        assert port_accepts(pg.host, pg.port)
        engine = sa.create_engine(pg.url)
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT current_database()")).scalar() == "stop_check"
        finally:
            engine.dispose()
        base = pg.base_dir
    assert not port_accepts(pg.host, pg.port)
    assert not base.exists()


@pytest.mark.postgres
def test_throwaway_postgres_stops_when_the_block_raises():
    class Boom(Exception):
        pass

    seen = []

    def fail_inside() -> None:
        with throwaway_postgres(db="postgres") as pg:
            seen.append(pg)
            assert port_accepts(pg.host, pg.port)
            raise Boom

    with pytest.raises(Boom):
        fail_inside()
    (pg,) = seen
    assert not port_accepts(pg.host, pg.port)
    assert not pg.base_dir.exists()
