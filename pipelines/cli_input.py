"""What ``perpetua`` accepts: ISO-8601 UTC hours, positive counts, windows that have data.

Every refusal happens before an instance is opened or a run is started, and names the accepted
form and the data's dates, so a typo never turns into a silent shift, a Dagster stack trace or a
run that "passes all checks" over no data.
"""

from __future__ import annotations

import argparse
from datetime import datetime

import pandas as pd

#: How an hour is written on the command line.
ACCEPTED_FORM = "YYYY-MM-DD or YYYY-MM-DDTHH:00Z (UTC; e.g. 2026-02-01 or 2026-02-01T13:00Z)"


def data_range() -> str:
    """The hours with data in the current environment, as every refusal names them."""
    from resources.partitions import HOURLY, data_windows, describe_windows

    windows = data_windows()
    if windows is None:
        return f"from {pd.Timestamp(HOURLY.start).tz_convert('UTC'):%Y-%m-%d %H:00} UTC to the last complete hour"
    return describe_windows(windows)


def utc_hour(value: str) -> pd.Timestamp:
    """An ISO-8601 date or time as a UTC hour; naive times are UTC, other offsets are converted.

    Refuses anything that is not ISO-8601 (``24/09/2025``, ``01/02/2025``: day or month first?) and
    times that are not on the hour (``2025-09-24T00:30`` is not floored to 00:00).
    """
    try:
        ts = pd.Timestamp(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO-8601 date or time: write {ACCEPTED_FORM}; the data's hours are {data_range()}"
        ) from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.floor("h"):
        raise argparse.ArgumentTypeError(f"{value!r} is not on the hour (partitions are whole UTC hours: {ACCEPTED_FORM})")
    return ts


def _whole(value: str, need: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} must be {need}") from None


def positive_count(value: str) -> int:
    """``--top``, ``--limit``: a whole number of rows, 1 or more."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} must be a whole number of rows, 1 or more") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a whole number of rows, 1 or more")
    return n


def positive_int(value: str) -> int:
    n = _whole(value, "a positive whole number of hours")
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive whole number of hours")
    return n


def non_negative_int(value: str) -> int:
    n = _whole(value, "a whole number, 0 or more")
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return n


def window_with_data(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The parts of [start, end) with data (``pipelines.runner.check_window``); a ValueError naming the data otherwise.

    Where partitions run to the current hour (paper, live), a window reaching past the last complete
    hour is refused here too: those partitions do not exist yet.
    """
    from pipelines.runner import check_window
    from resources.partitions import data_windows

    if data_windows() is None:
        now = pd.Timestamp.now(tz="UTC").floor("h")  # the hour in progress is not a partition yet
        if end > now:
            raise ValueError(f"{end:%Y-%m-%d %H:00} UTC is in the future: the partitions run {data_range()} "
                             f"({now - pd.Timedelta(hours=1):%Y-%m-%d %H:00} UTC; --end is exclusive)")
    try:
        return check_window(start, end)
    except ValueError as exc:
        text, named = str(exc), data_range()
        raise ValueError(text if named in text else f"{text}; the data's hours are {named}") from None
