"""The journal's studies: Wilder's kernels against his published method as a plain loop, each rule on
constructed bars with hand-checked entry/stop/target (both branches), and a run on the bundled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import get, run_strategy
from quant.strategies.base import StrategyInput, validate_decisions
from quant.strategies.studies import prepared, wilder_adx, wilder_atr, wilder_rsi

T0 = pd.Timestamp("2026-01-01", tz="UTC")
STUDIES = ["ema_cross", "adx_trend", "breakout", "rsi_reversion", "funding_harvest"]


def make_bars(close, high=None, low=None, open_=None, volume=None, *, venue="binance",
              symbol="TEST/USDT:USDT", half_range=1.0) -> pd.DataFrame:
    """One instrument's hourly bars from T0; high/low default to close ± ``half_range``, open to the previous close."""
    close = np.asarray(close, dtype="float64")
    n = len(close)
    high = close + half_range if high is None else np.asarray(high, dtype="float64")
    low = close - half_range if low is None else np.asarray(low, dtype="float64")
    open_ = np.r_[close[0], close[:-1]] if open_ is None else np.asarray(open_, dtype="float64")
    volume = np.full(n, 100.0) if volume is None else np.asarray(volume, dtype="float64")
    return pd.DataFrame({"hour": pd.date_range(T0, periods=n, freq="h"), "venue": venue, "symbol": symbol,
                         "open": open_, "high": high, "low": low, "close": close, "volume": volume})


def random_bars(n=300, seed=7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.006, (2, n))) * close
    return make_bars(close, close + spread[0], close - spread[1])


# -- independent references: Wilder (1978) as a plain loop --------------------------------------


def loop_wilder(x, n):
    out, s, seen = [np.nan] * len(x), None, []
    for i, v in enumerate(x):
        if np.isnan(v):
            continue
        if s is None:
            seen.append(v)
            if len(seen) == n:
                s = sum(seen) / n
                out[i] = s
        else:
            s = (s * (n - 1) + v) / n
            out[i] = s
    return np.array(out)


def loop_tr(h, low, c):
    return np.array([h[0] - low[0]] + [max(h[i] - low[i], abs(h[i] - c[i - 1]), abs(low[i] - c[i - 1])) for i in range(1, len(c))])


def loop_rsi(c, n):
    changes = [np.nan] + [c[i] - c[i - 1] for i in range(1, len(c))]
    gain = loop_wilder([np.nan if np.isnan(d) else max(d, 0.0) for d in changes], n)
    loss = loop_wilder([np.nan if np.isnan(d) else max(-d, 0.0) for d in changes], n)
    return 100 - 100 / (1 + gain / loss)


def loop_adx(h, low, c, n):
    pdm, mdm = [np.nan], [np.nan]
    for i in range(1, len(c)):
        up, down = h[i] - h[i - 1], low[i - 1] - low[i]
        pdm.append(up if up > down and up > 0 else 0.0)
        mdm.append(down if down > up and down > 0 else 0.0)
    tr = loop_tr(h, low, c).astype(float)
    tr[0] = np.nan
    sp, sm, st = loop_wilder(pdm, n), loop_wilder(mdm, n), loop_wilder(list(tr), n)
    pdi, mdi = 100 * sp / st, 100 * sm / st
    return loop_wilder(list(100 * np.abs(pdi - mdi) / (pdi + mdi)), n), pdi, mdi


def test_rsi_of_a_hand_computed_series():
    # changes +1, -.5, +1, -.5, -1; n=2: AG/AL = .5/.25, .75/.125, .375/.3125, .1875/.65625
    rsi = wilder_rsi(make_bars([10, 11, 10.5, 11.5, 11, 10]), 2).to_numpy()
    assert np.isnan(rsi[:2]).all()
    assert rsi[2:] == pytest.approx([200 / 3, 600 / 7, 600 / 11, 200 / 9], rel=1e-12)


def test_rsi_atr_adx_match_wilders_method_as_a_plain_loop():
    bars = random_bars()
    h, low, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
    np.testing.assert_allclose(wilder_rsi(bars, 14), loop_rsi(c, 14), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(wilder_atr(bars, 14), loop_wilder(list(loop_tr(h, low, c)), 14), rtol=1e-9, equal_nan=True)
    adx, pdi, mdi = loop_adx(h, low, c, 14)
    dmi = wilder_adx(bars, 14)
    np.testing.assert_allclose(dmi["adx"], adx, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(dmi["plus_di"], pdi, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(dmi["minus_di"], mdi, rtol=1e-9, equal_nan=True)
    assert np.isnan(dmi["adx"].iloc[: 2 * 14 - 1]).all()
    assert dmi["adx"].iloc[2 * 14 - 1 :].notna().all()


def test_a_flat_market_has_no_rsi_and_no_atr_stop():
    bars = make_bars([100.0] * 40, half_range=0.0)
    assert wilder_rsi(bars).isna().all()
    acc, rej = run_strategy(get("rsi_reversion"), StrategyInput(bars))
    assert acc.empty
    assert rej.empty


def test_kernels_are_per_instrument():
    a, b = random_bars(seed=1), random_bars(seed=2).assign(symbol="OTHER/USDT:USDT")
    both = prepared(pd.concat([b, a]))
    alone = wilder_rsi(prepared(a)).to_numpy()
    np.testing.assert_array_equal(wilder_rsi(both)[both["symbol"] == "TEST/USDT:USDT"].to_numpy(), alone)


# -- the rules on constructed bars ---------------------------------------------------------------


def test_ema_cross_long_then_short_at_the_known_hours():
    # 20 bars at 100, 10 at 110, then 90; bars are close ± 1
    bars = make_bars([100.0] * 20 + [110.0] * 10 + [90.0] * 10)
    acc, rej = run_strategy(get("ema_cross"), StrategyInput(bars), {"fast": 3, "slow": 10})
    assert rej.empty
    assert list(acc["hour"]) == [T0 + pd.Timedelta(hours=20), T0 + pd.Timedelta(hours=30)]
    assert list(acc["side"]) == ["long", "short"]
    # bar 20: EMA3 = 100 + 10/2 = 105 > EMA10 = 100 + 10·2/11; ATR = 2 + (11 − 2)/14 (TR jumps to 111 − 100)
    atr = 2 + 9 / 14
    long = acc.iloc[0]
    assert (long["entry"], long["stop"], long["target"]) == pytest.approx((110, 110 - 2 * atr, 110 + 4 * atr), rel=1e-12)
    assert long["confidence"] == 0.5
    assert "EMA3 crossed above EMA10 (105 vs 101.818)" in long["reason"]
    short = acc.iloc[1]
    assert short["entry"] == 90
    assert short["stop"] > 90
    assert short["target"] == pytest.approx(90 - 2 * (short["stop"] - 90))
    assert "crossed below" in short["reason"]


def _trend_bars(sign: float) -> pd.DataFrame:
    """40 choppy bars, then 30 bars trending by ``sign`` per hour."""
    chop = 100 + np.tile([0.5, -0.5], 20)
    close = np.r_[chop, 100 + sign * np.arange(1, 31)]
    return make_bars(close, close + 0.6, close - 0.6)


@pytest.mark.parametrize(("sign", "side"), [(1.0, "long"), (-1.0, "short")])
def test_adx_trend_trades_the_di_direction_from_the_hour_adx_passes_25(sign, side):
    bars = _trend_bars(sign)
    adx, _, _ = loop_adx(*(bars[k].to_numpy() for k in ("high", "low", "close")), 14)
    first = int(np.argmax(adx > 25))
    assert adx[first - 1] <= 25 < adx[first]
    acc, rej = run_strategy(get("adx_trend"), StrategyInput(bars))
    assert rej.empty
    assert len(acc) == 1
    row = acc.iloc[0]
    assert row["hour"] == T0 + pd.Timedelta(hours=first)
    assert row["side"] == side
    assert row["confidence"] == pytest.approx(adx[first] / 100)
    assert f"ADX(14) {adx[first]:.1f} > 25" in row["reason"]


def test_adx_below_the_threshold_never_trades():
    acc, _ = run_strategy(get("adx_trend"), StrategyInput(make_bars(100 + np.tile([0.5, -0.5], 40))))
    assert acc.empty


def test_breakout_fires_once_on_the_first_close_beyond_the_prior_24_bar_high_and_low():
    close = [100.0] * 30 + [102.0, 102.2] + [100.0] * 30 + [97.0]
    high = [101.0] * 30 + [102.5, 102.5] + [101.0] * 30 + [98.0]
    low = [99.0] * 30 + [100.0, 101.0] + [99.0] * 30 + [96.5]
    acc, rej = run_strategy(get("breakout"), StrategyInput(make_bars(close, high, low)))
    assert rej.empty
    assert list(acc["hour"]) == [T0 + pd.Timedelta(hours=30), T0 + pd.Timedelta(hours=62)]
    assert list(acc["side"]) == ["long", "short"]
    atr = 2 + (2.5 - 2) / 14  # TR of bar 30: 102.5 − 100
    assert tuple(acc.iloc[0][["entry", "stop", "target"]]) == pytest.approx((102, 102 - 2 * atr, 102 + 4 * atr), rel=1e-12)
    assert "close 102 beyond the prior 24-bar high 101" in acc.iloc[0]["reason"]
    assert "24-bar low 99" in acc.iloc[1]["reason"]


def test_rsi_reversion_short_above_70_long_below_30():
    # 15 flat bars (RSI unknown), then +1, −.5, +1, −.5, −1 (n=2): RSI 100 (no prior state), 50, 83.3, 50, 19.2
    close = [10.0] * 15 + [11, 10.5, 11.5, 11, 10]
    acc, rej = run_strategy(get("rsi_reversion"), StrategyInput(make_bars(close, half_range=0.5)), {"period": 2})
    assert rej.empty
    assert list(acc["hour"]) == [T0 + pd.Timedelta(hours=17), T0 + pd.Timedelta(hours=19)]
    assert list(acc["side"]) == ["short", "long"]
    assert "RSI(2) 83.3 above 70" in acc.iloc[0]["reason"]
    assert "RSI(2) 19.2 below 30" in acc.iloc[1]["reason"]
    # confidence 0.5 + depth/10: (83.33 − 70)/10 and (30 − 19.23)/10, capped at 1
    assert acc["confidence"].tolist() == pytest.approx([1.0, 1.0])


def test_funding_harvest_shorts_every_hour_funding_is_above_20pct_apr():
    bars = make_bars([100.0] * 30)
    funding = pd.DataFrame({
        "hour": [T0 + pd.Timedelta(hours=h) for h in (16, 24, 16)], "venue": ["binance", "binance", "bybit"],
        "symbol": "TEST/USDT:USDT", "funding_apr": [0.30, 0.10, 5.0]})
    acc, rej = run_strategy(get("funding_harvest"), StrategyInput(bars, funding=funding))
    assert rej.empty
    assert list(acc["hour"]) == [T0 + pd.Timedelta(hours=h) for h in range(16, 24)]
    assert set(acc["side"]) == {"short"}
    assert acc["confidence"].tolist() == pytest.approx([0.75] * 8)  # 30 % over 2 × 20 %
    row = acc.iloc[0]
    assert (row["stop"], row["target"]) == pytest.approx((104.0, 92.0))  # ATR 2, stop 2 ATR, target 2R
    assert row["reason"].startswith("funding 30.0%/yr above 20%/yr")


def test_funding_harvest_ignores_a_stale_settlement():
    funding = pd.DataFrame({"hour": [T0], "venue": ["binance"], "symbol": ["TEST/USDT:USDT"], "funding_apr": [0.5]})
    acc, _ = run_strategy(get("funding_harvest"), StrategyInput(make_bars([100.0] * 40), funding=funding))
    assert acc.empty  # the only settlement is 14+ hours old by the time ATR is known


# -- the bundled data ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", STUDIES)
def test_each_study_runs_on_the_bundled_data(name, bundled_windows, record_property):
    counts = []
    for data in bundled_windows:
        acc, rej = run_strategy(get(name), data)
        assert rej.empty, rej.head().to_dict("records")
        assert validate_decisions(name, acc)[1].empty
        assert (acc["hour"].isin(data.bars["hour"])).all()
        counts.append(len(acc))
    record_property("decisions_per_window", counts)
    print(f"{name}: {counts} decisions per bundled window")
    assert sum(counts) > 0
