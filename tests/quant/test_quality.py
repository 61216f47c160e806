"""quant.quality: every rule on both sides — clean input gives no violations, bad input gives the
exact offending rows with a sentence a person understands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant import quality as q

HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
BTC_T = "BTC/USDT:USDT"


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def hours(n: int, first: pd.Timestamp = T0) -> pd.DatetimeIndex:
    return pd.date_range(first, periods=n, freq="h", tz="UTC", unit="ns")


def keys(violations: pd.DataFrame) -> list[tuple[pd.Timestamp, str, str]]:
    return list(zip(violations["hour"], violations["venue"], violations["symbol"], strict=True))


def assert_clean(violations: pd.DataFrame) -> None:
    assert list(violations.columns) == q.VIOLATION_COLUMNS
    assert len(violations) == 0


def frame(rows: list[tuple[pd.Timestamp, str, str, float]], value: str = "close") -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["hour", "venue", "symbol", value])
    return df.astype({"hour": "datetime64[ns, UTC]"})


# -- non_finite -------------------------------------------------------------------------------


def test_non_finite_clean() -> None:
    df = frame([(T0, "binance", BTC_T, 100.0), (at(1), "binance", BTC_T, -0.0)]).assign(volume=[1.0, 0.0])
    assert_clean(q.non_finite(df, ["close", "volume"]))


def test_non_finite_flags_nan_and_inf_per_column() -> None:
    df = frame(
        [
            (T0, "binance", BTC_T, 100.0),
            (at(1), "binance", BTC_T, np.nan),
            (T0, "bybit", BTC_T, np.inf),
        ]
    ).assign(volume=[1.0, 2.0, -np.inf])
    got = q.non_finite(df, ["close", "volume"])
    assert list(got.columns) == q.VIOLATION_COLUMNS
    assert keys(got) == [(at(1), "binance", BTC_T), (T0, "bybit", BTC_T), (T0, "bybit", BTC_T)]
    assert got["detail"].tolist() == [
        "close is nan (must be a finite number)",
        "close is inf (must be a finite number)",
        "volume is -inf (must be a finite number)",
    ]


# -- missing_rows -----------------------------------------------------------------------------


def _expected(venues_symbols: list[tuple[str, str]], n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [(v, s, h) for v, s in venues_symbols for h in hours(n)], columns=["venue", "symbol", "hour"]
    ).astype({"hour": "datetime64[ns, UTC]"})


def test_missing_rows_clean() -> None:
    df = frame([(h, "binance", BTC_T, 1.0) for h in hours(3)])
    assert_clean(q.missing_rows(df, _expected([("binance", BTC_T)], 3), "candles"))


def test_missing_rows_names_each_missing_hour() -> None:
    df = frame([(T0, "binance", BTC_T, 1.0), (at(1), "binance", BTC_T, 1.0), (at(1), "bybit", BTC_T, 1.0)])
    got = q.missing_rows(df, _expected([("binance", BTC_T), ("bybit", BTC_T)], 3), "candles")
    assert sorted(zip(keys(got), got["detail"], strict=True)) == [
        ((T0, "bybit", BTC_T), "no candles for 2025-09-01 00:00 UTC"),
        ((at(2), "binance", BTC_T), "no candles for 2025-09-01 02:00 UTC"),
        ((at(2), "bybit", BTC_T), "no candles for 2025-09-01 02:00 UTC"),
    ]


def test_missing_rows_extra_rows_are_not_violations() -> None:
    # A row the universe does not expect (not listed yet, say) is not "missing" anything.
    df = frame([(T0, "binance", BTC_T, 1.0), (T0, "binance", "HYPE/USDT:USDT", 1.0)])
    assert_clean(q.missing_rows(df, _expected([("binance", BTC_T)], 1), "candles"))


# -- duplicate_keys ---------------------------------------------------------------------------


def test_duplicate_keys_clean() -> None:
    df = frame([(T0, "binance", BTC_T, 1.0), (at(1), "binance", BTC_T, 1.0), (T0, "bybit", BTC_T, 1.0)])
    assert_clean(q.duplicate_keys(df, ["venue", "symbol", "hour"]))


def test_duplicate_keys_flags_every_copy() -> None:
    df = frame(
        [
            (T0, "binance", BTC_T, 1.0),
            (at(1), "binance", BTC_T, 2.0),
            (T0, "binance", BTC_T, 3.0),
            (T0, "bybit", BTC_T, 4.0),
        ]
    )
    got = q.duplicate_keys(df, ["venue", "symbol", "hour"])
    assert keys(got) == [(T0, "binance", BTC_T), (T0, "binance", BTC_T)]
    assert got["detail"].tolist() == [
        "duplicate row for venue=binance, symbol=BTC/USDT:USDT, hour=2025-09-01 00:00:00+00:00"
    ] * 2


# -- cross_venue_divergence -------------------------------------------------------------------


def closes(rows: list[tuple[pd.Timestamp, str, str, float]], bar_range: float = 0.002) -> pd.DataFrame:
    """Bars with these closes, each ranging ``bar_range`` (high / low - 1) around its close."""
    df = frame(rows)
    df["low"] = df["close"] / (1 + bar_range / 2)
    df["high"] = df["low"] * (1 + bar_range)
    return df


def _two_venue_expected(n: int, coin: str = "BTC") -> pd.DataFrame:
    return _expected([("binance", f"{coin}/USDT:USDT"), ("bybit", f"{coin}/USDT:USDT")], n)


@pytest.mark.parametrize(
    ("binance", "bybit", "spread"),
    [
        (100.0, 102.5, "2.50%"),  # 102.5 / 100 - 1 = 2.5% > 2%
        (102.5, 100.0, "2.50%"),  # order of venues does not matter
        (100.0, 97.0, "3.09%"),  # 100 / 97 - 1 = 3.0928% (max over min)
    ],
)
def test_cross_venue_divergence_flags_a_wide_gap(binance: float, bybit: float, spread: str) -> None:
    df = closes([(T0, "binance", BTC_T, binance), (T0, "bybit", BTC_T, bybit)])
    got = q.cross_venue_divergence(df, _two_venue_expected(1))
    assert len(got) == 1
    assert got["hour"].tolist() == [T0]
    assert got["detail"].item() == f"BTC closes differ by {spread} across venues (limit 2.00%: max(2%, 0.25 x calmer bar range 0.20%))"


@pytest.mark.parametrize(("binance", "bybit"), [(100.0, 101.0), (100.0, 100.0), (101.9, 100.0)])
def test_cross_venue_divergence_passes_close_prices(binance: float, bybit: float) -> None:
    df = closes([(T0, "binance", BTC_T, binance), (T0, "bybit", BTC_T, bybit)])
    assert_clean(q.cross_venue_divergence(df, _two_venue_expected(1)))


def test_cross_venue_divergence_only_flags_the_bad_hour() -> None:
    df = closes(
        [
            (T0, "binance", BTC_T, 100.0), (T0, "bybit", BTC_T, 101.0),  # 1%: fine
            (at(1), "binance", BTC_T, 100.0), (at(1), "bybit", BTC_T, 102.5),  # 2.5%: flagged
        ]
    )
    got = q.cross_venue_divergence(df, _two_venue_expected(2))
    assert got["hour"].tolist() == [at(1)]


def test_cross_venue_divergence_compares_usdt_and_usdc_perps_by_coin() -> None:
    expected = _expected([("binance", BTC_T), ("hyperliquid", "BTC/USDC:USDC")], 2)
    df = closes(
        [
            (T0, "binance", BTC_T, 100.0), (T0, "hyperliquid", "BTC/USDC:USDC", 100.5),
            (at(1), "binance", BTC_T, 100.0), (at(1), "hyperliquid", "BTC/USDC:USDC", 103.0),
        ]
    )
    got = q.cross_venue_divergence(df, expected)
    assert got["hour"].tolist() == [at(1)]
    assert got["detail"].item() == "BTC closes differ by 3.00% across venues (limit 2.00%: max(2%, 0.25 x calmer bar range 0.20%))"


def test_cross_venue_divergence_coin_missing_on_one_venue() -> None:
    df = closes([(T0, "binance", BTC_T, 100.0)])
    got = q.cross_venue_divergence(df, _two_venue_expected(1))
    assert keys(got) == [(T0, "bybit", BTC_T)]
    assert got["detail"].item() == "BTC missing on bybit: cannot cross-check venues"


def test_cross_venue_divergence_single_venue_coin_is_not_compared() -> None:
    # HYPE is expected on binance only in this hour: nothing to compare, nothing missing.
    expected = _expected([("binance", "HYPE/USDT:USDT")], 1)
    df = closes([(T0, "binance", "HYPE/USDT:USDT", 44.0)])
    assert_clean(q.cross_venue_divergence(df, expected))


def test_cross_venue_divergence_a_crash_hour_widens_the_limit_with_both_venues_ranges() -> None:
    # The HYPE case: both venues' bars ranged over 100% and their closes are 2.34% apart.
    # binance 50..110 (120.0%), bybit 52..112 (115.38%): limit = max(2%, 0.25 x 115.38%) = 28.85%.
    df = closes([(T0, "binance", BTC_T, 100.0), (T0, "bybit", BTC_T, 102.34)])
    df["low"], df["high"] = [50.0, 52.0], [110.0, 112.0]
    assert_clean(q.cross_venue_divergence(df, _two_venue_expected(1)))
    # A 40% disagreement is beyond even that hour's limit.
    df.loc[1, ["close", "high"]] = [140.0, 141.0]
    got = q.cross_venue_divergence(df, _two_venue_expected(1))
    assert got["detail"].item() == ("BTC closes differ by 40.00% across venues "
                                    "(limit 30.00%: max(2%, 0.25 x calmer bar range 120.00%))")


def test_cross_venue_divergence_one_venues_wild_bar_does_not_widen_the_limit() -> None:
    # binance prints a bad 50..110 bar; bybit traded calmly (0.2%): the limit stays 2%, 2.34% fails.
    df = closes([(T0, "binance", BTC_T, 100.0), (T0, "bybit", BTC_T, 102.34)])
    df.loc[0, ["low", "high"]] = [50.0, 110.0]
    got = q.cross_venue_divergence(df, _two_venue_expected(1))
    assert got["detail"].item() == ("BTC closes differ by 2.34% across venues "
                                    "(limit 2.00%: max(2%, 0.25 x calmer bar range 0.20%))")


def test_cross_venue_divergence_nothing_expected() -> None:
    df = closes([(T0, "binance", BTC_T, 100.0), (T0, "bybit", BTC_T, 150.0)])
    assert_clean(q.cross_venue_divergence(df, _expected([], 1)))


# -- oi_jumps ---------------------------------------------------------------------------------


def test_oi_jumps_flags_a_doubling_or_halving_hour_only() -> None:
    df = frame([(T0, "hyperliquid", "BTC/USDC:USDC", 2.0e9), (at(1), "hyperliquid", "BTC/USDC:USDC", 9.0e10),
                (at(2), "hyperliquid", "BTC/USDC:USDC", 0.9e9), (at(3), "hyperliquid", "BTC/USDC:USDC", 2.9e9)],
               value="oi_usd")
    df["prev_oi_usd"] = [np.nan, 1.9e9, 2.0e9, 1.5e9]  # ×47.4, ×0.45, ×1.93
    got = q.oi_jumps(df)
    assert got["hour"].tolist() == [at(1), at(2)]
    assert got["detail"].iloc[0] == "open interest 90,000,000,000 USD after 1,900,000,000 an hour before (x47.4, limit x2 either way)"


# -- flat_hours and stale_prices --------------------------------------------------------------


def _bars(closes: list[float], flat_from: int) -> pd.DataFrame:
    """Bars before ``flat_from`` trade close ± 1; from ``flat_from`` on only at their close."""
    c = np.asarray(closes, dtype="float64")
    spread = np.where(np.arange(len(c)) < flat_from, 1.0, 0.0)
    return pd.DataFrame(
        {
            "hour": hours(len(c)),
            "venue": "binance",
            "symbol": BTC_T,
            "high": c + spread,
            "low": c - spread,
            "close": c,
        }
    )


def test_flat_hours_moving_bars_are_zero() -> None:
    b = _bars([100.0, 101.0, 99.5, 99.5, 102.0], flat_from=5)
    assert q.flat_hours(b).tolist() == [0, 0, 0, 0, 0]  # a repeated close with a range is not flat


def test_flat_hours_gap_to_a_new_single_price_is_not_flat() -> None:
    # Bar 1 trades only at 105 but the previous close was 100: the price moved.
    b = _bars([100.0, 105.0, 105.0], flat_from=1)
    assert q.flat_hours(b).tolist() == [0, 0, 1]


def test_flat_hours_counts_a_frozen_price() -> None:
    # 3 moving bars ending at 102, then 12 bars with high = low = close = 102; capped at 6.
    b = _bars([100.0, 101.0, 102.0] + [102.0] * 12, flat_from=3)
    assert q.flat_hours(b).tolist() == [0, 0, 0, 1, 2, 3, 4, 5] + [6] * 7


def test_flat_hours_resets_when_the_price_moves_again() -> None:
    b = _bars([100.0, 100.0, 100.0, 103.0, 103.0], flat_from=1)
    b.loc[3, ["high", "low"]] = [104.0, 102.0]  # a real bar in the middle
    assert q.flat_hours(b).tolist() == [0, 1, 2, 0, 1]


def test_stale_prices_clean_on_moving_bars() -> None:
    b = _bars([100.0 + k for k in range(15)], flat_from=15)
    b["flat_hours"] = q.flat_hours(b)
    assert_clean(q.stale_prices(b))


def test_stale_prices_flags_from_the_sixth_flat_bar_on() -> None:
    # Frozen bars are rows 3..14 with flat counts 1..6 (capped); rows 8..14 reach 6: stale.
    b = _bars([100.0, 101.0, 102.0] + [102.0] * 12, flat_from=3)
    b["flat_hours"] = q.flat_hours(b)
    got = q.stale_prices(b)
    assert got["hour"].tolist() == [at(k) for k in range(8, 15)]
    assert got["detail"].iloc[0] == "price unchanged at 102.0 for 6+ hours (limit 6)"
    assert got["detail"].iloc[-1] == "price unchanged at 102.0 for 6+ hours (limit 6)"


def test_stale_prices_five_flat_hours_pass() -> None:
    b = _bars([100.0] + [100.0] * 5, flat_from=1)
    b["flat_hours"] = q.flat_hours(b)
    assert b["flat_hours"].max() == q.STALE_HOURS - 1
    assert_clean(q.stale_prices(b))


# -- funding_off_grid -------------------------------------------------------------------------


def _settlements(rows: list[tuple[pd.Timestamp, float, float, bool]]) -> pd.DataFrame:
    """(raw_ts, interval_hours, offset_ms, on_grid) rows of one instrument."""
    df = pd.DataFrame(rows, columns=["raw_ts", "interval_hours", "offset_ms", "on_grid"])
    df = df.astype({"raw_ts": "datetime64[ns, UTC]"})
    df.insert(0, "hour", df["raw_ts"].dt.floor("h"))
    df.insert(1, "venue", "binance")
    df.insert(2, "symbol", BTC_T)
    return df


def test_funding_off_grid_clean() -> None:
    df = _settlements(
        [
            (at(8) + pd.Timedelta(milliseconds=3), 8.0, 3.0, True),
            (at(16) - pd.Timedelta(milliseconds=2), 8.0, -2.0, True),
        ]
    )
    assert_clean(q.funding_off_grid(df))


def test_funding_off_grid_names_the_stamp_grid_and_offset() -> None:
    df = _settlements(
        [
            (at(8), 8.0, 0.0, True),
            (at(3) + pd.Timedelta(minutes=17), 8.0, 1_020_000.0, False),  # 17 min = 1020 s late
            (at(4) + pd.Timedelta(milliseconds=2), 8.0, 2.0, False),  # 04:00 is not on the 8h grid
        ]
    )
    got = q.funding_off_grid(df)
    assert got["hour"].tolist() == [at(3), at(4)]
    assert got["detail"].tolist() == [
        "settlement stamped 03:17:00.000 is not on the 8h grid (offset 1020.000s)",
        "settlement stamped 04:00:00.002 is not on the 8h grid (offset 0.002s)",
    ]


def test_funding_off_grid_unknown_interval_reads_well() -> None:
    df = _settlements([(at(4), np.nan, 0.0, False)])
    got = q.funding_off_grid(df)
    assert len(got) == 1
    assert "nan" not in got["detail"].item()


# -- funding_out_of_bounds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "detail"),
    [
        (0.0001, None),
        (-0.0001, None),
        (0.0, None),
        (0.03, None),  # the bound itself is allowed
        (-0.03, None),
        (0.5, "funding rate 0.5 per interval outside ±0.03"),
        (-0.031, "funding rate -0.031 per interval outside ±0.03"),
        (np.nan, "funding rate nan per interval outside ±0.03"),
        (np.inf, "funding rate inf per interval outside ±0.03"),
    ],
)
def test_funding_out_of_bounds(rate: float, detail: str | None) -> None:
    df = _settlements([(at(8), 8.0, 0.0, True)]).assign(funding_rate=[rate])
    got = q.funding_out_of_bounds(df)
    if detail is None:
        assert_clean(got)
    else:
        assert keys(got) == [(at(8), "binance", BTC_T)]
        assert got["detail"].item() == detail


def test_funding_out_of_bounds_picks_only_the_bad_rows() -> None:
    df = _settlements([(at(0), 8.0, 0.0, True), (at(8), 8.0, 0.0, True), (at(16), 8.0, 0.0, True)])
    df["funding_rate"] = [0.0001, 0.5, np.nan]
    got = q.funding_out_of_bounds(df)
    assert got["hour"].tolist() == [at(8), at(16)]


# -- by_hour ----------------------------------------------------------------------------------


def test_by_hour_gives_every_hour_a_frame() -> None:
    df = _settlements([(at(0), 8.0, 0.0, True), (at(2), 8.0, 0.0, True), (at(2) + HOUR / 2, 8.0, 0.0, True)])
    df["funding_rate"] = [0.5, 0.6, 0.7]
    violations = q.funding_out_of_bounds(df)
    window = hours(3)
    got = q.by_hour(violations, window)
    assert list(got) == list(window)
    assert got[at(0)]["detail"].tolist() == ["funding rate 0.5 per interval outside ±0.03"]
    assert got[at(2)]["detail"].tolist() == [
        "funding rate 0.6 per interval outside ±0.03",
        "funding rate 0.7 per interval outside ±0.03",
    ]
    assert_clean(got[at(1)])


def test_by_hour_clean_window() -> None:
    got = q.by_hour(q.no_violations(), hours(2))
    assert list(got) == list(hours(2))
    for part in got.values():
        assert_clean(part)
