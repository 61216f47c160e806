"""Cover a half-open time window ``[start, end)`` with limited pages from a venue.

Venues answer history requests with at most ``limit`` rows, and disagree on which rows they
return when a range holds more (Binance: the oldest from ``startTime``; Bybit: the newest before
``end``). So each request names an explicit sub-window ``[since, until]`` of ``span_ms``. Where
the span holds at most ``limit`` rows on the venue's grid, the venue's ordering does not matter
and a regular 1h grid costs ``ceil(window / (limit * 1h))`` requests. Where rows turn out denser
than the span assumed (a *full* page whose last row leaves room for more), the next request
starts from that last row: correct for oldest-first venues only, so newest-first venues must be
given a span that cannot overflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Row = TypeVar("Row")
log = logging.getLogger(__name__)

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class PageSpec:
    """How one venue endpoint pages.

    Attributes
    ----------
    limit : int
        Most rows the endpoint returns per request (sent as ``limit``).
    span_ms : int
        Length of the sub-window one request asks for, in milliseconds.
    min_gap_ms : int
        Smallest spacing between two rows (1h for hourly bars). ``0`` means rows may share a
        timestamp (trades): a full page is then followed up *from* its last timestamp, not after
        it, and the caller must drop the duplicates by id.
    """

    limit: int
    span_ms: int
    min_gap_ms: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.span_ms < 1 or self.min_gap_ms < 0:
            raise ValueError(f"invalid page spec {self}")


FetchPage = Callable[[int, int, int], Sequence[Row]]  # (since_ms, limit, until_ms) -> rows


def paginate(
    fetch_page: FetchPage[Row],
    ts_of: Callable[[Row], int],
    start_ms: int,
    end_ms: int,
    spec: PageSpec,
) -> list[Row]:
    """All rows with ``start_ms <= ts < end_ms``, oldest page first.

    ``fetch_page(since, limit, until)`` asks the venue for rows with ``since <= ts <= until``;
    rows it returns outside that range are dropped (never trusted to honour the bounds).
    Each iteration moves ``since`` strictly forward, so the loop always ends.
    """
    rows: list[Row] = []
    since = start_ms
    while since < end_ms:
        until = min(end_ms, since + spec.span_ms) - 1
        page = list(fetch_page(since, spec.limit, until))
        kept = [row for row in page if since <= ts_of(row) <= until]
        rows.extend(kept)
        since = _next_since(page, kept, since, until, spec, ts_of)
    return rows


def _next_since(
    page: list[Row],
    kept: list[Row],
    since: int,
    until: int,
    spec: PageSpec,
    ts_of: Callable[[Row], int],
) -> int:
    """Where the next request starts: inside the sub-window after a full page, else after it."""
    if len(page) < spec.limit or not kept:
        return until + 1
    last = max(ts_of(row) for row in kept)
    if last + spec.min_gap_ms > until:
        return until + 1
    if spec.min_gap_ms == 0 and last > since:
        return last  # rows may share ``last``: re-read that millisecond, the caller dedupes
    if spec.min_gap_ms == 0:
        log.warning("a full page of %d rows shares timestamp %d ms: rows beyond it at that "
                    "millisecond cannot be reached by time and are skipped", len(page), last)
    return last + 1
