"""``CcxtBroker``: live and demo orders through ccxt, journalled first, never sent twice.

How one intent goes out (:meth:`CcxtBroker.submit`):

1. refused at once, before anything is written, unless it may go: on the real venue (``network
   = "live"``) only when ``enable_live_orders`` and the layer's own flag are both set *now*
   (``quant.book.safeguards.live_submission_allowed`` on the limits the broker reads per submit);
2. journalled (:mod:`resources.broker.journal`), then claimed ``sent`` in one compare-and-set:
   only an id nothing of which reached the venue can be claimed;
3. ``create_order`` once, with the client order id in the venue's own field
   (:mod:`resources.broker.venue_ids`), under a hard deadline (:func:`~resources.broker.ccxt_calls.within`),
   ccxt's own retries off. Never retried;
4. a failure is classified (:func:`~resources.broker.ccxt_calls.classify_create`): a certain
   refusal is journalled ``rejected`` and raised as :class:`~resources.broker.base.OrderRejected`;
   a request that provably never left is ``not_sent`` (safe to submit once more); anything
   unsure is ``unknown`` and looked up by client order id — up to ``inflight_queries`` open-order
   queries, then one single-order lookup. Found: the venue's state. Not found: it stays
   ``unknown``, and no later submit of that id sends it (:meth:`reconcile` looks again).
5. an answer without the order's state (Bybit answers a create or a cancel with the order's ids
   only, Binance an algo-order cancel with its ids) is read back with one lookup by client id
   (:meth:`CcxtBroker._read_back`).

A ``stop`` takes the same path through the venue's conditional-order service
(:mod:`resources.broker.triggers`): created, looked up, listed and cancelled there, by its client
id; a triggered Binance algo order is settled on the market order it placed.

:meth:`CcxtBroker.expire` cancels the orders of decision hours before a given hour that may still
work on the venue (the book's working orders last one execution hour), the lookup deciding each.

Demo by default: ccxt's sandbox mode no longer serves Binance futures, so ``network="demo"`` uses
ccxt's demo-trading route (``enable_demo_trading``: ``demo-fapi.binance.com``,
``api-demo.bybit.com``). Keys come in as arguments (from ``dagster.EnvVar``), are handed to ccxt
only, and every message, journal reason and log line is redacted; ccxt's own debug log (which
prints request headers) and urllib3's (URLs) are filtered too.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ccxt
import requests

from quant.book.orders import OrderIntent
from quant.book.safeguards import RiskLimits, live_submission_allowed
from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    EXPIRED,
    FILLED,
    FINAL,
    NOT_SENT,
    PARTIALLY_FILLED,
    REJECTED,
    ROUTED_ORDER_TYPES,
    SENDABLE,
    SENT,
    UNKNOWN,
    OrderRejected,
    OrderReport,
    Position,
)
from resources.broker.ccxt_calls import (
    NOT_SENT as FAILED_UNSENT,
)
from resources.broker.ccxt_calls import (
    REJECTED as FAILED_REJECTED,
)
from resources.broker.ccxt_calls import (
    CallDeadline,
    as_exchange_error,
    classify_create,
    echo_masked,
    fetch_by_client_id,
    is_not_found,
    mask_signed_echo,
    within,
)
from resources.broker.journal import OrderJournal
from resources.broker.triggers import cancel_params, create_args, lookup_params, placed_order_id, refusal
from resources.broker.venue_ids import rule_for, venue_client_id
from resources.exchange.ccxt_errors import guarded
from resources.exchange.ccxt_profiles import build_client, response_of
from resources.exchange.ccxt_reader import DEFAULT_VENUES
from resources.exchange.errors import ExchangeError, LiveOrdersDisabled, MalformedResponse, retry_read
from resources.redaction import RedactingFilter

T = TypeVar("T")
log = logging.getLogger(__name__)

DEMO, LIVE = "demo", "live"
NETWORKS = (DEMO, LIVE)
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_HARD_TIMEOUT_S = 20.0
DEFAULT_INFLIGHT_QUERIES = 3
#: Waits (s) before each lookup after the first: the venue needs a moment to show a new order.
DEFAULT_LOOKUP_DELAYS_S = (0.5, 1.0, 2.0)
#: ccxt's unified order status -> journal state (``open`` splits on whether anything filled).
_CLOSED_STATES = {"closed": FILLED, "canceled": CANCELED, "expired": EXPIRED, "rejected": REJECTED}
#: Loggers that print what was sent: ccxt's request headers (the API key), urllib3's URLs (signatures).
_WIRE_LOGGERS = ("ccxt.base.exchange", "urllib3.connectionpool")


def switches_off() -> RiskLimits:
    """The default live switches: both off (a nominal bankroll; only the switches are read)."""
    return RiskLimits(bankroll_usd=1.0)


class _WireFilter(RedactingFilter):
    """Redaction by name, and Bybit's quote of a signed string (the API key inside a response body)."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        message = record.getMessage()
        masked = mask_signed_echo(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _filter_wire_logs() -> None:
    """At DEBUG, ccxt logs each request's headers (the API key) and each answer's body (Bybit's 10004
    quotes the signed string, key included), urllib3 each URL (a GET's signature): redact those loggers'
    records where they are made (a logger's filter sees only its own records)."""
    for name in _WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WireFilter) for f in logger.filters):
            logger.addFilter(_WireFilter())


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def state_of(order: Mapping[str, Any], *, call: str) -> str:
    """The journal state of a ccxt unified order."""
    status = order.get("status")
    if status == "open":
        return PARTIALLY_FILLED if _num(order.get("filled")) > 0 else ACKNOWLEDGED
    if status in _CLOSED_STATES:
        return _CLOSED_STATES[status]
    raise MalformedResponse(f"order {order.get('clientOrderId')!r} has a status ccxt could not read: "
                            f"{str(order.get('info'))[:160]}", call=call)


class CcxtBroker:
    """The live order path over ccxt (:class:`~resources.broker.base.Broker`).

    Parameters
    ----------
    journal : the order journal (written before anything is sent).
    venues : venue id -> ccxt id (``{"binance": "binanceusdm", "bybit": "bybit"}``).
    network : ``"demo"`` (default: the venues' demo trading) or ``"live"`` (real orders, behind the switches).
    api_key, api_secret : credentials, from ``dagster.EnvVar``; never logged or stored.
    live_switches : called at every submit on ``"live"``; its ``enable_live_orders`` and
        ``live_layers`` must both allow the intent's layer.
    timeout_s : ccxt's per-request timeout. hard_timeout_s : wall-clock limit of any one call.
    inflight_queries : open-order queries after an unsure create, before the single-order lookup.
    lookup_delays_s : waits before the second, third … lookup (the last repeats).
    sleep : injected in tests. http_session : a ``requests.Session`` factory for ccxt (tests route
        it to a loopback server); default ccxt's own.
    """

    def __init__(
        self,
        journal: OrderJournal,
        *,
        venues: Mapping[str, str] = DEFAULT_VENUES,
        network: str = DEMO,
        api_key: str | None = None,
        api_secret: str | None = None,
        live_switches: Callable[[], RiskLimits] = switches_off,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        hard_timeout_s: float = DEFAULT_HARD_TIMEOUT_S,
        inflight_queries: int = DEFAULT_INFLIGHT_QUERIES,
        lookup_delays_s: tuple[float, ...] = DEFAULT_LOOKUP_DELAYS_S,
        sleep: Callable[[float], None] = time.sleep,
        http_session: Callable[[], requests.Session] | None = None,
        enable_rate_limit: bool = True,
    ) -> None:
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
        if not (timeout_s > 0 and hard_timeout_s > 0):
            raise ValueError(f"timeouts must be positive seconds, got timeout_s={timeout_s}, hard_timeout_s={hard_timeout_s}")
        if inflight_queries < 0 or not lookup_delays_s or min(lookup_delays_s) < 0:
            raise ValueError("inflight_queries must be >= 0 and lookup_delays_s a non-empty tuple of waits >= 0")
        self.network = network
        self._journal = journal
        self._venues = dict(venues)
        self._key, self._secret = api_key, api_secret
        self._switches = live_switches
        self._timeout_ms = int(timeout_s * 1000)
        self._hard_s = hard_timeout_s
        self._inflight = inflight_queries
        self._delays = lookup_delays_s
        self._sleep = sleep
        self._session = http_session
        self._rate_limit = enable_rate_limit
        self._clients: dict[str, ccxt.Exchange] = {}

    @property
    def journal(self) -> OrderJournal:
        """The order journal this broker writes (read by :mod:`resources.broker.expiry`)."""
        return self._journal

    def __repr__(self) -> str:  # no credentials, ever
        return f"CcxtBroker(network={self.network!r}, venues={self._venues!r}, journal={self._journal.url!r})"

    # -- clients -----------------------------------------------------------------------------------
    def _ccxt_id(self, venue: str) -> str:
        try:
            return self._venues[venue]
        except KeyError:
            raise ValueError(f"unknown venue {venue!r}; configured: {sorted(self._venues)}") from None

    def _build(self, venue: str) -> ccxt.Exchange:
        _filter_wire_logs()
        config: dict[str, Any] = {"enableRateLimit": self._rate_limit, "timeout": self._timeout_ms}
        if self._key:
            config.update(apiKey=self._key, secret=self._secret)
        client = build_client(self._ccxt_id(venue), config)
        client.options.update(fetchCurrencies=False, maxRetriesOnFailure=0, warnOnFetchOpenOrdersWithoutSymbol=False)
        # ccxt's load_markets asks ``has``, not the option: with keys on its live host, ccxt's Bybit
        # would otherwise call the private coin list (/v5/asset/coin/query-info) before any order
        client.has = {**client.has, "fetchCurrencies": False}
        if self.network == DEMO:
            client.enable_demo_trading(True)
        if self._session is not None:
            client.session = self._session()
        return client

    def _client(self, venue: str) -> ccxt.Exchange:
        """The venue's ccxt instance with its markets loaded (a read: retried, under the deadline)."""
        if venue not in self._clients:
            client = self._build(venue)
            call = f"{client.id}.load_markets"
            retry_read(lambda: self._once(venue, client, call, client.load_markets), call=call, sleep=self._sleep)
            self._clients[venue] = client
        return self._clients[venue]

    def _once(self, venue: str, client: ccxt.Exchange, call: str, fn: Callable[[], T]) -> T:
        """One ccxt call, translated, under the hard deadline; an abandoned client is never reused."""
        client.last_json_response = None
        try:
            return within(self._hard_s, lambda: guarded(lambda: echo_masked(fn), call=call, response=response_of(client)),
                          call=call)
        except CallDeadline:
            if self._clients.get(venue) is client:
                del self._clients[venue]
            raise

    def _raw(self, venue: str, client: ccxt.Exchange, call: str, fn: Callable[[], T]) -> T:
        """One ccxt call under the deadline, ccxt's own exception kept (the create path classifies it)."""
        response_of(client).reset()
        client.last_json_response = None
        try:
            return within(self._hard_s, lambda: echo_masked(fn), call=call)
        except CallDeadline:
            if self._clients.get(venue) is client:
                del self._clients[venue]
            raise

    # -- submit ----------------------------------------------------------------------------------
    def _allow(self, intent: OrderIntent, ccxt_id: str) -> None:
        if intent.order_type not in ROUTED_ORDER_TYPES:
            raise ValueError(f"{intent.client_order_id}: {intent.order_type} orders are not routed to venues "
                             f"(only {ROUTED_ORDER_TYPES}); nothing was sent or journalled")
        if why := refusal(intent):
            raise ValueError(f"{intent.client_order_id}: not routed: {why}; nothing was sent or journalled")
        if self.network != LIVE:
            return
        limits = self._switches()
        if not live_submission_allowed(limits, intent.layer):
            raise LiveOrdersDisabled(
                f"{intent.client_order_id}: real orders need enable_live_orders (now {bool(limits.enable_live_orders)}) "
                f"and the {intent.layer} layer's own flag (live layers now {sorted(limits.live_layers)}); "
                "nothing was sent or journalled", call=f"{ccxt_id}.create_order")

    def submit(self, intent: OrderIntent) -> OrderReport:
        """Place ``intent`` once (module docstring); returns where it stands.

        Raises
        ------
        LiveOrdersDisabled
            ``network="live"`` and a switch is off (checked now, before anything is written).
        OrderRejected
            The venue refused it, now or when it was first submitted (journalled ``rejected``).
        ValueError
            An order type the venues are not routed (or a stop that is not reduce-only), an unknown
            venue, or an id journalled for a different order.
        """
        ccxt_id = self._ccxt_id(intent.venue)
        self._allow(intent, ccxt_id)
        cid = intent.client_order_id
        vid = venue_client_id(cid, ccxt_id)
        report = self._journal.open(intent, venue_client_id=vid, network=self.network)
        if report.state in SENDABLE and self._journal.claim(cid):
            report = self._send(intent, vid, ccxt_id)
        else:
            report = self._journal.get(cid)
            if report.state in (SENT, UNKNOWN):
                report = self._resolve(report, f"submitted again while {report.state}: looked up, not resent")
        if report.state == REJECTED:
            raise OrderRejected(f"{cid} was not placed: {report.reason}", call=f"{ccxt_id}.create_order", report=report)
        return report

    def _send(self, intent: OrderIntent, vid: str, ccxt_id: str) -> OrderReport:
        cid, call = intent.client_order_id, f"{ccxt_id}.create_order"
        try:
            client = self._client(intent.venue)
        except ExchangeError as exc:
            return self._journal.record(cid, NOT_SENT, f"not sent: the venue's markets could not be loaded ({exc})",
                                        unsent=True)
        kind, price, params = create_args(intent, ccxt_id, vid)
        try:
            order = self._raw(intent.venue, client, call, lambda: client.create_order(
                intent.symbol, kind, intent.side, intent.qty, price, params))
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none is retried
            failure = classify_create(exc, status=response_of(client).status, body=client.last_json_response, call=call)
            log.warning("%s: create failed (%s): %s", cid, failure.outcome, failure.error)
            if failure.outcome == FAILED_REJECTED:
                return self._journal.record(cid, REJECTED, f"rejected: {failure.error}")
            if failure.outcome == FAILED_UNSENT:
                return self._journal.record(cid, NOT_SENT, f"not sent: no connection to the venue was opened "
                                            f"({failure.error}); safe to submit once more", unsent=True)
            report = self._journal.record(cid, UNKNOWN, f"no certain answer ({failure.error}); looking it up")
            return self._resolve(report, f"after an unsure create ({failure.outcome})")
        if order.get("status") is None:
            return self._read_back(cid, order, "accepted by the venue", call=call, qty=intent.qty)
        return self._settle(cid, order, "answered by the venue", call=call, qty=intent.qty)

    def _read_back(self, cid: str, answer: Mapping[str, Any], context: str, *, call: str, qty: float) -> OrderReport:
        """The state of an order the venue took but did not describe, read back once by client id.

        Not found yet (a venue shows a new order a moment later): it stays ``acknowledged`` (or
        ``partially_filled``), which the venue did say, with its order id; :meth:`reconcile` reads it later.
        """
        report = self._journal.get(cid)
        order, why = self._lookup_once(report, self._client(report.venue), self._ccxt_id(report.venue))
        if order is not None:
            return self._settle(cid, order, f"{context}, read back by client order id", call=call, qty=qty)
        state = PARTIALLY_FILLED if report.state == PARTIALLY_FILLED else ACKNOWLEDGED
        return self._journal.record(cid, state, f"{context}; its state not read back yet ({why})",
                                    exchange_order_id=str(answer.get("id") or ""))

    # -- finding an order by client id -------------------------------------------------------------
    def _delay(self, k: int) -> float:
        return self._delays[min(k, len(self._delays) - 1)]

    def _lookup_once(self, report: OrderReport, client: ccxt.Exchange, ccxt_id: str) -> tuple[dict | None, str]:
        """One single-order lookup by client id: (order, "") or (None, why not)."""
        field, call = rule_for(ccxt_id).field_for(report.order_type, lookup=True), f"{ccxt_id}.fetch_order"
        try:
            return self._raw(report.venue, client, call, lambda: fetch_by_client_id(
                client, report.symbol, field, report.venue_client_id, lookup_params(report.order_type))), ""
        except Exception as exc:  # noqa: BLE001 - a lookup that fails is a lookup that did not find
            if is_not_found(exc, client.last_json_response):
                return None, "the venue said no such order"
            return None, f"no answer ({as_exchange_error(exc, call=call)})"

    def _open_listed(self, report: OrderReport, ccxt_id: str) -> tuple[dict | None, str]:
        """One open-order query of the order's symbol: (the order, "") or (None, what was seen)."""
        call = f"{ccxt_id}.fetch_open_orders"
        try:
            client = self._client(report.venue)
            listed = self._raw(report.venue, client, call, lambda: client.fetch_open_orders(
                report.symbol, None, None, lookup_params(report.order_type)))
        except Exception as exc:  # noqa: BLE001 - counted as a lookup without an answer
            return None, f"open orders: no answer ({as_exchange_error(exc, call=call)})"
        match = next((o for o in listed if o.get("clientOrderId") == report.venue_client_id), None)
        return match, "open orders: not listed"

    def _find(self, report: OrderReport) -> tuple[dict | None, str]:
        """Up to ``inflight_queries`` open-order queries, then one lookup by client id."""
        ccxt_id = self._ccxt_id(report.venue)
        tries: list[str] = []
        for k in range(self._inflight):
            if k:
                self._sleep(self._delay(k - 1))
            match, seen = self._open_listed(report, ccxt_id)
            if match is not None:
                return match, f"in the open orders (query {k + 1})"
            tries.append(seen)
        if self._inflight:
            self._sleep(self._delay(self._inflight - 1))
        try:
            client = self._client(report.venue)
        except ExchangeError as exc:
            return None, "; ".join([*tries, f"lookup: the venue's markets could not be loaded ({exc})"])
        order, why = self._lookup_once(report, client, ccxt_id)
        if order is not None:
            return order, "by its client order id"
        return None, "; ".join([*tries, f"lookup: {why}"])

    def _resolve(self, report: OrderReport, context: str) -> OrderReport:
        """Reconcile an order whose create got no certain answer, never resending it."""
        order, how = self._find(report)
        call = f"{self._ccxt_id(report.venue)}.fetch_order"
        if order is not None:
            return self._settle(report.client_order_id, order, f"{context}: found {how}", call=call, qty=report.qty)
        return self._journal.record(
            report.client_order_id, UNKNOWN,
            f"{context}: not found ({how}); never resent: reconcile() looks again "
            "(a venue can lose sight of an order for ~30 min after a timeout)")

    def _placed(self, cid: str, order: Mapping[str, Any], context: str, *, call: str) -> tuple[dict | None, str]:
        """A triggered stop's market order (Binance's ``actualOrderId``), read by its id: what filled."""
        placed = placed_order_id(order)
        if not placed:
            return dict(order), context
        report = self._journal.get(cid)
        try:
            client = self._client(report.venue)
            market = self._raw(report.venue, client, call, lambda: client.fetch_order(placed, report.symbol))
        except Exception as exc:  # noqa: BLE001 - not read is not known: it stays unknown
            return None, (f"{context}: triggered (algo status {order.get('status')}), but its market order {placed} "
                          f"was not read ({as_exchange_error(exc, call=call)}); reconcile() looks again")
        return market, f"{context}: triggered, its market order {placed}"

    def _settle(self, cid: str, order: Mapping[str, Any], context: str, *, call: str, qty: float) -> OrderReport:
        own_id = str(order.get("id") or "")
        followed, context = self._placed(cid, order, context, call=call)
        if followed is None:
            return self._journal.record(cid, UNKNOWN, context, exchange_order_id=own_id)
        order = followed
        try:
            state = state_of(order, call=call)
        except MalformedResponse as exc:
            return self._journal.record(cid, UNKNOWN, f"{context}, but {exc}")
        amount = _num(order.get("amount"))
        note = "" if not math.isfinite(amount) or math.isclose(amount, qty, rel_tol=1e-9) else (
            f"; the venue holds {amount:g} (its lot size), the intent {qty:g}")
        filled = _num(order.get("filled"))
        return self._journal.record(cid, state, f"{context}: {order.get('status')}{note}",
                                    filled_qty=filled if math.isfinite(filled) else 0.0,
                                    avg_price=_num(order.get("average")) if filled else math.nan,
                                    exchange_order_id=own_id)

    # -- the rest of the protocol ------------------------------------------------------------------
    def _ours(self, client_order_id: str) -> OrderReport:
        report = self._journal.get(client_order_id)
        if report.network != self.network:
            raise ValueError(f"{client_order_id} was journalled on {report.network}; this broker trades {self.network}")
        return report

    def lookup(self, client_order_id: str) -> OrderReport:
        """The journalled order, refreshed from the venue with one lookup by client id if it is unsettled."""
        report = self._ours(client_order_id)
        if report.state in FINAL or report.state in SENDABLE:
            return report
        return self._looked_up(report, "looked up")

    def _looked_up(self, report: OrderReport, context: str) -> OrderReport:
        """One lookup by client id, recorded (not found: the state stays, with why)."""
        ccxt_id = self._ccxt_id(report.venue)
        order, why = self._lookup_once(report, self._client(report.venue), ccxt_id)
        if order is None:
            return self._journal.record(report.client_order_id, report.state, f"{context}: {why}")
        return self._settle(report.client_order_id, order, context, call=f"{ccxt_id}.fetch_order", qty=report.qty)

    def cancel(self, client_order_id: str, *, reason: str = "") -> OrderReport:
        """Cancel by client id (one request, not retried), then read back where the order stands.

        ``reason`` (why it is cancelled) opens the journal's reason. A cancel that fails or gets no
        answer is followed by one lookup: the venue's state is recorded, never assumed."""
        report = self._ours(client_order_id)
        why = f"{reason}; " if reason else ""
        if report.state in FINAL:
            return report
        if report.state in SENDABLE:
            return self._journal.record(client_order_id, CANCELED, f"{why}canceled before it was sent")
        ccxt_id = self._ccxt_id(report.venue)
        client, call = self._client(report.venue), f"{ccxt_id}.cancel_order"
        params = {rule_for(ccxt_id).field_for(report.order_type, lookup=True): report.venue_client_id,
                  **cancel_params(report.order_type, ccxt_id)}
        try:
            order = self._raw(report.venue, client, call, lambda: client.cancel_order(None, report.symbol, params))
        except Exception as exc:  # noqa: BLE001 - whatever happened, the venue's answer decides
            log.warning("%s: cancel failed: %s", client_order_id, as_exchange_error(exc, call=call))
            return self._looked_up(report, f"{why}cancel failed ({as_exchange_error(exc, call=call)}), looked up")
        if order.get("status") is None:
            return self._read_back(client_order_id, order, f"{why}cancel accepted", call=call, qty=report.qty)
        return self._settle(client_order_id, order, f"{why}canceled", call=call, qty=report.qty)

    def open_orders(self, venue: str, symbol: str | None = None) -> list[OrderReport]:
        """The venue's open orders (of ``symbol``); orders not in the journal carry no client order id."""
        ccxt_id = self._ccxt_id(venue)
        call = f"{ccxt_id}.fetch_open_orders"
        client = self._client(venue)
        listed: dict[str, dict] = {}
        for extra in (lookup_params("limit"), lookup_params("stop")):  # resting orders, then stops
            got = retry_read(lambda extra=extra: self._once(venue, client, call, lambda: client.fetch_open_orders(
                symbol, None, None, extra)), call=call, sleep=self._sleep)
            listed.update({str(o.get("id")): o for o in got})
        out = []
        for o in listed.values():
            vid = str(o.get("clientOrderId") or "")
            ours = self._journal.find(self.network, venue, vid) if vid else None
            out.append(OrderReport(
                ours.client_order_id if ours else "", vid, venue, str(o.get("symbol")), str(o.get("side")),
                _num(o.get("amount")), state_of(o, call=call), _num(o.get("filled")), _num(o.get("average")),
                str(o.get("id") or ""), self.network, "" if ours else "not in the order journal",
                order_type=ours.order_type if ours else ""))
        return out

    def positions(self, venue: str) -> list[Position]:
        """Non-zero positions on ``venue`` (signed base units: contracts x contract size)."""
        ccxt_id = self._ccxt_id(venue)
        call = f"{ccxt_id}.fetch_positions"
        client = self._client(venue)
        rows = retry_read(lambda: self._once(venue, client, call, client.fetch_positions), call=call, sleep=self._sleep)
        out = []
        for p in rows:
            size = _num(p.get("contracts")) * (_num(p.get("contractSize")) if p.get("contractSize") else 1.0)
            if not (math.isfinite(size) and size):
                continue
            sign = -1.0 if p.get("side") == "short" else 1.0
            out.append(Position(venue, str(p.get("symbol")), sign * size, _num(p.get("entryPrice")), _num(p.get("markPrice"))))
        return out

    def reconcile(self) -> list[OrderReport]:
        """Every unsettled journalled order of this network, looked up on its venue; nothing is resent."""
        out = []
        for report in self._journal.unsettled(self.network):
            if report.state in (SENT, UNKNOWN):
                out.append(self._resolve(report, f"reconciled from {report.state}"))
            else:
                out.append(self.lookup(report.client_order_id))
        return out


__all__ = ["DEMO", "LIVE", "NETWORKS", "CcxtBroker", "state_of", "switches_off"]
