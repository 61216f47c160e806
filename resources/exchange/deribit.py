"""``DeribitHttp``: the :class:`~resources.exchange.base.OptionsVenue` protocol over Deribit's
JSON-RPC-over-HTTP public API (``GET {base_url}/public/<method>?<params>``), with ``httpx``.

Every answer is a JSON-RPC envelope: ``{"jsonrpc": "2.0", "result": ...}`` on success,
``{"jsonrpc": "2.0", "error": {"code", "message", "data"}}`` on failure (usually with HTTP 400).
Errors are translated here, at the boundary, using Deribit's published RPC error codes (API
v2.1.1, "RPC Error Codes"; the same table ccxt's ``deribit.py`` encodes):

==========================================================  ==================================
code                                                        Perpetua
==========================================================  ==================================
10028 too_many_requests, 10047 matching_engine_queue_full   :class:`RateLimited`
10040 retry, 10041 settlement_in_progress, 11051            :class:`TransientExchangeError`
system_maintenance, 11094 internal_server_error, 13028
temporarily_unavailable, 13888 timed_out
9999 api_not_enabled, 10000 authorization_required, 13004   :class:`AuthError`
invalid_credentials, 13009 unauthorized, 13021 forbidden
10020 invalid_or_unsupported_instrument, 13020 not_found,   :class:`BadSymbol`
-32602 invalid params on ``instrument_name`` / ``currency``
anything else                                               :class:`PermanentExchangeError`
==========================================================  ==================================

Without a JSON-RPC error: HTTP 429 -> rate limited, 5xx / timeouts / connection errors ->
transient, 401/403 -> auth, other 4xx -> permanent; a body that is not JSON (or JSON without
``result``) -> :class:`MalformedResponse`.

Whatever the body, HTTP 418 is :class:`~resources.exchange.errors.Banned`, and a
``Retry-After`` on a transient answer is waited out (up to ``max_retry_after_s``) or, when
longer, fails the read at once; the client then sends nothing until the wait is over
(:mod:`resources.exchange.retry_after`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd

from resources.exchange.errors import (
    DEFAULT_READ_ATTEMPTS,
    MAX_RETRY_AFTER_S,
    AuthError,
    BadSymbol,
    ExchangeError,
    MalformedResponse,
    PermanentExchangeError,
    RateLimited,
    TransientExchangeError,
)
from resources.exchange.retry_after import VenueGate, paced

DEFAULT_BASE_URL = "https://www.deribit.com/api/v2"
DEFAULT_TIMEOUT_S = 10.0
VENUE = "deribit"
#: How much of an offending body an error message quotes.
BODY_EXCERPT_CHARS = 160

RATE_LIMIT_CODES = frozenset({10028, 10047})
TRANSIENT_CODES = frozenset({10040, 10041, 11051, 11094, 13028, 13888})
AUTH_CODES = frozenset({9999, 10000, 13004, 13009, 13021})
SYMBOL_CODES = frozenset({10020, 13020})
INVALID_PARAMS = -32602
SYMBOL_PARAMS = frozenset({"instrument_name", "currency"})

#: ``get_book_summary_by_currency`` fields for options (present, NaN-filled, even when empty).
BOOK_SUMMARY_COLUMNS = (
    "instrument_name", "base_currency", "quote_currency", "creation_timestamp", "underlying_index",
    "underlying_price", "estimated_delivery_price", "interest_rate", "mark_price", "bid_price",
    "ask_price", "mid_price", "last", "low", "high", "price_change", "volume", "volume_usd",
    "open_interest",
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def rpc_error(error: Mapping[str, Any], *, call: str) -> ExchangeError:
    """The Perpetua error for a JSON-RPC ``error`` object."""
    code = error.get("code")
    message = str(error.get("message", ""))
    data = error.get("data")
    detail = f"JSON-RPC error {code} {message!r}" + (f" {data}" if data else "")
    if code in RATE_LIMIT_CODES or "too_many_requests" in message:
        return RateLimited(detail, call=call)
    if code in TRANSIENT_CODES:
        return TransientExchangeError(detail, call=call)
    if code in AUTH_CODES:
        return AuthError(detail, call=call)
    param = data.get("param") if isinstance(data, Mapping) else None
    if code in SYMBOL_CODES or (code == INVALID_PARAMS and param in SYMBOL_PARAMS):
        return BadSymbol(detail, call=call)
    return PermanentExchangeError(detail, call=call)


def http_error(status: int, excerpt: str, *, call: str) -> ExchangeError | None:
    """The error an HTTP status implies when the body carries no JSON-RPC error (None if 2xx)."""
    detail = f"HTTP {status}: {excerpt!r}"
    if status == 429:
        return RateLimited(detail, call=call)
    if status >= 500:
        return TransientExchangeError(detail, call=call)
    if status in (401, 403):
        return AuthError(detail, call=call)
    if status >= 400:
        return PermanentExchangeError(detail, call=call)
    return None


class DeribitHttp:
    """Deribit public market data over HTTP (:class:`~resources.exchange.base.OptionsVenue`).

    Parameters
    ----------
    base_url : str
        API root, ``https://www.deribit.com/api/v2`` (``https://test.deribit.com/api/v2`` for
        the test venue, a loopback URL in tests).
    timeout_s : float
        Per-request timeout (connect and read).
    read_attempts : int
        Tries per read, including the first (transient errors only).
    sleep : Callable[[float], None]
        Backoff sleep between retries, injected in tests.
    clock : Callable[[], datetime]
        "Now" (UTC) for the venue's waits (``Retry-After`` as an HTTP-date, bans).
    max_retry_after_s : float
        The longest ``Retry-After`` a read waits out; a venue asking more (or banning the client
        for longer) fails the read at once, saying when calls are allowed again.
    transport : httpx.BaseTransport | None
        Custom transport (proxies, mounts); the default is httpx's own.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        read_attempts: int = DEFAULT_READ_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._attempts = read_attempts
        self._sleep = sleep
        self._clock = clock
        self._max_retry_after_s = max_retry_after_s
        self._gate = VenueGate(clock)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            timeout=timeout_s,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> DeribitHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------
    def _get(self, method: str, params: Mapping[str, str | int]) -> Any:
        call = f"{VENUE}.{method}"
        return self._gate.read(VENUE, lambda: self._get_once(method, params, call), call=call,
                               attempts=self._attempts, sleep=self._sleep,
                               max_retry_after_s=self._max_retry_after_s)

    def _get_once(self, method: str, params: Mapping[str, str | int], call: str) -> Any:
        try:
            response = self._http.get(method, params=dict(params))
        except httpx.TimeoutException as exc:
            raise TransientExchangeError(f"no answer within {self._timeout_s}s ({type(exc).__name__})",
                                         call=call) from exc
        except httpx.TransportError as exc:
            raise TransientExchangeError(f"{type(exc).__name__}: {exc}", call=call) from exc
        try:
            return self._result(response, call)
        except ExchangeError as exc:
            error = paced(exc, status=response.status_code, headers=response.headers, now=self._clock())
            if error is exc:
                raise
            raise error from exc

    @staticmethod
    def _result(response: httpx.Response, call: str) -> Any:
        """The JSON-RPC ``result`` of ``response``, or the error its status and body imply."""
        excerpt = response.text[:BODY_EXCERPT_CHARS]
        try:
            payload = response.json()
        except ValueError as exc:
            status_error = http_error(response.status_code, excerpt, call=call)
            if status_error is not None:
                raise status_error from exc
            content_type = response.headers.get("content-type", "?")
            raise MalformedResponse(f"HTTP {response.status_code} body is not JSON ({content_type}): "
                                    f"{excerpt!r}", call=call) from exc
        if isinstance(payload, dict) and isinstance(payload.get("error"), Mapping):
            raise rpc_error(payload["error"], call=call)
        status_error = http_error(response.status_code, excerpt, call=call)
        if status_error is not None:
            raise status_error
        if not isinstance(payload, dict) or "result" not in payload:
            raise MalformedResponse(f"JSON-RPC answer without 'result': {excerpt!r}", call=call)
        return payload["result"]

    def _get_typed(self, method: str, params: Mapping[str, str | int], kind: type) -> Any:
        result = self._get(method, params)
        if not isinstance(result, kind):
            raise MalformedResponse(f"expected a JSON {kind.__name__} as result, got {type(result).__name__}",
                                    call=f"deribit.{method}")
        return result

    # -- OptionsVenue --------------------------------------------------------------------------
    def instruments(self, currency: str, *, expired: bool = False) -> list[dict[str, Any]]:
        """``public/get_instruments``: one dict per listed instrument of ``currency``."""
        params = {"currency": currency, "expired": "true" if expired else "false"}
        return self._get_typed("public/get_instruments", params, list)

    def book_summary(self, currency: str, kind: str = "option") -> pd.DataFrame:
        """``public/get_book_summary_by_currency``: one row per instrument of ``currency``/``kind``.

        Columns are the venue's fields (prices of options in the base currency, ``volume_usd``
        in USD), at least :data:`BOOK_SUMMARY_COLUMNS`, plus ``ts``: ``creation_timestamp`` as a
        UTC timestamp (when the venue computed the row).
        """
        rows = self._get_typed("public/get_book_summary_by_currency", {"currency": currency, "kind": kind}, list)
        frame = pd.DataFrame.from_records(rows)
        for column in BOOK_SUMMARY_COLUMNS:
            if column not in frame.columns:
                frame[column] = pd.Series(dtype="float64" if column != "instrument_name" else "str")
        stamps = pd.to_numeric(frame["creation_timestamp"], errors="coerce")
        frame.insert(0, "ts", pd.to_datetime(stamps, unit="ms", utc=True).astype("datetime64[ns, UTC]"))
        return frame.reset_index(drop=True)

    def ticker(self, instrument_name: str) -> dict[str, Any]:
        """``public/ticker``: mark / bid / ask prices and IVs, greeks, open interest."""
        return self._get_typed("public/ticker", {"instrument_name": instrument_name}, dict)

    def order_book(self, instrument_name: str, depth: int = 10) -> dict[str, Any]:
        """``public/get_order_book``: ``bids`` / ``asks`` as ``[price, amount]`` plus ticker fields."""
        params = {"instrument_name": instrument_name, "depth": depth}
        return self._get_typed("public/get_order_book", params, dict)
