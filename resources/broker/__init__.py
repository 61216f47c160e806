"""The order path: one ``Broker`` protocol, paper fills and the live path behind it, and the order journal.

* :mod:`resources.broker.base` — the protocol, :class:`OrderReport`, :class:`Position`, the states.
* :mod:`resources.broker.journal` — :class:`OrderJournal`, written before anything is sent.
* :mod:`resources.broker.paper` — :class:`PaperBroker`, the book's fill simulator behind the protocol.
* :mod:`resources.broker.ccxt_broker` — :class:`CcxtBroker`, demo/live orders through ccxt.
* :mod:`resources.broker.resource` — :class:`OrderRouter`, the Dagster resource (keys as ``EnvVar``).
"""

from __future__ import annotations

from resources.broker.base import (
    STATES,
    Broker,
    OrderRejected,
    OrderReport,
    Position,
)
from resources.broker.ccxt_broker import CcxtBroker
from resources.broker.journal import OrderJournal
from resources.broker.paper import PaperBroker
from resources.broker.resource import OrderRouter

__all__ = [
    "STATES",
    "Broker",
    "CcxtBroker",
    "OrderJournal",
    "OrderRejected",
    "OrderReport",
    "OrderRouter",
    "PaperBroker",
    "Position",
]
