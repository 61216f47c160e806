"""A scratch copy of what a replay's hours read, and what the instance recorded about the runs that made them.

Everything here reads the real store, model store, kill switch and instance, and writes only
under the scratch folder: whole day files copied byte for byte, and the day a replay starts in
cut to the hours before it (so an hour the replay fails to make is missing there, never the
stored one standing in for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from dagster import DagsterInstance
from upath import UPath

from pipelines.lineage import CODE_VERSION_TAG, HOUR, Recorded, reads_before, recorded
from resources.kill_switch import TRIPS, KillSwitchStore
from resources.model_store import SKIPPED, MlModelStore, ml_root
from resources.partitions import FOLDS
from resources.storage import _encode_day, _read_day, day_path, stored_hours

DAY = pd.Timedelta(days=1)


def seed_asset(real_root: str, scratch_root: str, asset: str, first: pd.Timestamp, start: pd.Timestamp) -> int:
    """Copy ``asset``'s stored day files holding hours of [first, start) into ``scratch_root``; hours copied.

    Days wholly before ``start`` are copied as they are; ``start``'s own day keeps only its hours before ``start``.
    """
    hours = stored_hours(real_root, asset, first, start)
    for day in sorted({h.floor("D") for h in hours}):
        src, dst = day_path(real_root, asset, day), day_path(scratch_root, asset, day)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if day + DAY <= start:
            dst.write_bytes(src.read_bytes())
            continue
        stored = _read_day(src, asset)
        before = stored.keys < start.value
        kept = {h for h in stored.hours if h < start.value}
        dst.write_bytes(_encode_day(stored.table.filter(pa.array(before)), None, kept))
    return len(hours)


def seed_storage(defs, real_root: str, scratch_root: str, start: pd.Timestamp) -> dict[str, int]:
    """Every stored hour a cycle run from ``start`` reads (``pipelines.lineage.reads_before``): asset -> hours copied."""
    return {asset: seed_asset(real_root, scratch_root, asset, a, b) for asset, (a, b) in reads_before(defs, start).items()}


def fold_keys(hours: pd.DatetimeIndex) -> list[str]:
    """The walk-forward folds (weeks) ``hours`` are predicted with."""
    return sorted({FOLDS.get_partition_key_for_timestamp(h.timestamp()) for h in hours})


def seed_models(real_root: str, scratch_root: str, hours: pd.DatetimeIndex) -> dict[str, str]:
    """Copy the fold manifests (and trained artifacts) ``hours`` predict with; fold -> what it holds."""
    real, scratch = UPath(ml_root(real_root)), Path(ml_root(scratch_root))
    store = MlModelStore(root=str(real))
    out = {}
    for key in fold_keys(hours):
        if not store.has_manifest(key):
            out[key] = "never trained (no manifest)"
            continue
        manifest = store.manifest(key)
        _copy(real / "folds" / f"{key}.json", scratch / "folds" / f"{key}.json")
        if manifest.get("status") == SKIPPED:
            out[key] = f"skipped: {manifest.get('reason', '')}"
            continue
        artifact = real / "artifacts" / f"{manifest['key']}.pkl"
        if artifact.exists():
            _copy(artifact, scratch / "artifacts" / artifact.name)
        out[key] = f"trained: {manifest['key']} (sha256 {str(manifest.get('sha256', ''))[:12]})"
    return out


def _copy(src: UPath, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())


def trips_active_at(url: str, at: datetime) -> list[dict]:
    """The kill-switch trips that were active at ``at`` (tripped before it, not reset by then), read only."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and (not parsed.database or not Path(parsed.database).exists()):
        return []  # no store yet: nothing was ever tripped (and none is created here)
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(TRIPS.name):
            return []
        with engine.connect() as conn:
            rows = conn.execute(sa.select(TRIPS).order_by(TRIPS.c.id)).mappings().all()
    finally:
        engine.dispose()

    def utc(value: datetime | None) -> datetime | None:
        return None if value is None else (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))

    return [dict(r) for r in rows if utc(r["tripped_at"]) <= at and (r["reset_at"] is None or utc(r["reset_at"]) > at)]


def seed_kill_switch(real_url: str, scratch_url: str, at: datetime) -> int:
    """Trip the scratch kill switch as the real one stood at ``at``; trips copied."""
    trips = trips_active_at(real_url, at)
    store = KillSwitchStore(scratch_url)
    try:
        for t in trips:
            store.trip(t["source"], t["reason"], partition=t["partition"], run_id=t["run_id"])
    finally:
        store.dispose()
    return len(trips)


@dataclass
class RecordedRuns:
    """What the instance recorded about the hours to replay: each (asset, partition)'s materialisation and its runs."""

    by_asset: dict[str, dict[str, Recorded]]
    runs: dict[str, object] = field(default_factory=dict)  # run id -> DagsterRun
    started: dict[str, float] = field(default_factory=dict)  # run id -> start (epoch s)

    def ops_config(self) -> dict:
        """The runs' op configs merged (a conflict between two runs of the hours is an error naming both)."""
        merged: dict[str, tuple[str, object]] = {}
        for run_id, run in self.runs.items():
            for op, cfg in (run.run_config or {}).get("ops", {}).items():
                if op in merged and merged[op][1] != cfg:
                    raise ValueError(f"these hours were run with two configs of {op}: run {merged[op][0]} {merged[op][1]} "
                                     f"and run {run_id} {cfg}; replay them separately")
                merged[op] = (run_id, cfg)
        return {op: cfg for op, (_, cfg) in merged.items()}

    def code_versions(self) -> set[str | None]:
        return {run.tags.get(CODE_VERSION_TAG) for run in self.runs.values()}

    def first_start(self) -> datetime:
        """When the earliest of the runs started (now, where none is recorded)."""
        start = min(self.started.values(), default=None)
        return datetime.now(UTC) if start is None else datetime.fromtimestamp(start, UTC)

    def missing(self) -> int:
        """(asset, hour)s the instance holds no materialisation of (purged runs, another instance)."""
        return sum(1 for recs in self.by_asset.values() for r in recs.values() if r is None)


def recorded_runs(instance: DagsterInstance, assets: list[str], hours: pd.DatetimeIndex) -> RecordedRuns:
    from checks.engine import partition_key

    by_asset = {}
    for asset in assets:
        found = recorded(instance, asset, hours)
        by_asset[asset] = {partition_key(h): found.get(partition_key(h)) for h in hours}
    out = RecordedRuns(by_asset)
    for run_id in sorted({r.run_id for recs in by_asset.values() for r in recs.values() if r is not None}):
        record = instance.get_run_record_by_id(run_id)
        if record is not None:
            out.runs[run_id] = record.dagster_run
            if record.start_time is not None:
                out.started[run_id] = record.start_time
    return out


def first_unstored(root: str, assets: list[str], hours: pd.DatetimeIndex) -> tuple[str, pd.Timestamp] | None:
    """The first (asset, hour) of ``hours`` that storage lacks: nothing to compare a replay with."""
    if not len(hours):
        return None
    for asset in assets:
        have = stored_hours(root, asset, hours[0], hours[-1] + HOUR).as_unit("ns").asi8
        lacking = hours[~np.isin(hours.as_unit("ns").asi8, have)]
        if len(lacking):
            return asset, lacking[0]
    return None
