"""Which instruments the market-data layer covers, on which venues, and from which hour each is expected.

A coin is not on every venue from the same day: Binance listed HYPE perps on 2025-05-30 10:00 UTC,
a new coin may trade on one venue only. ``listings`` says, per coin, on which venues it is listed
and from when; before that hour and on the venues it names not, nothing is fetched and nothing is
expected. A dataset may also start later than the listing (the sample's open interest starts
2025-12-07): ``coverage_starts`` states those, so a quality check can tell "not there yet" from a gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
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
#: Where a coin is listed when that is not "every venue, from before the data starts":
#: coin -> {venue: first listed hour (ISO), or None for "listed before the data starts"}.
#: Binance listed HYPE perps on 2025-05-30 10:00 UTC (its first bar in the sample); Bybit and
#: Hyperliquid listed it before the sample starts. Coins not named here are listed on every venue.
SAMPLE_LISTINGS: dict[str, dict[str, str | None]] = {
    "HYPE": {"binance": "2025-05-30T10:00:00+00:00", "bybit": None, "hyperliquid": None},
}
#: First hour each (dataset, venue, coin) exists in the bundled sample, where that is after the
#: coin's listing; "*" matches every coin. What the real files show across both windows
#: (2025-03-06 -> 2025-09-30, 2026-01-15 -> 2026-03-05; the months between are withheld, so no
#: partition exists there to check):
#: - candles: binance and bybit only (hyperliquid has funding and open interest, no candles); every
#:   coin on both venues is complete from its listing through the 2026 window (Binance HYPE from
#:   its listing, ``SAMPLE_LISTINGS``), so candles need no entry. BTC and ETH end at 2026-03-05
#:   09:00 while DOGE, SOL and HYPE have a 10:00 bar: the sample windows end at 10:00
#:   (``resources.exchange.replay.SAMPLE_WINDOWS``), so that last hour is outside every partition.
#: - open interest: hyperliquid, 2025-12-07 11:00 -> 2026-03-07 10:00, with a real 18-hour hole on
#:   2026-01-19 00:00 -> 17:00 for every coin: the source recorded nothing then. It is declared in
#:   ``SAMPLE_COVERAGE_GAPS`` (a known hole of the source, said in the data README), so the
#:   missing-hours check still fails on any OTHER missing hour, and L2 reads "no OI" in those hours.
SAMPLE_COVERAGE_STARTS = {
    "open_interest:hyperliquid:*": "2025-12-07T11:00:00+00:00",
}

#: Known holes of a source, ``"dataset:venue:coin"`` -> [(first hour, end hour exclusive)] (ISO).
SAMPLE_COVERAGE_GAPS = {
    "open_interest:hyperliquid:*": (("2026-01-19T00:00:00+00:00", "2026-01-19T18:00:00+00:00"),),
}
DATASETS = ("candles", "funding", "open_interest")


def unified(coin: str, quote: str) -> str:
    """ccxt unified linear perpetual symbol: ``unified("BTC", "USDT") == "BTC/USDT:USDT"``."""
    return f"{coin}/{quote}:{quote}"


def coin_of(symbol: str) -> str:
    """``"BTC/USDT:USDT"`` -> ``"BTC"``."""
    return symbol.split("/", 1)[0]


def utc_hour(value: str | pd.Timestamp, what: str) -> pd.Timestamp:
    """An ISO date or hour as a UTC timestamp; one without an offset is read as UTC."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: {value!r} is not an ISO date or hour ({exc})") from exc
    if ts is pd.NaT:
        raise ValueError(f"{what}: {value!r} is not an ISO date or hour")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _empty_expected() -> pd.DataFrame:
    return pd.DataFrame(
        {"venue": pd.Series(dtype="str"), "symbol": pd.Series(dtype="str"), "hour": pd.Series(dtype="datetime64[ns, UTC]")}
    )


@dataclass(frozen=True)
class Universe:
    """Instruments per dataset, the venues each coin is listed on, and the hour each becomes expected.

    Parameters
    ----------
    perp_venues : venues whose 1h candles are collected.
    funding_venues : venues whose funding settlements are collected.
    oi_venues : venues whose hourly open interest is collected.
    coins : base coins collected on every venue that lists them.
    quotes : quote currency per venue (hyperliquid settles in USDC).
    extra_funding_symbols : (venue, unified symbol) pairs with funding only.
    listings : coin -> {venue: first listed hour (ISO, UTC when no offset) or None for "before the
        data starts"}. A coin named here is listed on those venues only; a coin not named is listed
        on every venue from the start.
    coverage_starts : ``"dataset:venue:coin"`` (coin may be ``*``) -> first hour the source has it (ISO).
    coverage_gaps : same keys -> known holes of the source, ((first hour, end exclusive), ...) (ISO).
    """

    perp_venues: tuple[str, ...] = ("binance", "bybit")
    funding_venues: tuple[str, ...] = ("binance", "bybit", "hyperliquid")
    oi_venues: tuple[str, ...] = ("hyperliquid",)
    coins: tuple[str, ...] = SAMPLE_COINS
    quotes: dict[str, str] = field(default_factory=lambda: dict(SAMPLE_QUOTES))
    extra_funding_symbols: tuple[tuple[str, str], ...] = ()
    listings: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    coverage_starts: dict[str, str] = field(default_factory=dict)
    coverage_gaps: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: ``listings`` parsed once: coin -> {venue: UTC hour or None}.
    _listed: dict[str, dict[str, pd.Timestamp | None]] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        parsed = {
            coin: {v: None if d is None else utc_hour(d, f"listing of {coin} on {v}") for v, d in venues.items()}
            for coin, venues in self.listings.items()
        }
        object.__setattr__(self, "_listed", parsed)
        collected = {*self.perp_venues, *self.funding_venues, *self.oi_venues}
        for coin in self.coins:
            if coin in parsed and not collected & set(parsed[coin]):
                raise ValueError(
                    f"{coin} is listed on {sorted(parsed[coin]) or 'no venue'}, none of which the universe "
                    f"collects ({', '.join(sorted(collected))}): check the venue names of its listing"
                )

    def symbol(self, venue: str, coin: str) -> str:
        return unified(coin, self.quotes.get(venue, "USDT"))

    def is_listed(self, venue: str, symbol: str, before: pd.Timestamp | None = None) -> bool:
        """Whether ``venue`` lists ``symbol`` at all, or (``before`` given) at some hour before ``before``."""
        venues = self._listed.get(coin_of(symbol))
        if venues is None:
            return True
        if venue not in venues:
            return False
        since = venues[venue]
        return since is None or before is None or since < utc_hour(before, "before")

    def listed_from(self, venue: str, symbol: str) -> pd.Timestamp | None:
        """The hour ``venue`` listed ``symbol``; None when listed before the data starts (or not listed)."""
        venues = self._listed.get(coin_of(symbol)) or {}
        return venues.get(venue)

    def pairs(self, dataset: str, before: pd.Timestamp | None = None) -> list[tuple[str, str]]:
        """(venue, symbol) pairs to fetch for ``dataset`` in {candles, funding, open_interest}.

        Only venues that list the symbol; with ``before`` (a fetch window's end), only those listed
        at some hour before it, so a window that ends before a listing fetches nothing for it.
        """
        venues = {"candles": self.perp_venues, "funding": self.funding_venues, "open_interest": self.oi_venues}
        if dataset not in venues:
            raise ValueError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
        out = [(v, self.symbol(v, c)) for v in venues[dataset] for c in self.coins]
        if dataset == "funding":
            out += [p for p in self.extra_funding_symbols if p not in out]
        return [(v, s) for v, s in out if self.is_listed(v, s, before)]

    def expected_from(self, dataset: str, venue: str, symbol: str) -> pd.Timestamp | None:
        """First hour a row is expected (the later of listing and the source's start), or None when from the beginning."""
        coin = coin_of(symbol)
        starts = [self.listed_from(venue, symbol)]
        for key in (f"{dataset}:{venue}:{coin}", f"{dataset}:{venue}:*"):
            if key in self.coverage_starts:
                starts.append(utc_hour(self.coverage_starts[key], f"coverage start {key}"))
                break
        known = [s for s in starts if s is not None]
        return max(known) if known else None

    def known_gaps(self, dataset: str, venue: str, symbol: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The declared holes of the source for one instrument, as [start, end) UTC hours."""
        coin = coin_of(symbol)
        gaps = [*self.coverage_gaps.get(f"{dataset}:{venue}:{coin}", ()), *self.coverage_gaps.get(f"{dataset}:{venue}:*", ())]
        what = f"coverage gap of {dataset}:{venue}:{coin}"
        return [(utc_hour(a, what), utc_hour(b, what)) for a, b in gaps]

    def expected_rows(self, dataset: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
        """Every (venue, symbol, hour) that should have a row in ``hours``: listed, covered, not a known hole."""
        hours = pd.DatetimeIndex(hours)
        at = hours.as_unit("ns").asi8  # compared with Timestamp.value, which is in ns whatever the unit
        venues, symbols, picks = [], [], []
        for venue, symbol in self.pairs(dataset):
            start = self.expected_from(dataset, venue, symbol)
            keep = np.ones(len(at), dtype=bool) if start is None else at >= pd.Timestamp(start).value
            for a, b in self.known_gaps(dataset, venue, symbol):
                keep &= (at < a.value) | (at >= b.value)
            rows = np.flatnonzero(keep)
            if len(rows):
                venues.append(venue)
                symbols.append(symbol)
                picks.append(rows)
        if not picks:
            return _empty_expected()
        counts = [len(r) for r in picks]
        return pd.DataFrame({
            "venue": pd.Series(np.repeat(np.array(venues, dtype=object), counts), dtype="str"),
            "symbol": pd.Series(np.repeat(np.array(symbols, dtype=object), counts), dtype="str"),
            "hour": hours[np.concatenate(picks)],
        })


def sample_universe() -> Universe:
    """The universe of the bundled sample (``data/sample``)."""
    extra = []
    for vs in SAMPLE_FUNDING_ONLY:
        quote = "USDC" if vs.endswith("USDC") else "USDT"
        extra.append(("binance", unified(vs[: -len(quote)], quote)))
    return Universe(
        extra_funding_symbols=tuple(extra),
        listings={c: dict(v) for c, v in SAMPLE_LISTINGS.items()},
        coverage_starts=dict(SAMPLE_COVERAGE_STARTS),
        coverage_gaps=dict(SAMPLE_COVERAGE_GAPS),
    )
