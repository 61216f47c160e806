"""Client order ids in each venue's own field, within each venue's rules.

Without a client order id of ours, ccxt invents a random one, and an order whose answer was lost
can never be found again. So every create carries one, in the venue's field:

=================  ====================  ================  ==============================================
ccxt id            create field          stop's field      rule (venue docs)
=================  ====================  ================  ==============================================
``binanceusdm``    ``newClientOrderId``  ``clientAlgoId``  ``^[.A-Z:/a-z0-9_-]{1,36}$``, unique among open
                                                           orders (the algo-order endpoint's
                                                           ``clientAlgoId`` has the same rule)
``bybit``          ``orderLinkId``       ``orderLinkId``   up to 36 of letters, digits, ``-`` and ``_``
=================  ====================  ================  ==============================================

A stop is a conditional order: Binance USDⓈ-M takes it at its algo-order endpoint, which names the
client id ``clientAlgoId`` in the create, the lookup and the cancel; Bybit takes it at the ordinary
create, in ``orderLinkId`` (:mod:`resources.broker.triggers`).

Perpetua's ids (``pp-L1-<24 hex>``, 30 characters) pass both. An id that does not (too long, a
character the venue refuses) is replaced deterministically by ``pp-`` + the first 32 hex digits of
its SHA-256: the same intent always maps to the same venue id, and the journal records the pair.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: Prefix of a derived venue id (``quant.book.orders.CLIENT_ID_PREFIX``).
DERIVED_PREFIX = "pp-"
DERIVED_HASH_CHARS = 32


@dataclass(frozen=True)
class ClientIdRule:
    """One venue's client-order-id field and what it accepts."""

    create_field: str
    lookup_field: str
    max_chars: int
    pattern: re.Pattern[str]
    trigger_field: str = ""  # a stop's client id, in its create, lookup and cancel ("" = create_field)

    def field_for(self, order_type: str, *, lookup: bool = False) -> str:
        """The client-id field of an order of ``order_type`` (a stop's differs on Binance)."""
        if order_type == "stop" and self.trigger_field:
            return self.trigger_field
        return self.lookup_field if lookup else self.create_field

    def accepts(self, value: str) -> bool:
        return 0 < len(value) <= self.max_chars and self.pattern.fullmatch(value) is not None


RULES: dict[str, ClientIdRule] = {
    "binanceusdm": ClientIdRule("newClientOrderId", "origClientOrderId", 36, re.compile(r"[.A-Z:/a-z0-9_-]+"),
                                trigger_field="clientAlgoId"),
    "bybit": ClientIdRule("orderLinkId", "orderLinkId", 36, re.compile(r"[A-Za-z0-9_-]+")),
}


def rule_for(ccxt_id: str) -> ClientIdRule:
    """The rule of ``ccxt_id``; a venue without one cannot take live orders (its ids are not ours)."""
    try:
        return RULES[ccxt_id]
    except KeyError:
        raise ValueError(f"no client-order-id rule for {ccxt_id!r}: orders can be routed to {sorted(RULES)} only") from None


def venue_client_id(client_order_id: str, ccxt_id: str) -> str:
    """The id sent to ``ccxt_id`` for ``client_order_id``: itself when the venue accepts it, else derived.

    >>> venue_client_id("pp-L1-0123456789abcdef01234567", "binanceusdm")
    'pp-L1-0123456789abcdef01234567'
    """
    if not client_order_id:
        raise ValueError("an order needs a client order id")
    rule = rule_for(ccxt_id)
    if rule.accepts(client_order_id):
        return client_order_id
    derived = DERIVED_PREFIX + hashlib.sha256(client_order_id.encode()).hexdigest()[:DERIVED_HASH_CHARS]
    if not rule.accepts(derived):  # pragma: no cover - a rule narrower than hex digits and '-'
        raise ValueError(f"{ccxt_id} accepts neither {client_order_id!r} nor its derived id {derived!r}")
    return derived
