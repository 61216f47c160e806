"""How long a venue asks us to wait (``Retry-After``, bans), and remembering it per client.

A venue that rate-limits says when to come back: ``Retry-After`` in seconds or as an HTTP-date
(RFC 9110 §10.2.3), on a 429, a 503, or Binance's 418. HTTP 418 is Binance's IP ban, answered to
a client that kept calling after 429s; calling during the ban lengthens it (2 minutes up to
3 days). So, on both ccxt and Deribit clients:

* a transient error whose response carries ``Retry-After`` gets ``retry_after`` / ``until``;
  :func:`~resources.exchange.errors.retry_read` waits that long before the next try, or, when
  the venue asks for more than :data:`MAX_RETRY_AFTER_S` (per client ``max_retry_after_s``),
  fails at once saying when the venue allows calls again;
* any HTTP 418 is :class:`~resources.exchange.errors.Banned`; one without ``Retry-After`` is
  taken to last :data:`DEFAULT_BAN_S`;
* :class:`VenueGate` remembers the end of each wait per venue, so until it passes every further
  read of that venue fails fast without sending a request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from resources.exchange.errors import (
    MAX_RETRY_AFTER_S,
    Banned,
    ExchangeError,
    TransientExchangeError,
    retry_read,
)

__all__ = ["BAN_STATUS", "DEFAULT_BAN_S", "MAX_RETRY_AFTER_S", "VenueGate", "header_value", "paced",
           "parse_retry_after"]

T = TypeVar("T")

#: Length assumed for an HTTP 418 that names no end: Binance's shortest IP ban (2 minutes).
DEFAULT_BAN_S = 120.0
BAN_STATUS = 418


def header_value(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """``headers[name]`` matched case-insensitively (requests, httpx or a plain dict); None if absent."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    A date in the past gives 0. None when absent or unreadable (the caller backs off as usual).
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def paced(error: ExchangeError, *, status: int | None, headers: Mapping[str, Any] | None,
          now: datetime) -> ExchangeError:
    """``error`` with the venue's wait attached; :class:`Banned` for an HTTP 418.

    ``status`` / ``headers`` are the failing response's (None when there was no response).
    """
    seconds = parse_retry_after(header_value(headers, "Retry-After"), now)
    if status == BAN_STATUS:
        assumed = ""
        if seconds is None:
            seconds, assumed = DEFAULT_BAN_S, f"; no Retry-After, assuming the shortest Binance ban ({DEFAULT_BAN_S:g} s)"
        return Banned(f"HTTP 418, the venue banned this client: {error.detail}{assumed}", call=error.call,
                      retry_after=seconds, until=now + timedelta(seconds=seconds))
    if seconds is None or not isinstance(error, TransientExchangeError):
        return error
    error.retry_after, error.until = seconds, now + timedelta(seconds=seconds)
    return error.with_context()


class VenueGate:
    """Per client instance: the venues that asked us to wait, and until when.

    Parameters
    ----------
    clock : Callable[[], datetime]
        "Now" (timezone-aware UTC), the same clock the client stamps waits with.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._closed: dict[str, ExchangeError] = {}

    def check(self, venue: str, call: str) -> None:
        """Raise (same class as the answer that closed it) while ``venue`` is still closed."""
        refusal = self._closed.get(venue)
        if refusal is None or refusal.until is None:
            return
        remaining = (refusal.until - self._clock()).total_seconds()
        if remaining <= 0:
            del self._closed[venue]
            return
        error = type(refusal)(f"no request sent: {venue} asked to wait ({refusal.call}: {refusal.detail})",
                              call=call, retry_after=remaining, until=refusal.until)
        raise error.with_context(refusal="the venue's wait has not ended")

    def note(self, venue: str, error: ExchangeError) -> None:
        """Remember ``error``'s wait, if it has one (the later end wins)."""
        if error.until is None:
            return
        current = self._closed.get(venue)
        if current is None or current.until is None or error.until > current.until:
            self._closed[venue] = error

    def read(self, venue: str, fn: Callable[[], T], *, call: str, **retry: Any) -> T:
        """``retry_read(fn, call=call, **retry)`` unless ``venue`` is closed; remembers a new wait."""
        self.check(venue, call)
        try:
            return retry_read(fn, call=call, **retry)
        except TransientExchangeError as exc:
            self.note(venue, exc)
            raise
