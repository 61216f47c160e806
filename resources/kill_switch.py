"""The persistent kill switch: once tripped, every order path stays blocked until a person resets it.

Trips are rows in a small table in the instance's own database (Postgres in production) or in a
SQLite file beside the instance (the default). A failed blocking check, a risk breach or an
operator can trip it; only ``perpetua kill-switch reset --by NAME`` clears it, and the reset is
recorded with who did it and why.

Which hours a trip holds: a trip that names hours (a failed check, a source that could not be
read) holds new entries from the first of them on, for every later hour, until the reset; a trip
that names none (an operator's) holds every hour. Re-computing history BEFORE a bad hour is not an
order path into the future: it reproduces what the book did then (``assets.book.kill_switch_from``).
While an hour is held, entries approved the hour before are cancelled, not filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Optional

import sqlalchemy as sa
from dagster import ConfigurableResource

from resources.alerts import AlertHook
from resources.redaction import redact
from resources.sql import engine_for

_META = sa.MetaData()
TRIPS = sa.Table(
    "perpetua_kill_switch",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tripped_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("partition", sa.String(64)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("reset_at", sa.DateTime(timezone=True)),
    sa.Column("reset_by", sa.String(200)),
    sa.Column("reset_note", sa.Text),
)


@dataclass(frozen=True)
class Trip:
    """One recorded trip."""

    id: int
    tripped_at: datetime
    source: str
    reason: str
    partition: str | None
    run_id: str | None


class KillSwitchStore:
    """Plain SQLAlchemy access to the trip table (usable from the CLI without Dagster)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = engine_for(url, _META)

    def trip(self, source: str, reason: str, *, partition: str | None = None, run_id: str | None = None) -> int:
        """Record a trip; the same (source, partition, run) is recorded once, however often it is re-sent.

        ``reason`` is stored redacted (:func:`resources.redaction.redact`): it often quotes an
        exchange error, whose venue text can carry a signed URL or a key.
        """
        return self.record(source, reason, partition=partition, run_id=run_id)[0]

    def record(self, source: str, reason: str, *, partition: str | None = None,
               run_id: str | None = None) -> tuple[int, bool]:
        """:meth:`trip`, also saying whether this call recorded it (False: already recorded, not reset)."""
        with self._engine.begin() as conn:
            existing = conn.execute(
                sa.select(TRIPS.c.id).where(
                    TRIPS.c.source == source,
                    TRIPS.c.partition.is_(None) if partition is None else TRIPS.c.partition == partition,
                    TRIPS.c.run_id.is_(None) if run_id is None else TRIPS.c.run_id == run_id,
                    TRIPS.c.reset_at.is_(None),
                )
            ).scalar()
            if existing is not None:
                return int(existing), False
            result = conn.execute(
                TRIPS.insert().values(
                    tripped_at=datetime.now(UTC), source=source, reason=redact(reason), partition=partition, run_id=run_id
                )
            )
            return int(result.inserted_primary_key[0]), True

    def active(self) -> list[Trip]:
        """Trips not yet reset, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(TRIPS).where(TRIPS.c.reset_at.is_(None)).order_by(TRIPS.c.id)).all()
        return [Trip(r.id, _utc(r.tripped_at), r.source, r.reason, r.partition, r.run_id) for r in rows]

    def is_tripped(self) -> bool:
        return bool(self.active())

    def reset(self, by: str, note: str = "") -> int:
        """Clear every active trip; returns how many. ``by`` must name a person."""
        if not by or not by.strip():
            raise ValueError("a kill-switch reset must name the person resetting it (--by)")
        with self._engine.begin() as conn:
            result = conn.execute(
                TRIPS.update()
                .where(TRIPS.c.reset_at.is_(None))
                .values(reset_at=datetime.now(UTC), reset_by=by.strip(), reset_note=note)
            )
            return int(result.rowcount)

    def dispose(self) -> None:
        self._engine.dispose()


def _utc(value: datetime) -> datetime:
    """SQLite drops the zone of a stored datetime; everything stored here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class KillSwitch(ConfigurableResource):
    """Dagster resource over :class:`KillSwitchStore`.

    Attributes
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:////abs/path/kill_switch.db`` or the instance's Postgres URL.
    alerts : AlertHook, optional
        Where a new trip is announced (a webhook, a Telegram bot); unset or unconfigured: silent.
    """

    url: str
    alerts: Optional[AlertHook] = None  # noqa: UP045 - Dagster resolves nested resources by this form

    def store(self) -> KillSwitchStore:
        return _store(self.url)

    def trip(self, source: str, reason: str, *, partition: str | None = None, run_id: str | None = None) -> int:
        """Record a trip (:meth:`KillSwitchStore.trip`) and announce it once, when it is new."""
        trip_id, new = self.store().record(source, reason, partition=partition, run_id=run_id)
        if new and self.alerts is not None:
            where = f" at {partition}" if partition else ""
            self.alerts.send(f"Perpetua kill switch tripped by {source}{where}",
                             f"{redact(reason)}\nOrders stay blocked until a person runs: perpetua kill-switch reset --by NAME",
                             source=source)
        return trip_id


_STORES: dict[str, KillSwitchStore] = {}


def _store(url: str) -> KillSwitchStore:
    if url not in _STORES:
        _STORES[url] = KillSwitchStore(url)
    return _STORES[url]
