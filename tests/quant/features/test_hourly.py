"""quant.features: hand-checked numbers on tiny frames, references on real data, and the two
window proofs (truncation: nothing after H is read; independence: a range equals its hours alone).

Expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quant.features import hourly as ft
from quant.features.hourly import FEATURE_COLUMNS, FEATURE_LOOKBACK_H, FeatureParams, compute_features
from quant.market_data import tables as md

SAMPLE_CANDLES = Path(__file__).resolve().parents[3] / "data" / "sample" / "perp_ohlcv_1h" / "binance_bybit_2025.parquet"
REL = 1e-9
HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
BTC, ETH, SOL, DOGE = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"


def at(hours: int) -> pd.Timestamp:
    return T0 + hours * HOUR


def bars(
    closes: list[float] | np.ndarray,
    *,
    high: list[float] | np.ndarray | None = None,
    low: list[float] | np.ndarray | None = None,
    volume: list[float] | np.ndarray | None = None,
    first: pd.Timestamp = T0,
) -> pd.DataFrame:
    """Consecutive 1h candles; high/low default to close ± 1, volume to 1."""
    c = np.asarray(closes, dtype="float64")
    return pd.DataFrame(
        {
            "ts": pd.date_range(first, periods=len(c), freq="h", unit="ns"),
            "open": c,
            "high": c + 1.0 if high is None else np.asarray(high, dtype="float64"),
            "low": c - 1.0 if low is None else np.asarray(low, dtype="float64"),
            "close": c,
            "volume": np.ones(len(c)) if volume is None else np.asarray(volume, dtype="float64"),
        }
    )


def table(*parts: tuple[str, str, pd.DataFrame]) -> pd.DataFrame:
    return md.ohlcv_table(parts, min(p[2]["ts"].min() for p in parts))


def features(*parts: tuple[str, str, pd.DataFrame], params: FeatureParams = ft.DEFAULT_PARAMS) -> pd.DataFrame:
    tab = table(*parts)
    return compute_features(tab, pd.DatetimeIndex(sorted(tab["hour"].unique())), params=params)


def value(df: pd.DataFrame, column: str, hour: int, symbol: str = BTC, venue: str = "binance") -> float:
    row = df[(df["hour"] == at(hour)) & (df["symbol"] == symbol) & (df["venue"] == venue)]
    assert len(row) == 1
    return float(row[column].iloc[0])


# -- hand-checked numbers -----------------------------------------------------------------------


def test_momentum_log_returns() -> None:
    closes = [100.0, 110.0, 99.0, 121.0, 125.0] + [130.0] * 19 + [200.0]
    df = features(("binance", BTC, bars(closes)))
    assert value(df, "mom_1h", 1) == pytest.approx(math.log(110 / 100), rel=REL)
    assert value(df, "mom_1h", 2) == pytest.approx(math.log(99 / 110), rel=REL)
    assert value(df, "mom_4h", 4) == pytest.approx(math.log(125 / 100), rel=REL)
    assert value(df, "mom_24h", 24) == pytest.approx(math.log(2.0), rel=REL)  # 200 / 100
    # Missing history is NaN, never 0.
    assert math.isnan(value(df, "mom_1h", 0))
    assert math.isnan(value(df, "mom_4h", 3))
    assert math.isnan(value(df, "mom_24h", 23))


@pytest.mark.parametrize(
    ("log_closes", "expected"),
    [
        # A straight line of slope 0.002 per hour.
        (0.002 * np.arange(24), 0.002),
        # Flat, then the last close jumps by a: Σ(k − 11.5)·y_k / 1150 = 11.5·a / 1150 = a / 100.
        (np.r_[np.zeros(23), 0.5], 0.005),
        # First close low by a: (−11.5)·(−a) / 1150 = a / 100 as well.
        (np.r_[-0.3, np.zeros(23)], 0.003),
    ],
)
def test_slope_by_hand(log_closes: np.ndarray, expected: float) -> None:
    df = features(("binance", BTC, bars(100.0 * np.exp(log_closes))))
    assert value(df, "slope_24h", 23) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert math.isnan(value(df, "slope_24h", 22))


def test_atr_wilder_by_hand() -> None:
    # Close 100 throughout and bar k spans 100 ± r_k, so TR_k = max(2r, r, r) = 2·r_k (k ≥ 1).
    # r = 1 for bars 0..15, then 8 and 15. Span 16 at hour 17 reads TR_2..TR_17:
    # seed = mean(TR_2..TR_15) = 2; TR_16 = 16 -> (13·2 + 16) / 14 = 3; TR_17 = 30 -> (13·3 + 30) / 14 = 69/14.
    # At hour 16 (TR_1..TR_16): seed 2, TR_15 = 2 -> 2, TR_16 = 16 -> 3.
    r = np.r_[np.ones(16), 8.0, 15.0]
    c = np.full(len(r), 100.0)
    df = features(("binance", BTC, bars(c, high=c + r, low=c - r)), params=FeatureParams(atr_span_h=16))
    assert value(df, "atr_14", 16) == pytest.approx(3.0, rel=REL)
    assert value(df, "atr_14", 17) == pytest.approx(69 / 14, rel=REL)
    assert math.isnan(value(df, "atr_14", 15))  # TR_0 has no previous close: the window is incomplete


def test_atr_true_range_uses_previous_close() -> None:
    # 14 bars 100 ± 1 (TR 2); bar 14 gaps up to 108..110, close 109: TR = max(2, |110−100|, |108−100|) = 10.
    # Span 14 at hour 14: mean(TR_1..TR_14) = (13·2 + 10) / 14.
    c = np.r_[np.full(14, 100.0), 109.0]
    h = np.r_[np.full(14, 101.0), 110.0]
    lo = np.r_[np.full(14, 99.0), 108.0]
    df = features(("binance", BTC, bars(c, high=h, low=lo)), params=FeatureParams(atr_span_h=14))
    assert value(df, "atr_14", 14) == pytest.approx(36 / 14, rel=REL)


def test_volatility_std_ratio_and_flags() -> None:
    # 144 returns alternating ±a, then 24 alternating ±b (every block has mean 0):
    # vol_24h = b·√(24/23); vol_7d = √((144a² + 24b²) / 167).
    a, b = 0.001, 0.004
    rets = np.r_[np.tile([a, -a], 72), np.tile([b, -b], 12)]
    closes = 100.0 * np.exp(np.r_[0.0, np.cumsum(rets)])
    df = features(("binance", BTC, bars(closes)))
    vol_24h, vol_7d = b * math.sqrt(24 / 23), math.sqrt((144 * a * a + 24 * b * b) / 167)
    assert value(df, "vol_24h", 168) == pytest.approx(vol_24h, rel=1e-9)
    assert value(df, "vol_7d", 168) == pytest.approx(vol_7d, rel=1e-9)
    assert value(df, "vol_ratio", 168) == pytest.approx(vol_24h / vol_7d, rel=1e-9)  # ≈ 2.30
    assert value(df, "vol_expanding", 168) == 1.0
    assert value(df, "vol_compressed", 168) == 0.0
    # vol_24h is known before the week is; the ratio and flags are not.
    assert value(df, "vol_24h", 24) == pytest.approx(a * math.sqrt(24 / 23), rel=1e-9)
    assert math.isnan(value(df, "vol_7d", 167))
    assert math.isnan(value(df, "vol_expanding", 167))
    assert math.isnan(value(df, "vol_compressed", 167))


def test_volume_surge_spread_widening_and_breakouts() -> None:
    # 24 bars close 100, range 99..101, volume 10; bar 24: close 102 in 99..105, volume 30.
    c = np.r_[np.full(24, 100.0), 102.0]
    h = np.r_[np.full(24, 101.0), 105.0]
    lo = np.full(25, 99.0)
    v = np.r_[np.full(24, 10.0), 30.0]
    df = features(("binance", BTC, bars(c, high=h, low=lo, volume=v)))
    assert value(df, "volume_surge", 24) == pytest.approx(3.0, rel=REL)  # 30 / mean(10 × 24)
    assert value(df, "range_pct", 24) == pytest.approx(6 / 102, rel=REL)
    assert value(df, "spread_widening", 24) == pytest.approx((6 / 102) / (2 / 100), rel=REL)
    assert value(df, "breakout_up", 24) == 1.0  # 102 > prior 24h high 101
    assert value(df, "breakout_down", 24) == 0.0
    for column in ("volume_surge", "spread_widening", "breakout_up", "breakout_down"):
        assert math.isnan(value(df, column, 23)), column


def test_breakouts_are_strict_and_downward() -> None:
    # Bar 24 closes exactly at the prior high: no breakout. Bar 25 closes below every prior low.
    c = np.r_[np.full(24, 100.0), 101.0, 98.5]
    df = features(("binance", BTC, bars(c)))
    assert value(df, "breakout_up", 24) == 0.0
    assert (value(df, "breakout_up", 25), value(df, "breakout_down", 25)) == (0.0, 1.0)  # 98.5 < 99


def test_zero_denominators_are_nan_not_inf() -> None:
    # No volume for a day, then some: the surge is undefined, not infinite.
    v = np.r_[np.zeros(24), 5.0]
    df = features(("binance", BTC, bars(np.full(25, 100.0), volume=v)))
    assert math.isnan(value(df, "volume_surge", 24))


def test_mean_reversion_distance_in_atr() -> None:
    # 23 bars close 100 in 99..101 (TR 2); bar 23 closes 104.6 in 104..105: TR = max(1, 5, 4) = 5.
    # ATR (span 14) = (13·2 + 5) / 14; SMA24 = (23·100 + 104.6) / 24.
    c = np.r_[np.full(23, 100.0), 104.6]
    h, lo = np.r_[np.full(23, 101.0), 105.0], np.r_[np.full(23, 99.0), 104.0]
    df = features(("binance", BTC, bars(c, high=h, low=lo)), params=FeatureParams(atr_span_h=14))
    expected = (104.6 - (23 * 100 + 104.6) / 24) / (31 / 14)
    assert value(df, "mr_distance_atr", 23) == pytest.approx(expected, rel=REL)  # ≈ 1.99
    assert math.isnan(value(df, "mr_distance_atr", 22))  # SMA needs 24 closes


def test_adx_pure_uptrend_is_one() -> None:
    # Highs and lows rise by 1 each bar: +DM = 1, −DM = 0, DX = 1, ADX = 1 from bar 27 (28 bars).
    c = 100.0 + np.arange(30)
    df = features(("binance", BTC, bars(c)))
    assert value(df, "adx_14", 27) == pytest.approx(1.0, rel=REL)
    assert math.isnan(value(df, "adx_14", 26))


def test_adx_mixed_moves() -> None:
    # Bars alternate +2 and −1: every 14-bar window holds 7 of each, Σ+DM = 14, Σ−DM = 7,
    # DX = |14 − 7| / 21 = 1/3, so the mean of 14 DX is 1/3.
    c = 100.0 + np.r_[0.0, np.cumsum(np.tile([2.0, -1.0], 20))]
    df = features(("binance", BTC, bars(c)))
    assert value(df, "adx_14", 30) == pytest.approx(1 / 3, rel=REL)


def _random_closes(n: int, seed: int, scale: float = 0.01) -> np.ndarray:
    return 100.0 * np.exp(np.r_[0.0, np.cumsum(np.random.default_rng(seed).normal(0.0, scale, n - 1))])


def test_beta_two_when_alt_moves_twice_btc() -> None:
    # ln alt = 2 ln btc − ln 100 => r_alt = 2 r_btc: beta 2, correlation 1; BTC's own beta is 1.
    btc = _random_closes(180, seed=1)
    alt = btc**2 / 100.0
    df = features(("binance", BTC, bars(btc)), ("binance", ETH, bars(alt)))
    assert value(df, "beta_btc_7d", 170, ETH) == pytest.approx(2.0, rel=1e-9)
    assert value(df, "corr_btc_7d", 170, ETH) == pytest.approx(1.0, rel=1e-9)
    assert value(df, "beta_btc_7d", 170, BTC) == pytest.approx(1.0, rel=1e-12)
    assert math.isnan(value(df, "beta_btc_7d", 167, ETH))  # 167 returns: window incomplete


def test_beta_against_same_venue_btc_and_reference_regression() -> None:
    # Bybit's BTC differs from Binance's; each venue's alt is measured against its own BTC.
    btc_a, btc_b, noise = _random_closes(170, seed=2), _random_closes(170, seed=3), _random_closes(170, seed=4)
    alt = btc_b * noise / 100.0
    df = features(("binance", BTC, bars(btc_a)), ("bybit", BTC, bars(btc_b)), ("bybit", SOL, bars(alt)))
    r_btc, r_alt = np.diff(np.log(btc_b))[-168:], np.diff(np.log(alt))[-168:]
    fit = stats.linregress(r_btc, r_alt)
    assert value(df, "beta_btc_7d", 169, SOL, "bybit") == pytest.approx(fit.slope, rel=1e-9)
    assert value(df, "corr_btc_7d", 169, SOL, "bybit") == pytest.approx(fit.rvalue, rel=1e-9)


def test_beta_nan_without_btc_on_the_venue() -> None:
    df = features(("binance", BTC, bars(_random_closes(170, seed=5))), ("bybit", SOL, bars(_random_closes(170, seed=6))))
    assert math.isnan(value(df, "beta_btc_7d", 169, SOL, "bybit"))
    assert math.isnan(value(df, "corr_btc_7d", 169, SOL, "bybit"))


def test_beta_falls_back_to_usdc_benchmark() -> None:
    btc_usdc = _random_closes(170, seed=7)
    df = features(("hyperliquid", "BTC/USDC:USDC", bars(btc_usdc)), ("hyperliquid", "ETH/USDC:USDC", bars(btc_usdc**3 / 1e4)))
    assert value(df, "beta_btc_7d", 169, "ETH/USDC:USDC", "hyperliquid") == pytest.approx(3.0, rel=1e-9)


def test_breadth_counts_positive_24h_momentum_per_venue() -> None:
    up, down = bars(np.linspace(100, 110, 25)), bars(np.linspace(100, 90, 25))
    late = bars(np.full(5, 100.0), first=at(20))  # no 24h momentum yet: not counted
    df = features(
        ("binance", BTC, up), ("binance", ETH, up), ("binance", SOL, up), ("binance", DOGE, down),
        ("binance", "HYPE/USDT:USDT", late), ("bybit", BTC, down),
    )
    assert value(df, "breadth_24h", 24, DOGE) == pytest.approx(3 / 4, rel=REL)
    assert value(df, "breadth_24h", 24, "HYPE/USDT:USDT") == pytest.approx(3 / 4, rel=REL)
    assert value(df, "breadth_24h", 24, BTC, "bybit") == 0.0
    assert math.isnan(value(df, "breadth_24h", 23, BTC))


def test_gap_makes_every_window_through_it_nan() -> None:
    b = bars(_random_closes(60, seed=8)).drop(index=30)
    df = features(("binance", BTC, b))
    assert at(30) not in set(df["hour"])  # a row only where a bar exists
    assert math.isnan(value(df, "mom_1h", 31))
    assert math.isnan(value(df, "mom_24h", 54))
    assert math.isnan(value(df, "vol_24h", 54))
    assert not math.isnan(value(df, "vol_24h", 55))  # returns 32..55 no longer touch the gap
    first = df[df["hour"] == at(0)].iloc[0]
    assert first[[c for c in FEATURE_COLUMNS if c != "range_pct"]].isna().all()


def test_rows_grain_order_and_dtypes() -> None:
    tab = table(("bybit", BTC, bars(np.full(5, 100.0))), ("binance", ETH, bars(np.full(5, 100.0))))
    df = compute_features(tab, md.hours_of(at(1), at(3)))
    assert list(df.columns) == ft.KEY_COLUMNS + FEATURE_COLUMNS
    assert df[["hour", "venue"]].to_numpy().tolist() == [
        [at(1), "binance"], [at(1), "bybit"], [at(2), "binance"], [at(2), "bybit"],
    ]
    assert str(df["hour"].dtype) == "datetime64[ns, UTC]"
    assert all(df[c].dtype == "float64" for c in FEATURE_COLUMNS)


def test_empty_inputs_and_bad_arguments() -> None:
    tab = table(("binance", BTC, bars(np.full(3, 100.0))))
    assert compute_features(tab, pd.DatetimeIndex([], tz="UTC")).empty
    assert compute_features(tab.iloc[0:0], md.hours_of(at(0), at(2))).empty
    assert list(compute_features(tab, md.hours_of(at(50), at(52))).columns) == ft.KEY_COLUMNS + FEATURE_COLUMNS
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_features(tab, pd.DatetimeIndex([pd.Timestamp("2025-09-01 01:00")]))
    with pytest.raises(ValueError, match="duplicate"):
        compute_features(pd.concat([tab, tab]), md.hours_of(at(0), at(2)))
    with pytest.raises(ValueError, match="atr_span_h"):
        FeatureParams(atr_span_h=FEATURE_LOOKBACK_H + 1)
    with pytest.raises(ValueError, match="vol_compressed_ratio"):
        FeatureParams(vol_compressed_ratio=2.0)


def test_lookback_is_one_week() -> None:
    assert FEATURE_LOOKBACK_H == 24 * 7


# -- real data ----------------------------------------------------------------------------------

# Binance listed HYPE on 2025-05-30 10:00: its week-long features switch from NaN to numbers on
# 2025-06-06 10:00, inside this range.
RANGE_START = pd.Timestamp("2025-06-05 12:00", tz="UTC")
RANGE_HOURS = md.hours_of(RANGE_START, RANGE_START + 48 * HOUR)


def load_sample(lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Binance + Bybit candles in [lo, hi) from the bundled sample, as the ``perp_ohlcv_1h`` table."""
    raw = pd.read_parquet(SAMPLE_CANDLES)
    raw = raw[(raw["timestamp"] >= lo) & (raw["timestamp"] < hi)]
    raw = raw.rename(columns={"timestamp": "ts", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"})
    raw["ts"] = raw["ts"].astype("datetime64[ns, UTC]")
    cols = ["ts", "open", "high", "low", "close", "volume"]
    parts = [(v, f"{c}/USDT:USDT", g[cols].reset_index(drop=True)) for (v, c), g in raw.groupby(["venue", "coin"])]
    return md.ohlcv_table(parts, lo)


@pytest.fixture(scope="module")
def sample_ohlcv() -> pd.DataFrame:
    return load_sample(RANGE_START - (FEATURE_LOOKBACK_H + 24) * HOUR, RANGE_START + 96 * HOUR)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    assert a[ft.KEY_COLUMNS].equals(b[ft.KEY_COLUMNS])
    for column in FEATURE_COLUMNS:
        assert np.array_equal(a[column].to_numpy(), b[column].to_numpy(), equal_nan=True), column


def test_range_equals_each_hour_alone_bit_for_bit(sample_ohlcv: pd.DataFrame) -> None:
    hour = sample_ohlcv["hour"]
    window = sample_ohlcv[(hour >= RANGE_HOURS[0] - FEATURE_LOOKBACK_H * HOUR) & (hour <= RANGE_HOURS[-1])]
    ranged = compute_features(window, RANGE_HOURS)
    alone = pd.concat(
        [compute_features(sample_ohlcv[(hour >= h - FEATURE_LOOKBACK_H * HOUR) & (hour <= h)], pd.DatetimeIndex([h])) for h in RANGE_HOURS],
        ignore_index=True,
    )
    assert len(ranged) == 48 * 10
    _assert_same(ranged, alone)
    # Non-trivial: every column has numbers, and HYPE's beta on Binance goes from NaN to a number.
    assert ranged[FEATURE_COLUMNS].notna().any().all()
    hype = ranged[(ranged["venue"] == "binance") & (ranged["symbol"] == "HYPE/USDT:USDT")]
    assert hype["beta_btc_7d"].isna().any()
    assert hype["beta_btc_7d"].notna().any()


@pytest.mark.parametrize("offset_h", [0, 1, 13, 22, 23, 47])
def test_truncation_value_at_h_ignores_later_rows(sample_ohlcv: pd.DataFrame, offset_h: int) -> None:
    h = RANGE_HOURS[offset_h]
    full = compute_features(sample_ohlcv, RANGE_HOURS)
    cut = compute_features(sample_ohlcv[sample_ohlcv["hour"] <= h], RANGE_HOURS)
    assert cut["hour"].max() == h
    _assert_same(full[full["hour"] == h], cut[cut["hour"] == h])
    assert full.loc[full["hour"] == h, FEATURE_COLUMNS].notna().to_numpy().mean() > 0.9


def _series(ohlcv: pd.DataFrame, venue: str, symbol: str, end: pd.Timestamp) -> pd.DataFrame:
    s = ohlcv[(ohlcv["venue"] == venue) & (ohlcv["symbol"] == symbol) & (ohlcv["hour"] <= end)]
    return s.set_index("hour")


def test_real_data_against_independent_references(sample_ohlcv: pd.DataFrame) -> None:
    h = RANGE_HOURS[-1]
    got = compute_features(sample_ohlcv, pd.DatetimeIndex([h])).set_index(["venue", "symbol"])
    sol, btc = _series(sample_ohlcv, "bybit", SOL, h), _series(sample_ohlcv, "bybit", BTC, h)
    row = got.loc[("bybit", SOL)]
    r = np.log(sol["close"]).diff()
    assert row["vol_24h"] == pytest.approx(statistics.stdev(r.iloc[-24:]), rel=REL)
    assert row["vol_7d"] == pytest.approx(r.rolling(168).std().iloc[-1], rel=REL)
    assert row["slope_24h"] == pytest.approx(stats.linregress(np.arange(24), np.log(sol["close"].iloc[-24:])).slope, rel=1e-8)
    fit = stats.linregress(np.log(btc["close"]).diff().iloc[-168:], r.iloc[-168:])
    assert (row["beta_btc_7d"], row["corr_btc_7d"]) == pytest.approx((fit.slope, fit.rvalue), rel=REL)
    assert row["atr_14"] == pytest.approx(_wilder_loop(sol.iloc[-169:]), rel=REL)
    # Against Wilder seeded at the start of everything loaded (a week more): agrees to ~1e-5.
    assert row["atr_14"] == pytest.approx(_wilder_loop(sol), rel=1e-4)
    mom = {s: math.log(g["close"].iloc[-1] / g["close"].iloc[-25]) for s, g in sample_ohlcv[(sample_ohlcv["venue"] == "bybit") & (sample_ohlcv["hour"] <= h)].groupby("symbol")}
    assert row["breadth_24h"] == pytest.approx(sum(m > 0 for m in mom.values()) / len(mom), rel=REL)


def _wilder_loop(bars_: pd.DataFrame) -> float:
    """Wilder's ATR(14) as a plain loop: TRs from the second bar, seed = mean of the first 14."""
    high, low, close = bars_["high"].tolist(), bars_["low"].tolist(), bars_["close"].tolist()
    tr = [max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, len(close))]
    atr = sum(tr[:14]) / 14
    for x in tr[14:]:
        atr = (atr * 13 + x) / 14
    return atr
