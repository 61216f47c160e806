"""Hourly Parquet storage: one file per asset per UTC day under a configurable root.

``<root>/<asset>/<YYYY-MM-DD>.parquet``. The root is a local folder by default; any fsspec/UPath
URL (``s3://bucket/perpetua``, ``gs://…``, ``memory://…``) works unchanged, so object storage
serves when one machine is outgrown.

A day file is self-describing: its Parquet key-value metadata ``perpetua.stored_hours`` is a JSON
list of the UTC hours (``"2025-09-01T07:00Z"``) it holds, so an hour stored with no rows (kept with
the full schema of the frame written) is told apart from an hour never materialised. Rows are
sorted by hour, keeping each hour's own row order. Writing a window rewrites each day it touches:
the day's other hours are kept as stored, the written hours are replaced, nothing is appended
blindly, and writing a day hour by hour gives the same bytes as writing it at once. A day is
written to a hidden temp name beside it, then renamed over it, under a per-asset lock on a local
root, so a reader sees the old day or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManager,
    DagsterInvariantViolationError,
    InputContext,
    OutputContext,
    TimeWindowPartitionsDefinition,
)
from upath import UPath

HOUR_COLUMN = "hour"
#: Parquet key-value metadata key holding the JSON list of the hours a day file stores.
STORED_HOURS_KEY = b"perpetua.stored_hours"
#: Dagster's key format for the shared ``HourlyPartitionsDefinition`` (UTC).
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"
#: The cron schedule of hourly partitions (Dagster's HourlyPartitionsDefinition at minute 0).
HOURLY_CRON = "0 * * * *"
HOUR_ISO_FORMAT = "%Y-%m-%dT%H:%MZ"
HOURS_PER_DAY = 24
DAY_NS = 86_400 * 10**9
#: Held (``flock``) while a day of the asset is read, merged and replaced, on a local root.
LOCK_NAME = ".write.lock"
LOCAL_PROTOCOLS = ("", "file", "local")


class MissingPartitionError(RuntimeError):
    """An upstream hour was asked for that has never been materialised."""


class CorruptPartitionError(RuntimeError):
    """A stored day file cannot be decoded (zero bytes, truncated, or no stored-hours record)."""


@dataclass(frozen=True, eq=False)
class _Day:
    """A decoded day file: its rows (sorted by hour), each row's hour and the hours it stores (ns)."""

    table: pa.Table
    keys: np.ndarray
    hours: frozenset[int]


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    """``ts`` in UTC (a naive time is taken to be UTC already)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def day_path(root: str, asset: str, day: pd.Timestamp) -> UPath:
    """Where ``asset``'s file for the UTC day containing ``day`` lives."""
    return UPath(root) / asset / f"{_utc(day):%Y-%m-%d}.parquet"


def frame_to_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic Parquet bytes (same frame -> same bytes), no pandas index stored."""
    return _table_to_bytes(_to_table(df))


def _to_table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _table_to_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table.combine_chunks(), sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def _hour_keys(df: pd.DataFrame, hours: pd.DatetimeIndex) -> np.ndarray:
    """The rows' hours as int64 ns; raises unless every row lies in ``hours``."""
    if HOUR_COLUMN not in df.columns:
        raise ValueError(f"hourly frame needs an '{HOUR_COLUMN}' column; got {list(df.columns)}")
    keys = df[HOUR_COLUMN].to_numpy(dtype="datetime64[ns]").view("int64")
    outside = ~np.isin(keys, hours.as_unit("ns").asi8)
    if outside.any():
        bad = df.loc[outside, HOUR_COLUMN].iloc[0]
        span = f"{hours[0]} .. {hours[-1]}" if len(hours) else "(no hours)"
        raise ValueError(f"row for hour {bad} lies outside the window {span}")
    return keys


def split_by_hour(df: pd.DataFrame, hours: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """One (hour, rows) per hour in ``hours``; raises if a row falls outside them."""
    keys = _hour_keys(df, hours)
    order = np.argsort(keys, kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    keys = keys[order]
    edges = np.searchsorted(keys, hours.as_unit("ns").asi8, side="left")
    ends = np.append(edges[1:], len(df))
    return [(h, df.iloc[a:b].reset_index(drop=True)) for h, a, b in zip(hours, edges, ends, strict=True)]


def _table_keys(table: pa.Table) -> np.ndarray:
    return table.column(HOUR_COLUMN).to_numpy().astype("datetime64[ns]").view("int64")


def _corrupt(asset: str, path: UPath, reason: str) -> CorruptPartitionError:
    return CorruptPartitionError(
        f"{asset}: day file {path} is corrupt ({reason}); re-materialise that day "
        "(writing all of its hours replaces the file; or delete it and re-run the hours it held)"
    )


#: Decoded day files by a digest of their bytes, newest last, up to :data:`DAY_CACHE_BYTES` of
#: decoded tables: content-addressed, so a rewritten file can never be served stale, and only the
#: decoding is saved (the file is still read). The hourly cycle reads the same candle days for ~6
#: assets of a run (127 day-file reads an hourly run).
_DAY_CACHE: OrderedDict[bytes, _Day] = OrderedDict()
DAY_CACHE_BYTES = 256 * 2**20
_DAY_CACHE_LOCK = threading.Lock()
_day_cache_bytes = 0


def _read_day(path: UPath, asset: str) -> _Day | None:
    """The decoded day file at ``path``; None if it was never written."""
    global _day_cache_bytes
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    key = hashlib.blake2b(data, digest_size=16).digest() + len(data).to_bytes(8, "little")
    with _DAY_CACHE_LOCK:
        hit = _DAY_CACHE.get(key)
        if hit is not None:
            _DAY_CACHE.move_to_end(key)
            return hit
    day = _decode_day(path, asset, data)
    with _DAY_CACHE_LOCK:
        if key not in _DAY_CACHE:
            _DAY_CACHE[key] = day
            _day_cache_bytes += day.table.nbytes
        while _day_cache_bytes > DAY_CACHE_BYTES and len(_DAY_CACHE) > 1:
            _day_cache_bytes -= _DAY_CACHE.popitem(last=False)[1].table.nbytes
    return day


def _decode_day(path: UPath, asset: str, data: bytes) -> _Day:
    if not data:
        raise _corrupt(asset, path, "zero bytes")
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise _corrupt(asset, path, f"unreadable Parquet: {exc}") from exc
    raw = (table.schema.metadata or {}).get(STORED_HOURS_KEY)
    if raw is None or HOUR_COLUMN not in table.column_names:
        raise _corrupt(asset, path, f"no '{STORED_HOURS_KEY.decode()}' record or '{HOUR_COLUMN}' column")
    stored = _decode_stored_hours(raw, asset, path)
    return _Day(table, _table_keys(table), frozenset(stored.asi8.tolist()))


def _decode_stored_hours(raw: bytes, asset: str, path: UPath) -> pd.DatetimeIndex:
    try:
        return pd.DatetimeIndex(json.loads(raw)).tz_convert("UTC").as_unit("ns")
    except (ValueError, TypeError) as exc:
        raise _corrupt(asset, path, f"bad stored-hours record: {exc}") from exc


def stored_hours(
    root: str, asset: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DatetimeIndex:
    """The hours of ``asset`` stored under ``root`` in [start, end) (either end open if None), sorted.

    Read from each day file's stored-hours record (its Parquet footer; no rows are read), so this
    is what storage holds whatever the Dagster instance remembers. Days outside [start, end) are
    not opened. Raises ``CorruptPartitionError`` for a day file whose footer cannot be decoded.
    """
    folder = UPath(root) / asset
    lo, hi = (None if t is None else _utc(t) for t in (start, end))
    found: list[pd.DatetimeIndex] = []
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else ():
        try:
            day = pd.Timestamp(path.stem, tz="UTC")
        except ValueError:
            continue  # not a day file of ours
        if (lo is not None and day + pd.Timedelta(days=1) <= lo) or (hi is not None and day >= hi):
            continue
        try:
            with path.open("rb") as fh:
                raw = (pq.read_schema(fh).metadata or {}).get(STORED_HOURS_KEY)
        except (pa.ArrowException, OSError) as exc:
            raise _corrupt(asset, path, f"unreadable Parquet footer: {exc}") from exc
        if raw is None:
            raise _corrupt(asset, path, f"no '{STORED_HOURS_KEY.decode()}' record")
        found.append(_decode_stored_hours(raw, asset, path))
    ns = np.sort(np.concatenate([h.asi8 for h in found])) if found else np.array([], dtype="int64")
    hours = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
    keep = np.ones(len(hours), dtype=bool)
    if lo is not None:
        keep &= hours >= lo
    if hi is not None:
        keep &= hours < hi
    return hours[keep]


def _encode_day(new: pa.Table, kept: pa.Table | None, stored: set[int]) -> bytes:
    """The day's bytes: kept rows plus new rows, stable-sorted by hour, the new frame's schema."""
    table = new
    if kept is not None and kept.num_rows:
        table = pa.concat_tables([kept, new], promote_options="permissive")
    table = table.take(pc.sort_indices(table, sort_keys=[(HOUR_COLUMN, "ascending")]))
    listed = json.dumps([f"{pd.Timestamp(h, tz='UTC'):{HOUR_ISO_FORMAT}}" for h in sorted(stored)])
    meta = {**(new.schema.metadata or {}), STORED_HOURS_KEY: listed.encode()}
    return _table_to_bytes(table.replace_schema_metadata(meta))


def _is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


@contextlib.contextmanager
def _asset_lock(folder: UPath) -> Iterator[None]:
    """Serialise read-merge-replace of a day between processes on a local root (no-op elsewhere)."""
    if not _is_local(folder):
        yield
        return
    fd = os.open(os.path.join(folder.path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _replace_atomically(path: UPath, data: bytes) -> None:
    """Write ``data`` to a hidden temp name beside ``path``, then rename it over ``path``."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    if not _is_local(path):
        tmp.write_bytes(data)
        try:
            path.fs.mv(tmp.path, path.path)
        except NotImplementedError:  # no rename on this filesystem: a single put replaces whole
            path.write_bytes(data)
            tmp.unlink()
        return
    try:
        with open(tmp.path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the bytes reach the disk before the name points at them
        os.replace(tmp.path, path.path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.path)


def _write_day(path: UPath, asset: str, new: pa.Table, day_hours: np.ndarray) -> None:
    """Replace ``day_hours`` of the day file at ``path`` by the rows of ``new``, keep its other hours."""
    written = set(day_hours.tolist())
    kept, stored = None, set(written)
    if len(written) < HOURS_PER_DAY:  # a whole day replaces the file without reading it
        old = _read_day(path, asset)
        if old is not None:
            kept = old.table.filter(pa.array(~np.isin(old.keys, day_hours)))
            stored |= old.hours - written
    _replace_atomically(path, _encode_day(new, kept, stored))


def write_hours(
    root: str, asset: str, hours: pd.DatetimeIndex, frame: pd.DataFrame
) -> dict[pd.Timestamp, int]:
    """Store ``frame`` as exactly the hours ``hours`` of ``asset``; rows per hour written.

    Every hour in ``hours`` is (re)written, an hour without rows as a stored empty hour; the other
    hours of the days touched are kept byte for byte. Raises ``ValueError`` if a row lies outside
    ``hours`` and ``CorruptPartitionError`` if a day to merge into cannot be read.
    """
    hours_ns = np.unique(hours.as_unit("ns").asi8)
    keys = _hour_keys(frame, hours)
    order = np.argsort(keys, kind="stable")
    frame, keys = frame.iloc[order].reset_index(drop=True), keys[order]
    folder = UPath(root) / asset
    if _is_local(folder):
        os.makedirs(folder.path, exist_ok=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
    days = hours_ns - hours_ns % DAY_NS
    for day in np.unique(days):
        a, b = np.searchsorted(keys, [day, day + DAY_NS], side="left")
        path = day_path(root, asset, pd.Timestamp(day, tz="UTC"))
        with _asset_lock(folder):
            _write_day(path, asset, _to_table(frame.iloc[a:b]), hours_ns[days == day])
    counts = np.searchsorted(keys, hours_ns, side="right") - np.searchsorted(keys, hours_ns, side="left")
    return {pd.Timestamp(h, tz="UTC"): int(n) for h, n in zip(hours_ns, counts, strict=True)}


def read_hours(root: str, asset: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """Concatenate the stored hours of ``asset`` in ``hours`` order; a never-materialised hour is an error.

    Each day file is read once. All hours stored but empty gives an empty frame with the stored
    schema. Raises ``MissingPartitionError`` for the first hour never stored and
    ``CorruptPartitionError`` for a day file that cannot be decoded.
    """
    index = pd.DatetimeIndex(hours)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    hours_ns = index.as_unit("ns").asi8
    days_ns = hours_ns - hours_ns % DAY_NS
    days: dict[int, _Day | None] = {}
    segments: list[tuple[_Day, list[np.ndarray]]] = []  # runs of consecutive hours from one day
    cuts = np.flatnonzero(days_ns[1:] != days_ns[:-1]) + 1
    for run in np.split(np.arange(len(hours_ns)), cuts) if len(hours_ns) else []:
        day = int(days_ns[run[0]])
        path = day_path(root, asset, pd.Timestamp(day, tz="UTC"))
        if day not in days:
            days[day] = _read_day(path, asset)
        found = days[day]
        wanted = hours_ns[run]
        stored = np.ones(len(wanted), bool) if found is None else np.fromiter(
            (int(h) in found.hours for h in wanted), bool, len(wanted))
        if found is None or not stored.all():
            hour = pd.Timestamp(int(wanted[0 if found is None else np.flatnonzero(~stored)[0]]), tz="UTC")
            raise MissingPartitionError(
                f"{asset} has no stored hour {hour:%Y-%m-%d %H:00} UTC at {path}; materialise it first"
            )
        lo = np.searchsorted(found.keys, wanted, side="left")
        hi = np.searchsorted(found.keys, wanted + 1, side="left")
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        if segments and segments[-1][0] is found:
            segments[-1][1].append(rows)
        else:
            segments.append((found, [rows]))
    parts = [found.table.take(np.concatenate(idx)) for found, idx in segments]
    non_empty = [p for p in parts if p.num_rows] or parts[:1]
    if not non_empty:
        return pd.DataFrame()
    table = non_empty[0] if len(non_empty) == 1 else pa.concat_tables(non_empty, promote_options="permissive")
    return table.to_pandas()


def _run_hours(context: OutputContext | InputContext) -> pd.DatetimeIndex | None:
    """The run's hours, from its partition key range, for an hourly asset; None where that does not apply.

    Every hourly input here maps hour to hour (look-backs are read by :class:`HourlyParquetIOManager`,
    not mapped: ``resources.partitions.lookback``; a test holds every asset to it), so an input's
    hours are the run's, as an output's are. Dagster's own ``asset_partitions_time_window`` gets
    the same hours by converting a time window back to partition keys, which on a partition set with
    exclusions walks cron iterators (~4.5 ms a call, 38 calls an hourly run). A run across the
    months with no data is refused before any read or write (``_window_hours``).
    """
    pdef = context.asset_partitions_def if context.has_asset_partitions else None
    if not (isinstance(pdef, TimeWindowPartitionsDefinition) and pdef.cron_schedule == HOURLY_CRON
            and pdef.timezone == "UTC" and pdef.fmt == PARTITION_KEY_FORMAT):
        return None
    try:
        step = context.step_context
    except DagsterInvariantViolationError:  # no step (a context built by hand): Dagster's own conversion
        return None
    if step.run_partitions_def != pdef:  # a run of other partitions (weekly folds, unpartitioned report)
        return None
    keys = step.partition_key_range
    first, last = (pd.to_datetime(k, format=PARTITION_KEY_FORMAT, utc=True) for k in (keys.start, keys.end))
    return pd.date_range(first, last, freq="h", tz="UTC", unit="ns")


class HourlyParquetIOManager(ConfigurableIOManager):
    """Stores hourly-partitioned DataFrames as one Parquet file per UTC day (see the module doc).

    Attributes
    ----------
    root : str
        Local folder or fsspec URL.
    """

    root: str

    def _asset_name(self, context: OutputContext | InputContext) -> str:
        return "/".join(context.asset_key.path)

    def _window_hours(self, context: OutputContext | InputContext) -> pd.DatetimeIndex:
        # imported here, not at module import: the partitions follow PERPETUA_ENV, which the CLI sets
        # from --env after importing this module
        from resources.partitions import refuse_spanning_no_data

        hours = _run_hours(context)
        if hours is None:
            window = context.asset_partitions_time_window
            hours = pd.date_range(window.start, window.end, freq="h", inclusive="left", tz="UTC", unit="ns")
        if len(hours):  # before any read or write: a range across the months with no data is refused, named
            refuse_spanning_no_data(hours[0], hours[-1] + pd.Timedelta(hours=1))
        return hours

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        name = self._asset_name(context)
        write_hours(self.root, name, self._window_hours(context), obj)
        # each hour's own row count is the asset's (assets.metadata.per_hour); the folder is the range's
        context.add_output_metadata({"root": str(UPath(self.root) / name)})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        name = self._asset_name(context)
        from resources.partitions import LOOKBACK_KEY, lookback_start  # see _window_hours

        hours = self._window_hours(context)
        back = int((context.definition_metadata or {}).get(LOOKBACK_KEY, 0))
        if back and len(hours):
            # the input's look-back (resources.partitions.lookback), read here rather than mapped by Dagster
            hours = pd.date_range(lookback_start(hours[0], back), hours[-1], freq="h", tz="UTC", unit="ns")
        return read_hours(self.root, name, hours)
