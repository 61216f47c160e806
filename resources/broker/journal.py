"""The order journal: every intent is written here before anything is sent, with each change of state.

Two small tables beside the kill switch's (the instance's Postgres in production, or a SQLite
file under the instance home; same URL as ``resources.kill_switch``):

* ``perpetua_orders`` — one row per client order id: the intent, the id sent to the venue,
  where the order stands (``resources.broker.base.STATES``), what filled, and ``sends`` (create
  requests that may have reached the venue);
* ``perpetua_order_events`` — one row per change of state, with why (the audit trail
  ``perpetua explain`` reads).

Sending is claimed with a compare-and-set (``journalled``/``not_sent`` -> ``sent``) in one
statement, so two brokers over one journal (a rerun racing the scheduled run) can never both
send an id: only the one whose update changed a row sends. Reasons are stored redacted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from quant.book.orders import OrderIntent
from resources.broker.base import SENDABLE, SENT, STATES, UNSETTLED, OrderReport
from resources.redaction import redact
from resources.sql import engine_for

_META = sa.MetaData()
ORDERS = sa.Table(
    "perpetua_orders",
    _META,
    sa.Column("client_order_id", sa.String(64), primary_key=True),
    sa.Column("venue_client_id", sa.String(64), nullable=False),
    sa.Column("network", sa.String(16), nullable=False),
    sa.Column("venue", sa.String(32), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("qty", sa.Float, nullable=False),
    sa.Column("order_type", sa.String(16), nullable=False),
    sa.Column("limit_price", sa.Float),
    sa.Column("reduce_only", sa.Boolean, nullable=False),
    sa.Column("layer", sa.String(8), nullable=False),
    sa.Column("leg", sa.String(32), nullable=False),
    sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("filled_qty", sa.Float, nullable=False, default=0.0),
    sa.Column("avg_price", sa.Float),
    sa.Column("exchange_order_id", sa.String(64), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("sends", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("network", "venue", "venue_client_id", name="uq_perpetua_orders_venue_id"),
)
EVENTS = sa.Table(
    "perpetua_order_events",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_order_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
#: Relative tolerance when a re-submitted intent is compared with the journalled one.
SAME_QTY_REL = 1e-12


@dataclass(frozen=True)
class Event:
    """One change of state of one order."""

    at: datetime
    state: str
    detail: str


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite drops the zone of a stored datetime; everything stored here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _report(row: sa.Row) -> OrderReport:
    avg = math.nan if row.avg_price is None else float(row.avg_price)
    return OrderReport(row.client_order_id, row.venue_client_id, row.venue, row.symbol, row.side, float(row.qty),
                       row.state, float(row.filled_qty), avg, row.exchange_order_id, row.network, row.reason,
                       int(row.sends))


class OrderJournal:
    """Plain SQLAlchemy access to the order tables (usable from the CLI without Dagster)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = engine_for(url, _META)

    def dispose(self) -> None:
        self._engine.dispose()

    # -- writing ---------------------------------------------------------------------------------
    def open(self, intent: OrderIntent, *, venue_client_id: str, network: str) -> OrderReport:
        """The journal row of ``intent``: written now (``journalled``) or, if it exists, as it stands.

        Raises
        ------
        ValueError
            The id was journalled for a different order (side, size, price, symbol, venue or
            network): a rerun of an hour must reproduce its decisions, never reuse an id.
        """
        cid = intent.client_order_id
        existing = self._row(cid)
        if existing is None:
            now = _now()
            values = dict(
                client_order_id=cid, venue_client_id=venue_client_id, network=network, venue=intent.venue,
                symbol=intent.symbol, side=intent.side, qty=float(intent.qty), order_type=intent.order_type,
                limit_price=intent.limit, reduce_only=bool(intent.reduce_only), layer=intent.layer, leg=intent.leg,
                hour=pd.Timestamp(intent.hour).to_pydatetime(), state=STATES[0], filled_qty=0.0, avg_price=None,
                exchange_order_id="", reason="", sends=0, created_at=now, updated_at=now)
            try:
                with self._engine.begin() as conn:
                    conn.execute(ORDERS.insert().values(**values))
                    conn.execute(EVENTS.insert().values(client_order_id=cid, at=now, state=STATES[0],
                                                        detail=redact(intent.reason)))
            except sa.exc.IntegrityError:  # another broker journalled it first: compare with theirs
                pass
            existing = self._row(cid)
            if existing is None:
                raise RuntimeError(f"{cid}: journalled but not found again in {self._where()}")
        _require_same(existing, intent, venue_client_id, network)
        return _report(existing)

    def claim(self, client_order_id: str) -> bool:
        """Mark the order ``sent`` (``sends`` + 1) if nothing of it reached the venue yet; True if this call did."""
        now = _now()
        with self._engine.begin() as conn:
            changed = conn.execute(
                ORDERS.update()
                .where(ORDERS.c.client_order_id == client_order_id, ORDERS.c.state.in_(sorted(SENDABLE)))
                .values(state=SENT, sends=ORDERS.c.sends + 1, updated_at=now)
            ).rowcount
            if changed:
                conn.execute(EVENTS.insert().values(client_order_id=client_order_id, at=now, state=SENT,
                                                    detail="create request sent"))
        return bool(changed)

    def record(self, client_order_id: str, state: str, reason: str, *, filled_qty: float | None = None,
               avg_price: float | None = None, exchange_order_id: str | None = None, unsent: bool = False) -> OrderReport:
        """Move the order to ``state``; ``unsent`` takes back the send a claim counted (it never left)."""
        if state not in STATES:
            raise ValueError(f"unknown order state {state!r}; one of {STATES}")
        now = _now()
        values: dict[str, object] = {"state": state, "reason": redact(reason), "updated_at": now}
        if filled_qty is not None:
            values["filled_qty"] = float(filled_qty)
        if avg_price is not None and math.isfinite(avg_price):
            values["avg_price"] = float(avg_price)
        if exchange_order_id:
            values["exchange_order_id"] = str(exchange_order_id)
        if unsent:
            values["sends"] = ORDERS.c.sends - 1
        with self._engine.begin() as conn:
            before = conn.execute(sa.select(ORDERS.c.state).where(ORDERS.c.client_order_id == client_order_id)).scalar()
            if before is None:
                raise KeyError(f"{client_order_id} is not in the order journal ({self._where()})")
            conn.execute(ORDERS.update().where(ORDERS.c.client_order_id == client_order_id).values(**values))
            if before != state or reason:
                conn.execute(EVENTS.insert().values(client_order_id=client_order_id, at=now, state=state,
                                                    detail=redact(reason)))
        return self.get(client_order_id)

    # -- reading ---------------------------------------------------------------------------------
    def _row(self, client_order_id: str) -> sa.Row | None:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(ORDERS).where(ORDERS.c.client_order_id == client_order_id)).first()

    def _where(self) -> str:
        return redact(self._engine.url.render_as_string(hide_password=True))

    def get(self, client_order_id: str) -> OrderReport:
        """The order as journalled (``KeyError`` naming the id if it never was)."""
        row = self._row(client_order_id)
        if row is None:
            raise KeyError(f"{client_order_id} is not in the order journal ({self._where()})")
        return _report(row)

    def find(self, network: str, venue: str, venue_client_id: str) -> OrderReport | None:
        """The journalled order sent to ``venue`` under ``venue_client_id``, or None (not ours)."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(ORDERS).where(
                ORDERS.c.network == network, ORDERS.c.venue == venue, ORDERS.c.venue_client_id == venue_client_id)).first()
        return None if row is None else _report(row)

    def orders(self, network: str, *, states: frozenset[str] | None = None) -> list[OrderReport]:
        """Journalled orders of ``network`` (in ``states``), oldest first."""
        query = sa.select(ORDERS).where(ORDERS.c.network == network)
        if states is not None:
            query = query.where(ORDERS.c.state.in_(sorted(states)))
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(ORDERS.c.created_at, ORDERS.c.client_order_id)).all()
        return [_report(r) for r in rows]

    def unsettled(self, network: str) -> list[OrderReport]:
        """Orders the venue may still change or that we have not heard back about."""
        return self.orders(network, states=UNSETTLED)

    def events(self, client_order_id: str) -> list[Event]:
        """Every change of state of the order, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.client_order_id == client_order_id)
                                .order_by(EVENTS.c.id)).all()
        return [Event(_utc(r.at), r.state, r.detail) for r in rows]


def _require_same(row: sa.Row, intent: OrderIntent, venue_client_id: str, network: str) -> None:
    theirs = (row.network, row.venue, row.symbol, row.side, row.order_type, bool(row.reduce_only), row.venue_client_id)
    ours = (network, intent.venue, intent.symbol, intent.side, intent.order_type, bool(intent.reduce_only),
            venue_client_id)
    same_limit = (row.limit_price is None) == (intent.limit is None) and (
        intent.limit is None or math.isclose(row.limit_price, intent.limit, rel_tol=SAME_QTY_REL))
    if theirs != ours or not same_limit or not math.isclose(row.qty, intent.qty, rel_tol=SAME_QTY_REL):
        raise ValueError(
            f"client order id {intent.client_order_id} is journalled for {row.side} {row.qty:g} {row.symbol} on "
            f"{row.network} {row.venue} ({row.order_type}, limit {row.limit_price}); this intent is {intent.side} "
            f"{intent.qty:g} {intent.symbol} on {network} {intent.venue} ({intent.order_type}, limit {intent.limit}): "
            "a rerun of an hour must reproduce its decisions, so this order is not sent")
