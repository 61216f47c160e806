"""``CcxtReader``: the ccxt plumbing behind :class:`~resources.exchange.ccxt_exchange.CcxtExchange`.

One configured ccxt instance per venue (markets loaded once), and the single read path every
call takes: ccxt exceptions translated at the boundary (:mod:`resources.exchange.ccxt_errors`),
the answer's shape checked, transient failures retried by
:func:`~resources.exchange.errors.retry_read` (waiting what ``Retry-After`` asks, within
``max_retry_after_s``), a venue that asked to wait or banned the client left alone until then
(:class:`~resources.exchange.retry_after.VenueGate`), long windows paged by
:mod:`resources.exchange.paging`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import ccxt

from resources.exchange.ccxt_errors import expect_list, guarded
from resources.exchange.ccxt_profiles import SWAP, VenueProfile, build_client, profile_for, response_of
from resources.exchange.errors import (
    DEFAULT_READ_ATTEMPTS,
    MAX_RETRY_AFTER_S,
    MalformedResponse,
    PermanentExchangeError,
)
from resources.exchange.paging import PageSpec, paginate
from resources.exchange.retry_after import VenueGate

T = TypeVar("T")

#: Venue id -> ccxt exchange id used when none is given.
DEFAULT_VENUES: Mapping[str, str] = {"binance": "binanceusdm", "bybit": "bybit"}
DEFAULT_TIMEOUT_S = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CcxtReader:
    """Per-venue ccxt clients and the one retried, translated, shape-checked read path.

    Parameters
    ----------
    venues : Mapping[str, str]
        Venue id (as used across Perpetua) -> ccxt exchange id, e.g. ``{"binance": "binanceusdm"}``.
    api_key, api_secret : str | None
        Credentials, passed straight to ccxt (from ``dagster.EnvVar``; never read here).
    urls_override : str | Mapping[str, str] | None
        One base URL for every venue, or venue id -> base URL: replaces each REST host, keeping
        the path. For tests against a loopback server.
    timeout_s : float
        Per-request timeout.
    enable_rate_limit : bool
        ccxt's client-side throttle (sleeps between calls). Off in tests.
    read_attempts : int
        Tries per read, including the first (transient errors only).
    sleep : Callable[[float], None]
        Backoff sleep between retries, injected in tests.
    clock : Callable[[], datetime]
        "Now" (UTC) for :meth:`tickers_24h`'s freshness check and for the venues' waits.
    page_limits : Mapping[str, int] | None
        Lower the rows-per-request of ``"ohlcv"``, ``"funding"``, ``"oi"`` or ``"trades"``
        (never above the profile's, see :mod:`resources.exchange.ccxt_profiles`).
    max_retry_after_s : float
        The longest ``Retry-After`` a read waits out; a venue asking more (or banning the client
        for longer) fails the read at once, saying when calls are allowed again.
    """

    def __init__(
        self,
        venues: Mapping[str, str] = DEFAULT_VENUES,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        urls_override: str | Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        enable_rate_limit: bool = True,
        read_attempts: int = DEFAULT_READ_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        page_limits: Mapping[str, int] | None = None,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
    ) -> None:
        self._venues = dict(venues)
        self._api_key, self._api_secret = api_key, api_secret
        self._urls_override = urls_override
        self._timeout_ms = int(timeout_s * 1000)
        self._enable_rate_limit = enable_rate_limit
        self._attempts = read_attempts
        self._sleep = sleep
        self._clock = clock
        self._page_limits = dict(page_limits or {})
        self._clients: dict[str, ccxt.Exchange] = {}
        self._max_retry_after_s = max_retry_after_s
        self._gate = VenueGate(clock)

    # -- plumbing ------------------------------------------------------------------------------
    def _ccxt_id(self, venue: str) -> str:
        try:
            return self._venues[venue]
        except KeyError:
            raise ValueError(f"unknown venue {venue!r}; configured: {sorted(self._venues)}") from None

    def _profile(self, venue: str) -> VenueProfile:
        return profile_for(self._ccxt_id(venue))

    def _base_url(self, venue: str) -> str | None:
        if isinstance(self._urls_override, str):
            return self._urls_override
        return (self._urls_override or {}).get(venue)

    def _build(self, venue: str) -> ccxt.Exchange:
        config: dict[str, Any] = {"enableRateLimit": self._enable_rate_limit, "timeout": self._timeout_ms}
        if self._api_key:
            config.update(apiKey=self._api_key, secret=self._api_secret)
        return build_client(self._ccxt_id(venue), config, base_url=self._base_url(venue))

    def _retried(self, venue: str, client: ccxt.Exchange, call: str, fn: Callable[[], T]) -> T:
        """``fn`` (one ccxt request) translated and retried, unless the venue asked to wait."""
        response = response_of(client)
        return self._gate.read(venue, lambda: guarded(fn, call=call, response=response, clock=self._clock),
                               call=call, attempts=self._attempts, sleep=self._sleep,
                               max_retry_after_s=self._max_retry_after_s)

    def _client(self, venue: str) -> ccxt.Exchange:
        """The venue's ccxt instance, with its markets loaded (once, under the retry policy)."""
        if venue not in self._clients:
            client = self._build(venue)
            self._retried(venue, client, f"{client.id}.load_markets", client.load_markets)
            self._clients[venue] = client
        return self._clients[venue]

    def _read(self, venue: str, method: str, fn: Callable[[ccxt.Exchange], T], *, rows: str = "",
              per_row: bool = False) -> T:
        """One ccxt read with translation and retries.

        ``rows`` names the JSON array the venue documents (checked on ``raw_lists`` venues);
        ``per_row`` also requires one parsed item per raw row: ccxt silently drops rows it cannot
        read (no timestamp), which would otherwise pass as a gap in the data.
        """
        client = self._client(venue)
        call = f"{client.id}.{method}"
        check_list = bool(rows) and self._profile(venue).raw_lists

        def once() -> T:
            client.last_json_response = None
            result = fn(client)
            if check_list:
                raw = client.last_json_response
                expect_list(raw, what=rows, call=call)
                if per_row and len(raw) != len(result):
                    raise MalformedResponse(f"the venue sent {len(raw)} {rows} rows, only {len(result)} "
                                            f"were readable; first: {str(raw[0])[:160]}", call=call)
            return result

        return self._retried(venue, client, call, once)

    def _history(self, venue: str, method: str, fetch: Callable[[ccxt.Exchange, int, int, int], list], *,
                 rows: str, ts_of: Callable[[Any], int], start_ms: int, end_ms: int, spec: PageSpec) -> list:
        """Page ``fetch(client, since, limit, until)`` over ``[start_ms, end_ms)``, each page one read."""
        def page(since: int, n: int, until: int) -> list:
            return self._read(venue, method, lambda c: fetch(c, since, n, until), rows=rows, per_row=True)

        def stamp(row: Any) -> int:
            try:
                return ts_of(row)
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                raise MalformedResponse(f"{rows} row without a usable timestamp: {str(row)[:160]}",
                                        call=f"{self._ccxt_id(venue)}.{method}") from exc

        return paginate(page, stamp, start_ms, end_ms, spec)

    def _limit(self, venue: str, kind: str) -> int:
        ceiling = int(getattr(self._profile(venue), f"{kind}_limit"))
        return min(ceiling, self._page_limits.get(kind, ceiling))

    def _require_swap(self, venue: str, what: str) -> None:
        if self._profile(venue).market != SWAP:
            raise PermanentExchangeError(f"{what} exists for perpetuals only; {venue!r} is a spot venue",
                                         call=f"{self._ccxt_id(venue)}.{what}")

    def venues(self) -> list[str]:
        """Configured venue ids."""
        return sorted(self._venues)

    def symbols(self, venue: str) -> list[str]:
        """Active linear perpetuals (spot pairs on a spot venue), ccxt unified symbols."""
        client = self._client(venue)
        spot = self._profile(venue).market != SWAP
        return sorted(
            m["symbol"] for m in client.markets.values()
            if m.get("active") is not False and (m.get("spot") if spot else m.get("swap") and m.get("linear"))
        )
