"""The one hourly partitioning every time-indexed asset shares (declared once, here).

Where the partitions end depends on the environment (``PERPETUA_ENV``, not a secret):

* ``local`` — the bundled sample's two real windows, and nothing else: partitions start at the
  first full hour of window 1 and end at the last candle of window 2, and the months between
  (2025-10-01 → 2026-01-14, withheld from the sample on purpose) are *excluded* from the
  partition set, so the UI counts ~6,200 hours, not ~8,700 with 2,500 "missing", and a backfill
  can only ask for hours that have data.
* ``paper`` / ``live`` — from the same start up to the current hour, as time passes.

The exclusions have a price: Dagster walks an excluded partition set window by window (cron
iterators) instead of by arithmetic. That is why a look-back is not a Dagster partition mapping
here but an input the IO manager extends (:func:`lookback`): mapped, the look-backs cost ~5 s of a
~9 s one-hour run (measured in ``BENCHMARKS.md``).
"""

from __future__ import annotations

import os

import pandas as pd
from dagster import (
    AssetIn,
    BackfillPolicy,
    HourlyPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from resources.exchange.replay import SAMPLE_WINDOWS as REPLAY_WINDOWS

#: The bundled sample's first full hour: every instrument of the sample universe has a bar.
PARTITIONS_START = "2025-03-06-12:00"
FIRST_HOUR = pd.to_datetime(PARTITIONS_START, format="%Y-%m-%d-%H:%M", utc=True)
#: The bundled data's real windows, half-open [first hour, end) in UTC (see data/sample/README.md).
SAMPLE_WINDOWS = REPLAY_WINDOWS
#: The gap between the windows as cron exclusions (hourly ticks): October-December (only 2025
#: lies inside the local partition range) and 1-14 January (only 2026). A test proves the keys
#: are exactly the windows' hours.
GAP_EXCLUSIONS = ("0 * * 10-12 *", "0 * 1-14 1 *")


def environment() -> str:
    return os.environ.get("PERPETUA_ENV", "local")


def data_windows(env: str | None = None) -> tuple[tuple[pd.Timestamp, pd.Timestamp], ...] | None:
    """The windows that have data in ``env`` (None: open-ended, live venues).

    ``PERPETUA_PARTITIONS=open`` asks for open-ended partitions locally too (your own replay data
    beyond the sample's windows; also how ``benchmarks.audit`` measures what the exclusions cost).
    """
    if os.environ.get("PERPETUA_PARTITIONS", "windows") == "open":
        return None
    return SAMPLE_WINDOWS if (env or environment()) == "local" else None


def hourly_partitions(env: str | None = None) -> HourlyPartitionsDefinition:
    """The hourly partitions of ``env``: the sample's windows locally, up to now elsewhere."""
    windows = data_windows(env)
    if windows is None:
        return HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
    return HourlyPartitionsDefinition(
        start_date=PARTITIONS_START,
        end_date=f"{windows[-1][1]:%Y-%m-%d-%H:%M}",
        timezone="UTC",
        exclusions=list(GAP_EXCLUSIONS),
    )


HOURLY = hourly_partitions()
#: One run computes a whole window; the same code serves one hour and two years.
SINGLE_RUN = BackfillPolicy.single_run()


#: The input metadata key that carries a look-back (hours before each hour the IO manager also reads).
LOOKBACK_KEY = "perpetua/lookback_h"


def lookback(hours: int) -> AssetIn:
    """An input that reads the upstream hours [H - hours, H] for each hour H of the run.

    Dagster maps the input hour to hour (the same partitions); the IO manager reads the look-back
    itself (``resources.storage``), from :func:`lookback_start` on: never before the partitions'
    first hour, and never across the months with no data (a look-back never spans a gap).

    Why not a ``TimeWindowPartitionMapping`` look-back: on a partition set with exclusions Dagster
    offsets a time window one partition at a time through cron iterators, several times per input
    and step; with look-backs of 168-1,055 hours that was ~5 s of a ~9 s one-hour run (profiled,
    ``BENCHMARKS.md``). The price: Dagster's partition-level lineage shows hour H of the upstream
    asset, not the hours before it; the look-back is in the input's metadata and the asset's doc.
    """
    if hours < 0:
        raise ValueError(f"a look-back is a number of hours >= 0, got {hours}")
    return AssetIn(metadata={LOOKBACK_KEY: int(hours)})


def lookback_start(first: pd.Timestamp, hours: int, env: str | None = None) -> pd.Timestamp:
    """The first hour a look-back of ``hours`` reads for a run whose first hour is ``first``.

    ``first - hours``, but not before the partitions' first hour, nor before the data window that
    holds ``first`` (what lies across the gap is not this hour's history).
    """
    start = max(first - pd.Timedelta(hours=hours), FIRST_HOUR)
    inside = window_containing(first, env)
    return max(start, inside[0]) if inside is not None else start


def describe_windows(windows) -> str:
    """Windows as their first and last hour, both included (as the per-run lines print them)."""
    return ", ".join(f"{a:%Y-%m-%d %H:00} .. {b - pd.Timedelta(hours=1):%Y-%m-%d %H:00}" for a, b in windows) + " UTC"


class SpansNoDataError(ValueError):
    """A run whose partition range reaches across excluded hours (months with no data)."""


def window_of(context) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The [start, end) UTC window of an asset execution, one hour or a whole range.

    Dagster merges a backfill's ranges across excluded partitions, so a UI backfill of "all" can
    become one run from 2025 to 2026: its window would hold months with no data and its book would
    carry positions across them. Such a run fails here, before any work, naming the split.
    """
    w = context.partition_time_window
    start, end = pd.Timestamp(w.start).tz_convert("UTC"), pd.Timestamp(w.end).tz_convert("UTC")
    refuse_spanning_no_data(start, end)
    return start, end


def refuse_spanning_no_data(start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Raise :class:`SpansNoDataError` where [start, end) reaches across hours with no data (naming the split)."""
    parts = split_by_windows(start, end)
    if data_windows() is not None and parts != [(start, end)]:
        raise SpansNoDataError(
            f"this run's window {describe_windows([(start, end)])} reaches across hours with no data; run each "
            f"data window on its own ({describe_windows(parts)}), e.g. with `perpetua backfill`, which splits it"
        )


def window_containing(hour: pd.Timestamp, env: str | None = None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The data window ``hour`` lies in; None where it lies in no window (or windows are open-ended)."""
    for a, b in data_windows(env) or ():
        if a <= hour < b:
            return a, b
    return None


def partition_hours(start: pd.Timestamp, end: pd.Timestamp, env: str | None = None) -> pd.DatetimeIndex:
    """The hours of [start, end) that are hourly partitions of ``env``.

    Locally these are the data windows' hours, the same set as ``HOURLY``'s keys, computed without
    ``HOURLY.has_partition_key``, which walks the excluded months through cron iterators (~15 ms an
    hour: 2.5 s for a fold's week). Open-ended partitions end at the current hour.
    """
    windows = data_windows(env)
    if windows is None:
        end = min(end, pd.Timestamp.now(tz="UTC").floor("h"))
        return pd.date_range(max(start, FIRST_HOUR), end, freq="h", inclusive="left")
    parts = [pd.date_range(a, b, freq="h", inclusive="left") for a, b in split_by_windows(start, end, env)]
    return parts[0].append(parts[1:]) if parts else pd.DatetimeIndex([], tz="UTC")


def starts_a_window(hour: pd.Timestamp, env: str | None = None) -> bool:
    """Whether ``hour`` is the first hour of a data window after another (the book starts afresh there)."""
    windows = data_windows(env) or ()
    return any(hour == a for a, _ in windows[1:])


def split_by_windows(
    start: pd.Timestamp, end: pd.Timestamp, env: str | None = None
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) cut to the data windows it overlaps (itself where windows are open-ended)."""
    windows = data_windows(env)
    if windows is None:
        return [(start, end)] if start < end else []
    return [(max(start, a), min(end, b)) for a, b in windows if max(start, a) < min(end, b)]


#: The Mondays of the weeks with no data between the windows (excluded from the fold partitions).
def _gap_mondays(windows) -> list[pd.Timestamp]:
    mondays = []
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        week = (end - pd.Timedelta(hours=1)).normalize() - pd.Timedelta(days=(end - pd.Timedelta(hours=1)).weekday())
        week += pd.Timedelta(days=7)
        while week + pd.Timedelta(days=7) <= start:
            mondays.append(week)
            week += pd.Timedelta(days=7)
    return mondays


def fold_partitions(env: str | None = None) -> WeeklyPartitionsDefinition:
    """The walk-forward folds of the ML sleeve: one partition per UTC week (Monday 00:00) with data.

    A week is the fold (``quant.ml.folds``, ``freq="W"``): its models learn from the stored hours
    before it, purged and embargoed, and predict its hours. Weekly rather than monthly: a month
    leaves a model up to five weeks stale in a market that moved 40% in one, and the bundled
    2026 window holds seven weeks but only one whole month. Locally the weeks of the withheld
    months are excluded, as the hours are.
    """
    windows = data_windows(env)
    first = pd.Timestamp(PARTITIONS_START.replace("-12:00", ""), tz="UTC")
    start = f"{first - pd.Timedelta(days=first.weekday()):%Y-%m-%d}"
    if windows is None:
        return WeeklyPartitionsDefinition(start_date=start, day_offset=1, timezone="UTC")
    last = windows[-1][1] - pd.Timedelta(hours=1)
    end = last.normalize() - pd.Timedelta(days=last.weekday()) + pd.Timedelta(days=7)
    return WeeklyPartitionsDefinition(start_date=start, end_date=f"{end:%Y-%m-%d}", day_offset=1, timezone="UTC",
                                      exclusions=[m.to_pydatetime() for m in _gap_mondays(windows)])


FOLDS = fold_partitions()


def fold_window(key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The fold ``key``'s week, [Monday 00:00, next Monday 00:00) UTC."""
    window = FOLDS.time_window_for_partition_key(key)
    return pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
