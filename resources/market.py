"""Dagster resources that choose the market-data edges (perps, options) and the universe covered.

The replay's data folder is the resource's ``sample_dir``, else ``$PERPETUA_DATA_ROOT``, else the
bundled ``data/sample``; it is read when a run starts the resource (``setup_for_execution``) and
when the asset asks for its client, never at import or when the definitions are built.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource, InitResourceContext

from quant.market_data.universe import Universe, sample_universe
from resources.exchange.base import Exchange, OptionsVenue

#: Environment variable naming a data folder laid out like ``data/sample`` for both replays.
DATA_ROOT_ENV = "PERPETUA_DATA_ROOT"


def replay_root(sample_dir: str | None) -> Path:
    """The replay's data folder: ``sample_dir`` if set, else ``$PERPETUA_DATA_ROOT``, else ``data/sample``."""
    from resources.exchange.replay import DEFAULT_SAMPLE_DIR

    chosen = sample_dir or os.environ.get(DATA_ROOT_ENV)
    return Path(chosen).expanduser() if chosen else DEFAULT_SAMPLE_DIR


class MarketData(ConfigurableResource):
    """Which ``Exchange`` implementation feeds the market-data assets.

    Attributes
    ----------
    kind : ``"replay"`` (bundled sample, the default) or ``"ccxt"`` (live public endpoints).
    sample_dir : folder of the replay data (``data/sample``'s layout); unset: ``$PERPETUA_DATA_ROOT``,
        else the repository's ``data/sample``.
    api_key, api_secret : only for private endpoints; pass them as ``EnvVar``, never literals.
    """

    kind: str = "replay"
    sample_dir: str | None = None
    api_key: str | None = None
    api_secret: str | None = None

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """A replay data folder that is missing, or lacks a file, fails the run here, naming the path."""
        if self.kind == "replay":
            from resources.exchange.replay import require_files

            require_files(replay_root(self.sample_dir))

    def client(self) -> Exchange:
        if self.kind == "replay":
            from resources.exchange.replay import ReplayExchange

            return ReplayExchange(replay_root(self.sample_dir))
        if self.kind == "ccxt":
            from resources.exchange.ccxt_exchange import CcxtExchange

            return CcxtExchange(api_key=self.api_key, api_secret=self.api_secret)
        raise ValueError(f"unknown market data kind {self.kind!r}: use 'replay' or 'ccxt'")


class MarketUniverse(ConfigurableResource):
    """The instruments collected, per dataset, the venues each coin is listed on, and the hour each is expected.

    Defaults describe the bundled sample; a live deployment lists its own. ``listings`` maps a coin
    to the venues that list it and the first listed hour on each (ISO, UTC without an offset; null:
    before the data starts), e.g. ``{"NEW": {"binance": "2026-02-01T08:00"}}``: a coin NEW is then
    fetched and expected on Binance only, from that hour. Coins it does not name are listed on every venue.
    Default (None): the sample's listings (``quant.market_data.universe.SAMPLE_LISTINGS``: Binance HYPE from
    2025-05-30 10:00); ``{}`` lists every coin everywhere.
    """

    perp_venues: list[str] = ["binance", "bybit"]
    funding_venues: list[str] = ["binance", "bybit", "hyperliquid"]
    oi_venues: list[str] = ["hyperliquid"]
    coins: list[str] = ["BTC", "ETH", "SOL", "DOGE", "HYPE"]
    include_sample_funding_set: bool = True
    listings: dict[str, dict[str, str | None]] | None = None
    coverage_starts: dict[str, str] | None = None
    #: Known holes of the sources (default: the sample's, see ``quant.market_data.universe.SAMPLE_COVERAGE_GAPS``).
    coverage_gaps: dict[str, list[list[str]]] | None = None

    def get(self) -> Universe:
        sample = sample_universe()
        return Universe(
            perp_venues=tuple(self.perp_venues),
            funding_venues=tuple(self.funding_venues),
            oi_venues=tuple(self.oi_venues),
            coins=tuple(self.coins),
            extra_funding_symbols=sample.extra_funding_symbols if self.include_sample_funding_set else (),
            listings=dict(sample.listings if self.listings is None else self.listings),
            coverage_starts=dict(sample.coverage_starts if self.coverage_starts is None else self.coverage_starts),
            coverage_gaps=(
                dict(sample.coverage_gaps) if self.coverage_gaps is None
                else {k: tuple((a, b) for a, b in v) for k, v in self.coverage_gaps.items()}
            ),
        )


class OptionsData(ConfigurableResource):
    """Which ``OptionsVenue`` feeds the options assets (L3 tail hedge).

    Attributes
    ----------
    kind : ``"replay"`` (the bundled Deribit ETH book summary of 2024-01-08, the default) or
        ``"deribit"`` (Deribit's live public API over httpx; the chain as of the call).
    sample_dir : folder of the replay data (``data/sample``'s layout); unset: ``$PERPETUA_DATA_ROOT``,
        else the repository's ``data/sample``.
    base_url : Deribit API root for ``"deribit"``; defaults to the production venue.
    """

    kind: str = "replay"
    sample_dir: str | None = None
    base_url: str | None = None

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """A replay data folder that does not exist fails the run here, naming the path."""
        if self.kind == "replay":
            from resources.exchange.replay_options import ReplayOptions

            ReplayOptions(replay_root(self.sample_dir))

    def client(self) -> OptionsVenue:
        if self.kind == "replay":
            from resources.exchange.replay_options import ReplayOptions

            return ReplayOptions(replay_root(self.sample_dir))
        if self.kind == "deribit":
            from resources.exchange.deribit import DEFAULT_BASE_URL, DeribitHttp

            return DeribitHttp(self.base_url or DEFAULT_BASE_URL)
        raise ValueError(f"unknown options data kind {self.kind!r}: use 'replay' or 'deribit'")

    def book_summary(self, currency: str) -> pd.DataFrame:
        """The venue's option book summary of ``currency`` (one row per option), connection closed after."""
        venue = self.client()
        try:
            return venue.book_summary(currency, kind="option")
        finally:
            close = getattr(venue, "close", None)
            if close is not None:
                close()
