"""Price continuity (``quant.market_data.continuity``): hand-checked σ, gap and jump, and the real 2026-02 sell-off passing."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from quant.market_data import continuity as c
from quant.market_data import tables as md
from resources.exchange.replay import ReplayExchange

T0 = pd.Timestamp("2026-02-01", tz="UTC")


def _hours(n: int) -> pd.Series:
    return pd.Series(pd.date_range(T0, periods=n, freq="h", tz="UTC", unit="ns"))


def test_log_returns_only_between_consecutive_hours() -> None:
    ts = pd.Series(pd.DatetimeIndex([T0, T0 + md.HOUR, T0 + 3 * md.HOUR]).as_unit("ns"))
    got = c.log_returns(ts, pd.Series([100.0, 110.0, 121.0]))
    assert np.isnan(got[0])
    assert got[1] == pytest.approx(math.log(1.1))  # 100 -> 110
    assert np.isnan(got[2])  # 02:00 is missing: 110 -> 121 spans two hours, not one return


def test_prior_sigma_is_the_sample_std_of_the_returns_before_each_bar() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.01, 40)
    got = c.prior_sigma(r, window=10, min_returns=5)
    assert np.isnan(got[:5]).all()  # bar 4 has only 4 returns before it
    # an independent computation: statistics.stdev (n - 1) over the window before each bar
    for t in range(5, 40):
        before = r[max(0, t - 10):t]
        assert got[t] == pytest.approx(statistics.stdev(before.tolist()), rel=1e-12)


def test_prior_sigma_by_hand() -> None:
    # returns 0.01, -0.01, 0.03 before bar 3: mean 0.01, deviations 0, -0.02, 0.02 -> var 0.0008/2 -> σ 0.02
    got = c.prior_sigma(np.array([0.01, -0.01, 0.03, 0.0]), window=3, min_returns=3)
    assert got[3] == pytest.approx(0.02)
    assert np.isnan(got[2])


def test_prior_sigma_ignores_missing_returns_and_does_not_depend_on_where_the_series_starts() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, 400)
    r[50] = np.nan
    whole = c.prior_sigma(r)
    tail = c.prior_sigma(r[200:])
    assert np.array_equal(whole[200 + 168:], tail[168:])  # bit for bit: each window reduced on its own


def _bars(closes: list[float], opens: list[float] | None = None, sigma: float = 0.01) -> pd.DataFrame:
    n = len(closes)
    df = pd.DataFrame({"hour": _hours(n), "venue": "binance", "symbol": "BTC/USDT:USDT",
                       "open": opens or [closes[0]] + closes[:-1], "close": closes})
    df["prev_close"] = [np.nan] + closes[:-1]
    df["sigma_1h"] = sigma
    return df


def test_an_ordinary_hour_is_continuous() -> None:
    assert c.discontinuities(_bars([100.0, 101.0, 99.5])).empty


def test_a_coherent_x100_hour_fails_at_its_open_and_at_the_next_open() -> None:
    # hour 1 is ×100 on open and close: it opens at 10,000 after a close of 100 (gap +9,900%);
    # hour 2 opens at 101 after 10,100 (gap -99%). σ 1% -> gap limit max(2%, 3%) = 3%.
    df = _bars([100.0, 10_100.0, 101.0], opens=[100.0, 10_000.0, 101.0])
    got = c.discontinuities(df)
    assert got["hour"].tolist() == [T0 + md.HOUR, T0 + 2 * md.HOUR]
    assert got["detail"].iloc[0] == "opens at 10000 after a close of 100: gap +9900.00% (limit -2.96%..+3.05%, σ 1.00%)"


def test_a_close_only_x100_fails_as_a_jump() -> None:
    # the open continues (100), the close is 10,000: ln(100) = 4.6 > max(0.25, 15 x 1%) = 0.25
    df = _bars([100.0, 10_000.0], opens=[100.0, 100.0])
    got = c.discontinuities(df)
    assert got["hour"].tolist() == [T0 + md.HOUR]
    assert got["detail"].item().startswith("closes at 10000 after 100: jump +9900.00%")


def test_a_close_x1_6_on_every_venue_fails_in_its_own_hour() -> None:
    # ln 1.6 = 0.47 > max(0.25, 15 x 2%) = 0.30: caught at the hour itself, not only at the next open
    df = _bars([100.0, 160.0], opens=[100.0, 100.0], sigma=0.02)
    got = c.discontinuities(df)
    assert got["detail"].item() == "closes at 160 after 100: jump +60.00% (limit -25.92%..+34.99%, σ 2.00%)"
    # a real -15.5% hour of a coin with σ 1.3% passes: 15σ = 19.5%
    assert c.discontinuities(_bars([100.0, 84.5], opens=[100.0, 100.0], sigma=0.013)).empty


def test_the_limits_scale_with_the_coins_own_volatility() -> None:
    # a 4% gap: fails at σ 1% (limit 3%), passes at σ 2% (limit 6%)
    df = _bars([100.0, 104.0], opens=[100.0, 104.0], sigma=0.01)
    assert len(c.discontinuities(df)) == 1
    assert c.discontinuities(df.assign(sigma_1h=0.02)).empty
    # σ unknown (a young listing): the floors alone, 2% gap
    assert len(c.discontinuities(df.assign(sigma_1h=np.nan))) == 1


def test_a_bar_without_the_previous_hour_is_not_judged() -> None:
    df = _bars([100.0, 10_000.0], opens=[100.0, 10_000.0])
    df.loc[1, "prev_close"] = np.nan
    assert c.discontinuities(df).empty


@pytest.fixture(scope="module")
def sample_2026() -> pd.DataFrame:
    ex = ReplayExchange()
    start, end = pd.Timestamp("2026-01-15", tz="UTC"), pd.Timestamp("2026-03-05 10:00", tz="UTC")
    parts = [(v, f"{coin}/USDT:USDT", ex.candles(v, f"{coin}/USDT:USDT", (start - md.OHLCV_WARMUP).to_pydatetime(), end.to_pydatetime()))
             for v in ("binance", "bybit") for coin in ("BTC", "ETH", "SOL", "DOGE", "HYPE")]
    return md.ohlcv_table(parts, start)


def test_the_real_2026_sell_off_is_continuous(sample_2026: pd.DataFrame) -> None:
    # BTC 97k -> 59.8k, the 2026-01-18 23:00 flush (DOGE -4.5% in an hour, 20σ of the last day)
    btc = sample_2026[sample_2026["symbol"] == "BTC/USDT:USDT"]
    assert btc["close"].max() > 95_000
    assert btc["low"].min() < 61_000
    assert sample_2026["sigma_1h"].notna().mean() > 0.97  # known from the second day on
    assert c.discontinuities(sample_2026).empty


def test_a_coherent_x100_hour_in_the_real_sell_off_is_caught(sample_2026: pd.DataFrame) -> None:
    df = sample_2026.copy()
    hour = pd.Timestamp("2026-02-05 14:00", tz="UTC")
    bad = (df["hour"] == hour) & (df["symbol"] == "ETH/USDT:USDT")
    df.loc[bad, ["open", "high", "low", "close"]] *= 100
    after = (df["hour"] == hour + md.HOUR) & (df["symbol"] == "ETH/USDT:USDT")
    df.loc[after, "prev_close"] *= 100  # what ohlcv_table computes from the bad close
    got = c.discontinuities(df)
    assert sorted(set(zip(got["hour"], got["venue"], strict=True))) == [
        (hour, "binance"), (hour, "bybit"), (hour + md.HOUR, "binance"), (hour + md.HOUR, "bybit")]
