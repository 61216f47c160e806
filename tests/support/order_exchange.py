"""A stateful fake of Binance USDⓈ-M futures order endpoints on the loopback replay server.

The broker's real ccxt client talks to it through :func:`loopback_session`: a ``requests``
session whose ``https://`` adapter sends every request to the loopback server, with the host
it was meant for as the first path segment (``https://demo-fapi.binance.com/fapi/v1/order`` ->
``http://127.0.0.1:<port>/demo-fapi.binance.com/fapi/v1/order``). ccxt keeps the real URLs
(signing, error tables, messages), and a test sees which host each request was for.

Endpoints (shapes from Binance's USDⓈ-M "Trade" REST docs and ccxt's ``binance.parse_order`` /
``parse_position_risk``; every private call is checked against the key and its HMAC-SHA256
signature over the query string or form body, as Binance does):

==========================================  ===================================================
``GET  /fapi/v1/exchangeInfo``              the recorded payload (``binance_shapes``)
``POST /fapi/v1/order``                     create; ``newClientOrderId`` unique among open orders
                                            (-4116), unknown symbol (-1121), margin (-2019)
``GET  /fapi/v1/order``                     by ``origClientOrderId`` / ``orderId``; -2013 if none
``GET  /fapi/v1/openOrders``                open orders of ``symbol``
``DELETE /fapi/v1/order``                   cancel; -2011 if not open
``GET  /fapi/v3/positionRisk``              one-way positions (``positionSide`` BOTH), non-zero
``GET  /fapi/v1/leverageBracket``           one bracket per symbol (ccxt reads it before positions)
``POST /fapi/v1/algoOrder``                 a conditional (algo) order: ``algoType=CONDITIONAL``,
                                            ``clientAlgoId`` unique among open algo orders (-4116),
                                            ``triggerPrice`` required (-1102); a stop the price
                                            already crossed is refused (-2021)
``GET  /fapi/v1/algoOrder``                 by ``clientAlgoId`` / ``algoId``; -2013 if none
``DELETE /fapi/v1/algoOrder``               cancel; answers ``{algoId, clientAlgoId, code "200",
                                            msg "success"}``; -2011 if not open
``GET  /fapi/v1/openAlgoOrders``            open algo orders (of ``symbol``)
==========================================  ===================================================

Algo orders follow Binance's "New Algo Order" / "Query Algo Order" shapes (``algoStatus`` NEW ->
FINISHED once triggered, with ``actualOrderId``: the market order it placed, which carries the fill).
:meth:`LoopbackVenue.cross` moves a symbol's price: every waiting stop it crosses fires.

Fills: a market order fills in full at the symbol's mark (:attr:`OrderExchange.marks`); a
limit order rests (``NEW``) until :meth:`OrderExchange.fill` trades it. Scripted faults, each
for the next create (:meth:`OrderExchange.script`): reject with a venue code, fill only part,
accept and answer too late (:data:`ACCEPT_THEN_STALL`), accept and answer HTTP 500 (the venue's
"execution status unknown"), fail with HTTP 503 before accepting; :meth:`OrderExchange.forget`
hides an order from the next lookups; :meth:`LoopbackVenue.script_cancels` does the same for the next
cancels (``ACCEPT_THEN_STALL``: cancelled, answered too late; ``FAIL_BEFORE_ACCEPT``: HTTP 503,
nothing cancelled) (Binance can lose sight of an order for up to ~30 min after
a timeout); :meth:`OrderExchange.restart` stops the server and starts it on the same port with
its book intact (connection refused in between).

:class:`LoopbackVenue` holds what does not depend on the venue (the book, faults, fills, forgetting,
restarts); :class:`OrderExchange` is Binance on top of it, and
:mod:`tests.support.bybit_order_exchange` is Bybit v5 on the same base.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter

from tests.support.binance_shapes import futures_exchange_info, num
from tests.support.replay_server import (
    POLL_INTERVAL_S,
    ReplayServer,
    Reply,
    Request,
    _handler_for,
    json_reply,
)

DEMO_HOST = "demo-fapi.binance.com"
LIVE_HOST = "fapi.binance.com"
#: A clock for the book's stamps: the sample's last day (the server does not pretend to be live).
START_MS = 1_759_276_800_000
#: The delay a stalled answer waits (the replay server's longest); tests set the client timeout below it.
STALL_S = 1.0
DEFAULT_MARKS = {"BTCUSDT": 60_000.0, "ETHUSDT": 2_500.0, "SOLUSDT": 150.0}

ACCEPT = "accept"
#: Record the order, then answer after :data:`STALL_S` (past the client's timeout).
ACCEPT_THEN_STALL = "accept_then_stall"
#: Record the order, then answer HTTP 500: Binance's "Unknown error, execution status unknown".
ACCEPT_THEN_500 = "accept_then_500"
#: Answer HTTP 503 without recording (the request never reached the matching engine).
FAIL_BEFORE_ACCEPT = "fail_before_accept"
REJECT = "reject"

MARGIN_INSUFFICIENT = (-2019, "Margin is insufficient.")
INVALID_SYMBOL = (-1121, "Invalid symbol.")
ORDER_DOES_NOT_EXIST = (-2013, "Order does not exist.")
UNKNOWN_ORDER_SENT = (-2011, "Unknown order sent.")
DUPLICATE_CLIENT_ID = (-4116, "ClientOrderId is duplicated.")
BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
BAD_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
WOULD_IMMEDIATELY_TRIGGER = (-2021, "Order would immediately trigger.")
INVALID_ORDER_TYPE = (-1116, "Invalid orderType.")
INVALID_ALGO_TYPE = (-1116, "Invalid algoType.")
TRIGGER_PRICE_MISSING = (-1102, "Mandatory parameter 'triggerPrice' was not sent, was empty/null, or malformed.")
#: Order types the algo-order endpoint takes.
ALGO_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})


@dataclass(frozen=True)
class Fault:
    """What the next create does: one of the module's fault names, with its details."""

    kind: str = ACCEPT
    code: tuple[int, str] | None = None
    fill_qty: float | None = None


@dataclass
class Order:
    """One order on the fake venue, in Binance's terms."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: float
    price: float
    reduce_only: bool
    time_ms: int
    executed: float = 0.0
    cum_quote: float = 0.0
    status: str = "NEW"
    update_ms: int = 0
    trigger_price: float = 0.0  # a conditional order's trigger (0: an ordinary order)
    fires_below: bool = True  # fires when the price falls to the trigger (a sell stop), else when it rises
    actual_order_id: int = 0  # Binance: the market order a triggered algo order placed

    def payload(self, *, query: bool = False) -> dict[str, Any]:
        avg = self.cum_quote / self.executed if self.executed else 0.0
        body = {
            "orderId": self.order_id, "symbol": self.symbol, "status": self.status, "clientOrderId": self.client_id,
            "price": num(self.price), "avgPrice": num(avg), "origQty": num(self.qty), "executedQty": num(self.executed),
            "cumQty": num(self.executed), "cumQuote": num(self.cum_quote), "timeInForce": "GTC",
            "type": self.type, "reduceOnly": self.reduce_only, "closePosition": False, "side": self.side,
            "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False,
            "origType": self.type, "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "updateTime": self.update_ms,
        }
        if query:
            body["time"] = self.time_ms
        return body


@dataclass
class Book:
    """The venue's state: orders, positions (signed base units, entry price) and the account's margin."""

    orders: dict[str, Order] = field(default_factory=dict)
    #: Conditional orders by client id (Binance: the algo book; Bybit: also in ``orders``, one id space).
    stops: dict[str, Order] = field(default_factory=dict)
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    margin_usdt: float = 1_000_000.0


class _LoopbackAdapter(HTTPAdapter):
    """Sends ``https://<host>/<path>`` to ``<base_url>/<host>/<path>``."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = f"{self._base}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


def loopback_session(base_url: str) -> requests.Session:
    """A ``requests`` session that sends every ``https://`` request to the loopback server."""
    session = requests.Session()
    session.mount("https://", _LoopbackAdapter(base_url))
    return session


class LoopbackVenue(ReplayServer):
    """What every stateful venue fake shares: the book, the scripted faults, the lookups it forgets,
    fills and positions, and a restart on the same port (each venue adds its own routes and shapes).

    Orders are kept in Binance's terms (``BUY`` / ``NEW`` / ``PARTIALLY_FILLED`` ...), the book's
    own language; a venue translates them into its answers.

    Parameters
    ----------
    api_key, api_secret : the credentials a client must sign with.
    hosts : the hosts served (a request for any other host is unmatched, and the test fixtures
        fail on unmatched requests).
    """

    def __init__(self, api_key: str, api_secret: str, *, hosts: tuple[str, ...]) -> None:
        super().__init__()
        self.api_key, self._secret = api_key, api_secret.encode()
        self.hosts = hosts
        self.book = Book()
        self.marks: dict[str, float] = dict(DEFAULT_MARKS)
        self.creates: list[Request] = []
        self._faults: list[Fault] = []
        self._cancel_faults: list[Fault] = []
        self._forget: dict[str, int] = {}
        self._ids = itertools.count(8_389_765_500_000)
        self._clock = itertools.count(START_MS, 1_000)
        self._local = threading.local()
        self._port = 0

    # -- lifecycle: the same port across a restart -----------------------------------------------
    def start(self) -> Self:
        exchange = self
        base = _handler_for(self)

        class _Handler(base):  # type: ignore[misc, valid-type]
            def _stash_and_serve(self) -> None:
                exchange._local.headers = {k.lower(): v for k, v in self.headers.items()}
                exchange._local.raw_query = urlsplit(self.path).query
                base._serve(self)

            do_GET = do_POST = do_DELETE = _stash_and_serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=POLL_INTERVAL_S),
                                        name="order-exchange", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> Self:
        return self.start()

    def restart(self) -> None:
        """Stop and start again on the same port; the book survives (the venue's state is its own)."""
        self.stop()
        self.start()

    # -- scripting ---------------------------------------------------------------------------------
    def script(self, *faults: Fault) -> None:
        """The next creates behave as ``faults``, in order; after them, creates are accepted."""
        self._faults.extend(faults)

    def script_cancels(self, *faults: Fault) -> None:
        """The next cancels behave as ``faults`` (``ACCEPT_THEN_STALL`` or ``FAIL_BEFORE_ACCEPT``), in order."""
        self._cancel_faults.extend(faults)

    def _cancel_fault(self) -> Fault:
        return self._cancel_faults.pop(0) if self._cancel_faults else Fault()

    def forget(self, client_id: str, lookups: int) -> None:
        """Hide ``client_id`` from its next ``lookups`` lookups (open-order lists and order queries)."""
        self._forget[client_id] = lookups

    def fill(self, client_id: str, qty: float, price: float | None = None) -> None:
        """Trade ``qty`` more of an open order at ``price`` (default its limit)."""
        with self._lock:
            order = self.book.orders[client_id]
            self._trade(order, qty, order.price if price is None else price)

    def cross(self, symbol: str, price: float) -> None:
        """The price of ``symbol`` moves to ``price``: every waiting stop it reaches fires (a market
        order for the stop's quantity, filled at ``price``)."""
        with self._lock:
            self.marks[symbol] = price
            for stop in list(self.book.stops.values()):
                reached = price <= stop.trigger_price if stop.fires_below else price >= stop.trigger_price
                if stop.symbol == symbol and self._waiting(stop) and reached:
                    self._fire(stop, price)

    def _waiting(self, stop: Order) -> bool:
        """Whether ``stop`` is still armed (each venue names that state its own way)."""
        raise NotImplementedError(f"{type(self).__name__} must say when a stop is armed")

    def _fire(self, stop: Order, price: float) -> None:
        """Trigger ``stop`` at ``price`` as the venue does."""
        raise NotImplementedError(f"{type(self).__name__} must say how a stop fires")

    @staticmethod
    def would_fire(fires_below: bool, trigger: float, mark: float) -> bool:
        """Whether a stop with this trigger is already crossed at ``mark`` (the venues refuse one)."""
        return mark <= trigger if fires_below else mark >= trigger

    def orders_created(self) -> list[Order]:
        with self._lock:
            return list(self.book.orders.values())

    # -- what every venue does ----------------------------------------------------------------------
    def _next_fault(self) -> Fault:
        return self._faults.pop(0) if self._faults else Fault()

    def _trade(self, order: Order, qty: float, price: float) -> None:
        qty = min(qty, order.qty - order.executed)
        order.executed += qty
        order.cum_quote += qty * price
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.update_ms = next(self._clock)
        signed = qty if order.side == "BUY" else -qty
        held, entry = self.book.positions.get(order.symbol, (0.0, 0.0))
        new = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            entry = (abs(held) * entry + qty * price) / abs(new)
        elif abs(signed) > abs(held):  # through zero: the rest opens at this price
            entry = price
        self.book.positions[order.symbol] = (new, entry if new else 0.0)

    def _hidden(self, cid: str) -> bool:
        left = self._forget.get(cid, 0)
        if left > 0:
            self._forget[cid] = left - 1
            return True
        return False


class OrderExchange(LoopbackVenue):
    """The replay server with a stateful Binance USDⓈ-M order book behind it.

    Parameters
    ----------
    api_key, api_secret : the credentials a client must sign with.
    hosts : the hosts served (default the demo-trading host only).
    """

    def __init__(self, api_key: str, api_secret: str, *, hosts: tuple[str, ...] = (DEMO_HOST,)) -> None:
        super().__init__(api_key, api_secret, hosts=hosts)
        info = futures_exchange_info()
        self.symbols = {s["symbol"] for s in info["symbols"]}
        for host in hosts:
            self.route(f"/{host}/fapi/v1/exchangeInfo", json_reply(info))
            self.route(f"/{host}/fapi/v1/order", self._order)
            self.route(f"/{host}/fapi/v1/openOrders", self._open_orders)
            self.route(f"/{host}/fapi/v3/positionRisk", self._position_risk)
            self.route(f"/{host}/fapi/v1/leverageBracket", self._leverage_brackets)
            self.route(f"/{host}/fapi/v1/algoOrder", self._algo_order)
            self.route(f"/{host}/fapi/v1/openAlgoOrders", self._open_algo_orders)

    # -- the venue ---------------------------------------------------------------------------------
    def _params(self, req: Request) -> tuple[dict[str, str], str]:
        if req.method == "POST":
            raw = req.body.decode()
            return dict(parse_qsl(raw)), raw
        return dict(req.query), self._local.raw_query

    def _auth(self, raw: str) -> Reply | None:
        if self._local.headers.get("x-mbx-apikey") != self.api_key:
            return _error(BAD_KEY, 401)
        payload, sep, signature = raw.rpartition("&signature=")
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            return _error(BAD_SIGNATURE)
        return None

    def _order(self, req: Request) -> Reply:
        params, raw = self._params(req)
        if (denied := self._auth(raw)) is not None:
            return denied
        if req.method == "POST":
            self.creates.append(req)
            return self._create(params)
        if req.method == "DELETE":
            return self._cancel(params)
        order = self._lookup(params)
        return json_reply(order.payload(query=True)) if order else _error(ORDER_DOES_NOT_EXIST)

    def _create(self, p: Mapping[str, str]) -> Reply:
        fault = self._next_fault()
        if fault.kind == REJECT:
            return _error(fault.code or MARGIN_INSUFFICIENT)
        if fault.kind == FAIL_BEFORE_ACCEPT:
            return json_reply({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
        symbol = p["symbol"]
        if symbol not in self.symbols:
            return _error(INVALID_SYMBOL)
        cid = p["newClientOrderId"]
        existing = self.book.orders.get(cid)
        if existing is not None and existing.status in ("NEW", "PARTIALLY_FILLED"):
            return _error(DUPLICATE_CLIENT_ID)
        qty, kind = float(p["quantity"]), p["type"]
        price = float(p.get("price") or self.marks[symbol])
        if qty * price > self.book.margin_usdt:
            return _error(MARGIN_INSUFFICIENT)
        now = next(self._clock)
        order = Order(next(self._ids), cid, symbol, p["side"], kind, qty, float(p.get("price") or 0.0),
                      p.get("reduceOnly") == "true", now, update_ms=now)
        self.book.orders[cid] = order
        if fault.fill_qty is not None:
            self._trade(order, fault.fill_qty, price)
        elif kind == "MARKET":
            self._trade(order, qty, price)
        if fault.kind == ACCEPT_THEN_STALL:
            return json_reply(order.payload(), delay_s=STALL_S)
        if fault.kind == ACCEPT_THEN_500:
            return json_reply({"code": -1000, "msg": "An unknown error occured while processing the request."}, 500)
        return json_reply(order.payload())

    def _lookup(self, p: Mapping[str, str]) -> Order | None:
        cid = p.get("origClientOrderId")
        if cid is None and "orderId" in p:
            cid = next((o.client_id for o in self.book.orders.values() if str(o.order_id) == p["orderId"]), None)
        order = self.book.orders.get(cid or "")
        if order is None or order.symbol != p.get("symbol") or self._hidden(order.client_id):
            return None
        return order

    def _cancel(self, p: Mapping[str, str]) -> Reply:
        fault = self._cancel_fault()
        if fault.kind == FAIL_BEFORE_ACCEPT:
            return json_reply({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
        order = self._lookup(p)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            return _error(UNKNOWN_ORDER_SENT)
        order.status, order.update_ms = "CANCELED", next(self._clock)
        return json_reply(order.payload(), delay_s=STALL_S if fault.kind == ACCEPT_THEN_STALL else 0.0)

    def _open_orders(self, req: Request) -> Reply:
        params, raw = self._params(req)
        if (denied := self._auth(raw)) is not None:
            return denied
        listed = [o for o in self.book.orders.values()
                  if o.status in ("NEW", "PARTIALLY_FILLED") and o.symbol == params.get("symbol")]
        return json_reply([o.payload(query=True) for o in listed if not self._hidden(o.client_id)])

    def _leverage_brackets(self, req: Request) -> Reply:
        params, raw = self._params(req)
        if (denied := self._auth(raw)) is not None:
            return denied
        bracket = {"bracket": 1, "initialLeverage": 20, "notionalCap": 1_000_000, "notionalFloor": 0,
                   "maintMarginRatio": 0.004, "cum": 0}
        return json_reply([{"symbol": s, "brackets": [bracket]} for s in sorted(self.symbols)])

    def _position_risk(self, req: Request) -> Reply:
        params, raw = self._params(req)
        if (denied := self._auth(raw)) is not None:
            return denied
        rows = []
        for symbol, (amount, entry) in sorted(self.book.positions.items()):
            if amount == 0 or params.get("symbol") not in (None, symbol):
                continue
            mark = self.marks[symbol]
            rows.append({
                "symbol": symbol, "positionSide": "BOTH", "positionAmt": num(amount), "entryPrice": num(entry),
                "breakEvenPrice": num(entry), "markPrice": num(mark), "unRealizedProfit": num((mark - entry) * amount),
                "liquidationPrice": "0", "isolatedMargin": "0", "notional": num(mark * amount), "marginAsset": "USDT",
                "isolatedWallet": "0", "initialMargin": num(abs(mark * amount)), "maintMargin": "0",
                "positionInitialMargin": num(abs(mark * amount)), "openOrderInitialMargin": "0", "adl": 1,
                "bidNotional": "0", "askNotional": "0", "updateTime": next(self._clock),
            })
        return json_reply(rows)


    # -- algo (conditional) orders --------------------------------------------------------------------
    def _algo_order(self, req: Request) -> Reply:
        params, raw = self._params(req)
        if (denied := self._auth(raw)) is not None:
            return denied
        if req.method == "POST":
            self.creates.append(req)
            return self._create_algo(params)
        if req.method == "DELETE":
            fault = self._cancel_fault()
            if fault.kind == FAIL_BEFORE_ACCEPT:
                return json_reply({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
            stop = self._algo_lookup(params)
            if stop is None or stop.status != "NEW":
                return _error(UNKNOWN_ORDER_SENT)
            stop.status, stop.update_ms = "CANCELED", next(self._clock)
            return json_reply({"algoId": stop.order_id, "clientAlgoId": stop.client_id, "code": "200",
                               "msg": "success"}, delay_s=STALL_S if fault.kind == ACCEPT_THEN_STALL else 0.0)
        stop = self._algo_lookup(params)
        return json_reply(algo_payload(stop)) if stop else _error(ORDER_DOES_NOT_EXIST)

    def _create_algo(self, p: Mapping[str, str]) -> Reply:
        fault = self._next_fault()
        if fault.kind == REJECT:
            return _error(fault.code or MARGIN_INSUFFICIENT)
        if fault.kind == FAIL_BEFORE_ACCEPT:
            return json_reply({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
        if (refused := self._algo_refusal(p)) is not None:
            return _error(refused)
        symbol, cid, side = p["symbol"], p["clientAlgoId"], p["side"]
        now = next(self._clock)
        stop = Order(next(self._ids), cid, symbol, side, p["type"], float(p["quantity"]), 0.0,
                     p.get("reduceOnly") == "true", now, update_ms=now, trigger_price=float(p["triggerPrice"]),
                     fires_below=side == "SELL")
        self.book.stops[cid] = stop
        if fault.kind == ACCEPT_THEN_STALL:
            return json_reply(algo_payload(stop), delay_s=STALL_S)
        if fault.kind == ACCEPT_THEN_500:
            return json_reply({"code": -1000, "msg": "An unknown error occured while processing the request."}, 500)
        return json_reply(algo_payload(stop))

    def _algo_refusal(self, p: Mapping[str, str]) -> tuple[int, str] | None:
        if p.get("algoType") != "CONDITIONAL":
            return INVALID_ALGO_TYPE
        if p.get("symbol") not in self.symbols:
            return INVALID_SYMBOL
        if p.get("type") not in ALGO_TYPES:
            return INVALID_ORDER_TYPE
        if not p.get("triggerPrice"):
            return TRIGGER_PRICE_MISSING
        existing = self.book.stops.get(p.get("clientAlgoId", ""))
        if existing is not None and existing.status == "NEW":
            return DUPLICATE_CLIENT_ID
        if self.would_fire(p["side"] == "SELL", float(p["triggerPrice"]), self.marks[p["symbol"]]):
            return WOULD_IMMEDIATELY_TRIGGER
        return None

    def _algo_lookup(self, p: Mapping[str, str]) -> Order | None:
        cid = p.get("clientAlgoId")
        if cid is None and "algoId" in p:
            cid = next((o.client_id for o in self.book.stops.values() if str(o.order_id) == p["algoId"]), None)
        stop = self.book.stops.get(cid or "")
        if stop is None or stop.symbol != p.get("symbol") or self._hidden(stop.client_id):
            return None
        return stop

    def _open_algo_orders(self, req: Request) -> Reply:
        params, raw = self._params(req)
        if (denied := self._auth(raw)) is not None:
            return denied
        listed = [o for o in self.book.stops.values() if o.status == "NEW" and params.get("symbol") in (None, o.symbol)]
        return json_reply([algo_payload(o) for o in listed if not self._hidden(o.client_id)])

    def _waiting(self, stop: Order) -> bool:
        return stop.status == "NEW"

    def _fire(self, stop: Order, price: float) -> None:
        """Binance places a market order of its own (a new order id) and finishes the algo order."""
        now = next(self._clock)
        placed = Order(next(self._ids), f"algo-{stop.order_id}", stop.symbol, stop.side, "MARKET", stop.qty, 0.0,
                       stop.reduce_only, now, update_ms=now)
        self.book.orders[placed.client_id] = placed
        self._trade(placed, stop.qty, price)
        stop.status, stop.actual_order_id, stop.update_ms = "FINISHED", placed.order_id, next(self._clock)


def algo_payload(stop: Order) -> dict[str, Any]:
    """One algo order as ``POST``/``GET /fapi/v1/algoOrder`` and ``openAlgoOrders`` answer it."""
    return {
        "algoId": stop.order_id, "clientAlgoId": stop.client_id, "algoType": "CONDITIONAL", "orderType": stop.type,
        "symbol": stop.symbol, "side": stop.side, "positionSide": "BOTH", "timeInForce": "GTC",
        "quantity": num(stop.qty), "algoStatus": stop.status,
        "actualOrderId": str(stop.actual_order_id) if stop.actual_order_id else "", "actualPrice": "0",
        "triggerPrice": num(stop.trigger_price), "price": "0", "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "CONTRACT_PRICE", "priceMatch": "NONE",
        "closePosition": False, "priceProtect": False, "reduceOnly": stop.reduce_only, "createTime": stop.time_ms,
        "updateTime": stop.update_ms, "triggerTime": stop.update_ms if stop.actual_order_id else 0, "goodTillDate": 0,
    }


def _error(code: tuple[int, str], status: int = 400) -> Reply:
    return json_reply({"code": code[0], "msg": code[1]}, status)
