"""quant.market_data.universe: which (venue, symbol) pairs each dataset covers and from which hour."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quant.market_data.universe import SAMPLE_COINS, Universe, coin_of, sample_universe, unified

SAMPLE_36 = Path(__file__).resolve().parents[3] / "data" / "sample" / "funding" / "binance_36_symbols_2025.parquet"


def utc(iso: str) -> pd.Timestamp:
    return pd.Timestamp(iso, tz="UTC")


def test_unified_and_coin_of() -> None:
    assert unified("BTC", "USDT") == "BTC/USDT:USDT"
    assert unified("HYPE", "USDC") == "HYPE/USDC:USDC"
    assert coin_of("ARB/USDC:USDC") == "ARB"


def test_pairs_per_dataset() -> None:
    u = Universe()
    assert u.pairs("candles") == [(v, f"{c}/USDT:USDT") for v in ("binance", "bybit") for c in SAMPLE_COINS]
    assert u.pairs("open_interest") == [("hyperliquid", f"{c}/USDC:USDC") for c in SAMPLE_COINS]
    funding = u.pairs("funding")
    assert len(funding) == 3 * 5
    assert ("hyperliquid", "BTC/USDC:USDC") in funding  # hyperliquid settles in USDC
    assert ("bybit", "SOL/USDT:USDT") in funding


def test_pairs_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'trades'"):
        Universe().pairs("trades")


def test_extra_funding_symbols_are_appended_once() -> None:
    # An extra that is already a core pair is not listed twice.
    u = Universe(extra_funding_symbols=(("binance", "ARB/USDC:USDC"), ("binance", "BTC/USDT:USDT")))
    funding = u.pairs("funding")
    assert len(funding) == 15 + 1
    assert funding[-1] == ("binance", "ARB/USDC:USDC")
    assert funding.count(("binance", "BTC/USDT:USDT")) == 1
    assert ("binance", "ARB/USDC:USDC") not in u.pairs("candles")  # funding only


COVERAGE = {
    "candles:binance:HYPE": "2025-05-30T10:00:00+00:00",
    "open_interest:hyperliquid:*": "2025-12-07T11:00:00+00:00",
    "open_interest:hyperliquid:BTC": "2025-12-01T00:00:00+00:00",
    "funding:bybit:SOL": "2025-06-01T12:00:00+02:00",  # not UTC in the key: converted
}


@pytest.mark.parametrize(
    ("dataset", "venue", "symbol", "expected"),
    [
        ("candles", "binance", "HYPE/USDT:USDT", utc("2025-05-30 10:00")),
        ("candles", "bybit", "HYPE/USDT:USDT", None),  # the key names binance only
        ("funding", "binance", "HYPE/USDT:USDT", None),  # ... and candles only
        ("open_interest", "hyperliquid", "ETH/USDC:USDC", utc("2025-12-07 11:00")),  # "*" matches
        ("open_interest", "hyperliquid", "BTC/USDC:USDC", utc("2025-12-01 00:00")),  # exact coin beats "*"
        ("funding", "bybit", "SOL/USDT:USDT", utc("2025-06-01 10:00")),  # 12:00 +02:00 = 10:00 UTC
        ("candles", "binance", "BTC/USDT:USDT", None),
    ],
)
def test_expected_from(dataset: str, venue: str, symbol: str, expected: pd.Timestamp | None) -> None:
    got = Universe(coverage_starts=dict(COVERAGE)).expected_from(dataset, venue, symbol)
    if expected is None:
        assert got is None
    else:
        assert got == expected
        assert str(got.tz) == "UTC"


def test_expected_rows_honour_listing_starts() -> None:
    # 08:00..11:00 on the day Binance listed HYPE perps at 10:00.
    hours = pd.date_range("2025-05-30 08:00", periods=4, freq="h", tz="UTC", unit="ns")
    rows = sample_universe().expected_rows("candles", hours)
    assert list(rows.columns) == ["venue", "symbol", "hour"]
    # 9 instruments x 4 hours + binance HYPE from 10:00 (2 hours) = 38
    assert len(rows) == 9 * 4 + 2
    hype = rows[rows["symbol"] == "HYPE/USDT:USDT"]
    assert hype.loc[hype["venue"] == "binance", "hour"].tolist() == [utc("2025-05-30 10:00"), utc("2025-05-30 11:00")]
    assert hype.loc[hype["venue"] == "bybit", "hour"].tolist() == list(hours)
    assert not rows.duplicated().any()


def test_expected_rows_open_interest_starts_with_its_dataset() -> None:
    u = sample_universe()
    before = pd.date_range("2025-12-07 09:00", periods=2, freq="h", tz="UTC", unit="ns")
    assert len(u.expected_rows("open_interest", before)) == 0
    across = pd.date_range("2025-12-07 10:00", periods=3, freq="h", tz="UTC", unit="ns")  # 10, 11, 12
    rows = u.expected_rows("open_interest", across)
    assert len(rows) == 5 * 2  # 5 hyperliquid coins x (11:00, 12:00)
    assert sorted(set(rows["hour"])) == [utc("2025-12-07 11:00"), utc("2025-12-07 12:00")]


def test_expected_rows_with_no_pairs() -> None:
    u = Universe(oi_venues=())
    rows = u.expected_rows("open_interest", pd.date_range("2025-09-01", periods=2, freq="h", tz="UTC"))
    assert len(rows) == 0
    assert list(rows.columns) == ["venue", "symbol", "hour"]


def test_sample_universe_funding_only_symbols() -> None:
    u = sample_universe()
    assert len(u.extra_funding_symbols) == 32
    for pair in [
        ("binance", "ARB/USDC:USDC"),
        ("binance", "ARB/USDT:USDT"),
        ("binance", "TON/USDT:USDT"),
        ("binance", "BTC/USDC:USDC"),
    ]:
        assert pair in u.extra_funding_symbols
    for venue, symbol in u.extra_funding_symbols:
        assert venue == "binance"
        base, _, settle = symbol.partition("/")
        quote, _, settle_ccy = settle.partition(":")
        assert quote in ("USDT", "USDC")
        assert quote == settle_ccy
        assert base
        assert not base.endswith(("USDT", "USDC"))
    funding = u.pairs("funding")
    assert len(funding) == 15 + 32
    assert len(set(funding)) == len(funding)


def test_sample_universe_covers_every_symbol_of_the_bundled_funding_set() -> None:
    # Independent reference: the venue symbols actually in data/sample.
    venue_symbols = sorted(pd.read_parquet(SAMPLE_36, columns=["venue_symbol"])["venue_symbol"].unique())
    assert len(venue_symbols) == 36
    funding = set(sample_universe().pairs("funding"))
    for vs in venue_symbols:
        quote = vs[-4:]
        assert ("binance", f"{vs[:-4]}/{quote}:{quote}") in funding, vs


def test_a_declared_source_hole_is_not_expected_but_every_other_hour_is():
    import pandas as pd

    from quant.market_data.universe import sample_universe
    from quant.quality import missing_rows

    uni = sample_universe()
    hours = pd.date_range("2026-01-18 22:00", "2026-01-19 20:00", freq="h", inclusive="left", tz="UTC")
    expected = uni.expected_rows("open_interest", hours)
    btc = expected[expected["symbol"] == "BTC/USDC:USDC"]["hour"]
    assert list(btc) == [*hours[:2], *hours[-2:]]  # 2026-01-19 00:00..17:00 is the source's known hole
    # the rule still fails on an hour outside the hole: drop 2026-01-19 18:00 from otherwise complete data
    have = expected[expected["hour"] != pd.Timestamp("2026-01-19 18:00", tz="UTC")]
    missing = missing_rows(have, expected, "open interest")
    assert set(missing["hour"]) == {pd.Timestamp("2026-01-19 18:00", tz="UTC")}
    assert len(missing) == 5  # every coin on hyperliquid
    assert missing["detail"].str.contains("no open interest for 2026-01-19 18:00 UTC").all()


# -- listings: which venues list a coin, from when ----------------------------------------------

WIF_BINANCE_FROM = "2025-06-01T00:00:00+00:00"


def _wif_on_binance() -> Universe:
    return Universe(coins=("BTC", "WIF"), listings={"WIF": {"binance": WIF_BINANCE_FROM}})


def test_a_coin_listed_on_one_venue_is_fetched_there_only() -> None:
    u = _wif_on_binance()
    assert u.pairs("candles") == [("binance", "BTC/USDT:USDT"), ("binance", "WIF/USDT:USDT"), ("bybit", "BTC/USDT:USDT")]
    funding = u.pairs("funding")
    assert ("binance", "WIF/USDT:USDT") in funding
    assert ("bybit", "WIF/USDT:USDT") not in funding
    assert ("hyperliquid", "WIF/USDC:USDC") not in funding
    assert u.pairs("open_interest") == [("hyperliquid", "BTC/USDC:USDC")]  # hyperliquid does not list WIF


@pytest.mark.parametrize(
    ("before", "fetched"),
    [
        (utc("2025-05-31 23:00"), False),  # a window ending at 23:00 holds no listed hour
        (utc("2025-06-01 00:00"), False),  # [.., 00:00) ends just before the listing
        (utc("2025-06-01 01:00"), True),  # the listing hour itself
        (None, True),  # no window: every venue that lists it, at any time
    ],
)
def test_a_window_before_the_listing_fetches_nothing_for_it(before: pd.Timestamp | None, fetched: bool) -> None:
    assert (("binance", "WIF/USDT:USDT") in _wif_on_binance().pairs("candles", before=before)) is fetched
    assert ("binance", "BTC/USDT:USDT") in _wif_on_binance().pairs("candles", before=before)  # unlisted coins: always


def test_expected_rows_follow_the_listing() -> None:
    hours = pd.date_range("2025-05-31 22:00", periods=4, freq="h", tz="UTC", unit="ns")
    rows = _wif_on_binance().expected_rows("candles", hours)
    wif = rows[rows["symbol"] == "WIF/USDT:USDT"]
    assert set(wif["venue"]) == {"binance"}  # nothing expected where it is not listed
    assert wif["hour"].tolist() == [utc("2025-06-01 00:00"), utc("2025-06-01 01:00")]  # nor before its listing
    assert len(rows) == 2 * 4 + 2  # BTC on both venues every hour


@pytest.mark.parametrize(
    ("listed", "coverage", "expected"),
    [
        ("2025-06-01T00:00:00+00:00", None, utc("2025-06-01 00:00")),
        ("2025-06-01T00:00:00+00:00", "2025-07-01T00:00:00+00:00", utc("2025-07-01 00:00")),  # source starts later
        ("2025-06-01T00:00:00+00:00", "2025-05-01T00:00:00+00:00", utc("2025-06-01 00:00")),  # listed later
        (None, "2025-05-01T00:00:00+00:00", utc("2025-05-01 00:00")),
        ("2025-06-01", None, utc("2025-06-01 00:00")),  # a date without an offset is UTC
        ("2025-06-01T02:00:00+02:00", None, utc("2025-06-01 00:00")),
    ],
)
def test_expected_from_is_the_later_of_listing_and_source(listed: str | None, coverage: str | None, expected: pd.Timestamp) -> None:
    starts = {} if coverage is None else {"candles:binance:WIF": coverage}
    u = Universe(coins=("WIF",), listings={"WIF": {"binance": listed}}, coverage_starts=starts)
    got = u.expected_from("candles", "binance", "WIF/USDT:USDT")
    assert got == expected
    assert str(got.tz) == "UTC"


def test_sample_universe_lists_binance_hype_from_its_listing() -> None:
    u = sample_universe()
    assert u.listed_from("binance", "HYPE/USDT:USDT") == utc("2025-05-30 10:00")
    assert u.listed_from("bybit", "HYPE/USDT:USDT") is None
    assert ("binance", "HYPE/USDT:USDT") not in u.pairs("candles", before=utc("2025-05-30 10:00"))
    assert ("bybit", "HYPE/USDT:USDT") in u.pairs("candles", before=utc("2025-05-30 10:00"))


def test_a_listing_that_names_no_collected_venue_is_refused() -> None:
    with pytest.raises(ValueError, match=r"WIF is listed on \['binanse'\], none of which the universe collects"):
        Universe(coins=("WIF",), listings={"WIF": {"binanse": None}})


def test_a_listing_date_that_is_not_a_date_is_refused() -> None:
    with pytest.raises(ValueError, match="listing of WIF on binance: 'soon' is not an ISO date or hour"):
        Universe(coins=("WIF",), listings={"WIF": {"binance": "soon"}})


def test_no_open_interest_venue_expects_nothing_and_misses_nothing() -> None:
    from quant.market_data.tables import open_interest_table
    from quant.quality import missing_rows

    hours = pd.date_range("2026-02-05 10:00", periods=2, freq="h", tz="UTC")
    expected = Universe(oi_venues=()).expected_rows("open_interest", hours)
    assert expected.empty
    assert {c: str(t) for c, t in expected.dtypes.items()} == {"venue": "str", "symbol": "str", "hour": "datetime64[ns, UTC]"}
    stored = open_interest_table([])  # what the asset stores when no venue is collected
    missing = missing_rows(stored, expected, "open interest")
    assert missing.empty
    assert list(missing.columns) == ["hour", "venue", "symbol", "detail"]
    untyped = pd.DataFrame({"venue": [], "symbol": [], "hour": []})  # an empty frame built without dtypes: float64
    assert missing_rows(stored, untyped, "open interest").empty
