"""quant.market_data: the hourly tables and the universe scan, on tiny hand-built frames.

Expected numbers are worked out by hand in the comments. The truncation tests prove that the
scan's answer for hour H uses nothing stamped after H.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.market_data import tables as md
from quant.quality import STALE_HOURS, stale_prices

REL = 1e-9
HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
BTC_T = "BTC/USDT:USDT"
ARB_C = "ARB/USDC:USDC"


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def stamps(*iso: str) -> pd.Series:
    return pd.Series([pd.Timestamp(s, tz="UTC") for s in iso]).astype("datetime64[ns, UTC]")


def bars(first: pd.Timestamp, closes: list[float], volumes: list[float] | None = None, *, spread: float = 1.0) -> pd.DataFrame:
    """Consecutive 1h candles; each bar trades ``close ± spread`` (spread 0: a flat bar)."""
    n = len(closes)
    c = np.asarray(closes, dtype="float64")
    return pd.DataFrame(
        {
            "ts": pd.date_range(first, periods=n, freq="h", tz="UTC", unit="ns"),
            "open": c,
            "high": c + spread,
            "low": c - spread,
            "close": c,
            "volume": np.ones(n) if volumes is None else np.asarray(volumes, dtype="float64"),
        }
    )


def settlements(raw: list[str], rates: list[float], interval_h: float) -> pd.DataFrame:
    return pd.DataFrame({"ts": stamps(*raw), "funding_rate": rates, "interval_hours": interval_h})


# -- ohlcv_table ------------------------------------------------------------------------------


def test_ohlcv_table_hour_and_quote_volume() -> None:
    b = bars(T0, [100.0, 101.0, 98.0], [2.5, 4.0, 0.5])
    got = md.ohlcv_table([("binance", BTC_T, b)], T0)
    assert list(got.columns) == md.OHLCV_COLUMNS
    assert got["hour"].tolist() == [T0, at(1), at(2)]
    assert got["ts"].tolist() == [T0, at(1), at(2)]
    # 2.5 x 100 = 250; 4 x 101 = 404; 0.5 x 98 = 49
    assert got["quote_volume"].tolist() == pytest.approx([250.0, 404.0, 49.0], rel=REL)
    assert set(got["venue"]) == {"binance"}
    assert set(got["symbol"]) == {BTC_T}


def test_ohlcv_table_drops_warmup_rows_after_using_them_for_flat_hours() -> None:
    # Bars from start-5h: bar -5 moves (99..101, close 100); bars -4..0 trade only at 100
    # (high = low = previous close) -> flat counts 1,2,3,4,5; bar +1 moves to 102 -> 0;
    # bar +2 trades only at 102 -> 1.
    start = at(5)
    b = bars(T0, [100.0] * 6 + [102.0, 102.0])
    b.loc[1:5, ["high", "low"]] = 100.0
    b.loc[7, ["high", "low"]] = 102.0
    got = md.ohlcv_table([("binance", BTC_T, b)], start)
    assert got["ts"].tolist() == [start, start + HOUR, start + 2 * HOUR]
    assert got["flat_hours"].tolist() == [5, 0, 1]
    assert got["flat_hours"].dtype == "int64"


def test_ohlcv_table_sorts_by_hour_venue_symbol() -> None:
    # Parts arrive bybit first with bars reversed; output is (hour, venue, symbol) ascending.
    bybit = bars(T0, [10.0, 11.0]).iloc[::-1]
    binance_eth = bars(T0, [20.0, 21.0])
    binance_btc = bars(T0, [30.0, 31.0])
    got = md.ohlcv_table(
        [("bybit", BTC_T, bybit), ("binance", "ETH/USDT:USDT", binance_eth), ("binance", BTC_T, binance_btc)], T0
    )
    keys = list(zip(got["hour"], got["venue"], got["symbol"], got["close"], strict=True))
    assert keys == [
        (T0, "binance", BTC_T, 30.0),
        (T0, "binance", "ETH/USDT:USDT", 20.0),
        (T0, "bybit", BTC_T, 10.0),
        (at(1), "binance", BTC_T, 31.0),
        (at(1), "binance", "ETH/USDT:USDT", 21.0),
        (at(1), "bybit", BTC_T, 11.0),
    ]
    assert got.index.tolist() == list(range(6))


OHLCV_DTYPES = {
    "hour": "datetime64[ns, UTC]", "venue": "str", "symbol": "str", "ts": "datetime64[ns, UTC]",
    "open": "float64", "high": "float64", "low": "float64", "close": "float64",
    "volume": "float64", "quote_volume": "float64", "flat_hours": "int64", "prev_close": "float64", "sigma_1h": "float64",
}


def test_ohlcv_table_empty_input_keeps_the_schema() -> None:
    got = md.ohlcv_table([], T0)
    assert len(got) == 0
    assert {c: str(t) for c, t in got.dtypes.items()} == OHLCV_DTYPES


def test_ohlcv_table_window_with_no_bars_keeps_the_schema() -> None:
    # Only warm-up bars: every row is dropped, the columns stay.
    got = md.ohlcv_table([("binance", BTC_T, bars(T0, [1.0, 2.0]))], at(5))
    assert len(got) == 0
    assert list(got.columns) == md.OHLCV_COLUMNS


def test_ohlcv_table_hourly_run_sees_a_frozen_price_as_stale() -> None:
    # 4 moving bars (100..103), then 20 bars frozen at 103: at bar k >= 4 the full history
    # counts k - 3 flat hours, capped at STALE_HOURS so a range run and an hourly run agree;
    # bars 9.. (>= 6 flat) are stale in both.
    b = bars(T0, [100.0, 101.0, 102.0, 103.0] + [103.0] * 20)
    b.loc[4:, ["high", "low"]] = 103.0
    full = md.ohlcv_table([("binance", BTC_T, b)], T0)
    assert full.loc[full["hour"] == at(15), "flat_hours"].item() == STALE_HOURS
    for k in range(9, 24):
        hour = at(k)
        # Exactly what the asset fetches for one hour: [hour - OHLCV_WARMUP, hour + 1h).
        window = b[(b["ts"] >= hour - md.OHLCV_WARMUP) & (b["ts"] < hour + HOUR)]
        one = md.ohlcv_table([("binance", BTC_T, window)], hour)
        assert len(stale_prices(one)) == 1, f"hour {hour}: flat_hours {one['flat_hours'].tolist()} < {STALE_HOURS}"


# -- funding_table ----------------------------------------------------------------------------


def test_funding_table_snaps_and_assigns_hours() -> None:
    parts = [
        (
            "binance",
            BTC_T,
            settlements(
                ["2025-09-01 15:59:59.990", "2025-09-02 00:00:00.003", "2025-09-02 04:00:00.002"],
                [0.0001, 0.0002, -0.0003],
                8.0,
            ),
        ),
        ("hyperliquid", "BTC/USDC:USDC", settlements(["2025-09-01 03:17:00"], [0.0000125], 1.0)),
    ]
    table = md.funding_table(parts)
    assert list(table.columns) == md.FUNDING_COLUMNS
    got = table.set_index("raw_ts")

    early = got.loc[pd.Timestamp("2025-09-01 15:59:59.990", tz="UTC")]
    assert early["settlement_ts"] == pd.Timestamp("2025-09-01 16:00", tz="UTC")
    assert early["hour"] == pd.Timestamp("2025-09-01 16:00", tz="UTC")  # not 15:00: it IS the 16:00 settlement
    assert early["offset_ms"] == pytest.approx(-10.0, rel=REL)
    assert early["funding_apr"] == pytest.approx(0.1095, rel=REL)  # 0.0001 x 3 x 365
    assert bool(early["on_grid"]) is True

    late = got.loc[pd.Timestamp("2025-09-02 00:00:00.003", tz="UTC")]
    assert late["settlement_ts"] == pd.Timestamp("2025-09-02 00:00", tz="UTC")
    assert late["hour"] == pd.Timestamp("2025-09-02 00:00", tz="UTC")
    assert late["offset_ms"] == pytest.approx(3.0, rel=REL)
    assert late["funding_apr"] == pytest.approx(0.219, rel=REL)  # 0.0002 x 1095
    assert bool(late["on_grid"]) is True

    off_8h = got.loc[pd.Timestamp("2025-09-02 04:00:00.002", tz="UTC")]
    assert off_8h["hour"] == pd.Timestamp("2025-09-02 04:00", tz="UTC")
    assert off_8h["funding_apr"] == pytest.approx(-0.3285, rel=REL)  # -0.0003 x 1095
    assert bool(off_8h["on_grid"]) is False  # 04:00 is not on the 8h grid

    off_tol = got.loc[pd.Timestamp("2025-09-01 03:17:00", tz="UTC")]
    assert off_tol["settlement_ts"] == pd.Timestamp("2025-09-01 03:00", tz="UTC")
    assert off_tol["hour"] == pd.Timestamp("2025-09-01 03:00", tz="UTC")
    assert off_tol["offset_ms"] == pytest.approx(1_020_000.0, rel=REL)  # kept, never silently moved
    assert off_tol["funding_apr"] == pytest.approx(0.1095, rel=REL)  # 0.0000125 x 24 x 365
    assert bool(off_tol["on_grid"]) is False


@pytest.mark.parametrize(
    ("raw", "hour"),
    [
        ("2025-09-01 16:00:00.003", "2025-09-01 16:00"),
        ("2025-09-01 15:59:59.990", "2025-09-01 16:00"),
        ("2025-09-01 15:59:00.000", "2025-09-01 16:00"),  # exactly the 60 s tolerance early
        ("2025-09-01 16:59:59.999", "2025-09-01 17:00"),  # 1 ms before the 17:00 grid
        ("2025-09-01 16:30:00.000", "2025-09-01 16:00"),  # far off-grid: its own hour
    ],
)
def test_funding_table_hour_of_a_raw_stamp(raw: str, hour: str) -> None:
    got = md.funding_table([("binance", BTC_T, settlements([raw], [0.0001], 8.0))])
    assert got["hour"].item() == pd.Timestamp(hour, tz="UTC")


def test_funding_table_sorted_by_hour_venue_symbol_raw_ts() -> None:
    parts = [
        ("bybit", BTC_T, settlements(["2025-09-01 08:00:00.000", "2025-09-01 00:00:00.000"], [1e-4, 2e-4], 8.0)),
        ("binance", BTC_T, settlements(["2025-09-01 08:00:00.001"], [3e-4], 8.0)),
    ]
    got = md.funding_table(parts)
    assert list(zip(got["venue"], got["funding_rate"], strict=True)) == [
        ("bybit", 2e-4),
        ("binance", 3e-4),
        ("bybit", 1e-4),
    ]


FUNDING_DTYPES = {
    "hour": "datetime64[ns, UTC]", "venue": "str", "symbol": "str",
    "settlement_ts": "datetime64[ns, UTC]", "raw_ts": "datetime64[ns, UTC]", "offset_ms": "float64",
    "funding_rate": "float64", "interval_hours": "float64", "funding_apr": "float64", "on_grid": "bool",
}


def test_funding_table_empty_input_keeps_the_schema() -> None:
    got = md.funding_table([])
    assert len(got) == 0
    assert {c: str(t) for c, t in got.dtypes.items()} == FUNDING_DTYPES


# -- open_interest_table ----------------------------------------------------------------------


def test_open_interest_table() -> None:
    oi = pd.DataFrame({"ts": [at(1), at(0)], "oi_usd": [2.5e9, 2.4e9]})
    got = md.open_interest_table([("hyperliquid", "BTC/USDC:USDC", oi)])
    assert list(got.columns) == md.OI_COLUMNS
    assert got["hour"].tolist() == [at(0), at(1)]
    assert got["oi_usd"].tolist() == [2.4e9, 2.5e9]
    assert set(got["venue"]) == {"hyperliquid"}


def test_open_interest_table_empty_input_keeps_the_schema() -> None:
    got = md.open_interest_table([])
    assert len(got) == 0
    assert {c: str(t) for c, t in got.dtypes.items()} == {
        "hour": "datetime64[ns, UTC]", "venue": "str", "symbol": "str",
        "ts": "datetime64[ns, UTC]", "oi_usd": "float64", "prev_oi_usd": "float64",
    }


def test_open_interest_table_keeps_the_hour_before_as_prev_and_drops_the_warmup() -> None:
    oi = pd.DataFrame({"ts": [at(0), at(1), at(3)], "oi_usd": [2.0e9, 2.2e9, 2.3e9]})
    got = md.open_interest_table([("hyperliquid", "BTC/USDC:USDC", oi)], start=at(1))
    assert got["hour"].tolist() == [at(1), at(3)]
    assert got["prev_oi_usd"].iloc[0] == 2.0e9  # 00:00, fetched as warm-up only
    assert np.isnan(got["prev_oi_usd"].iloc[1])  # 02:00 is missing: no previous hour for 03:00


# -- universe_scan ----------------------------------------------------------------------------
#
# binance BTC: 30 bars from T0, bar k closes at k + 1 with volume 2 -> quote volume 2(k + 1).
# bybit BTC: 10 bars from T0+16h (bars 16..25), close 50, volume 1 -> quote volume 50.
# Funding: binance BTC settles 08:00:00.002 (1 bp), 15:59:59.990 (3 bp) and 23:59:59.995
#          (-2 bp, the day-2 00:00 settlement), 8h;
#          binance ARB/USDC (funding only, no candles) settles 04:00:00.002 (2 bp), 4h.

SCAN_HOURS = md.hours_of(at(15), at(29))  # 15:00 on day 1 .. 04:00 on day 2


def _ohlcv() -> pd.DataFrame:
    binance = bars(T0, [k + 1.0 for k in range(30)], [2.0] * 30)
    bybit = bars(at(16), [50.0] * 10, [1.0] * 10, spread=0.5)
    return md.ohlcv_table([("binance", BTC_T, binance), ("bybit", BTC_T, bybit)], T0)


def _funding() -> pd.DataFrame:
    return md.funding_table(
        [
            (
                "binance",
                BTC_T,
                settlements(
                    ["2025-09-01 08:00:00.002", "2025-09-01 15:59:59.990", "2025-09-01 23:59:59.995"],
                    [1e-4, 3e-4, -2e-4],
                    8.0,
                ),
            ),
            ("binance", ARB_C, settlements(["2025-09-01 04:00:00.002"], [2e-4], 4.0)),
        ]
    )


@pytest.fixture(scope="module")
def scan() -> pd.DataFrame:
    return md.universe_scan(_ohlcv(), _funding(), SCAN_HOURS)


def row(scan: pd.DataFrame, venue: str, symbol: str, hour: pd.Timestamp) -> pd.Series:
    hit = scan[(scan["venue"] == venue) & (scan["symbol"] == symbol) & (scan["hour"] == hour)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_universe_scan_shape(scan: pd.DataFrame) -> None:
    assert list(scan.columns) == md.UNIVERSE_COLUMNS
    # A row exists only where the look-back saw the instrument:
    # binance BTC every hour (14); bybit BTC from its first bar at 16:00 (13);
    # ARB/USDC while its 04:00 settlement is within 24h, i.e. hours 15:00 .. 03:00 (13).
    assert len(scan) == 14 + 13 + 13
    assert scan["bars_24h"].dtype == "int64"
    first = scan.iloc[:2]
    assert list(zip(first["venue"], first["symbol"], strict=True)) == [("binance", ARB_C), ("binance", BTC_T)]


@pytest.mark.parametrize(
    ("k", "bars_24h", "volume"),
    [
        (15, 16, math.nan),  # bars 0..15 exist: 16 < 24
        (22, 23, math.nan),  # one bar short of a full day
        (23, 24, 600.0),  # bars 0..23, closes 1..24: 2 x (1 + ... + 24) = 2 x 300
        (24, 24, 648.0),  # closes 2..25: 2 x 324
        (25, 24, 696.0),  # closes 3..26: 2 x 348
        (28, 24, 840.0),  # closes 6..29: 2 x (6 + 29) x 24 / 2 = 2 x 420
    ],
)
def test_universe_scan_volume_24h(scan: pd.DataFrame, k: int, bars_24h: int, volume: float) -> None:
    r = row(scan, "binance", BTC_T, at(k))
    assert r["bars_24h"] == bars_24h
    if math.isnan(volume):
        assert math.isnan(r["volume_24h_usd"])
    else:
        assert r["volume_24h_usd"] == pytest.approx(volume, rel=REL)


def test_universe_scan_volume_matches_a_hand_loop(scan: pd.DataFrame) -> None:
    ohlcv = _ohlcv()
    for hour in md.hours_of(at(23), at(29)):
        total = 0.0
        for _, bar in ohlcv[(ohlcv["venue"] == "binance")].iterrows():
            if hour - 23 * HOUR <= bar["hour"] <= hour:
                total += bar["volume"] * bar["close"]
        assert row(scan, "binance", BTC_T, hour)["volume_24h_usd"] == pytest.approx(total, rel=REL)


def test_universe_scan_has_no_row_before_an_instrument_is_seen() -> None:
    # bybit BTC's first bar is 16:00: at 15:00 its look-back saw nothing, so no row at all
    # (an hour's rows must not depend on later data in the computed range).
    got = md.universe_scan(_ohlcv(), _funding(), SCAN_HOURS)
    assert got[(got["venue"] == "bybit") & (got["hour"] == at(15))].empty


@pytest.mark.parametrize(("k", "bars_24h"), [(16, 1), (25, 10), (28, 10)])
def test_universe_scan_partial_history_counts_bars_and_has_no_volume(scan: pd.DataFrame, k: int, bars_24h: int) -> None:
    r = row(scan, "bybit", BTC_T, at(k))
    assert r["bars_24h"] == bars_24h
    assert math.isnan(r["volume_24h_usd"])


def test_universe_scan_funding_as_of_the_end_of_the_hour(scan: pd.DataFrame) -> None:
    # Hour 15 ends at 16:00 exclusive: the 16:00 settlement (raw 15:59:59.990) is not yet known.
    at15 = row(scan, "binance", BTC_T, at(15))
    assert at15["last_settlement_ts"] == at(8)
    assert at15["last_funding_rate"] == pytest.approx(1e-4, rel=REL)
    assert at15["last_funding_apr"] == pytest.approx(0.1095, rel=REL)
    # Hour 16 contains 16:00: the new settlement shows.
    at16 = row(scan, "binance", BTC_T, at(16))
    assert at16["last_settlement_ts"] == at(16)
    assert at16["last_funding_rate"] == pytest.approx(3e-4, rel=REL)
    assert at16["last_funding_interval_hours"] == 8.0
    assert at16["last_funding_apr"] == pytest.approx(0.3285, rel=REL)  # 3 bp x 1095
    # Raw 23:59:59.995 is the day-2 00:00 settlement: unknown in hour 23, known in hour 24.
    assert row(scan, "binance", BTC_T, at(23))["last_settlement_ts"] == at(16)
    at24 = row(scan, "binance", BTC_T, at(24))
    assert at24["last_settlement_ts"] == at(24)
    assert at24["last_funding_apr"] == pytest.approx(-0.219, rel=REL)  # -2 bp x 1095


def test_universe_scan_no_settlement_within_24h_is_nan(scan: pd.DataFrame) -> None:
    # ARB's only settlement is 04:00 day 1. Hour 03:00 day 2 ends 03:59:59.999 (23h59m later):
    # still known. Hour 04:00 day 2 ends 04:59:59.999: 24h59m > 24h, so NaN.
    known = row(scan, "binance", ARB_C, at(27))
    assert known["last_funding_rate"] == pytest.approx(2e-4, rel=REL)
    assert known["last_funding_apr"] == pytest.approx(0.438, rel=REL)  # 2 bp x 6 x 365
    # ARB has no candles, so once its settlement leaves the look-back it has no row at all.
    expired = scan[(scan["symbol"] == ARB_C) & (scan["hour"] == at(28))]
    assert expired.empty
    # binance BTC at 15:00: its 08:00 settlement is known; the 16:00 one is not yet.
    # bybit BTC never settled in the input: NaN everywhere.
    bybit = scan[scan["venue"] == "bybit"]
    assert bybit["last_funding_rate"].isna().all()


def test_universe_scan_funding_only_symbol_has_nan_volume(scan: pd.DataFrame) -> None:
    arb = scan[scan["symbol"] == ARB_C]
    assert len(arb) == len(SCAN_HOURS) - 1  # 15:00 .. 03:00; at 04:00 its settlement is > 24h old
    assert arb["volume_24h_usd"].isna().all()  # unknown, never zero
    assert (arb["bars_24h"] == 0).all()


def test_universe_scan_without_funding() -> None:
    got = md.universe_scan(_ohlcv(), md.funding_table([]), SCAN_HOURS)
    assert list(got.columns) == md.UNIVERSE_COLUMNS
    assert got["last_funding_rate"].isna().all()
    assert row(got, "binance", BTC_T, at(23))["volume_24h_usd"] == pytest.approx(600.0, rel=REL)


def _through(df: pd.DataFrame, hour: pd.Timestamp) -> pd.DataFrame:
    """Delete every row stamped after ``hour``."""
    return df[df["hour"] <= hour].reset_index(drop=True)


def _rows_at(scan: pd.DataFrame, hour: pd.Timestamp) -> pd.DataFrame:
    return scan[scan["hour"] == hour].reset_index(drop=True)


@pytest.mark.parametrize("k", [16, 22, 23, 24, 27, 28])
def test_universe_scan_at_hour_h_ignores_rows_after_h(k: int) -> None:
    # Every instrument has a row at or before 16:00, so the instrument set does not change.
    hours = md.hours_of(at(16), at(29))
    ohlcv, funding = _ohlcv(), _funding()
    full = md.universe_scan(ohlcv, funding, hours)
    cut = md.universe_scan(_through(ohlcv, at(k)), _through(funding, at(k)), hours)
    pd.testing.assert_frame_equal(_rows_at(cut, at(k)), _rows_at(full, at(k)))


def test_universe_scan_truncation_keeps_a_settlement_stamped_just_before_its_hour() -> None:
    # The raw 15:59:59.990 stamp belongs to hour 16, so cutting after hour 15 removes it and
    # hour 15's answer (the 08:00 settlement) must not change.
    hours = md.hours_of(at(15), at(17))
    funding = _funding()
    full = md.universe_scan(_ohlcv(), funding, hours)
    cut = md.universe_scan(_ohlcv(), _through(funding, at(15)), hours)
    assert row(cut, "binance", BTC_T, at(15))["last_settlement_ts"] == at(8)
    assert row(full, "binance", BTC_T, at(15))["last_settlement_ts"] == at(8)


def test_universe_scan_rows_at_hour_h_do_not_depend_on_later_listings() -> None:
    hours = md.hours_of(at(15), at(29))
    ohlcv, funding = _ohlcv(), _funding()
    full = md.universe_scan(ohlcv, funding, hours)
    cut = md.universe_scan(_through(ohlcv, at(15)), _through(funding, at(15)), hours)
    pd.testing.assert_frame_equal(_rows_at(cut, at(15)), _rows_at(full, at(15)))


def test_universe_scan_accepts_microsecond_funding_stamps() -> None:
    raw = settlements(["2025-09-01 08:00:00.002"], [1e-4], 8.0)
    raw["ts"] = raw["ts"].astype("datetime64[us, UTC]")
    funding = md.funding_table([("binance", BTC_T, raw)])
    got = md.universe_scan(_ohlcv(), funding, md.hours_of(at(8), at(9)))
    assert row(got, "binance", BTC_T, at(8))["last_funding_rate"] == pytest.approx(1e-4, rel=REL)
