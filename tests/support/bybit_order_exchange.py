"""A stateful fake of Bybit v5 linear (USDT perpetual) order endpoints on the loopback server.

The Bybit twin of :class:`tests.support.order_exchange.OrderExchange`, on the same
:class:`~tests.support.order_exchange.LoopbackVenue` (book, faults, fills, forgetting, restart on
the same port) and the same :func:`~tests.support.order_exchange.loopback_session`. Shapes follow
Bybit's v5 docs (bybit-exchange.github.io/docs/v5, "Trade" and "Position") and ccxt's
``bybit.parse_order`` / ``parse_position``; what ccxt calls is read from its ``bybit.py``:

=================================  ===========================================================
``GET  /v5/market/instruments-info``  the sample's linear perpetuals (``bybit_shapes``)
``POST /v5/order/create``          JSON body; answers the ids only (``orderId``, ``orderLinkId``);
                                   ``orderLinkId`` unique among *all* orders (110072),
                                   up to 36 of ``[A-Za-z0-9_-]`` (10001), margin (110007)
``GET  /v5/order/realtime``        by ``orderId`` > ``orderLinkId`` > ``symbol`` (Bybit's priority):
                                   open orders, and closed ones only among the newest
                                   :data:`RECENT_CLOSED` closed since the last restart
``GET  /v5/order/history``         closed orders (filled, cancelled), by the same ids
``POST /v5/order/cancel``          answers the ids only; 110001 if not open
``GET  /v5/position/list``         one-way positions (``positionIdx`` 0), flat ones with ``side`` ""
``POST /v5/order/create``          with ``triggerPrice``: a conditional order (``Untriggered``);
  (conditional)                    ``triggerDirection`` 1 (rises) / 2 (falls) required (10001), a
                                   trigger the price already passed refused (110092 / 110093)
``orderFilter=StopOrder``          the order lists show conditional orders only (without it, or
                                   ``Order``: ordinary orders and triggered conditional ones)
``GET  /v5/user/query-api``,       live host only: ccxt asks whether the account is unified (the
``GET  /v5/account/info``          demo host does not serve them, and ccxt assumes it is)
=================================  ===========================================================

Every answer is Bybit's envelope ``{retCode, retMsg, result, retExtInfo, time}`` with HTTP 200,
errors included. Every private call is checked as Bybit does: ``X-BAPI-API-KEY`` must be the key
(10003), and ``X-BAPI-SIGN`` the HMAC-SHA256 (hex) of ``timestamp + key + recv window + payload``
(the raw query string of a GET, the JSON body of a POST), or the answer is 10004 with Bybit's
``error sign! origin_string[...]``, which quotes the signed string, API key included.

A conditional order cancelled before it fires is ``Deactivated``; one the price reaches
(:meth:`~tests.support.order_exchange.LoopbackVenue.cross`) becomes a market order under the same
ids and fills (``Filled``, ``stopOrderType`` ``Stop``).

Faults (:meth:`~tests.support.order_exchange.LoopbackVenue.script`): ``REJECT`` with a Bybit
code, a partial fill, ``ACCEPT_THEN_STALL`` (recorded, answered after the client's timeout),
:data:`ACCEPT_THEN_SERVER_ERROR` (recorded, then 10016 in a 200 envelope: Bybit's "server
error", which does not say whether the order was placed), ``FAIL_BEFORE_ACCEPT`` (HTTP 503 from
the gateway, nothing recorded). :meth:`BybitOrderExchange.restart` also empties the realtime
endpoint's closed-order window, as a Bybit release does ("After a server release or restart,
filled, cancelled, and rejected orders of Unified account should only be queried through order
history").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from tests.support.binance_shapes import num
from tests.support.bybit_shapes import SERVER_TIME_MS, instruments_info
from tests.support.order_exchange import (
    ACCEPT_THEN_STALL,
    FAIL_BEFORE_ACCEPT,
    REJECT,
    STALL_S,
    LoopbackVenue,
    Order,
)
from tests.support.replay_server import Reply, Request, json_reply, text_reply

DEMO_HOST = "api-demo.bybit.com"
LIVE_HOST = "api.bybit.com"
#: Closed orders the realtime endpoint still shows (Bybit keeps "the most recent 500").
RECENT_CLOSED = 500
#: Rows per page of the order lists: Bybit's default and maximum ``limit``.
DEFAULT_LIMIT, MAX_LIMIT = 20, 50
#: Record the order, then answer retCode 10016 (or the fault's code) in an HTTP 200 envelope.
ACCEPT_THEN_SERVER_ERROR = "accept_then_server_error"
EXTRA_MARKS = {"DOGEUSDT": 0.2, "HYPEUSDT": 40.0}
LEVERAGE = 10.0

PARAMS_ERROR = (10001, "params error: {}")
SYMBOL_INVALID = (10001, "params error: symbol invalid")
BAD_KEY = (10003, "API key is invalid.")
SERVER_ERROR = (10016, "Internal server error.")
SERVER_TIMEOUT = (10000, "Server Timeout")
ORDER_NOT_EXISTS = (110001, "order not exists or too late to cancel")
NOT_ENOUGH_BALANCE = (110007, "ab not enough for new order")
DUPLICATE_LINK_ID = (110072, "OrderLinkedID is duplicate")
TRIGGER_DIRECTION_INVALID = (10001, "params error: TriggerDirection invalid")
EXPECT_RISING = (110092, "expect Rising, but trigger_price[{}] \u2264 current[{}]??1")
EXPECT_FALLING = (110093, "expect Falling, but trigger_price[{}] \u2265 current[{}]??2")

OPEN = ("NEW", "PARTIALLY_FILLED", "UNTRIGGERED")
CLOSED = ("FILLED", "CANCELED", "DEACTIVATED")
#: The book's status -> Bybit's ``orderStatus``.
STATUS = {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled", "CANCELED": "Cancelled",
          "UNTRIGGERED": "Untriggered", "DEACTIVATED": "Deactivated"}
LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
_ID_SPACE = uuid.UUID("6f1c2a4e-0b7d-4c55-9a1e-3b2d7c9e8f10")


def envelope(result: Mapping[str, Any], code: tuple[int, str] = (0, "OK")) -> Reply:
    """Bybit's v5 envelope, HTTP 200 whatever happened."""
    return json_reply({"retCode": code[0], "retMsg": code[1], "result": dict(result), "retExtInfo": {},
                       "time": SERVER_TIME_MS})


def error(code: tuple[int, str]) -> Reply:
    return envelope({}, code)


def order_id(order: Order) -> str:
    """Bybit's order ids are UUIDs: one per book id, the same across restarts."""
    return str(uuid.uuid5(_ID_SPACE, str(order.order_id)))


def order_row(order: Order) -> dict[str, Any]:
    """One order as ``/v5/order/realtime`` and ``/v5/order/history`` list it."""
    avg = order.cum_quote / order.executed if order.executed else 0.0
    leaves = 0.0 if order.status in CLOSED else order.qty - order.executed
    market = order.type == "MARKET"
    conditional = order.trigger_price > 0
    return {
        "orderId": order_id(order), "orderLinkId": order.client_id, "blockTradeId": "", "symbol": order.symbol,
        "price": num(order.price), "qty": num(order.qty), "side": order.side.capitalize(), "isLeverage": "",
        "positionIdx": 0, "orderStatus": STATUS[order.status], "createType": "CreateByUser",
        "cancelType": "CancelByUser" if order.status == "CANCELED" else "UNKNOWN", "rejectReason": "EC_NoError",
        "avgPrice": num(avg) if order.executed else "", "leavesQty": num(leaves),
        "leavesValue": num(leaves * order.price), "cumExecQty": num(order.executed),
        "cumExecValue": num(order.cum_quote), "cumExecFee": num(order.cum_quote * 0.00055),
        "timeInForce": "IOC" if market else "GTC", "orderType": order.type.capitalize(),
        "stopOrderType": "Stop" if conditional else "",
        "orderIv": "", "marketUnit": "", "triggerPrice": num(order.trigger_price) if conditional else "", "takeProfit": "", "stopLoss": "", "tpslMode": "",
        "ocoTriggerBy": "", "tpLimitPrice": "", "slLimitPrice": "", "tpTriggerBy": "", "slTriggerBy": "",
        "triggerDirection": (2 if order.fires_below else 1) if conditional else 0,
        "triggerBy": "LastPrice" if conditional else "", "lastPriceOnCreated": "", "basePrice": "",
        "reduceOnly": order.reduce_only, "closeOnTrigger": False, "placeType": "", "smpType": "None",
        "smpGroup": 0, "smpOrderId": "", "createdTime": str(order.time_ms), "updatedTime": str(order.update_ms),
    }


class BybitOrderExchange(LoopbackVenue):
    """The replay server with a stateful Bybit v5 linear order book behind it.

    Parameters
    ----------
    api_key, api_secret : the credentials a client must sign with.
    hosts : the hosts served (default the demo-trading host only).

    Attributes
    ----------
    recent_closed : how many closed orders the realtime endpoint still shows (:data:`RECENT_CLOSED`;
        a test lowers it to push an order out of that window).
    """

    def __init__(self, api_key: str, api_secret: str, *, hosts: tuple[str, ...] = (DEMO_HOST,)) -> None:
        super().__init__(api_key, api_secret, hosts=hosts)
        self.marks.update(EXTRA_MARKS)
        self.recent_closed = RECENT_CLOSED
        self._window_from_ms = 0
        listed = json.loads(instruments_info(Request("GET", "", {"category": "linear"})).body)
        self.symbols = {i["symbol"] for i in listed["result"]["list"]}
        for host in hosts:
            self.route(f"/{host}/v5/market/instruments-info", instruments_info)
            self.route(f"/{host}/v5/order/create", self._private(self._create))
            self.route(f"/{host}/v5/order/cancel", self._private(self._cancel))
            self.route(f"/{host}/v5/order/realtime", self._private(self._realtime))
            self.route(f"/{host}/v5/order/history", self._private(self._history))
            self.route(f"/{host}/v5/position/list", self._private(self._positions))
            if host == LIVE_HOST:
                self.route(f"/{host}/v5/user/query-api", self._private(self._api_key_info))
                self.route(f"/{host}/v5/account/info", self._private(self._account_info))

    def restart(self) -> None:
        """Stop and start on the same port: the book survives, the realtime closed-order window does not."""
        super().restart()
        self._window_from_ms = next(self._clock)

    # -- authentication ------------------------------------------------------------------------------
    def _private(self, handler: Any) -> Any:
        def serve(req: Request) -> Reply:
            raw = req.body.decode() if req.method == "POST" else self._local.raw_query
            headers = self._local.headers
            if headers.get("x-bapi-api-key") != self.api_key:
                return error(BAD_KEY)
            signed = headers.get("x-bapi-timestamp", "") + self.api_key + headers.get("x-bapi-recv-window", "") + raw
            expected = hmac.new(self._secret, signed.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("x-bapi-sign", ""), expected):
                return error((10004, f"error sign! origin_string[{signed}]"))
            params = json.loads(raw or "{}") if req.method == "POST" else dict(req.query)
            if params.get("category") not in (None, "linear"):
                return error((PARAMS_ERROR[0], PARAMS_ERROR[1].format("category only support linear here")))
            return handler(req, params)
        return serve

    # -- orders --------------------------------------------------------------------------------------
    def _create(self, req: Request, p: Mapping[str, Any]) -> Reply:
        self.creates.append(req)
        fault = self._next_fault()
        if fault.kind == REJECT:
            return error(fault.code or NOT_ENOUGH_BALANCE)
        if fault.kind == FAIL_BEFORE_ACCEPT:
            return text_reply("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", 503,
                              content_type="text/html")
        if (refused := self._refusal(p)) is not None:
            return error(refused)
        symbol, link = str(p["symbol"]), str(p["orderLinkId"])
        qty, kind = float(p["qty"]), str(p["orderType"]).upper()
        price = float(p.get("price") or self.marks[symbol])
        now = next(self._clock)
        order = Order(next(self._ids), link, symbol, str(p["side"]).upper(), kind, qty,
                      float(p.get("price") or 0.0), p.get("reduceOnly") is True, now, update_ms=now)
        self.book.orders[link] = order
        if p.get("triggerPrice"):
            order.status, order.trigger_price = "UNTRIGGERED", float(p["triggerPrice"])
            order.fires_below = int(p["triggerDirection"]) == 2
            self.book.stops[link] = order
        elif fault.fill_qty is not None:
            self._trade(order, fault.fill_qty, price)
        elif kind == "MARKET":
            self._trade(order, qty, price)
        ids = {"orderId": order_id(order), "orderLinkId": link}
        if fault.kind == ACCEPT_THEN_STALL:
            return json_reply({"retCode": 0, "retMsg": "OK", "result": ids, "retExtInfo": {}, "time": SERVER_TIME_MS},
                              delay_s=STALL_S)
        if fault.kind == ACCEPT_THEN_SERVER_ERROR:
            return error(fault.code or SERVER_ERROR)
        return envelope(ids)

    def _refusal(self, p: Mapping[str, Any]) -> tuple[int, str] | None:
        """Why Bybit would refuse this create, or None."""
        symbol, link = p.get("symbol"), str(p.get("orderLinkId", ""))
        if symbol not in self.symbols:
            return SYMBOL_INVALID
        if not LINK_ID.fullmatch(link):
            return PARAMS_ERROR[0], PARAMS_ERROR[1].format("orderLinkId is invalid")
        if link in self.book.orders:
            return DUPLICATE_LINK_ID
        if float(p["qty"]) * float(p.get("price") or self.marks[str(symbol)]) > self.book.margin_usdt:
            return NOT_ENOUGH_BALANCE
        return self._trigger_refusal(p) if p.get("triggerPrice") else None

    def _trigger_refusal(self, p: Mapping[str, Any]) -> tuple[int, str] | None:
        """A conditional order needs its direction, and a trigger the price has not passed yet."""
        direction = p.get("triggerDirection")
        if direction not in (1, 2):
            return TRIGGER_DIRECTION_INVALID
        trigger, mark = float(p["triggerPrice"]), self.marks[str(p["symbol"])]
        if self.would_fire(direction == 2, trigger, mark):
            code, text = EXPECT_FALLING if direction == 2 else EXPECT_RISING
            return code, text.format(num(trigger), num(mark))
        return None

    def _waiting(self, stop: Order) -> bool:
        return stop.status == "UNTRIGGERED"

    def _fire(self, stop: Order, price: float) -> None:
        """Bybit turns the conditional order itself into a market order (same ids), which fills."""
        stop.status = "NEW"
        self._trade(stop, stop.qty, price)

    def _by_id(self, p: Mapping[str, Any]) -> list[Order]:
        """The orders ``p`` names, in Bybit's priority: ``orderId`` (even ``"None"``), then ``orderLinkId``."""
        if "orderId" in p:
            return [o for o in self.book.orders.values() if order_id(o) == p["orderId"]]
        if "orderLinkId" in p:
            return [self.book.orders[p["orderLinkId"]]] if p["orderLinkId"] in self.book.orders else []
        return list(self.book.orders.values())

    def _recent(self) -> set[str]:
        """The closed orders the realtime endpoint still shows: the newest ``recent_closed`` since the restart."""
        closed = sorted((o for o in self.book.orders.values()
                         if o.status in CLOSED and o.update_ms > self._window_from_ms),
                        key=lambda o: o.update_ms, reverse=True)
        return {o.client_id for o in closed[:self.recent_closed]}

    def _listed(self, p: Mapping[str, Any], orders: list[Order]) -> Reply:
        if not (p.get("symbol") or p.get("settleCoin") or p.get("baseCoin")):
            return error((PARAMS_ERROR[0], PARAMS_ERROR[1].format("symbol, settleCoin or baseCoin is required")))
        limit = min(int(p.get("limit") or DEFAULT_LIMIT), MAX_LIMIT)
        shown = [o for o in sorted(orders, key=lambda o: o.time_ms, reverse=True)
                 if p.get("symbol") in (None, o.symbol) and _in_filter(p, o) and not self._hidden(o.client_id)]
        return envelope({"category": "linear", "nextPageCursor": "", "list": [order_row(o) for o in shown[:limit]]})

    def _realtime(self, req: Request, p: Mapping[str, Any]) -> Reply:
        recent = self._recent()
        if _names_an_order(p):
            orders = [o for o in self._by_id(p) if o.status in OPEN or o.client_id in recent]
        elif p.get("openOnly", "0") == "0":
            orders = [o for o in self._by_id(p) if o.status in OPEN]
        else:
            orders = [o for o in self._by_id(p) if o.client_id in recent]
        return self._listed(p, orders)

    def _history(self, req: Request, p: Mapping[str, Any]) -> Reply:
        wanted = p.get("orderStatus")
        return self._listed(p, [o for o in self._by_id(p) if o.status in CLOSED and wanted in (None, STATUS[o.status])])

    def _cancel(self, req: Request, p: Mapping[str, Any]) -> Reply:
        fault = self._cancel_fault()
        if fault.kind == FAIL_BEFORE_ACCEPT:
            return text_reply("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", 503,
                              content_type="text/html")
        found = [o for o in self._by_id(p) if o.symbol == p.get("symbol")] if _names_an_order(p) else []
        if not found or found[0].status not in OPEN:
            return error(ORDER_NOT_EXISTS)
        order = found[0]
        order.status = "DEACTIVATED" if order.status == "UNTRIGGERED" else "CANCELED"
        order.update_ms = next(self._clock)
        ids = {"orderId": order_id(order), "orderLinkId": order.client_id}
        if fault.kind == ACCEPT_THEN_STALL:
            return json_reply({"retCode": 0, "retMsg": "OK", "result": ids, "retExtInfo": {}, "time": SERVER_TIME_MS},
                              delay_s=STALL_S)
        return envelope(ids)

    # -- positions and the account -------------------------------------------------------------------
    def _positions(self, req: Request, p: Mapping[str, Any]) -> Reply:
        if not (p.get("symbol") or p.get("settleCoin")):
            return error((PARAMS_ERROR[0], PARAMS_ERROR[1].format("symbol or settleCoin is required")))
        rows = []
        for symbol, (amount, entry) in sorted(self.book.positions.items()):
            if p.get("symbol") not in (None, symbol):
                continue
            mark, size = self.marks[symbol], abs(amount)
            rows.append({
                "positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000", "symbol": symbol,
                "side": "" if amount == 0 else ("Buy" if amount > 0 else "Sell"), "size": num(size),
                "avgPrice": num(entry), "positionValue": num(size * entry), "tradeMode": 0,
                "positionStatus": "Normal", "autoAddMargin": 0, "adlRankIndex": 1 if size else 0,
                "leverage": num(LEVERAGE), "positionBalance": num(size * entry / LEVERAGE), "markPrice": num(mark),
                "liqPrice": "", "bustPrice": "", "positionMM": num(size * mark * 0.005),
                "positionIM": num(size * entry / LEVERAGE), "tpslMode": "Full", "takeProfit": "0",
                "stopLoss": "0", "trailingStop": "0", "unrealisedPnl": num((mark - entry) * amount),
                "curRealisedPnl": "0", "cumRealisedPnl": "0", "seq": next(self._clock), "isReduceOnly": False,
                "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "", "sessionAvgPrice": "",
                "createdTime": str(SERVER_TIME_MS), "updatedTime": str(next(self._clock)),
            })
        return envelope({"category": "linear", "nextPageCursor": "", "list": rows})

    def _api_key_info(self, req: Request, p: Mapping[str, Any]) -> Reply:
        return envelope({"id": "13770661", "note": "perpetua-test", "apiKey": self.api_key, "readOnly": 0,
                         "secret": "", "permissions": {"ContractTrade": ["Order", "Position"]}, "ips": ["*"],
                         "type": 1, "deadlineDay": 83, "unified": 0, "uta": 1, "userID": 24600000,
                         "inviterID": 0, "vipLevel": "No VIP", "isMaster": True})

    def _account_info(self, req: Request, p: Mapping[str, Any]) -> Reply:
        return envelope({"marginMode": "REGULAR_MARGIN", "updatedTime": str(SERVER_TIME_MS),
                         "unifiedMarginStatus": 5, "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0,
                         "isMasterTrader": False, "spotHedgingStatus": "OFF"})



def _in_filter(p: Mapping[str, Any], order: Order) -> bool:
    """Bybit's ``orderFilter``: ``StopOrder`` lists conditional orders, ``Order`` (the default) the others
    and the conditional ones that fired (they became ordinary orders)."""
    if p.get("orderFilter") == "StopOrder":
        return order.trigger_price > 0
    return order.trigger_price == 0 or order.status not in ("UNTRIGGERED", "DEACTIVATED")


def _names_an_order(p: Mapping[str, Any]) -> bool:
    return "orderId" in p or "orderLinkId" in p
