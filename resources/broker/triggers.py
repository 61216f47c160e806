"""Stops on the venues: how the book's ``stop`` intent is sent, found again and cancelled.

The book's stop (``order_type="stop"``, ``limit`` = the trigger price, reduce-only) protects a held
ladder rung. It goes out as a reduce-only stop-market: the venue holds it, and when its price
crosses the trigger it places a reduce-only market order. A stop that could open a position is not
routed (:func:`refusal`): a protective order must never add exposure.

=================  ============================================  =========================================
ccxt id            create                                        lookup, open list, cancel
=================  ============================================  =========================================
``binanceusdm``    ``POST /fapi/v1/algoOrder`` (ccxt sends a      ``GET``/``DELETE /fapi/v1/algoOrder`` and
                   linear create with ``triggerPrice`` there):    ``GET /fapi/v1/openAlgoOrders``, by
                   ``algoType=CONDITIONAL``, ``STOP_MARKET``,     ``clientAlgoId`` (ccxt: ``trigger=True``)
                   the client id in ``clientAlgoId``
``bybit``          ``POST /v5/order/create`` with                 listed with ``orderFilter=StopOrder``
                   ``triggerPrice`` and ``triggerDirection``      (ccxt: ``trigger=True``); cancelled by
                   (2: when the price falls, for a sell; 1: when  ``orderLinkId`` like any order
                   it rises, for a buy), in ``orderLinkId``
=================  ============================================  =========================================

A triggered Binance algo order is closed (``TRIGGERED``, ``FINISHED``) but carries no fill: the
market order it placed (its ``actualOrderId``) does, so the broker reads that order
(:func:`placed_order_id`). A triggered Bybit conditional order becomes that market order itself
(same ids), so its own state is the fill.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from quant.book.orders import OrderIntent
from resources.broker.venue_ids import rule_for

STOP = "stop"
#: Bybit's ``triggerDirection`` as ccxt takes it: a sell stop fires on a fall, a buy stop on a rise.
_BYBIT_DIRECTION = {"sell": "descending", "buy": "ascending"}
#: ccxt ids whose stops carry the trigger direction in the create.
_DIRECTED = frozenset({"bybit"})
#: ccxt ids whose cancel of a stop is sent to another endpoint (ccxt's ``trigger=True``); Bybit
#: cancels a conditional linear order by its ``orderLinkId`` like any other.
_TRIGGER_CANCEL = frozenset({"binanceusdm"})


def is_stop(order_type: str) -> bool:
    return order_type == STOP


def refusal(intent: OrderIntent) -> str:
    """Why a stop intent cannot be routed ("" when it can): it must reduce only, with a positive trigger."""
    if not is_stop(intent.order_type):
        return ""
    if not intent.reduce_only:
        return "a stop that is not reduce-only could open a position, so it is not routed"
    if intent.limit is None or not (math.isfinite(intent.limit) and intent.limit > 0):
        return f"a stop needs a positive trigger price (its limit), got {intent.limit!r}"
    return ""


def create_args(intent: OrderIntent, ccxt_id: str, venue_client_id: str) -> tuple[str, float | None, dict[str, Any]]:
    """ccxt's ``(type, price, params)`` for ``intent``: the client id in the venue's field, reduce-only
    where the intent is; a stop as a reduce-only market order with ``triggerPrice`` at its limit."""
    rule = rule_for(ccxt_id)
    params: dict[str, Any] = {rule.field_for(intent.order_type): venue_client_id}
    if intent.reduce_only:
        params["reduceOnly"] = True
    if not is_stop(intent.order_type):
        return intent.order_type, intent.limit if intent.order_type == "limit" else None, params
    params["triggerPrice"] = intent.limit
    if ccxt_id in _DIRECTED:
        params["triggerDirection"] = _BYBIT_DIRECTION[intent.side]
    return "market", None, params


def lookup_params(order_type: str) -> dict[str, Any]:
    """Extra ccxt params of a lookup or an open-order listing of an order of ``order_type``."""
    return {"trigger": True} if is_stop(order_type) else {}


def cancel_params(order_type: str, ccxt_id: str) -> dict[str, Any]:
    """Extra ccxt params of a cancel of an order of ``order_type`` on ``ccxt_id``."""
    return {"trigger": True} if is_stop(order_type) and ccxt_id in _TRIGGER_CANCEL else {}


def placed_order_id(order: Mapping[str, Any]) -> str:
    """The id of the market order a closed, triggered Binance algo order placed ("" otherwise)."""
    info = order.get("info")
    if order.get("status") == "open" or not isinstance(info, Mapping):
        return ""
    placed = info.get("actualOrderId")
    return "" if placed in (None, "", "0", 0) else str(placed)


__all__ = ["STOP", "cancel_params", "create_args", "is_stop", "lookup_params", "placed_order_id", "refusal"]
