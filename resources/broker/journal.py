"""The order journal: every intent is written here before anything is sent, with each change of state.

Two small tables beside the kill switch's (the instance's Postgres in production, or a SQLite
file under the instance home; same URL as ``resources.kill_switch``):

* ``perpetua_orders`` — one row per client order id: the intent, the id sent to the venue,
  where the order stands (``resources.broker.base.STATES``), what filled, and ``sends`` (create
  requests that may have reached the venue);
* ``perpetua_order_events`` — one row per change of state, with why (the audit trail
  ``perpetua explain`` reads);
* ``perpetua_order_resolutions`` — one row per event a person recorded by hand
  (``perpetua orders resolve``: an order the broker left ``unknown`` settled after checking the
  venue), naming who and why. Nothing in any of the three is ever deleted.

Sending is claimed with a compare-and-set (``journalled``/``not_sent`` -> ``sent``) in one
statement, so two brokers over one journal (a rerun racing the scheduled run) can never both
send an id: only the one whose update changed a row sends. A person's resolution is a
compare-and-set too (on the state it was checked against). Reasons are stored redacted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from quant.book.orders import OrderIntent
from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    FILLED,
    FINAL,
    NOT_SENT,
    PARTIALLY_FILLED,
    REJECTED,
    SENDABLE,
    SENT,
    STATES,
    UNKNOWN,
    UNSETTLED,
    OrderReport,
)
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
RESOLUTIONS = sa.Table(
    "perpetua_order_resolutions",
    _META,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),  # its perpetua_order_events row
    sa.Column("client_order_id", sa.String(64), nullable=False, index=True),
    sa.Column("resolved_by", sa.String(128), nullable=False),
    sa.Column("from_state", sa.String(24), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)
#: Relative tolerance when a re-submitted intent is compared with the journalled one.
SAME_QTY_REL = 1e-12
#: What a person may settle an order as, after checking the venue (``resolve``).
RESOLVED_STATES = (FILLED, CANCELED, REJECTED, NOT_SENT)


@dataclass(frozen=True)
class Event:
    """One change of state of one order."""

    at: datetime
    state: str
    detail: str
    by: str = ""  # the person who recorded it by hand (``resolve``); "" for the broker's own events


@dataclass(frozen=True)
class Entry:
    """One journalled order as an operator reads it: the report, the intent's details, when it last changed."""

    report: OrderReport
    last_event_at: datetime
    created_at: datetime
    hour: datetime
    order_type: str
    limit_price: float | None
    reduce_only: bool
    layer: str
    leg: str


class ResolutionRefused(ValueError):
    """A resolution the journal will not record (nothing was written); the message says why."""


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite drops the zone of a stored datetime; everything stored here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _report(row: sa.Row) -> OrderReport:
    avg = math.nan if row.avg_price is None else float(row.avg_price)
    return OrderReport(row.client_order_id, row.venue_client_id, row.venue, row.symbol, row.side, float(row.qty),
                       row.state, float(row.filled_qty), avg, row.exchange_order_id, row.network, row.reason,
                       int(row.sends), row.order_type)


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
        """Move the order to ``state``; ``unsent`` takes back the send a claim counted (it never left).

        An order already final (:data:`FINAL`, e.g. settled by a person while a lookup was under way)
        is never moved out of it: what the broker saw is kept as an event and the state stays."""
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
            if before in FINAL and state != before:
                conn.execute(EVENTS.insert().values(
                    client_order_id=client_order_id, at=now, state=before,
                    detail=redact(f"kept {before}: the broker saw {state} after the order was final ({reason})")))
                return _report(conn.execute(sa.select(ORDERS).where(ORDERS.c.client_order_id == client_order_id)).first())
            conn.execute(ORDERS.update().where(ORDERS.c.client_order_id == client_order_id).values(**values))
            if before != state or reason:
                conn.execute(EVENTS.insert().values(client_order_id=client_order_id, at=now, state=state,
                                                    detail=redact(reason)))
        return self.get(client_order_id)

    def resolve(self, client_order_id: str, state: str, *, by: str, note: str = "", filled_qty: float | None = None,
                avg_price: float | None = None) -> OrderReport:
        """A person settles a non-final order as ``state`` (:data:`RESOLVED_STATES`) after checking the venue.

        One transaction records an event naming ``by`` and ``note`` and moves the state, only if the
        order still stands as it was checked (a compare-and-set on its state and sends). ``filled``
        needs ``filled_qty`` and ``avg_price`` (positive; the quantity at most the order's);
        ``canceled`` may carry what traded before the cancel; ``not_sent`` gives the send back (the
        venue never had it: a later submit of the same intent sends it, once). An order nothing of
        which reached the venue (``journalled``, ``not_sent``) can only be cancelled, without a fill.

        Raises
        ------
        ResolutionRefused
            An id not journalled, an order already final or already resolved by hand (unchanged
            since), no person named, a state not in :data:`RESOLVED_STATES`, or quantities that
            contradict the order. Nothing is written.
        """
        who, now = by.strip(), _now()
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(ORDERS).where(ORDERS.c.client_order_id == client_order_id)).first()
            if row is None:
                raise ResolutionRefused(f"{client_order_id} is not in the order journal ({self._where()}); "
                                        "nothing was written")
            last = conn.execute(_events_of(client_order_id).order_by(EVENTS.c.id.desc()).limit(1)).first()
            problem = resolution_problem(row, state, who, filled_qty, avg_price, last)
            if problem:
                raise ResolutionRefused(f"{client_order_id} {problem}; nothing was written")
            detail = redact(_resolution_detail(row.state, state, who, note, filled_qty, avg_price))
            values = {"state": state, "reason": detail, "updated_at": now, **_resolution_values(state, filled_qty, avg_price)}
            changed = conn.execute(ORDERS.update().where(
                ORDERS.c.client_order_id == client_order_id, ORDERS.c.state == row.state, ORDERS.c.sends == row.sends,
            ).values(**values)).rowcount
            if not changed:  # the broker moved it since it was read: the person checked another order
                raise ResolutionRefused(f"{client_order_id} changed while it was being resolved (it was {row.state}): "
                                        "look at it again; nothing was written")
            event_id = conn.execute(EVENTS.insert().values(client_order_id=client_order_id, at=now, state=state,
                                                           detail=detail)).inserted_primary_key[0]
            conn.execute(RESOLUTIONS.insert().values(event_id=event_id, client_order_id=client_order_id,
                                                     resolved_by=redact(who), from_state=row.state, note=redact(note)))
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

    def working_before(self, network: str, hour: datetime) -> list[OrderReport]:
        """Orders of ``network`` decided in an hour before ``hour`` that may still work on the venue.

        The book's intents of decision hour D are working orders for its execution hour D + 1h only
        (and the book issues fresh ones each hour), so when hour ``hour``'s orders go out, every
        order of an earlier decision hour that is not final, and reached (or may have reached) the
        venue (:data:`UNSETTLED`: sent, unknown, acknowledged, partially filled), is due to be
        cancelled. Newest decision hour first: the hour just ended is what the next booking depends
        on, and a run short of time leaves the oldest (long-unknown) ones for the next.
        """
        query = (sa.select(ORDERS).where(ORDERS.c.network == network, ORDERS.c.state.in_(sorted(UNSETTLED)),
                                         ORDERS.c.hour < _utc(pd.Timestamp(hour).to_pydatetime()))
                 .order_by(ORDERS.c.hour.desc(), ORDERS.c.created_at, ORDERS.c.client_order_id))
        with self._engine.connect() as conn:
            return [_report(r) for r in conn.execute(query).all()]

    def unsettled(self, network: str) -> list[OrderReport]:
        """Orders the venue may still change or that we have not heard back about."""
        return self.orders(network, states=UNSETTLED)

    def events(self, client_order_id: str) -> list[Event]:
        """Every change of state of the order, oldest first (``by`` names the person of a resolution)."""
        with self._engine.connect() as conn:
            rows = conn.execute(_events_of(client_order_id).order_by(EVENTS.c.id)).all()
        return [Event(_utc(r.at), r.state, r.detail, r.by or "") for r in rows]

    def entries(self, *, states: frozenset[str] | None = None, since: datetime | None = None,
                limit: int | None = None) -> tuple[list[Entry], int]:
        """Journalled orders of every network, ``unknown`` first, then the latest change first; and how many match.

        ``states``: only those; ``since``: only orders whose last event is at or after it (UTC);
        ``limit``: at most that many entries (the count is of every match).
        """
        query, last_at = _entries_query()
        if states is not None:
            query = query.where(ORDERS.c.state.in_(sorted(states)))
        if since is not None:
            query = query.where(last_at >= _utc(since))
        order = (sa.case((ORDERS.c.state == UNKNOWN, 0), else_=1), last_at.desc(), ORDERS.c.client_order_id)
        with self._engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())
            rows = conn.execute(query.order_by(*order).limit(limit)).all()
        return [_entry(r) for r in rows], total

    def entry(self, client_order_id: str) -> Entry:
        """One order as :meth:`entries` lists it (``KeyError`` naming the id if it was never journalled)."""
        query, _ = _entries_query()
        with self._engine.connect() as conn:
            row = conn.execute(query.where(ORDERS.c.client_order_id == client_order_id)).first()
        if row is None:
            raise KeyError(f"{client_order_id} is not in the order journal ({self._where()})")
        return _entry(row)

    def where(self) -> str:
        """The journal's database URL, password hidden and redacted (safe to print)."""
        return self._where()


def _events_of(client_order_id: str) -> sa.Select:
    """The order's events, each with the person who recorded it by hand (``by``: NULL for the broker's)."""
    return (sa.select(EVENTS.c.id, EVENTS.c.at, EVENTS.c.state, EVENTS.c.detail, RESOLUTIONS.c.resolved_by.label("by"))
            .select_from(EVENTS.outerjoin(RESOLUTIONS, RESOLUTIONS.c.event_id == EVENTS.c.id))
            .where(EVENTS.c.client_order_id == client_order_id))


def _entries_query() -> tuple[sa.Select, sa.ColumnElement]:
    """Every order with the time of its last event (the row's own ``updated_at`` where it has none)."""
    last = (sa.select(EVENTS.c.client_order_id, sa.func.max(EVENTS.c.at).label("last_at"))
            .group_by(EVENTS.c.client_order_id).subquery())
    last_at = sa.func.coalesce(last.c.last_at, ORDERS.c.updated_at)
    query = sa.select(ORDERS, last_at.label("last_event_at")).select_from(
        ORDERS.outerjoin(last, last.c.client_order_id == ORDERS.c.client_order_id))
    return query, last_at


def _entry(row: sa.Row) -> Entry:
    return Entry(_report(row), _utc(row.last_event_at), _utc(row.created_at), _utc(row.hour), row.order_type,
                 None if row.limit_price is None else float(row.limit_price), bool(row.reduce_only), row.layer, row.leg)


# -- resolutions by hand ---------------------------------------------------------------------------
def resolution_problem(row: sa.Row, state: str, by: str, filled_qty: float | None, avg_price: float | None,
                       last: sa.Row | None) -> str:
    """Why the order ``row`` may not be resolved as ``state`` by ``by`` ("" when it may); ``last``: its latest event."""
    if state not in RESOLVED_STATES:
        return f"cannot be resolved as {state!r}: it can be resolved as one of {', '.join(RESOLVED_STATES)}"
    if not by:
        return "cannot be resolved without naming the person settling it (--by)"
    if row.state in FINAL:
        return f"is already {row.state}, a final state: a final order is never changed"
    if last is not None and last.by:
        return (f"was already resolved by hand by {last.by} at {_utc(last.at):%Y-%m-%d %H:%M:%S} UTC (as {last.state}) "
                "and has not changed since: resolving twice is refused")
    if state == row.state:
        return f"is already {state}"
    if row.state in SENDABLE and (state != CANCELED or filled_qty or avg_price is not None):
        return (f"is {row.state}: nothing of it reached the venue, so it can only be cancelled (without a fill), "
                "and then it is never sent")
    if state in (REJECTED, NOT_SENT):
        return _nothing_traded_problem(row, state, filled_qty, avg_price)
    return _quantity_problem(row, state, filled_qty, avg_price)


def _nothing_traded_problem(row: sa.Row, state: str, filled_qty: float | None, avg_price: float | None) -> str:
    if filled_qty is not None or avg_price is not None:
        return f"cannot be {state} with a fill: --filled-qty and --price go with filled or cancelled"
    if row.filled_qty > 0:
        return f"cannot be {state}: the journal records {row.filled_qty:.12g} of it filled"
    if state == NOT_SENT and (row.state in (ACKNOWLEDGED, PARTIALLY_FILLED) or row.exchange_order_id):
        return (f"cannot be not_sent: the venue acknowledged it ({row.state}, exchange order id "
                f"{row.exchange_order_id or 'none'}), so it was sent")
    return ""


def _quantity_problem(row: sa.Row, state: str, filled_qty: float | None, avg_price: float | None) -> str:
    if state == FILLED and not (filled_qty is not None and filled_qty > 0 and avg_price is not None and avg_price > 0):
        return "cannot be resolved as filled without a positive --filled-qty and --price (what the venue shows)"
    if filled_qty is None:
        return "" if avg_price is None else "has --price without --filled-qty"
    if not math.isfinite(filled_qty) or filled_qty < 0:
        return f"cannot have filled {filled_qty!r}: a filled quantity is 0 or more"
    if filled_qty > 0 and not (avg_price is not None and math.isfinite(avg_price) and avg_price > 0):
        return "needs a positive --price for what filled"
    if filled_qty > row.qty * (1 + SAME_QTY_REL):
        return f"cannot have filled {filled_qty:.12g}: the order is for {row.qty:.12g}"
    if filled_qty < row.filled_qty * (1 - SAME_QTY_REL):
        return f"cannot have filled {filled_qty:.12g}: the journal already records {row.filled_qty:.12g} filled"
    return ""


def _resolution_values(state: str, filled_qty: float | None, avg_price: float | None) -> dict[str, object]:
    values: dict[str, object] = {}
    if filled_qty is not None:
        values["filled_qty"] = float(filled_qty)
        if filled_qty > 0 and avg_price is not None:
            values["avg_price"] = float(avg_price)
    if state == NOT_SENT:
        values["sends"] = 0  # a person saw the venue never had it: no create request reached it
    return values


def _resolution_detail(before: str, state: str, by: str, note: str, filled_qty: float | None,
                       avg_price: float | None) -> str:
    text = f"resolved by hand by {by} as {state} (was {before})"
    if filled_qty:
        text += f": {filled_qty:.12g} filled at {avg_price:.12g}"
    if state == NOT_SENT:
        text += "; the venue never had it: a later submit of the intent sends it once"
    return text + (f"; note: {note.strip()}" if note.strip() else "")


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
