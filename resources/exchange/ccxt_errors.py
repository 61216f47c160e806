"""Translate ccxt's exceptions into Perpetua's exchange error hierarchy, at the boundary.

ccxt's own tree (``ccxt/base/errors.py``) splits into ``ExchangeError`` (the venue said no) and
``OperationFailed`` (the request did not complete). We keep only what a caller can act on:

=====================================================  ======================================
ccxt                                                   Perpetua
=====================================================  ======================================
``BadSymbol``                                          :class:`BadSymbol`
``AuthenticationError`` (incl. ``PermissionDenied``)   :class:`AuthError`
``RateLimitExceeded``, ``DDoSProtection`` (429)        :class:`RateLimited` (transient)
any answer with HTTP 418 (Binance's IP ban)            :class:`Banned` (transient, never hammered)
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

ccxt raises the same ``DDoSProtection`` for Binance's 429 and 418 and keeps no status code, and
its ``last_response_headers`` survives a later timeout (stale). So the hook is a
:class:`ResponseRecorder`: reset before each request, it holds the status and headers of the
answer that failed, from which :func:`translate` reads ``Retry-After``
(:mod:`resources.exchange.retry_after`).

ccxt's message for a signed call quotes the signed URL, and its ``__context__`` (requests'
``HTTPError``) quotes it again. The translated error's message is redacted, and its cause is a
redacted copy of the ccxt exception without that context, so a stored traceback carries no
signature or key either.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
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
from resources.exchange.retry_after import paced
from resources.redaction import redact

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


class ResponseRecorder:
    """``on_rest_response`` hook: :func:`checked_body`, remembering the last answer's status and headers."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: Mapping[str, Any] = {}

    def reset(self) -> None:
        """Forget the last answer (call before each request: a timeout leaves none)."""
        self.status, self.headers = None, {}

    def __call__(self, code: int, reason: str, url: str, method: str, response_headers: Any, response_body: str,
                 request_headers: Any, request_body: Any) -> str:
        self.status, self.headers = code, response_headers or {}
        return checked_body(code, reason, url, method, response_headers, response_body, request_headers,
                            request_body)


def translate(exc: ccxt.BaseError, *, call: str, response: ResponseRecorder | None = None,
              now: datetime | None = None) -> ExchangeError:
    """The Perpetua error for a ccxt exception, its message redacted.

    With the failing ``response`` and ``now``, a ``Retry-After`` becomes the error's wait and an
    HTTP 418 a :class:`~resources.exchange.errors.Banned`.
    """
    for ccxt_type, ours in _TRANSLATION:
        if isinstance(exc, ccxt_type):
            error = ours(f"{type(exc).__name__}: {exc}", call=call)
            if response is None or now is None:
                return error
            return paced(error, status=response.status, headers=response.headers, now=now)
    raise TypeError(f"not a ccxt error: {exc!r}")  # pragma: no cover - BaseError catches all


def scrubbed(exc: ccxt.BaseError) -> ccxt.BaseError:
    """A copy of ``exc`` (same class, same traceback) with its message redacted and no context."""
    return type(exc)(redact(str(exc))).with_traceback(exc.__traceback__)


def guarded(fn: Callable[[], T], *, call: str, response: ResponseRecorder | None = None,
            clock: Callable[[], datetime] | None = None) -> T:
    """Run one ccxt call, translating its exceptions (for use inside ``retry_read``).

    ``response`` (the client's hook) is reset first and, with ``clock``, read on failure.
    """
    if response is not None:
        response.reset()
    try:
        return fn()
    except ccxt.BaseError as exc:
        raise translate(exc, call=call, response=response, now=clock() if clock else None) from scrubbed(exc)


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
