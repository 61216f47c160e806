"""Flow strategies: the CLV delta by hand, each rule on constructed bars (both branches, hand-checked
entry/stop/target), open interest matched by coin, and a run on the bundled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import get, run_strategy
from quant.strategies.base import StrategyInput, validate_decisions
from quant.strategies.flow import clv_delta
from tests.quant.strategies.test_studies import T0, make_bars

FLOW = ["wick_flow", "valentini_flow", "oi_flow", "footprint_divergence"]
H = pd.Timedelta(hours=1)


def test_clv_delta_by_hand():
    bars = pd.DataFrame({"open": [10, 10, 10, 10], "high": [12, 12, 12, 10], "low": [8, 8, 8, 10],
                         "close": [11, 12, 8, 10], "volume": [100.0, 100.0, 100.0, 100.0]})
    # (2·11 − 12 − 8)/4 = 0.5; a close at the high is all buying, at the low all selling; no range, no location
    np.testing.assert_array_equal(clv_delta(bars).to_numpy(), [50.0, 100.0, -100.0, np.nan])


# -- WickFlow ------------------------------------------------------------------------------------


def _wick_bars(wick_bodies: float, volume_mult: float, side: str) -> pd.DataFrame:
    """30 quiet bars (o 100, c 100.2, h 100.3, l 99.9, volume 100), then one with a 0.5 body and a
    ``wick_bodies``-body lower (or upper) wick on ``volume_mult`` × volume."""
    n = 30
    o, c, h, low, v = ([x] * n for x in (100.0, 100.2, 100.3, 99.9, 100.0))
    if side == "long":
        o, c, h, low = o + [100.0], c + [100.5], h + [100.6], low + [100.0 - 0.5 * wick_bodies]
    else:
        o, c, h, low = o + [100.5], c + [100.0], h + [100.5 + 0.5 * wick_bodies], low + [99.9]
    return make_bars(c, h, low, o, v + [100.0 * volume_mult])


def test_a_lower_wick_of_three_bodies_on_double_volume_goes_long():
    acc, rej = run_strategy(get("wick_flow"), StrategyInput(_wick_bars(3.0, 2.0, "long")))
    assert rej.empty
    assert len(acc) == 1
    row = acc.iloc[0]
    assert row["hour"] == T0 + 30 * H
    assert row["side"] == "long"
    # quiet TR 0.4; the wick bar's TR 100.6 − 98.5 = 2.1, so ATR = 0.4 + 1.7/14; stop 0.25 ATR under the low
    atr = 0.4 + 1.7 / 14
    stop = 98.5 - 0.25 * atr
    assert (row["entry"], row["stop"], row["target"]) == pytest.approx((100.5, stop, 100.5 + 2 * (100.5 - stop)), rel=1e-12)
    assert row["confidence"] == pytest.approx(0.75)  # 3 bodies of the 2 × 2 that reach full confidence
    assert "lower wick 1.5 = 3× body on 2× volume" in row["reason"]


def test_an_upper_wick_goes_short():
    acc, _ = run_strategy(get("wick_flow"), StrategyInput(_wick_bars(3.0, 2.0, "short")))
    assert acc["side"].tolist() == ["short"]
    assert acc.iloc[0]["stop"] > acc.iloc[0]["entry"] + 1.5


@pytest.mark.parametrize(("wick_bodies", "volume_mult"), [(1.5, 2.0), (3.0, 1.2)])
def test_a_short_wick_or_quiet_volume_does_not_fire(wick_bodies, volume_mult):
    acc, rej = run_strategy(get("wick_flow"), StrategyInput(_wick_bars(wick_bodies, volume_mult, "long")))
    assert acc.empty
    assert rej.empty


# -- ValentiniFlow -------------------------------------------------------------------------------


def _flow_bars(sign: float) -> pd.DataFrame:
    """60 bars of a small 5-bar CLV cycle (its 4-bar sums stay within 1.6σ), then 6 bars closing at their high (or low)."""
    clv = np.r_[np.tile([0.1, -0.1, 0.2, -0.2, 0.05], 12), [sign] * 6]
    close = 100 + clv  # high 101, low 99: CLV = close − 100
    return make_bars(close, np.full(66, 101.0), np.full(66, 99.0), np.full(66, 100.0))


def _plain_z(bars: pd.DataFrame, window: int, z_bars: int) -> np.ndarray:
    h, low, c, v = (bars[k].to_numpy() for k in ("high", "low", "close", "volume"))
    delta = [v[i] * (2 * c[i] - h[i] - low[i]) / (h[i] - low[i]) for i in range(len(c))]
    sums = [sum(delta[i - window + 1 : i + 1]) if i >= window - 1 else np.nan for i in range(len(c))]
    z = np.full(len(c), np.nan)
    for i in range(len(c)):
        past = sums[i - z_bars : i] if i >= z_bars else []
        if len(past) == z_bars and not np.isnan(past).any():
            z[i] = (sums[i] - np.mean(past)) / np.std(past, ddof=1)
    return z


@pytest.mark.parametrize(("sign", "side"), [(1.0, "long"), (-1.0, "short")])
def test_valentini_flow_rides_a_two_sigma_flow_from_its_first_hour(sign, side):
    bars = _flow_bars(sign)
    z = _plain_z(bars, 4, 24)
    first = int(np.argmax(np.abs(z) >= 2))
    assert first >= 60
    acc, rej = run_strategy(get("valentini_flow"), StrategyInput(bars), {"window": 4, "z_bars": 24})
    assert rej.empty
    assert acc["hour"].tolist() == [T0 + first * H]  # fires once, on the first hour of |z| ≥ 2
    assert acc["side"].tolist() == [side]
    assert acc.iloc[0]["confidence"] == pytest.approx(min(1.0, abs(z[first]) / 4))
    assert f"z {z[first]:+.2f}" in acc.iloc[0]["reason"]


def test_valentini_flow_has_no_z_on_zero_range_bars():
    bars = make_bars([100.0] * 60, half_range=0.0)
    acc, rej = run_strategy(get("valentini_flow"), StrategyInput(bars), {"window": 4, "z_bars": 24})
    assert acc.empty
    assert rej.empty


# -- OIFlow --------------------------------------------------------------------------------------


def _oi_case(price_last: float, oi_last: float, coin: str = "BTC") -> StrategyInput:
    """31 hours of BTC/USDT:USDT bars at 100 (± 1) and Hyperliquid BTC/USDC:USDC OI at $1bn, then one hour moved."""
    bars = make_bars([100.0] * 30 + [price_last], symbol="BTC/USDT:USDT")
    oi = pd.DataFrame({"hour": pd.date_range(T0, periods=31, freq="h"), "venue": "hyperliquid",
                       "symbol": f"{coin}/USDC:USDC", "oi_usd": [1e9] * 30 + [oi_last]})
    return StrategyInput(bars, open_interest=oi)


@pytest.mark.parametrize(("price", "oi", "side"), [(102.0, 0.97e9, "short"), (98.0, 1.03e9, "long")])
def test_oi_flow_fades_a_move_open_interest_does_not_back(price, oi, side):
    acc, rej = run_strategy(get("oi_flow"), _oi_case(price, oi))
    assert rej.empty
    assert acc["hour"].tolist() == [T0 + 30 * H]
    row = acc.iloc[0]
    assert row["side"] == side
    # ATR = 2 + (3 − 2)/14 (the moved bar's TR), stop 2 ATR, target 2R
    atr = 2 + 1 / 14
    sign = 1 if side == "long" else -1
    assert (row["stop"], row["target"]) == pytest.approx((price - sign * 2 * atr, price + sign * 4 * atr), rel=1e-12)
    assert row["confidence"] == pytest.approx(0.75)  # |OI change| 3 % over 2 × 2 %
    assert f"price {price / 100 - 1:+.2%} while OI {oi / 1e9 - 1:+.2%}" in row["reason"]


@pytest.mark.parametrize(("price", "oi", "coin"), [(102.0, 1.03e9, "BTC"), (102.0, 0.97e9, "ETH"), (100.5, 0.97e9, "BTC")])
def test_oi_flow_needs_a_divergence_of_the_same_coin(price, oi, coin):
    acc, rej = run_strategy(get("oi_flow"), _oi_case(price, oi, coin))
    assert acc.empty
    assert rej.empty


def test_no_open_interest_no_oi_decisions():
    acc, rej = run_strategy(get("oi_flow"), StrategyInput(make_bars([100.0] * 30 + [102.0], symbol="BTC/USDT:USDT")))
    assert acc.empty
    assert rej.empty


# -- footprint (delta divergence) ----------------------------------------------------------------


def _footprint_bars(side: str, close_last: float) -> pd.DataFrame:
    """30 bars with CLV 0 (h 101, l 99, c 100), then a new 24-bar high (or low) closing at ``close_last``."""
    close, high, low = [100.0] * 30, [101.0] * 30, [99.0] * 30
    if side == "short":
        return make_bars(close + [close_last], high + [102.0], low + [99.0])
    return make_bars(close + [close_last], high + [101.0], low + [98.0])


def test_a_new_high_on_net_selling_goes_short():
    acc, rej = run_strategy(get("footprint_divergence"), StrategyInput(_footprint_bars("short", 99.2)))
    assert rej.empty
    assert acc["hour"].tolist() == [T0 + 30 * H]
    row = acc.iloc[0]
    assert row["side"] == "short"
    # delta = 100 × (2·99.2 − 102 − 99)/3 = −86.667, the only non-zero delta of the 24 bars; ATR = 2 + (3 − 2)/14
    atr = 2 + 1 / 14
    assert (row["stop"], row["target"]) == pytest.approx((99.2 + 2 * atr, 99.2 - 4 * atr), rel=1e-12)
    assert "new 24-bar high on 24-bar CLV delta -86.6667" in row["reason"]


def test_a_new_low_on_net_buying_goes_long():
    acc, _ = run_strategy(get("footprint_divergence"), StrategyInput(_footprint_bars("long", 100.8)))
    assert acc["side"].tolist() == ["long"]
    assert "CLV delta +86.6667" in acc.iloc[0]["reason"]  # 100 × (201.6 − 101 − 98)/3


def test_a_new_high_on_net_buying_is_no_divergence():
    acc, _ = run_strategy(get("footprint_divergence"), StrategyInput(_footprint_bars("short", 101.8)))
    assert acc.empty


# -- the bundled data ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FLOW)
def test_each_flow_strategy_runs_on_the_bundled_data(name, bundled_windows, record_property):
    counts = []
    for data in bundled_windows:
        acc, rej = run_strategy(get(name), data)
        assert rej.empty, rej.head().to_dict("records")
        assert validate_decisions(name, acc)[1].empty
        counts.append(len(acc))
    record_property("decisions_per_window", counts)
    print(f"{name}: {counts} decisions per bundled window")
    assert sum(counts) > 0
    if name == "oi_flow":
        assert counts[0] == 0  # the 2025 window has no open interest
