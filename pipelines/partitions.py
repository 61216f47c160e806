"""The one hourly partitioning every time-indexed asset shares (declared once, here)."""

from __future__ import annotations

import pandas as pd
from dagster import BackfillPolicy, HourlyPartitionsDefinition, TimeWindowPartitionMapping

#: The bundled sample's first full hour: every instrument of the sample universe has a bar.
PARTITIONS_START = "2025-03-06-12:00"
HOURLY = HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
#: One run computes a whole window; the same code serves one hour and two years.
SINGLE_RUN = BackfillPolicy.single_run()


def lookback(hours: int) -> TimeWindowPartitionMapping:
    """Map hour H to the upstream hours [H - hours, H] (missing ones before the start are allowed)."""
    return TimeWindowPartitionMapping(start_offset=-hours, end_offset=0, allow_nonexistent_upstream_partitions=True)


def window_of(context) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The [start, end) UTC window of an asset or check execution, one hour or a whole range."""
    w = context.partition_time_window
    return pd.Timestamp(w.start).tz_convert("UTC"), pd.Timestamp(w.end).tz_convert("UTC")
