"""resources.kill_switch.KillSwitchStore on a throwaway SQLite file: trips persist until a named
person resets them, and a re-sent trip is recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.kill_switch import KillSwitchStore

SOURCE = "perp_ohlcv_1h__not_stale"
PARTITION = "2025-09-01-16:00"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ks.db"


@pytest.fixture
def store(url: str) -> Iterator[KillSwitchStore]:
    s = KillSwitchStore(url)
    yield s
    s.dispose()


def test_clear_initially(store: KillSwitchStore) -> None:
    assert store.is_tripped() is False
    assert store.active() == []


def test_trip_records_source_reason_partition_and_run(store: KillSwitchStore) -> None:
    trip_id = store.trip(SOURCE, "BTC flat for 7 hours", partition=PARTITION, run_id="run-1")
    assert store.is_tripped() is True
    [trip] = store.active()
    assert trip.id == trip_id
    assert (trip.source, trip.reason, trip.partition, trip.run_id) == (
        SOURCE, "BTC flat for 7 hours", PARTITION, "run-1",
    )


def test_same_trip_resent_is_recorded_once(store: KillSwitchStore) -> None:
    first = store.trip(SOURCE, "first report", partition=PARTITION, run_id="run-1")
    second = store.trip(SOURCE, "re-sent by a retry", partition=PARTITION, run_id="run-1")
    assert second == first
    [trip] = store.active()
    assert trip.reason == "first report"  # the original reason is kept


def test_same_trip_without_partition_or_run_is_recorded_once(store: KillSwitchStore) -> None:
    assert store.trip("operator", "manual stop") == store.trip("operator", "manual stop")
    assert len(store.active()) == 1


@pytest.mark.parametrize(
    ("source", "partition", "run_id"),
    [
        ("other_check", PARTITION, "run-1"),
        (SOURCE, "2025-09-01-17:00", "run-1"),
        (SOURCE, PARTITION, "run-2"),
        (SOURCE, None, "run-1"),
        (SOURCE, PARTITION, None),
    ],
)
def test_a_different_trip_is_recorded_separately(
    store: KillSwitchStore, source: str, partition: str | None, run_id: str | None
) -> None:
    first = store.trip(SOURCE, "a", partition=PARTITION, run_id="run-1")
    other = store.trip(source, "b", partition=partition, run_id=run_id)
    assert other != first
    assert [t.reason for t in store.active()] == ["a", "b"]  # oldest first


def test_state_persists_across_store_objects(url: str, store: KillSwitchStore) -> None:
    store.trip(SOURCE, "breach", partition=PARTITION, run_id="run-1")
    store.dispose()
    fresh = KillSwitchStore(url)
    try:
        assert fresh.is_tripped() is True
        assert [t.reason for t in fresh.active()] == ["breach"]
        # The re-sent trip is recognised by the new object too.
        fresh.trip(SOURCE, "breach", partition=PARTITION, run_id="run-1")
        assert len(fresh.active()) == 1
    finally:
        fresh.dispose()


@pytest.mark.parametrize("by", ["", "   ", "\t\n"])
def test_reset_requires_a_name(store: KillSwitchStore, by: str) -> None:
    store.trip(SOURCE, "breach")
    with pytest.raises(ValueError, match="must name the person"):
        store.reset(by)
    assert store.is_tripped() is True  # nothing was cleared


def test_reset_clears_every_active_trip_and_counts_them(store: KillSwitchStore) -> None:
    store.trip(SOURCE, "a", partition=PARTITION)
    store.trip("risk__drawdown", "b", partition=PARTITION)
    assert store.reset("alice", note="checked the feed") == 2
    assert store.is_tripped() is False
    assert store.active() == []
    assert store.reset("alice") == 0  # nothing left to clear


def test_reset_is_seen_by_another_store_object(url: str, store: KillSwitchStore) -> None:
    store.trip(SOURCE, "breach")
    other = KillSwitchStore(url)
    try:
        assert other.reset("bob") == 1
    finally:
        other.dispose()
    assert store.is_tripped() is False


def test_trip_after_reset_trips_again(store: KillSwitchStore) -> None:
    first = store.trip(SOURCE, "breach", partition=PARTITION, run_id="run-1")
    store.reset("alice")
    again = store.trip(SOURCE, "breach", partition=PARTITION, run_id="run-1")
    assert again != first
    assert store.is_tripped() is True
    assert [t.id for t in store.active()] == [again]


def test_tripped_at_is_timezone_aware_utc(store: KillSwitchStore) -> None:
    store.trip(SOURCE, "breach")
    [trip] = store.active()
    assert trip.tripped_at.tzinfo is not None
    assert trip.tripped_at.utcoffset().total_seconds() == 0
