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
#: What the real files show across both windows (2025-03-06 -> 2025-09-30, 2026-01-15 -> 2026-03-05;
#: the months between are withheld, so no partition exists there to check):
#: - candles: binance and bybit only (hyperliquid has funding and open interest, no candles); every
#:   coin on both venues is complete through the 2026 window, Binance HYPE included, so its listing
#:   start is the only candle entry. BTC and ETH end at 2026-03-05 09:00 while DOGE, SOL and HYPE
#:   have a 10:00 bar: the sample windows end at 10:00 (``resources.exchange.replay.SAMPLE_WINDOWS``),
#:   so that last hour is outside every partition rather than a coverage entry here.
#: - open interest: hyperliquid, 2025-12-07 11:00 -> 2026-03-07 10:00, with a real 18-hour hole on
#:   2026-01-19 00:00 -> 17:00 for every coin: the source recorded nothing then. It is declared in
#:   ``SAMPLE_COVERAGE_GAPS`` (a known hole of the source, said in the data README), so the
#:   missing-hours check still fails on any OTHER missing hour, and L2 reads "no OI" in those hours.
SAMPLE_COVERAGE_STARTS = {
    "candles:binance:HYPE": "2025-05-30T10:00:00+00:00",
    "open_interest:hyperliquid:*": "2025-12-07T11:00:00+00:00",
}

#: Known holes of a source, ``"dataset:venue:coin"`` -> [(first hour, end hour exclusive)] (ISO).
SAMPLE_COVERAGE_GAPS = {
    "open_interest:hyperliquid:*": (("2026-01-19T00:00:00+00:00", "2026-01-19T18:00:00+00:00"),),
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
    coverage_gaps : same keys -> known holes of the source, ((first hour, end exclusive), ...) (ISO).
    """

    perp_venues: tuple[str, ...] = ("binance", "bybit")
    funding_venues: tuple[str, ...] = ("binance", "bybit", "hyperliquid")
    oi_venues: tuple[str, ...] = ("hyperliquid",)
    coins: tuple[str, ...] = SAMPLE_COINS
    quotes: dict[str, str] = field(default_factory=lambda: dict(SAMPLE_QUOTES))
    extra_funding_symbols: tuple[tuple[str, str], ...] = ()
    coverage_starts: dict[str, str] = field(default_factory=dict)
    coverage_gaps: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

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

    def known_gaps(self, dataset: str, venue: str, symbol: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The declared holes of the source for one instrument, as [start, end) UTC hours."""
        coin = coin_of(symbol)
        gaps = [*self.coverage_gaps.get(f"{dataset}:{venue}:{coin}", ()), *self.coverage_gaps.get(f"{dataset}:{venue}:*", ())]
        return [(pd.Timestamp(a).tz_convert("UTC"), pd.Timestamp(b).tz_convert("UTC")) for a, b in gaps]

    def expected_rows(self, dataset: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
        """Every (venue, symbol, hour) that should have a row in ``hours``."""
        parts = []
        for venue, symbol in self.pairs(dataset):
            start = self.expected_from(dataset, venue, symbol)
            h = hours if start is None else hours[hours >= start]
            for a, b in self.known_gaps(dataset, venue, symbol):
                h = h[(h < a) | (h >= b)]
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
    return Universe(
        extra_funding_symbols=tuple(extra),
        coverage_starts=dict(SAMPLE_COVERAGE_STARTS),
        coverage_gaps=dict(SAMPLE_COVERAGE_GAPS),
    )
