"""The two hard questions of a live order call: did it finish in time, and did the order reach the venue?

:func:`within` runs one ccxt call under a hard wall-clock deadline. ``requests``' timeout bounds
each socket wait, not the call: a venue that trickles bytes, or a DNS lookup that hangs, could
otherwise hold the hourly run. Past the deadline the call is abandoned (its thread runs on; the
broker stops using that ccxt instance) and :class:`CallDeadline` is raised.

:func:`classify_create` reads a failed ``create_order`` and says what is certain:

==============  =============================================================  =====================
outcome         when                                                           the broker then
==============  =============================================================  =====================
``rejected``    the venue answered and said no (a ccxt ``ExchangeError``:      journals ``rejected``
                margin, bad symbol, bad key, a filter), answered 429/418, or
                ccxt refused before sending (no request left: local checks)
``not_sent``    no connection was ever opened (refused, connect timeout):      journals ``not_sent``:
                not one byte reached the venue                                 safe to send once
``duplicate``   the venue says the client id is already open (-4116, 110072)   looks it up
``ambiguous``   everything else: no answer (read timeout, reset, deadline),    looks it up, never
                5xx, Binance's "execution status unknown" (-1000/-1006/-1007,  resends
                ccxt ``OperationFailed``), Bybit's server error or timeout
                inside an HTTP 200 (10016, 10000), a 2xx it could not read
==============  =============================================================  =====================

Only certainty rejects; anything unsure is looked up by client order id.

:func:`fetch_by_client_id` is that lookup. ccxt's ``fetch_order(None, ...)`` works for Binance;
ccxt's Bybit sends ``orderId=None`` on the wire, and Bybit reads ``orderId`` before ``orderLinkId``
(so it finds nothing), so a Bybit order is looked up by listing with its ``orderLinkId``: the
realtime endpoint (open orders and the newest 500 closed ones), then the order history (closed
orders, and the only place that has them after a Bybit restart).

:func:`echo_masked` guards every call: a Bybit signature refusal (10004) quotes the signed string,
``error sign! origin_string[<timestamp><API key><recv window><payload>]``, with the key where no
field name marks it (so name-based redaction cannot see it); the quote is masked whole in the
error before anything reads it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from resources.exchange.ccxt_errors import translate
from resources.exchange.errors import ExchangeError, TransientExchangeError

T = TypeVar("T")

REJECTED, NOT_SENT, DUPLICATE, AMBIGUOUS = "rejected", "not_sent", "duplicate", "ambiguous"
SERVER_ERROR = 500
#: Venue codes saying "this client order id is already in use" (Binance USDⓈ-M, Bybit v5).
DUPLICATE_ID_CODES = frozenset({"-4116", "110072"})
#: Venue codes saying "no such order" (Binance -2013 query / -2011 cancel, Bybit 110001).
NOT_FOUND_CODES = frozenset({"-2013", "-2011", "110001"})
#: Codes a venue answers in an HTTP 200 that do not say whether the order was placed (Bybit
#: 10000 "Server Timeout", 10016 "Server error" / "Service is restarting"); ccxt reads them as a
#: plain ``ExchangeError``, which would otherwise count as a refusal.
UNSURE_CODES = frozenset({"10000", "10016"})
#: ccxt ids looked up by listing orders with the client id (see :func:`fetch_by_client_id`).
LISTED_LOOKUP = frozenset({"bybit"})
#: Bybit's echo of the signed string, up to the end of the JSON string it sits in (inner quotes escaped).
_SIGNED_ECHO = re.compile(r'origin_string\[(?:[^"\\]|\\.)*')
MASKED_ECHO = "origin_string[***]"


class CallDeadline(TransientExchangeError):
    """The call did not return within the broker's hard deadline (abandoned, outcome unknown)."""


def within(seconds: float, fn: Callable[[], T], *, call: str) -> T:
    """``fn()`` if it returns within ``seconds``; raises :class:`CallDeadline` otherwise.

    ``fn``'s own exceptions are re-raised unchanged.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as is
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"broker {call}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CallDeadline(f"no answer within the hard deadline of {seconds:g} s; the call is abandoned", call=call)
    if "error" in box:
        raise box["error"]
    return box["value"]


def mask_signed_echo(text: str) -> str:
    """``text`` with Bybit's quote of a signed string (API key inside) masked whole."""
    return _SIGNED_ECHO.sub(MASKED_ECHO, text)


def echo_masked(fn: Callable[[], T]) -> T:
    """``fn()``; a ccxt error that quotes the signed string is raised again as a masked copy (same class)."""
    try:
        return fn()
    except ccxt.BaseError as exc:
        text = str(exc)
        if not _SIGNED_ECHO.search(text):
            raise
        masked = type(exc)(mask_signed_echo(text)).with_traceback(exc.__traceback__)
    raise masked  # outside the handler: the unmasked error is not kept as its context


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def never_connected(exc: BaseException) -> bool:
    """True when no connection to the venue was ever opened (so no request can have reached it)."""
    for link in _chain(exc):
        if isinstance(link, requests.exceptions.ConnectTimeout):
            return True
        if isinstance(link, requests.exceptions.ConnectionError) and not isinstance(link, requests.exceptions.ProxyError):
            inner = link.args[0] if link.args else None
            if isinstance(inner, MaxRetryError) and isinstance(inner.reason, NewConnectionError):
                return True
    return False


def _sent_anything(exc: BaseException) -> bool:
    """Whether ``exc`` came out of an HTTP exchange (a ``requests`` error somewhere in its chain)."""
    return any(isinstance(link, requests.exceptions.RequestException) for link in _chain(exc))


def venue_code(body: Any) -> str | None:
    """The venue's error code in a JSON answer (Binance ``code``, Bybit ``retCode``), as text."""
    if not isinstance(body, dict):
        return None
    for key in ("code", "retCode"):
        if body.get(key) is not None:
            return str(body[key])
    return None


def as_exchange_error(exc: BaseException, *, call: str) -> ExchangeError:
    """``exc`` in Perpetua's hierarchy, redacted (ccxt errors translated, others transient)."""
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, ccxt.BaseError):
        return translate(exc, call=call)
    return TransientExchangeError(f"{type(exc).__name__}: {exc}", call=call)


@dataclass(frozen=True)
class CreateFailure:
    """What a failed create proves: :data:`REJECTED`, :data:`NOT_SENT`, :data:`DUPLICATE` or :data:`AMBIGUOUS`."""

    outcome: str
    error: ExchangeError


def classify_create(exc: BaseException, *, status: int | None, body: Any, call: str) -> CreateFailure:  # noqa: C901
    """Classify a failed ``create_order`` (the module's table).

    Parameters
    ----------
    exc : what the call raised.
    status : HTTP status of the venue's answer, None when none arrived.
    body : the answer's parsed JSON, None when there was none.
    """
    error = as_exchange_error(exc, call=call)
    if isinstance(exc, CallDeadline):
        return CreateFailure(AMBIGUOUS, error)
    if never_connected(exc):
        return CreateFailure(NOT_SENT, error)
    if status is None:
        local = isinstance(exc, ccxt.BaseError) and not _sent_anything(exc)
        return CreateFailure(REJECTED if local else AMBIGUOUS, error)
    if status >= SERVER_ERROR:
        return CreateFailure(AMBIGUOUS, error)
    code = venue_code(body)
    if code in DUPLICATE_ID_CODES:
        return CreateFailure(DUPLICATE, error)
    if code in UNSURE_CODES:
        return CreateFailure(AMBIGUOUS, error)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return CreateFailure(REJECTED, error)
    if isinstance(exc, ccxt.BadResponse | ccxt.OperationFailed):
        return CreateFailure(AMBIGUOUS, error)
    if isinstance(exc, ccxt.ExchangeError):
        return CreateFailure(REJECTED, error)
    return CreateFailure(AMBIGUOUS, error)


def fetch_by_client_id(client: ccxt.Exchange, symbol: str, field: str, venue_client_id: str,
                       extra: Mapping[str, Any] | None = None) -> dict:
    """The order ``client`` holds under ``venue_client_id`` (in the venue's ``field``), as ccxt parses it.

    ``extra``: more ccxt params (``trigger=True`` asks the venue's conditional-order endpoints, for a
    stop). Raises ``ccxt.OrderNotFound`` when the venue has no such order (the module docstring says
    how each venue is asked).
    """
    params = {field: venue_client_id, **(extra or {})}
    if client.id not in LISTED_LOOKUP:
        return client.fetch_order(None, symbol, params)
    for listing in (client.fetch_open_orders, client.fetch_canceled_and_closed_orders):
        match = next((o for o in listing(symbol, None, None, params) if o.get("clientOrderId") == venue_client_id),
                     None)
        if match is not None:
            return match
    raise ccxt.OrderNotFound(f"{client.id}: no order {venue_client_id} among its recent or its past orders")


def is_not_found(exc: BaseException, body: Any) -> bool:
    """Whether a lookup's failure is the venue saying "no such order" (not a failure to answer)."""
    return isinstance(exc, ccxt.OrderNotFound) or venue_code(body) in NOT_FOUND_CODES


__all__ = ["AMBIGUOUS", "DUPLICATE", "NOT_SENT", "REJECTED", "CallDeadline", "CreateFailure", "as_exchange_error",
           "classify_create", "echo_masked", "fetch_by_client_id", "is_not_found", "mask_signed_echo", "never_connected", "venue_code", "within"]
