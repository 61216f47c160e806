"""Hourly Parquet storage: one file per asset per hour under a configurable root.

``<root>/<asset>/<YYYY-MM-DD>/<HH>.parquet``. The root is a local folder by default; any
fsspec/UPath URL (``s3://bucket/perpetua``, ``gs://…``, ``memory://…``) works unchanged, so
object storage serves when one machine is outgrown.

Writing a window rewrites every hour in it — an hour with no rows gets an empty file with the
full schema — so re-materialising hour H overwrites hour H and nothing is ever appended.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, OutputContext
from upath import UPath

HOUR_COLUMN = "hour"


class MissingPartitionError(RuntimeError):
    """An upstream hour was asked for that has never been materialised."""


def hour_path(root: str, asset: str, hour: pd.Timestamp) -> UPath:
    return UPath(root) / asset / f"{hour:%Y-%m-%d}" / f"{hour:%H}.parquet"


def frame_to_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic Parquet bytes (same frame -> same bytes), no pandas index stored."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def split_by_hour(df: pd.DataFrame, hours: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """One (hour, rows) per hour in ``hours``; raises if a row falls outside them."""
    if HOUR_COLUMN not in df.columns:
        raise ValueError(f"hourly frame needs an '{HOUR_COLUMN}' column; got {list(df.columns)}")
    keys = df[HOUR_COLUMN].to_numpy(dtype="datetime64[ns]").view("int64")
    outside = ~np.isin(keys, hours.as_unit("ns").asi8)
    if outside.any():
        bad = df.loc[outside, HOUR_COLUMN].iloc[0]
        raise ValueError(f"row for hour {bad} lies outside the window {hours[0]} .. {hours[-1]}")
    order = np.argsort(keys, kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    keys = keys[order]
    edges = np.searchsorted(keys, hours.as_unit("ns").asi8, side="left")
    ends = np.append(edges[1:], len(df))
    return [(h, df.iloc[a:b].reset_index(drop=True)) for h, a, b in zip(hours, edges, ends, strict=True)]


class HourlyParquetIOManager(ConfigurableIOManager):
    """Stores hourly-partitioned DataFrames as one Parquet file per hour.

    Attributes
    ----------
    root : str
        Local folder or fsspec URL.
    """

    root: str

    def _asset_name(self, context: OutputContext | InputContext) -> str:
        return "/".join(context.asset_key.path)

    def _window_hours(self, context: OutputContext | InputContext) -> pd.DatetimeIndex:
        window = context.asset_partitions_time_window
        return pd.date_range(window.start, window.end, freq="h", inclusive="left", tz="UTC", unit="ns")

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        name = self._asset_name(context)
        hours = self._window_hours(context)
        for hour, rows in split_by_hour(obj, hours):
            path = hour_path(self.root, name, hour)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(frame_to_bytes(rows))
        context.add_output_metadata({"rows": len(obj), "hours": len(hours), "root": str(UPath(self.root) / name)})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        name = self._asset_name(context)
        return read_hours(self.root, name, self._window_hours(context))


def read_hours(root: str, asset: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """Concatenate the stored hours of ``asset``; a never-materialised hour is an error."""
    parts = []
    for hour in hours:
        path = hour_path(root, asset, hour)
        if not path.exists():
            raise MissingPartitionError(f"{asset} has no stored hour {hour:%Y-%m-%d %H:00} UTC at {path}; materialise it first")
        parts.append(pq.read_table(io.BytesIO(path.read_bytes())).to_pandas())
    non_empty = [p for p in parts if len(p)]
    if not non_empty:
        return parts[0] if parts else pd.DataFrame()
    return pd.concat(non_empty, ignore_index=True) if len(non_empty) > 1 else non_empty[0]
