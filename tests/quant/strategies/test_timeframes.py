"""Higher-timeframe bars, swing points and swing bias: hand-checked on small constructed bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies.timeframes import (
    asof_hourly,
    closed_bars,
    htf_bias,
    period_start,
    swing_bias,
    swing_points,
)

MONDAY = pd.Timestamp("2025-03-03 00:00", tz="UTC")


def hourly(start: pd.Timestamp, n: int, venue: str = "binance", symbol: str = "BTC/USDT:USDT") -> pd.DataFrame:
    """``n`` 1h bars from ``start``: bar k has open 100 + k, close 100.5 + k, high 101 + k, low 99 + k, volume 1."""
    k = np.arange(n, dtype="float64")
    return pd.DataFrame({"hour": start + pd.to_timedelta(k, unit="h"), "venue": venue, "symbol": symbol,
                         "open": 100 + k, "high": 101 + k, "low": 99 + k, "close": 100.5 + k, "volume": 1.0})


@pytest.mark.parametrize(("hour", "timeframe", "start"), [
    ("2025-03-06 12:00", "1D", "2025-03-06 00:00"),
    ("2025-03-06 12:00", "3D", "2025-03-04 00:00"),  # day 20153 = 3 × 6717 + 2 since 1970-01-01
    ("2025-03-07 00:00", "3D", "2025-03-07 00:00"),
    ("2025-03-06 12:00", "1W", "2025-03-03 00:00"),  # the Monday before
    ("2025-03-09 23:00", "1W", "2025-03-03 00:00"),  # Sunday's last hour is still that week
    ("2025-03-10 00:00", "1W", "2025-03-10 00:00"),
])
def test_period_start_is_on_fixed_utc_grids(hour: str, timeframe: str, start: str) -> None:
    got = period_start(pd.Series([pd.Timestamp(hour, tz="UTC")]), timeframe)
    assert got.iloc[0] == pd.Timestamp(start, tz="UTC")


def test_weekly_bar_values_and_a_partial_week_dropped() -> None:
    bars = hourly(MONDAY, 168 + 30)  # one whole week, then 30 hours of the next
    w = closed_bars(bars, "1W")
    assert len(w) == 1
    row = w.iloc[0]
    assert row["start"] == MONDAY
    assert row["visible_from"] == pd.Timestamp("2025-03-09 23:00", tz="UTC")
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"], row["n_bars"]) == (100, 268, 99, 267.5, 168, 168)


def test_weekly_bar_not_visible_before_its_last_hour() -> None:
    bars = hourly(MONDAY, 168)
    last = pd.Timestamp("2025-03-09 23:00", tz="UTC")
    assert closed_bars(bars[bars["hour"] <= last - pd.Timedelta(hours=1)], "1W").empty
    assert len(closed_bars(bars[bars["hour"] <= last], "1W")) == 1


def test_window_starting_mid_period_has_no_partial_first_bar() -> None:
    bars = hourly(MONDAY + pd.Timedelta(hours=12), 36)  # Monday 12:00 … Tuesday 23:00
    d = closed_bars(bars, "1D")
    assert d["start"].tolist() == [pd.Timestamp("2025-03-04", tz="UTC")]
    assert (d["open"].iloc[0], d["high"].iloc[0], d["low"].iloc[0], d["close"].iloc[0]) == (112, 136, 111, 135.5)


def test_three_day_bar_on_the_epoch_grid() -> None:
    bars = hourly(pd.Timestamp("2025-03-04", tz="UTC"), 72)
    d = closed_bars(bars, "3D")
    assert d["visible_from"].tolist() == [pd.Timestamp("2025-03-06 23:00", tz="UTC")]


def test_unknown_timeframe_refused() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        closed_bars(hourly(MONDAY, 3), "4H")


def test_swing_high_confirmed_exactly_lookback_bars_later() -> None:
    high = np.array([1.0, 2.0, 3.0, 5.0, 3.0, 2.0, 1.0])
    low = high - 0.5
    sh, _ = swing_points(high, low, 2)
    assert np.isnan(sh[:5]).all()  # the swing at bar 3 is unknown at bars 3 and 4
    assert sh[5] == 5.0
    assert np.isnan(sh[6])
    # Truncated at bar 4 (what was known then), nothing is flagged.
    sh_cut, _ = swing_points(high[:5], low[:5], 2)
    assert np.isnan(sh_cut).all()


def test_swing_low_and_lookback_validation() -> None:
    low = np.array([5.0, 4.0, 1.0, 4.0, 5.0])
    _, sl = swing_points(low + 1, low, 1)
    assert np.isnan(sl[[0, 1, 2, 4]]).all()
    assert sl[3] == 1.0
    with pytest.raises(ValueError, match="lookback"):
        swing_points(low, low, 0)


@pytest.mark.parametrize(("high", "low", "expected"), [
    # swing highs 5, 6 (HH, confirmed at bars 2, 4); swing lows 2, 3 (HL, confirmed at 3, 5)
    ([2, 5, 3, 6, 4, 7], [1, 4, 2, 5, 3, 6], [0, 0, 0, 0, 0, 1]),
    # swing highs 6, 5 (LH); swing lows 3, 2 (LL)
    ([7, 4, 6, 3, 5, 2], [6, 3, 5, 2, 4, 1], [0, 0, 0, 0, 0, -1]),
    # swing highs 5, 6 (HH) but swing lows 2, 1 (LL): no bias
    ([2, 5, 3, 6, 4, 7], [1, 4, 2, 5, 1, 6], [0, 0, 0, 0, 0, 0]),
])
def test_swing_bias(high: list[float], low: list[float], expected: list[int]) -> None:
    assert swing_bias(np.array(high, float), np.array(low, float), 1).tolist() == expected


def test_htf_bias_mapped_to_hours_only_once_visible() -> None:
    bars = hourly(MONDAY, 72)
    b = htf_bias(bars, "1D", 1)
    assert b["visible_from"].tolist() == [MONDAY + pd.Timedelta(hours=h) for h in (23, 47, 71)]
    got = asof_hourly(bars, b.assign(bias=[7, 8, 9]), ["bias"])["bias"]
    assert np.isnan(got.iloc[:23]).all()
    assert got.iloc[[23, 46, 47, 71]].tolist() == [7, 7, 8, 9]
