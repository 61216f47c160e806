"""Which instruments the market-data layer covers, and from which hour each is expected.

A missing bar is only "missing" once an instrument is listed (Binance listed HYPE perps on
2025-05-30) and once its dataset exists (the sample's open interest starts 2025-12-07). The
universe states those starts explicitly so a quality check can tell "not listed yet" from a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

SAMPLE_COINS = ("BTC", "ETH", "SOL", "DOGE", "HYPE")
SAMPLE_QUOTES = {"binance": "USDT", "bybit": "USDT", "hyperliquid": "USDC"}
#: The 36-symbol Binance funding set bundled in data/sample (funding and mark only, no candles).
SAMPLE_FUNDING_ONLY = [
    "APTUSDT",
    "ARBUSDC",
    "ARBUSDT",
    "AVAXUSDC",
    "AVAXUSDT",
    "BNBUSDC",
    "BNBUSDT",
    "BTCUSDC",
    "DOGEUSDC",
    "ETHUSDC",
    "INJUSDT",
    "LINKUSDC",
    "LINKUSDT",
    "LTCUSDC",
    "LTCUSDT",
    "NEARUSDC",
    "NEARUSDT",
    "OPUSDT",
    "ORDIUSDC",
    "ORDIUSDT",
    "SEIUSDT",
    "SOLUSDC",
    "SUIUSDC",
    "SUIUSDT",
    "TIAUSDC",
    "TIAUSDT",
    "TONUSDT",
    "TRXUSDT",
    "WIFUSDC",
    "WIFUSDT",
    "XRPUSDC",
    "XRPUSDT",
]
#: First hour each (dataset, venue, coin) exists in the bundled sample; "*" matches every coin.
SAMPLE_COVERAGE_STARTS = {
    "candles:binance:HYPE": "2025-05-30T10:00:00+00:00",
    "open_interest:hyperliquid:*": "2025-12-07T11:00:00+00:00",
}


def unified(coin: str, quote: str) -> str:
    """ccxt unified linear perpetual symbol: ``unified("BTC", "USDT") == "BTC/USDT:USDT"``."""
    return f"{coin}/{quote}:{quote}"


def coin_of(symbol: str) -> str:
    """``"BTC/USDT:USDT"`` -> ``"BTC"``."""
    return symbol.split("/", 1)[0]


@dataclass(frozen=True)
class Universe:
    """Instruments per dataset plus the hour each becomes expected.

    Parameters
    ----------
    perp_venues : venues whose 1h candles are collected.
    funding_venues : venues whose funding settlements are collected.
    oi_venues : venues whose hourly open interest is collected.
    coins : base coins collected on every venue.
    quotes : quote currency per venue (hyperliquid settles in USDC).
    extra_funding_symbols : (venue, unified symbol) pairs with funding only.
    coverage_starts : ``"dataset:venue:coin"`` (coin may be ``*``) -> first expected hour (ISO).
    """

    perp_venues: tuple[str, ...] = ("binance", "bybit")
    funding_venues: tuple[str, ...] = ("binance", "bybit", "hyperliquid")
    oi_venues: tuple[str, ...] = ("hyperliquid",)
    coins: tuple[str, ...] = SAMPLE_COINS
    quotes: dict[str, str] = field(default_factory=lambda: dict(SAMPLE_QUOTES))
    extra_funding_symbols: tuple[tuple[str, str], ...] = ()
    coverage_starts: dict[str, str] = field(default_factory=dict)

    def symbol(self, venue: str, coin: str) -> str:
        return unified(coin, self.quotes.get(venue, "USDT"))

    def pairs(self, dataset: str) -> list[tuple[str, str]]:
        """(venue, symbol) pairs collected for ``dataset`` in {candles, funding, open_interest}."""
        venues = {
            "candles": self.perp_venues,
            "funding": self.funding_venues,
            "open_interest": self.oi_venues,
        }
        if dataset not in venues:
            raise ValueError(f"unknown dataset {dataset!r}")
        out = [(v, self.symbol(v, c)) for v in venues[dataset] for c in self.coins]
        if dataset == "funding":
            out += [p for p in self.extra_funding_symbols if p not in out]
        return out

    def expected_from(self, dataset: str, venue: str, symbol: str) -> pd.Timestamp | None:
        """First hour a row is expected, or None when expected from the beginning."""
        coin = coin_of(symbol)
        for key in (f"{dataset}:{venue}:{coin}", f"{dataset}:{venue}:*"):
            if key in self.coverage_starts:
                return pd.Timestamp(self.coverage_starts[key]).tz_convert("UTC")
        return None

    def expected_rows(self, dataset: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
        """Every (venue, symbol, hour) that should have a row in ``hours``."""
        parts = []
        for venue, symbol in self.pairs(dataset):
            start = self.expected_from(dataset, venue, symbol)
            h = hours if start is None else hours[hours >= start]
            parts.append(pd.DataFrame({"venue": venue, "symbol": symbol, "hour": h}))
        if not parts:
            return pd.DataFrame({"venue": [], "symbol": [], "hour": pd.DatetimeIndex([], tz="UTC")})
        return pd.concat(parts, ignore_index=True)


def sample_universe() -> Universe:
    """The universe of the bundled sample (``data/sample``)."""
    extra = []
    for vs in SAMPLE_FUNDING_ONLY:
        quote = "USDC" if vs.endswith("USDC") else "USDT"
        extra.append(("binance", unified(vs[: -len(quote)], quote)))
    return Universe(extra_funding_symbols=tuple(extra), coverage_starts=dict(SAMPLE_COVERAGE_STARTS))
