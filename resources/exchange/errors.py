"""A small error hierarchy for every exchange edge, and the one retry policy for reads.

Third-party errors (ccxt, httpx, JSON-RPC) are translated here at the boundary so the rest of
Perpetua only ever sees two kinds of failure:

* :class:`TransientExchangeError` — the same call may succeed later (timeouts, 429, 5xx,
  connection resets). Reads retry these with exponential backoff, waiting at least what the
  venue's ``Retry-After`` asks; :class:`Banned` (HTTP 418) is one of them
  (:mod:`resources.exchange.retry_after`).
* :class:`PermanentExchangeError` — retrying cannot help (unknown symbol, bad credentials,
  a response that is not the JSON we expect). Nothing retries these.

Order creation is never retried automatically (see ``CONVENTIONS.md``): it is reconciled by
client order id instead, so :func:`retry_read` is for reads only.

Every message is passed through :func:`resources.redaction.redact` when the error is built:
venue and ccxt text quotes signed URLs and headers, and these messages reach the event log.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from resources.redaction import redact

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_READ_ATTEMPTS = 4
DEFAULT_BASE_DELAY_S = 0.5
DEFAULT_MAX_DELAY_S = 8.0
#: The longest ``Retry-After`` a read waits out (seconds); a venue asking more fails the read at once.
MAX_RETRY_AFTER_S = 60.0


class ExchangeError(Exception):
    """Base class. ``call`` names the exchange call that failed, e.g. ``binanceusdm.fetch_ohlcv``.

    ``retry_after`` (seconds) and ``until`` (UTC) are set when the venue said how long to wait;
    ``refusal`` says why a transient error was not retried.
    """

    retryable = False

    def __init__(self, message: str, *, call: str = "", attempts: int = 1, retry_after: float | None = None,
                 until: datetime | None = None) -> None:
        self.call = call
        self.attempts = attempts
        self.detail = redact(message)
        self.retry_after = retry_after
        self.until = until
        self.refusal = ""
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.call}: " if self.call else ""
        until = "" if self.until is None else (
            f"; the venue allows calls again at {self.until.astimezone(UTC).isoformat(timespec='seconds')}")
        tries = "" if self.attempts <= 1 else f" (after {self.attempts} attempts)"
        if not self.retryable:
            kind = "permanent, not retried"
        else:
            kind = f"transient, not retried: {self.refusal}" if self.refusal else "transient, retried"
        return f"{where}{self.detail}{until}{tries} [{kind}]"

    def with_context(self, *, call: str | None = None, attempts: int | None = None,
                     refusal: str | None = None) -> ExchangeError:
        """Return the same error re-rendered with the call name / attempt count / refusal filled in."""
        if call is not None:
            self.call = call
        if attempts is not None:
            self.attempts = attempts
        if refusal is not None:
            self.refusal = refusal
        self.args = (self._render(),)
        return self


class TransientExchangeError(ExchangeError):
    """Timeouts, rate limits (429), server errors (5xx), dropped connections."""

    retryable = True


class RateLimited(TransientExchangeError):
    """HTTP 429 / exchange rate-limit codes."""


class Banned(RateLimited):
    """HTTP 418: the venue banned this client (Binance: the IP) until ``until``.

    Never hammered: waited out only when shorter than the client's ``max_retry_after_s``, and
    remembered per client so no request goes to that venue before ``until``
    (:class:`resources.exchange.retry_after.VenueGate`).
    """


class PermanentExchangeError(ExchangeError):
    """Errors that a retry cannot fix."""


class BadSymbol(PermanentExchangeError):
    """The venue does not list this instrument."""


class AuthError(PermanentExchangeError):
    """Missing or rejected credentials / permissions."""


class MalformedResponse(PermanentExchangeError):
    """The venue answered, but not with the JSON shape we expect."""


class LiveOrdersDisabled(PermanentExchangeError):
    """An order was submitted while the live-order switches are off."""


def retry_read(
    fn: Callable[[], T],
    *,
    call: str,
    attempts: int = DEFAULT_READ_ATTEMPTS,
    base_delay_s: float = DEFAULT_BASE_DELAY_S,
    max_delay_s: float = DEFAULT_MAX_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
    max_retry_after_s: float = MAX_RETRY_AFTER_S,
) -> T:
    """Run a read, retrying only :class:`TransientExchangeError` with exponential backoff and jitter.

    Parameters
    ----------
    fn : callable
        The read. It must already translate third-party errors into :class:`ExchangeError`.
    call : str
        Name of the exchange call, used in the error message (``"deribit.public/ticker"``).
    attempts : int
        Total tries, including the first.
    base_delay_s, max_delay_s : float
        Backoff is ``min(max_delay_s, base_delay_s * 2**k)`` seconds plus up to 10% jitter, or
        the error's ``retry_after`` when the venue asked for longer.
    sleep : callable
        Injected for tests.
    max_retry_after_s : float
        The longest ``retry_after`` waited out; an error asking more is raised at once.

    Returns
    -------
    Whatever ``fn`` returns.

    Raises
    ------
    PermanentExchangeError
        At once, never retried.
    TransientExchangeError
        After ``attempts`` failures, naming the call and the attempt count; at once when the
        venue asks to wait longer than ``max_retry_after_s``, saying until when.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        # Re-raised without ``from``: the error keeps the (redacted) cause it was raised with.
        except PermanentExchangeError as exc:
            raise exc.with_context(call=exc.call or call, attempts=attempt)  # noqa: B904
        except TransientExchangeError as exc:
            wait = exc.retry_after
            if wait is not None and wait > max_retry_after_s:
                raise exc.with_context(call=exc.call or call, attempts=attempt, refusal=(  # noqa: B904
                    f"Retry-After {wait:g} s is longer than the {max_retry_after_s:g} s this client waits"))
            if attempt == attempts:
                raise exc.with_context(call=exc.call or call, attempts=attempt)  # noqa: B904
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
            delay *= 1.0 + 0.1 * random.random()  # noqa: S311 - jitter, not crypto
            if wait is not None:
                delay = max(delay, wait)
            log.warning("%s failed (%s); retry %d/%d in %.2fs", call, exc.detail, attempt, attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
