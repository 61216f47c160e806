"""ReplayExchange over the real bundled sample (data/sample): the lookahead guard of every backtest.

Reference values are read straight from the sample's Parquet files with pyarrow, not through the
replay's own loading code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from quant.frames import CANDLES, OPEN_INTEREST, TRADES
from resources.exchange.base import Exchange
from resources.exchange.errors import BadSymbol
from resources.exchange.replay import CANDLES_FILE, DEFAULT_SAMPLE_DIR, ReplayExchange

BTC = "BTC/USDT:USDT"
HYPE = "HYPE/USDT:USDT"
HL_BTC = "BTC/USDC:USDC"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in df.dtypes.items()}


@pytest.fixture(scope="module")
def ex() -> ReplayExchange:
    return ReplayExchange()


def sample_bars(venue: str, coin: str, start: datetime, end: datetime) -> list[dict]:
    """Rows of the candle file for [start, end), read with pyarrow only."""
    table = pq.read_table(DEFAULT_SAMPLE_DIR / CANDLES_FILE)
    ts = table["timestamp"]
    mask = pc.and_(
        pc.and_(pc.equal(table["venue"], venue), pc.equal(table["coin"], coin)),
        pc.and_(pc.greater_equal(ts, pd.Timestamp(start)), pc.less(ts, pd.Timestamp(end))),
    )
    return table.filter(mask).sort_by("timestamp").to_pylist()


def test_replay_is_an_exchange(ex: ReplayExchange) -> None:
    assert isinstance(ex, Exchange)
    assert ex.venues() == ["binance", "bybit", "hyperliquid"]


# -- the lookahead guard ----------------------------------------------------------------------

WINDOWS = [
    (utc(2025, 9, 1), utc(2025, 9, 1, 3)),
    (utc(2025, 9, 1, 0, 30), utc(2025, 9, 1, 2, 30)),
    (utc(2025, 5, 30, 8), utc(2025, 5, 30, 14)),  # across Binance's HYPE listing
    (utc(2025, 9, 30, 20), utc(2025, 10, 2)),  # past the end of the candles
]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
@pytest.mark.parametrize(("venue", "symbol"), [("binance", BTC), ("binance", HYPE), ("bybit", BTC)])
def test_candles_stay_inside_the_window(
    ex: ReplayExchange, venue: str, symbol: str, start: datetime, end: datetime
) -> None:
    got = ex.candles(venue, symbol, start, end)
    assert (got["ts"] >= pd.Timestamp(start)).all()
    assert (got["ts"] < pd.Timestamp(end)).all()
    reference = sample_bars(venue, symbol.split("/")[0], start, end)
    assert len(got) == len(reference)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (utc(2025, 9, 1), utc(2025, 9, 2)),
        (utc(2025, 9, 1, 8), utc(2025, 9, 1, 16)),  # ends exactly at a settlement hour
        (utc(2025, 9, 1, 15, 59), utc(2025, 9, 1, 16, 1)),
    ],
)
@pytest.mark.parametrize(("venue", "symbol"), [("binance", BTC), ("binance", HYPE), ("hyperliquid", HL_BTC)])
def test_funding_stays_inside_the_window(
    ex: ReplayExchange, venue: str, symbol: str, start: datetime, end: datetime
) -> None:
    got = ex.funding_history(venue, symbol, start, end)
    assert (got["ts"] >= pd.Timestamp(start)).all()
    assert (got["ts"] < pd.Timestamp(end)).all()


def test_funding_end_is_exclusive_to_the_millisecond(ex: ReplayExchange) -> None:
    # Binance BTC's 2025-09-01 16:00 settlement is stamped 16:00:00.001.
    stamp = utc(2025, 9, 1, 16) + timedelta(milliseconds=1)
    before = ex.funding_history("binance", BTC, utc(2025, 9, 1, 12), stamp)
    assert pd.Timestamp(stamp) not in set(before["ts"])
    after = ex.funding_history("binance", BTC, utc(2025, 9, 1, 12), stamp + timedelta(milliseconds=1))
    assert after["ts"].tolist()[-1] == pd.Timestamp(stamp)
    assert len(after) == len(before) + 1


@pytest.mark.parametrize(
    ("start", "end", "n"),
    [
        (utc(2025, 12, 7, 11), utc(2025, 12, 7, 13), 2),  # 11:00, 12:00; 13:00 is the end
        (utc(2025, 12, 7, 11, 30), utc(2025, 12, 7, 14), 2),  # 12:00, 13:00
        (utc(2025, 12, 7), utc(2025, 12, 7, 12), 1),  # only 11:00 exists before 12:00
    ],
)
def test_open_interest_stays_inside_the_window(
    ex: ReplayExchange, start: datetime, end: datetime, n: int
) -> None:
    got = ex.open_interest_history("hyperliquid", HL_BTC, start, end)
    assert len(got) == n
    assert (got["ts"] >= pd.Timestamp(start)).all()
    assert (got["ts"] < pd.Timestamp(end)).all()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (utc(2024, 8, 8, 23, 55), utc(2024, 8, 8, 23, 56)),
        (utc(2024, 8, 8, 23, 59, 59), utc(2024, 8, 9)),
        (utc(2024, 8, 8), utc(2024, 8, 8, 23, 54, 17)),
    ],
)
def test_trades_stay_inside_the_window(ex: ReplayExchange, start: datetime, end: datetime) -> None:
    got = ex.trades("binance", BTC, start, end)
    assert len(got) > 0
    assert (got["ts"] >= pd.Timestamp(start)).all()
    assert (got["ts"] < pd.Timestamp(end)).all()


# -- values ------------------------------------------------------------------------------------


def test_candles_match_the_sample_file(ex: ReplayExchange) -> None:
    start, end = utc(2025, 9, 1), utc(2025, 9, 1, 3)
    got = ex.candles("binance", BTC, start, end)
    assert dtypes(got) == dict(CANDLES)
    reference = sample_bars("binance", "BTC", start, end)
    assert len(reference) == 3  # 00:00, 01:00, 02:00
    assert got["ts"].tolist() == [pd.Timestamp(r["timestamp"]) for r in reference]
    for col, src in [("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")]:
        assert got[col].tolist() == [r[src] for r in reference], col
    # Spot values, copied from the file by hand.
    assert got["open"].iloc[0] == 108208.4
    assert got["close"].iloc[2] == 107590.4


def test_funding_intervals(ex: ReplayExchange) -> None:
    day = (utc(2025, 9, 1), utc(2025, 9, 2))
    hype = ex.funding_history("binance", HYPE, *day)
    assert len(hype) == 6  # 00, 04, 08, 12, 16, 20
    assert set(hype["interval_hours"]) == {4.0}
    btc = ex.funding_history("binance", BTC, *day)
    assert len(btc) == 3  # 00, 08, 16
    assert set(btc["interval_hours"]) == {8.0}
    hl = ex.funding_history("hyperliquid", HL_BTC, *day)
    assert len(hl) == 24
    assert set(hl["interval_hours"]) == {1.0}


def test_open_interest_before_the_dataset_is_an_honest_empty_frame(ex: ReplayExchange) -> None:
    got = ex.open_interest_history("hyperliquid", HL_BTC, utc(2025, 9, 1), utc(2025, 12, 7))
    assert len(got) == 0
    assert dtypes(got) == dict(OPEN_INTEREST)
    after = ex.open_interest_history("hyperliquid", HL_BTC, utc(2025, 12, 7), utc(2025, 12, 8))
    assert len(after) == 13  # 11:00 .. 23:00
    assert (after["oi_usd"] > 0).all()


@pytest.mark.parametrize(
    ("method", "venue", "symbol"),
    [
        ("candles", "binance", "NOPE/USDT:USDT"),
        ("funding_history", "binance", "NOPE/USDT:USDT"),
        ("open_interest_history", "hyperliquid", "NOPE/USDC:USDC"),
        ("mark_index", "binance", "NOPE/USDT:USDT"),
        ("candles", "okx", BTC),  # a venue the sample does not have
        ("candles", "binance", "HYPE/USDC:USDC"),  # hyperliquid's quote on binance
        ("trades", "binance", "NOPE/USDT:USDT"),
    ],
)
def test_unknown_symbol_raises_bad_symbol(ex: ReplayExchange, method: str, venue: str, symbol: str) -> None:
    with pytest.raises(BadSymbol, match="NOPE|okx|USDC"):
        getattr(ex, method)(venue, symbol, utc(2025, 9, 1), utc(2025, 9, 2))


def test_known_symbol_without_that_dataset_is_empty_not_an_error(ex: ReplayExchange) -> None:
    # ARB/USDC is in the funding set only: it has no candles, which is an empty frame.
    got = ex.candles("binance", "ARB/USDC:USDC", utc(2025, 9, 1), utc(2025, 9, 2))
    assert len(got) == 0
    assert dtypes(got) == dict(CANDLES)
    assert len(ex.funding_history("binance", "ARB/USDC:USDC", utc(2025, 9, 1), utc(2025, 9, 2))) == 3


NAIVE = datetime(2025, 9, 1)  # noqa: DTZ001 - deliberately naive


@pytest.mark.parametrize(
    "call",
    [
        lambda ex: ex.candles("binance", BTC, NAIVE, utc(2025, 9, 2)),
        lambda ex: ex.funding_history("binance", BTC, utc(2025, 8, 31), NAIVE),
        lambda ex: ex.open_interest_history("hyperliquid", HL_BTC, NAIVE, utc(2025, 12, 8)),
        lambda ex: ex.trades("binance", BTC, NAIVE, utc(2025, 9, 2)),
        lambda ex: ex.tickers_24h("binance", NAIVE),
    ],
    ids=["candles", "funding", "open_interest", "trades", "tickers"],
)
def test_naive_datetime_raises(ex: ReplayExchange, call) -> None:
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        call(ex)


def test_empty_window_raises(ex: ReplayExchange) -> None:
    with pytest.raises(ValueError, match="empty window"):
        ex.candles("binance", BTC, utc(2025, 9, 1), utc(2025, 9, 1))


def test_tickers_24h_is_a_hand_sum_over_the_last_24_bars(ex: ReplayExchange) -> None:
    as_of = utc(2025, 9, 1)
    reference = sample_bars("binance", "BTC", as_of - timedelta(hours=24), as_of)
    assert len(reference) == 24
    assert reference[0]["timestamp"] == utc(2025, 8, 31)
    assert reference[-1]["timestamp"] == utc(2025, 8, 31, 23)
    total = 0.0
    for bar in reference:
        total += bar["v"] * bar["c"]
    got = ex.tickers_24h("binance", as_of).set_index("symbol")
    assert got.loc[BTC, "quote_volume_24h"] == pytest.approx(total, rel=1e-9)
    assert got.loc[BTC, "last"] == reference[-1]["c"]
    assert got.loc[BTC, "ts"] == pd.Timestamp(as_of)
    assert sorted(got.index) == sorted(f"{c}/USDT:USDT" for c in ("BTC", "DOGE", "ETH", "HYPE", "SOL"))


def test_tickers_24h_mid_hour_uses_only_closed_bars(ex: ReplayExchange) -> None:
    # At 00:30 the 00:00 bar has not closed yet: the newest closed bar is still 23:00.
    on_hour = ex.tickers_24h("binance", utc(2025, 9, 1)).set_index("symbol")
    mid_hour = ex.tickers_24h("binance", utc(2025, 9, 1, 0, 30)).set_index("symbol")
    assert mid_hour.loc[BTC, "last"] == on_hour.loc[BTC, "last"]
    assert mid_hour.loc[BTC, "quote_volume_24h"] == pytest.approx(on_hour.loc[BTC, "quote_volume_24h"], rel=1e-9)


def test_trades_recording(ex: ReplayExchange) -> None:
    got = ex.trades("binance", BTC, utc(2024, 8, 8), utc(2024, 8, 9))
    assert dtypes(got) == dict(TRADES)
    assert len(got) > 1000
    assert got["ts"].is_monotonic_increasing
    assert got["trade_id"].is_monotonic_increasing
    assert got["trade_id"].is_unique
    assert set(got["is_buyer_maker"]) == {True, False}  # both aggressor sides present
    assert got["ts"].iloc[0] == pd.Timestamp("2024-08-08 23:54:16.322", tz="UTC")
    assert (got["price"] > 0).all()
    assert (got["qty"] > 0).all()


def test_trades_without_a_recording_are_empty(ex: ReplayExchange) -> None:
    got = ex.trades("bybit", BTC, utc(2024, 8, 8), utc(2024, 8, 9))
    assert len(got) == 0
    assert dtypes(got) == dict(TRADES)
