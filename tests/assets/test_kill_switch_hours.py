"""Which hours the active trips hold (``assets.book.kill_switch_from``): from a trip's first hour on, every hour for a trip without one."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from assets.book import kill_switch_from
from resources.kill_switch import Trip

H = pd.Timestamp("2026-02-05 14:00", tz="UTC")


def trip(partition: str | None, source: str = "check:perp_ohlcv_1h__continuity") -> Trip:
    return Trip(1, datetime(2026, 2, 6, tzinfo=UTC), source, "reason", partition, None)


def test_not_tripped_holds_nothing():
    assert kill_switch_from([]) is None


@pytest.mark.parametrize(("partition", "first"), [
    ("2026-02-05-14:00", H),  # one hour
    ("2026-02-05-14:00..2026-02-05-16:00", H),  # a range of failing hours: from its first
])
def test_a_check_trip_holds_from_its_first_failing_hour(partition, first):
    assert kill_switch_from([trip(partition)]) == first


def test_several_trips_hold_from_the_earliest():
    trips = [trip("2026-02-06-00:00"), trip("2026-02-05-14:00..2026-02-05-15:00"), trip("2026-02-07-03:00")]
    assert kill_switch_from(trips) == H


@pytest.mark.parametrize("partition", [None, "", "garbage", "2026-02-05"])
def test_an_operator_trip_or_an_unreadable_hour_holds_every_hour(partition):
    held = kill_switch_from([trip(partition, source="operator:alice")])
    assert held <= pd.Timestamp("1970-01-01", tz="UTC")
    # and it wins over any check trip: nothing earlier is left open
    assert kill_switch_from([trip("2026-02-05-14:00"), trip(partition)]) == held
