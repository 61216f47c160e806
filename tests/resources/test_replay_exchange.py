"""ReplayExchange over the real bundled sample (data/sample): the lookahead guard of every backtest.

Reference values are read straight from the sample's Parquet files with pyarrow, not through the
replay's own loading code.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from quant.frames import CANDLES, FUNDING, MARK_INDEX, OPEN_INTEREST, TICKERS, TRADES
from quant.market_data.funding import KNOWN_INTERVALS_H
from quant.market_data.universe import coin_of, sample_universe
from resources.exchange.base import Exchange
from resources.exchange.errors import BadSymbol
from resources.exchange.replay import (
    CANDLES_FILES,
    DEFAULT_SAMPLE_DIR,
    FUNDING_36_FILES,
    FUNDING_FILES,
    OI_FILE,
    SAMPLE_WINDOWS,
    ReplayExchange,
)

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


def raw_rows(files: tuple[str, ...], venue: str, coin: str, start: datetime, end: datetime) -> list[dict]:
    """Rows of a (venue, coin) keyed file set for [start, end), read with pyarrow only."""
    table = pa.concat_tables(pq.read_table(DEFAULT_SAMPLE_DIR / f) for f in files)
    ts = table["timestamp"]
    mask = pc.and_(
        pc.and_(pc.equal(table["venue"], venue), pc.equal(table["coin"], coin)),
        pc.and_(pc.greater_equal(ts, pd.Timestamp(start)), pc.less(ts, pd.Timestamp(end))),
    )
    return table.filter(mask).sort_by("timestamp").to_pylist()


def sample_bars(venue: str, coin: str, start: datetime, end: datetime) -> list[dict]:
    """Rows of the candle files (both windows) for [start, end)."""
    return raw_rows(CANDLES_FILES, venue, coin, start, end)


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


# -- the two windows ---------------------------------------------------------------------------

H = pd.Timedelta(hours=1)
GAP = (utc(2025, 11, 1), utc(2025, 11, 8))  # inside the withheld months, before open interest starts
SELL_OFF = (utc(2026, 2, 6), utc(2026, 2, 6, 3))


@pytest.mark.parametrize("files", [CANDLES_FILES, FUNDING_FILES, FUNDING_36_FILES])
def test_the_windows_files_share_one_schema_and_universe(files: tuple[str, ...]) -> None:
    first, second = (pq.read_table(DEFAULT_SAMPLE_DIR / f) for f in files)
    assert second.schema == first.schema
    for col in ("venue", "coin", "venue_symbol", "interval_hours"):
        if col in first.column_names:
            assert set(second[col].to_pylist()) == set(first[col].to_pylist()), col


@pytest.mark.parametrize(
    ("window", "first_candle", "last_candle"),
    [
        (0, utc(2025, 3, 6, 11), utc(2025, 9, 30, 23)),  # BTC, ETH from 11:00; DOGE, SOL from 12:00
        (1, utc(2026, 1, 15), utc(2026, 3, 5, 10)),  # DOGE, SOL, HYPE to 10:00; BTC, ETH to 09:00
    ],
)
def test_sample_windows_agree_with_the_candle_files(window: int, first_candle: datetime, last_candle: datetime) -> None:
    df = pq.read_table(DEFAULT_SAMPLE_DIR / CANDLES_FILES[window]).to_pandas()
    assert (df["timestamp"].min(), df["timestamp"].max()) == (first_candle, last_candle)
    universe, firsts, lasts = sample_universe(), [], []
    for venue, symbol in universe.pairs("candles"):
        bars = df.loc[(df["venue"] == venue) & (df["coin"] == coin_of(symbol)), "timestamp"]
        listed = universe.expected_from("candles", venue, symbol)
        if listed is None or listed <= first_candle:
            firsts.append(bars.min())
        lasts.append(bars.max())
    start, end = SAMPLE_WINDOWS[window]
    assert start == max(firsts)  # the first hour every listed instrument has a bar
    assert end == min(lasts) + H  # the hour after the last hour every instrument has a bar
    for venue, symbol in universe.pairs("candles"):  # and no missing hour in between
        listed = universe.expected_from("candles", venue, symbol)
        hours = pd.date_range(max(start, listed or start), end, freq="h", inclusive="left")
        bars = df.loc[(df["venue"] == venue) & (df["coin"] == coin_of(symbol)), "timestamp"]
        assert hours.isin(bars).all(), (venue, symbol)


@pytest.mark.parametrize(("venue", "symbol"), [("binance", BTC), ("bybit", "SOL/USDT:USDT")])
def test_2026_candles_are_the_file_rows(ex: ReplayExchange, venue: str, symbol: str) -> None:
    got = ex.candles(venue, symbol, *SELL_OFF)
    reference = raw_rows(CANDLES_FILES[1:], venue, coin_of(symbol), *SELL_OFF)
    assert len(reference) == 3
    assert got["ts"].tolist() == [r["timestamp"] for r in reference]
    for col, src in [("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")]:
        assert got[col].tolist() == [r[src] for r in reference], col


@pytest.mark.parametrize(
    ("venue", "symbol", "interval"),
    [("binance", BTC, 8.0), ("binance", HYPE, 4.0), ("bybit", "ETH/USDT:USDT", 8.0), ("hyperliquid", HL_BTC, 1.0)],
)
def test_2026_funding_is_the_file_rows(ex: ReplayExchange, venue: str, symbol: str, interval: float) -> None:
    day = (utc(2026, 2, 6), utc(2026, 2, 7))
    got = ex.funding_history(venue, symbol, *day)
    reference = raw_rows(FUNDING_FILES[1:], venue, coin_of(symbol), *day)
    assert len(reference) == 24 / interval
    assert got["ts"].tolist() == [r["timestamp"] for r in reference]
    assert got["funding_rate"].tolist() == [r["funding_rate"] for r in reference]
    assert set(got["interval_hours"]) == {interval}
    # The window's first settlement takes the spacing to the next one, not the months since 2025-09-30.
    opening = ex.funding_history(venue, symbol, SAMPLE_WINDOWS[1][0], SAMPLE_WINDOWS[1][0] + H)
    assert opening["interval_hours"].tolist() == [interval]


def test_funding_intervals_stay_on_the_venues_grid_across_both_windows(ex: ReplayExchange) -> None:
    for venue in ex.venues():
        for symbol in ex.symbols(venue):
            got = ex.funding_history(venue, symbol, utc(2025, 1, 1), utc(2026, 6, 1))
            assert set(got["interval_hours"]) <= set(KNOWN_INTERVALS_H), (venue, symbol)


def test_2026_funding_of_a_4h_symbol_in_the_36_symbol_set(ex: ReplayExchange) -> None:
    day = (utc(2026, 2, 6), utc(2026, 2, 7))
    got = ex.funding_history("binance", "ORDI/USDT:USDT", *day)
    table = pq.read_table(DEFAULT_SAMPLE_DIR / FUNDING_36_FILES[1]).to_pandas()
    ref = table[(table["venue_symbol"] == "ORDIUSDT") & table["settlement_ts"].between(*day, inclusive="left")]
    assert len(ref) == 6
    assert got["funding_rate"].tolist() == ref.sort_values("settlement_ts")["rate_raw"].tolist()
    assert set(got["interval_hours"]) == {4.0}
    assert len(ex.mark_index("binance", "ORDI/USDT:USDT", *day)) == 6


def test_2026_open_interest_is_the_file_rows(ex: ReplayExchange) -> None:
    got = ex.open_interest_history("hyperliquid", HL_BTC, *SELL_OFF)
    reference = raw_rows((OI_FILE,), "hyperliquid", "BTC", *SELL_OFF)
    assert len(reference) == 3
    assert got["ts"].tolist() == [r["timestamp"] for r in reference]
    assert got["oi_usd"].tolist() == [r["oi_usd"] for r in reference]


def test_the_real_open_interest_hole_is_not_filled(ex: ReplayExchange) -> None:
    # hyperliquid open interest has no rows 2026-01-19 00:00 -> 17:00: the replay invents none.
    got = ex.open_interest_history("hyperliquid", HL_BTC, utc(2026, 1, 18, 23), utc(2026, 1, 19, 19))
    assert got["ts"].tolist() == [pd.Timestamp(utc(2026, 1, 18, 23)), pd.Timestamp(utc(2026, 1, 19, 18))]


@pytest.mark.parametrize(
    ("method", "venue", "symbol", "schema"),
    [
        ("candles", "binance", BTC, CANDLES),
        ("funding_history", "binance", BTC, FUNDING),
        ("funding_history", "hyperliquid", HL_BTC, FUNDING),
        ("funding_history", "binance", "ARB/USDC:USDC", FUNDING),
        ("mark_index", "binance", BTC, MARK_INDEX),
        ("open_interest_history", "hyperliquid", HL_BTC, OPEN_INTEREST),
    ],
)
def test_the_withheld_gap_is_an_honest_empty_frame(
    ex: ReplayExchange, method: str, venue: str, symbol: str, schema: dict
) -> None:
    got = getattr(ex, method)(venue, symbol, *GAP)
    assert len(got) == 0
    assert dtypes(got) == dict(schema)


def test_tickers_in_the_gap_are_empty(ex: ReplayExchange) -> None:
    got = ex.tickers_24h("binance", GAP[1])
    assert len(got) == 0
    assert dtypes(got) == dict(TICKERS)


@pytest.mark.parametrize(
    ("start", "end", "n_bars"),
    [
        (utc(2025, 9, 30, 20), utc(2025, 11, 1), 4),  # the end of window 1 into the gap: 20:00 .. 23:00
        (utc(2025, 9, 30, 22), utc(2026, 1, 15, 2), 4),  # across the whole gap: 22:00, 23:00 | 00:00, 01:00
    ],
)
def test_windows_spanning_the_gap_return_only_recorded_rows(
    ex: ReplayExchange, start: datetime, end: datetime, n_bars: int
) -> None:
    got = ex.candles("binance", BTC, start, end)
    reference = sample_bars("binance", "BTC", start, end)
    assert len(got) == len(reference) == n_bars
    assert got["ts"].tolist() == [r["timestamp"] for r in reference]
    assert not got["ts"].between(SAMPLE_WINDOWS[0][1], SAMPLE_WINDOWS[1][0], inclusive="left").any()
    funding = ex.funding_history("hyperliquid", HL_BTC, start, end)
    assert funding["ts"].tolist() == [r["timestamp"] for r in raw_rows(FUNDING_FILES, "hyperliquid", "BTC", start, end)]


def test_btc_sell_off_of_2026_02_06(ex: ReplayExchange) -> None:
    bars = ex.candles("binance", BTC, *SAMPLE_WINDOWS[1]).set_index("ts")
    raw = pd.DataFrame(sample_bars("binance", "BTC", *SAMPLE_WINDOWS[1])).set_index("timestamp")
    assert bars["low"].tolist() == raw["l"].tolist()
    # The shared README's "worst 1h bar -4.9%" is the deepest fall from a bar's open to its low.
    fall = bars["low"] / bars["open"] - 1.0
    assert fall.idxmin() == pd.Timestamp(utc(2026, 2, 6))
    assert fall.min() == pytest.approx(-0.049, abs=5e-4)
    assert fall.min() == pytest.approx(raw["l"].min() / raw.loc[fall.idxmin(), "o"] - 1.0, rel=1e-12)
    assert bars["low"].idxmin() == fall.idxmin()  # the window's low (97k -> 59.8k) is in that bar
    assert bars["high"].max() == pytest.approx(97_000, rel=0.01)
    assert bars["low"].min() == pytest.approx(59_800, rel=0.01)
    # Close to close no hour falls that far (the worst is -3.6%, 2026-02-28 06:00): the sell-off
    # bar recovered and closed above its open.
    assert bars["close"].pct_change().min() > fall.min()
    assert bars.loc[fall.idxmin(), "close"] > bars.loc[fall.idxmin(), "open"]


# -- loading rules -----------------------------------------------------------------------------


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    root = tmp_path / "sample"
    for folder in ("perp_ohlcv_1h", "funding", "open_interest"):
        shutil.copytree(DEFAULT_SAMPLE_DIR / folder, root / folder)
    return root


def test_rows_where_the_windows_touch_are_read_once(sample_copy: Path) -> None:
    # Put the last 2025 hour into the 2026 files too, as a window recorded with overlap would.
    for files in (CANDLES_FILES, FUNDING_FILES):
        first, second = (pd.read_parquet(sample_copy / f) for f in files)
        last = first[first["timestamp"] >= utc(2025, 9, 30, 23)]
        pd.concat([last, second], ignore_index=True).to_parquet(sample_copy / files[1])
    ex = ReplayExchange(sample_copy)
    span = (utc(2025, 9, 30, 22), utc(2026, 1, 15, 2))
    assert len(ex.candles("binance", BTC, *span)) == 4
    funding = ex.funding_history("hyperliquid", HL_BTC, *span)
    assert funding["ts"].is_unique
    assert len(funding) == 4
    assert set(funding["interval_hours"]) == {1.0}


def test_a_window_file_with_another_schema_is_refused(sample_copy: Path) -> None:
    path = sample_copy / CANDLES_FILES[1]
    pd.read_parquet(path).astype({"v": "float32"}).to_parquet(path)
    ex = ReplayExchange(sample_copy)
    span = (utc(2026, 2, 1), utc(2026, 2, 2))
    with pytest.raises(ValueError, match="does not match the schema") as info:
        ex.candles("binance", BTC, *span)
    assert CANDLES_FILES[1] in str(info.value)
    # each dataset is read on its own: the broken candles file does not take funding with it
    assert len(ex.funding_history("binance", BTC, *span)) == 3
