"""What an hour of the hourly cycle reads and writes, and what the instance recorded about it.

Shared by ``perpetua replay-*`` (``pipelines.replay``) and ``perpetua explain`` (``pipelines.explain``):

* :func:`cycle_assets` — the hourly cycle's assets in the order data flows through them;
* :func:`reads_before` — the stored hours before a run's first hour that the run reads: the
  declared look-backs (``resources.partitions.lookback``) and the few reads the assets make
  themselves (:data:`DIRECT_READS`);
* :func:`recorded` — the latest materialisation of (asset, hour) in the instance: run, job,
  Dagster's data version;
* :func:`content_hash` — a hash of an hour's rows that depends on the values and types only;
* :func:`code_version` — a hash of the source and the git commit it was checked out at.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

from checks.engine import partition_key
from quant.ml.models import SEQUENCE_H
from resources.partitions import LOOKBACK_KEY, lookback_start

#: The hourly schedule's job: one run of every hourly asset for one hour.
CYCLE_JOB = "hourly_cycle"
#: The book's tables in the order one hour makes them: budgets, orders, fills, then positions and P&L.
BOOK_ORDER = ("layer_allocations_1h", "order_intents_1h", "fills_1h", "positions_1h", "ledger_1h")
#: Stored hours the assets read themselves, not through a declared input: the hour before a run for
#: the price-continuity rule (``assets.market_data.perp_ohlcv_1h``) and the book's state
#: (``assets.book._previous_state``), and the sequence models' earlier features (``assets.ml``).
DIRECT_READS = {
    "perp_ohlcv_1h": 1,
    "features_1h": SEQUENCE_H - 1,
    "ledger_1h": 1,
    "positions_1h": 1,
    "order_intents_1h": 1,
}
#: The tags a run carries for the code it ran (see :func:`code_version_tags`).
CODE_VERSION_TAG = "perpetua/code_version"
GIT_COMMIT_TAG = "perpetua/git_commit"
#: The packages whose source makes an hour's outputs.
SOURCE_PACKAGES = ("quant", "assets", "checks", "resources", "pipelines")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOUR = pd.Timedelta(hours=1)


def cycle_assets(defs) -> list[str]:
    """The hourly cycle's assets, upstream first (the graph's order; the book's tables as one hour makes them)."""
    from pipelines.graph import ALL_ASSETS

    in_job = {k.to_user_string() for k in defs.resolve_job_def(CYCLE_JOB).asset_layer.executable_asset_keys}
    names: list[str] = []
    for a in ALL_ASSETS:
        keys = sorted(k.to_user_string() for k in a.keys)
        names += [n for n in BOOK_ORDER if n in keys] if set(keys) == set(BOOK_ORDER) else keys
    return [n for n in names if n in in_job]


def lookbacks(defs) -> dict[str, int]:
    """Hours before each hour that the cycle reads of each stored asset (declared look-backs and :data:`DIRECT_READS`)."""
    from pipelines.graph import ALL_ASSETS

    in_job = set(cycle_assets(defs))
    back = dict(DIRECT_READS)
    for a in ALL_ASSETS:
        if not {k.to_user_string() for k in a.keys} & in_job:
            continue
        for name, key in a.keys_by_input_name.items():
            hours = int((a.node_def.input_def_named(name).metadata or {}).get(LOOKBACK_KEY, 0))
            if hours:
                upstream = key.to_user_string()
                back[upstream] = max(back.get(upstream, 0), hours)
    return dict(sorted(back.items()))


def reads_before(defs, start: pd.Timestamp) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """asset -> [first, start): the stored hours before ``start`` a cycle run from ``start`` reads.

    A look-back never reaches before the partitions' first hour or across the months with no data
    (``resources.partitions.lookback_start``); an asset with nothing to read there is left out.
    """
    out = {}
    for asset, hours in lookbacks(defs).items():
        first = lookback_start(start, hours)
        if first < start:
            out[asset] = (first, start)
    return out


@dataclass(frozen=True)
class Recorded:
    """The instance's latest materialisation of an (asset, hour)."""

    asset: str
    partition: str
    run_id: str
    data_version: str | None
    storage_id: int
    timestamp: float


def recorded(instance: DagsterInstance, asset: str, hours: pd.DatetimeIndex) -> dict[str, Recorded]:
    """partition key -> the latest materialisation of ``asset`` at each of ``hours`` the instance recalls."""
    keys = {partition_key(h) for h in hours}
    if not keys:
        return {}
    ids = instance.get_latest_storage_id_by_partition(AssetKey(asset), DagsterEventType.ASSET_MATERIALIZATION, keys)
    if not ids:
        return {}
    result = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset), storage_ids=list(ids.values())),
                                             limit=len(ids))
    out = {}
    for rec in result.records:
        m = rec.event_log_entry.asset_materialization
        out[m.partition] = Recorded(asset, m.partition, rec.event_log_entry.run_id, m.tags.get("dagster/data_version"),
                                    rec.storage_id, rec.event_log_entry.timestamp)
    return out


def content_hash(frame: pd.DataFrame) -> str:
    """16 hex digits of SHA-256 over the rows, columns and Arrow types of ``frame`` (no pandas index or metadata)."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    sink = io.BytesIO()
    pq.write_table(table.combine_chunks(), sink, compression="none", write_statistics=False)
    return hashlib.sha256(sink.getvalue()).hexdigest()[:16]


def source_hash(root: Path = PROJECT_ROOT) -> str:
    """12 hex digits of SHA-256 over every ``.py`` file of :data:`SOURCE_PACKAGES` (path and bytes, sorted)."""
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """The checked-out commit (``-dirty`` when tracked files have changes); None without git or a repository."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        head = subprocess.run([git, "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True,  # noqa: S603
                              timeout=10).stdout.strip()
        dirty = subprocess.run([git, "status", "--porcelain", "--untracked-files=no"], cwd=root,  # noqa: S603
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def code_version() -> str:
    """The source hash, then the git commit where there is one: ``<hash> (git <commit>)``."""
    commit = git_commit()
    return source_hash() + (f" (git {commit[:12]}{'-dirty' if commit.endswith('-dirty') else ''})" if commit else "")


def code_version_tags() -> dict[str, str]:
    """Tags that record the code a run ran: the source hash and, where known, the git commit."""
    tags = {CODE_VERSION_TAG: source_hash()}
    commit = git_commit()
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    return tags
