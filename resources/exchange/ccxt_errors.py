"""Translate ccxt's exceptions into Perpetua's exchange error hierarchy, at the boundary.

ccxt's own tree (``ccxt/base/errors.py``) splits into ``ExchangeError`` (the venue said no) and
``OperationFailed`` (the request did not complete). We keep only what a caller can act on:

=====================================================  ======================================
ccxt                                                   Perpetua
=====================================================  ======================================
``BadSymbol``                                          :class:`BadSymbol`
``AuthenticationError`` (incl. ``PermissionDenied``)   :class:`AuthError`
``RateLimitExceeded``, ``DDoSProtection`` (429, 418)   :class:`RateLimited` (transient)
``NetworkError`` (``RequestTimeout``,                  :class:`TransientExchangeError`
``ExchangeNotAvailable``, connection resets …)
``BadResponse`` (incl. ``NullResponse``)               :class:`MalformedResponse`
any other ``ExchangeError``                            :class:`PermanentExchangeError`
any other ``OperationFailed``                          :class:`TransientExchangeError`
=====================================================  ======================================

ccxt maps some HTTP statuses to ``ExchangeNotAvailable`` (400, 403, 404 without a venue error
code), so they count as transient here too; the venue's JSON error code, when present, wins
(Binance ``-1121`` -> ``BadSymbol``, ``-2015`` -> ``AuthenticationError``).

ccxt does not reject a 2xx body that is not JSON: it hands the text to the parser, which then
returns an empty list, i.e. a malformed answer would read as "no data". :func:`checked_body` is
installed as the exchange's ``on_rest_response`` hook to raise ``BadResponse`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import ccxt

from resources.exchange.errors import (
    AuthError,
    BadSymbol,
    ExchangeError,
    MalformedResponse,
    PermanentExchangeError,
    RateLimited,
    TransientExchangeError,
)

T = TypeVar("T")

#: How much of an offending body an error message quotes.
BODY_EXCERPT_CHARS = 160

# Order matters: the first matching ccxt class decides (subclasses before their parents).
_TRANSLATION: tuple[tuple[type[BaseException], type[ExchangeError]], ...] = (
    (ccxt.BadSymbol, BadSymbol),
    (ccxt.AuthenticationError, AuthError),
    (ccxt.RateLimitExceeded, RateLimited),
    (ccxt.DDoSProtection, RateLimited),
    (ccxt.NetworkError, TransientExchangeError),
    (ccxt.BadResponse, MalformedResponse),
    (ccxt.ExchangeError, PermanentExchangeError),
    (ccxt.OperationFailed, TransientExchangeError),
    (ccxt.BaseError, PermanentExchangeError),
)


def translate(exc: ccxt.BaseError, *, call: str) -> ExchangeError:
    """The Perpetua error for a ccxt exception (the original stays reachable as ``__cause__``)."""
    for ccxt_type, ours in _TRANSLATION:
        if isinstance(exc, ccxt_type):
            return ours(f"{type(exc).__name__}: {exc}", call=call)
    raise TypeError(f"not a ccxt error: {exc!r}")  # pragma: no cover - BaseError catches all


def guarded(fn: Callable[[], T], *, call: str) -> T:
    """Run one ccxt call, translating its exceptions (for use inside ``retry_read``)."""
    try:
        return fn()
    except ccxt.BaseError as exc:
        raise translate(exc, call=call) from exc


def checked_body(
    code: int,
    reason: str,
    url: str,
    method: str,
    response_headers: Any,
    response_body: str,
    request_headers: Any,
    request_body: Any,
) -> str:
    """``on_rest_response`` hook: a 2xx answer must be JSON, or the read fails as malformed."""
    body = response_body.strip()
    if 200 <= code < 300:
        try:
            json.loads(body)
        except ValueError as exc:
            excerpt = body[:BODY_EXCERPT_CHARS]
            raise ccxt.BadResponse(
                f"{method} {url} answered HTTP {code} with a body that is not JSON "
                f"({exc.__class__.__name__}: {exc}): {excerpt!r}"
            ) from exc
    return body


def expect_list(raw: Any, *, what: str, call: str) -> None:
    """Reject a venue answer that is not a JSON array where the venue documents one."""
    if not isinstance(raw, list):
        shown = json.dumps(raw)[:BODY_EXCERPT_CHARS] if raw is not None else "nothing"
        raise MalformedResponse(f"expected a JSON array of {what}, got {shown}", call=call)
