"""A small error hierarchy for every exchange edge, and the one retry policy for reads.

Third-party errors (ccxt, httpx, JSON-RPC) are translated here at the boundary so the rest of
Perpetua only ever sees two kinds of failure:

* :class:`TransientExchangeError` — the same call may succeed later (timeouts, 429, 5xx,
  connection resets). Reads retry these with exponential backoff.
* :class:`PermanentExchangeError` — retrying cannot help (unknown symbol, bad credentials,
  a response that is not the JSON we expect). Nothing retries these.

Order creation is never retried automatically (see ``CONVENTIONS.md``): it is reconciled by
client order id instead, so :func:`retry_read` is for reads only.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_READ_ATTEMPTS = 4
DEFAULT_BASE_DELAY_S = 0.5
DEFAULT_MAX_DELAY_S = 8.0


class ExchangeError(Exception):
    """Base class. ``call`` names the exchange call that failed, e.g. ``binanceusdm.fetch_ohlcv``."""

    retryable = False

    def __init__(self, message: str, *, call: str = "", attempts: int = 1) -> None:
        self.call = call
        self.attempts = attempts
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.call}: " if self.call else ""
        tries = "" if self.attempts <= 1 else f" (after {self.attempts} attempts)"
        kind = "transient, retried" if self.retryable else "permanent, not retried"
        return f"{where}{self.detail}{tries} [{kind}]"

    def with_context(self, *, call: str | None = None, attempts: int | None = None) -> ExchangeError:
        """Return the same error re-rendered with the call name / attempt count filled in."""
        if call is not None:
            self.call = call
        if attempts is not None:
            self.attempts = attempts
        self.args = (self._render(),)
        return self


class TransientExchangeError(ExchangeError):
    """Timeouts, rate limits (429), server errors (5xx), dropped connections."""

    retryable = True


class RateLimited(TransientExchangeError):
    """HTTP 429 / exchange rate-limit codes."""


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
        Backoff is ``min(max_delay_s, base_delay_s * 2**k)`` seconds plus up to 10% jitter.
    sleep : callable
        Injected for tests.

    Returns
    -------
    Whatever ``fn`` returns.

    Raises
    ------
    PermanentExchangeError
        At once, never retried.
    TransientExchangeError
        After ``attempts`` failures, naming the call and the attempt count.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except PermanentExchangeError as exc:
            raise exc.with_context(call=exc.call or call, attempts=attempt) from exc
        except TransientExchangeError as exc:
            if attempt == attempts:
                raise exc.with_context(call=exc.call or call, attempts=attempt) from exc
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
            delay *= 1.0 + 0.1 * random.random()  # noqa: S311 - jitter, not crypto
            log.warning("%s failed (%s); retry %d/%d in %.2fs", call, exc.detail, attempt, attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
