"""Per-venue facts :class:`~resources.exchange.ccxt_exchange.CcxtExchange` needs from ccxt ids,
and the factory that configures a ccxt instance from them.

Page limits are the smaller of the venue's documented maximum and the cap ccxt itself applies
(ccxt silently lowers Binance klines from 1500 to 1000, and a page shorter than the ``limit`` we
asked for would read as "sub-window complete", so we must never ask for more than ccxt sends).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ccxt

from resources.exchange.ccxt_errors import ResponseRecorder

SWAP = "swap"
SPOT = "spot"


@dataclass(frozen=True)
class VenueProfile:
    """What one ccxt exchange id serves and how its history endpoints page.

    Attributes
    ----------
    market : str
        ``"swap"`` (linear perpetuals) or ``"spot"``: which markets :meth:`symbols` lists.
    options : Mapping
        ccxt ``options`` merged into the instance (one level deep), e.g. which market types
        ``load_markets`` fetches, so a perp venue never downloads the spot catalogue.
    ohlcv_limit, funding_limit, oi_limit, trades_limit : int
        Rows per request of ``fetch_ohlcv``, ``fetch_funding_rate_history``,
        ``fetch_open_interest_history`` and ``fetch_trades``.
    oldest_first : bool
        The venue returns the oldest rows of an overflowing range (see
        :mod:`resources.exchange.paging`).
    raw_lists : bool
        The venue documents a bare JSON array for these history / ticker endpoints (Binance),
        so any other JSON is malformed rather than "no data".
    """

    market: str
    options: Mapping[str, Any] = field(default_factory=dict)
    ohlcv_limit: int = 500
    funding_limit: int = 100
    oi_limit: int = 100
    trades_limit: int = 500
    oldest_first: bool = False
    raw_lists: bool = False


PROFILES: Mapping[str, VenueProfile] = {
    # USD-M futures: klines 1500 documented, ccxt caps 1000; fundingRate 1000; openInterestHist
    # 500; aggTrades 1000.
    "binanceusdm": VenueProfile(
        SWAP,
        {"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap"},
        ohlcv_limit=1000,
        funding_limit=1000,
        oi_limit=500,
        trades_limit=1000,
        oldest_first=True,
        raw_lists=True,
    ),
    # Spot: klines 1000, aggTrades 1000. No funding / open interest on spot.
    "binance": VenueProfile(
        SPOT,
        {"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot"},
        ohlcv_limit=1000,
        trades_limit=1000,
        oldest_first=True,
        raw_lists=True,
    ),
    # Bybit v5 linear: kline 1000, funding/history 200, open-interest 200; newest first.
    "bybit": VenueProfile(
        SWAP,
        {"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap", "defaultSubType": "linear"},
        ohlcv_limit=1000,
        funding_limit=200,
        oi_limit=200,
        trades_limit=1000,
    ),
}

#: Conservative defaults for any other ccxt id (linear perpetuals, small pages).
DEFAULT_PROFILE = VenueProfile(SWAP, {"defaultType": "swap"})


def profile_for(ccxt_id: str) -> VenueProfile:
    """The profile of ``ccxt_id`` (:data:`DEFAULT_PROFILE` for ids not listed)."""
    return PROFILES.get(ccxt_id, DEFAULT_PROFILE)


def rewrite_urls(urls: Any, base_url: str) -> Any:
    """ccxt's ``urls['api']`` (nested str / dict) with every host replaced by ``base_url``.

    Paths are kept (``https://fapi.binance.com/fapi/v1`` -> ``{base_url}/fapi/v1``), so one
    loopback server can stand in for all of a venue's hosts. Binance's ``fapiData`` and
    ``dapiData`` then share ``/futures/data``; only linear contracts are served, so that
    collision is harmless here.
    """
    if isinstance(urls, str):
        return base_url.rstrip("/") + urlsplit(urls).path
    if isinstance(urls, Mapping):
        return {key: rewrite_urls(value, base_url) for key, value in urls.items()}
    return urls


def build_client(ccxt_id: str, config: Mapping[str, Any], *, base_url: str | None = None) -> ccxt.Exchange:
    """A ccxt instance of ``ccxt_id`` with the profile's options merged in.

    ``base_url`` (tests) replaces every REST host. The ``on_rest_response`` hook, a
    :class:`~resources.exchange.ccxt_errors.ResponseRecorder` (see :func:`response_of`), makes a
    2xx body that is not JSON an error instead of an empty list and keeps the last answer's
    status and headers; the last JSON answer is kept so callers can check its shape
    (:func:`resources.exchange.ccxt_errors.expect_list`).
    """
    client: ccxt.Exchange = getattr(ccxt, ccxt_id)(dict(config))
    for key, value in profile_for(ccxt_id).options.items():
        current = client.options.get(key)
        client.options[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    if base_url:
        client.urls["api"] = rewrite_urls(client.urls["api"], base_url)
    client.on_rest_response = ResponseRecorder()
    client.enableLastJsonResponse = True
    return client


def response_of(client: ccxt.Exchange) -> ResponseRecorder:
    """The :class:`~resources.exchange.ccxt_errors.ResponseRecorder` :func:`build_client` installed."""
    recorder = client.on_rest_response
    if not isinstance(recorder, ResponseRecorder):
        raise TypeError(f"{client.id} was not configured by build_client (on_rest_response is {recorder!r})")
    return recorder
