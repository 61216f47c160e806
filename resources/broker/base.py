"""The ``Broker`` protocol shared by the paper fills and the live path, and what it reports.

An order's life, as the journal records it (:mod:`resources.broker.journal`)::

    journalled -> sent -> acknowledged | partially_filled | filled | canceled | expired | rejected
                     \\-> unknown   (sent, the answer lost: looked up by client order id, never resent)
                     \\-> not_sent  (the request provably never reached the venue: safe to send once)

``sent`` is written *before* the request leaves, so a process killed mid-call leaves ``sent``
and the next broker reconciles it by client order id instead of sending it again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from quant.book.orders import OrderIntent
from resources.exchange.errors import PermanentExchangeError

JOURNALLED = "journalled"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
PARTIALLY_FILLED = "partially_filled"
FILLED = "filled"
CANCELED = "canceled"
EXPIRED = "expired"
REJECTED = "rejected"
UNKNOWN = "unknown"
NOT_SENT = "not_sent"
STATES = (JOURNALLED, SENT, ACKNOWLEDGED, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED, UNKNOWN, NOT_SENT)
#: A claim may send only from these: nothing of this order has reached the venue.
SENDABLE = frozenset({JOURNALLED, NOT_SENT})
#: The venue may still change these (or we do not know yet): reconcile looks them up.
UNSETTLED = frozenset({SENT, UNKNOWN, ACKNOWLEDGED, PARTIALLY_FILLED})
FINAL = frozenset({FILLED, CANCELED, EXPIRED, REJECTED})
#: Order types the live path routes (a ``stop`` goes to the venue's conditional-order service:
#: :mod:`resources.broker.triggers`).
ROUTED_ORDER_TYPES = ("market", "limit", "stop")


@dataclass(frozen=True)
class OrderReport:
    """Where one order stands, from the journal and (for the live path) the venue.

    Attributes
    ----------
    client_order_id : the intent's deterministic id (``quant.book.orders.client_order_id``).
    venue_client_id : the id sent in the venue's own field (equal to ``client_order_id`` unless
        the venue refuses its length or characters, :mod:`resources.broker.venue_ids`).
    venue, symbol, side : as in the intent.
    qty : the intent's quantity (base units); ``filled_qty`` what traded so far.
    state : one of :data:`STATES`.
    avg_price : average fill price (quote currency), NaN when nothing filled.
    exchange_order_id : the venue's own id, "" until it answered.
    network : ``"paper"``, ``"demo"`` or ``"live"``.
    reason : why the order is in this state, in words (venue messages redacted).
    sends : create requests that may have reached the venue (never more than one).
    order_type : the intent's (``market``, ``limit``, ``stop``): a stop is looked up and cancelled
        through the venue's conditional-order endpoints; "" where the venue listed an order not journalled.
    """

    client_order_id: str
    venue_client_id: str
    venue: str
    symbol: str
    side: str
    qty: float
    state: str
    filled_qty: float = 0.0
    avg_price: float = math.nan
    exchange_order_id: str = ""
    network: str = ""
    reason: str = ""
    sends: int = 0
    order_type: str = ""


@dataclass(frozen=True)
class Position:
    """One open position on a venue: signed base units (long > 0), entry and mark in quote currency."""

    venue: str
    symbol: str
    qty: float
    entry_price: float
    mark_price: float = math.nan


class OrderRejected(PermanentExchangeError):
    """The venue (or ccxt, before sending) refused the order; journalled as ``rejected``, never resent."""

    def __init__(self, message: str, *, call: str = "", report: OrderReport | None = None) -> None:
        super().__init__(message, call=call)
        self.report = report


@runtime_checkable
class Broker(Protocol):
    """Submit intents, look orders up, cancel them, list what is open: paper and live alike.

    Every implementation de-duplicates on ``client_order_id``: submitting an intent again returns
    where the first submission stands and never places a second order.
    """

    def submit(self, intent: OrderIntent) -> OrderReport:
        """Journal ``intent``, then place it (once); raises :class:`OrderRejected` when refused."""
        ...

    def lookup(self, client_order_id: str) -> OrderReport:
        """Where a journalled order stands now (``KeyError`` for an id never submitted)."""
        ...

    def cancel(self, client_order_id: str) -> OrderReport:
        """Cancel an open order; a settled one is returned as it stands."""
        ...

    def open_orders(self, venue: str, symbol: str | None = None) -> list[OrderReport]:
        """Orders still working on ``venue`` (of ``symbol``)."""
        ...

    def positions(self, venue: str) -> list[Position]:
        """Non-zero positions on ``venue``."""
        ...

    def reconcile(self) -> list[OrderReport]:
        """Look up every unsettled journalled order (never resending one); returns them as they stand."""
        ...
