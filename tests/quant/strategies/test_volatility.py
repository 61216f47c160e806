"""SkewFlow and QuantFlow on constructed rows with hand-checked numbers, and a run on the bundled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import volatility as vo
from quant.strategies.base import StrategyInput, get, run_strategy, validate_decisions

T0 = pd.Timestamp("2026-01-15 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
SYM = "BTC/USDT:USDT"


def bars_at(hours: list[pd.Timestamp], close: float = 100.0) -> pd.DataFrame:
    return pd.DataFrame({"hour": hours, "venue": "binance", "symbol": SYM, "open": close, "high": close,
                         "low": close, "close": close, "volume": 1.0})


# ---------------------------------------------------------------------------------------------- SkewFlow
def skew_input(aprs: list[float]) -> StrategyInput:
    hours = [T0 + 8 * k * H for k in range(len(aprs))]
    funding = pd.DataFrame({"hour": hours, "venue": "binance", "symbol": SYM, "funding_apr": aprs,
                            "funding_rate": np.array(aprs) / (3 * 365)})
    features = pd.DataFrame({"hour": hours, "venue": "binance", "symbol": SYM, "atr_14": 2.0})
    return StrategyInput(bars_at(hours), features, funding)


def test_funding_z_by_hand() -> None:
    # [1, 2, 3, 4, 10]: mean 4, Σ(dev²) = 50, sd = √12.5, z = 6 / √12.5.
    f = pd.DataFrame({"hour": [T0 + k * H for k in range(5)], "venue": "binance", "symbol": SYM,
                      "funding_apr": [1.0, 2, 3, 4, 10]})
    z = vo.funding_z(f, 5)["z"].to_numpy()
    assert np.isnan(z[:4]).all()
    assert z[4] == pytest.approx(6 / np.sqrt(12.5), rel=1e-12)


@pytest.mark.parametrize(("last", "side", "stop", "target"), [(0.7, "short", 103.0, 92.5), (-0.5, "long", 97.0, 107.5)])
def test_skewflow_fades_an_extreme_premium(last: float, side: str, stop: float, target: float) -> None:
    # Five settlements at 10% APR, then `last`: mean 0.2 / 0.0167, z = ±2.0412 (= 0.5/√0.06 and −0.6/√0.0864).
    out, rejected = run_strategy(get("skewflow"), skew_input([0.1] * 5 + [last]), {"window": 6})
    assert rejected.empty
    assert len(out) == 1
    row = out.iloc[0]
    assert row["hour"] == T0 + 40 * H
    assert (row["side"], row["entry"], row["stop"], row["target"]) == (side, 100.0, stop, target)  # 1.5 ATR of 2; 2.5R
    assert row["confidence"] == pytest.approx(2.0412414523193 / 4, rel=1e-9)
    assert "perp premium proxy" in row["reason"]


def test_skewflow_needs_the_premium_extreme_in_level_too() -> None:
    out, _ = run_strategy(get("skewflow"), skew_input([0.01] * 5 + [0.04]), {"window": 6})  # z 2.04 but 4% APR
    assert out.empty
    out, _ = run_strategy(get("skewflow"), skew_input([0.01] * 5 + [0.04]), {"window": 6, "min_abs_apr": 0.0})
    assert len(out) == 1


def test_skewflow_flat_funding_is_nan_not_a_trade() -> None:
    out, _ = run_strategy(get("skewflow"), skew_input([0.3] * 8), {"window": 6})
    assert out.empty


# --------------------------------------------------------------------------------------------- QuantFlow
def qf_input(prev_ratio: float = 0.5, up: float = 1.0, oi: tuple[float, float] | None = None,
             chain: pd.DataFrame | None = None) -> StrategyInput:
    """Two hours: T0 (vol_ratio ``prev_ratio``) and T0 + 1h (a breakout ``up`` = 1 up / 0 down); atr 2, vol_7d 0.01."""
    hours = [T0, T0 + H]
    features = pd.DataFrame({"hour": hours, "venue": "binance", "symbol": SYM, "vol_ratio": [prev_ratio, 0.9],
                             "vol_7d": 0.01, "atr_14": 2.0, "breakout_up": [0.0, up], "breakout_down": [0.0, 1 - up]})
    oi_df = pd.DataFrame()
    if oi is not None:
        oi_df = pd.DataFrame({"hour": [T0 + H - 24 * H, T0 + H], "venue": "hyperliquid", "symbol": "BTC/USDC:USDC",
                              "oi_usd": list(oi)})
    return StrategyInput(bars_at(hours), features, pd.DataFrame(), oi_df, chain)


def qf(data: StrategyInput) -> pd.DataFrame:
    out, rejected = run_strategy(get("quantflow"), data)
    assert rejected.empty
    return out


def test_quantflow_breakout_out_of_compression() -> None:
    out = qf(qf_input())
    assert len(out) == 1
    row = out.iloc[0]
    assert row["hour"] == T0 + H
    assert (row["side"], row["entry"], row["stop"], row["target"], row["confidence"]) == ("long", 100.0, 97.0, 107.5, 0.5)
    down = qf(qf_input(up=0.0)).iloc[0]
    assert (down["side"], down["stop"], down["target"]) == ("short", 103.0, 92.5)


def test_quantflow_needs_compression_the_hour_before() -> None:
    assert qf(qf_input(prev_ratio=0.8)).empty


@pytest.mark.parametrize(("oi", "expected"), [((100.0, 110.0), [0.75]), ((100.0, 95.0), [])])
def test_quantflow_open_interest_confirms_or_vetoes(oi: tuple[float, float], expected: list[float]) -> None:
    out = qf(qf_input(oi=oi))  # +10% over 24h (Hyperliquid's BTC matched by coin) confirms; −5% vetoes
    assert out["confidence"].tolist() == expected
    if expected:
        assert "OI +10.0% over 24h" in out["reason"].iloc[0]


def chain_rows(iv: float, age_h: int) -> pd.DataFrame:
    return pd.DataFrame({"hour": [T0 + H - age_h * H] * 2, "instrument": ["BTC-27FEB26-100000-C", "BTC-27FEB26-100000-P"],
                         "strike": 100000.0, "underlying_usd": 100500.0, "iv": [iv, iv], "dte_days": 30.0})


@pytest.mark.parametrize(("iv", "age_h", "expected"), [
    (1.2, 2, [1.0]),   # IV/RV = 1.2 / (0.01·√8760 = 0.936) = 1.28 ≥ 1: confirms (with OI: 0.5 + 0.25 + 0.25)
    (0.9, 2, []),      # IV/RV = 0.96 < 1: vetoes
    (0.9, 30, [0.75]),  # a snapshot over 24h old is no chain: OI alone
])
def test_quantflow_options_iv_against_realised(iv: float, age_h: int, expected: list[float]) -> None:
    out = qf(qf_input(oi=(100.0, 110.0), chain=chain_rows(iv, age_h)))
    assert out["confidence"].tolist() == pytest.approx(expected)


def test_chain_atm_iv() -> None:
    assert vo.chain_atm_iv(None).empty
    got = vo.chain_atm_iv(chain_rows(0.8, 0))
    assert got[["coin", "atm_iv"]].values.tolist() == [["BTC", 0.8]]
    far = chain_rows(0.8, 0).assign(strike=150000.0)  # |ln(150000/100500)| > 0.05: not ATM
    assert vo.chain_atm_iv(far).empty


# ------------------------------------------------------------------------------------------- bundled data
@pytest.mark.parametrize("name", ["skewflow", "quantflow"])
def test_bundled_windows(bundled_windows: list[StrategyInput], name: str) -> None:
    counts = []
    for w in bundled_windows:
        accepted, rejected = run_strategy(get(name), w)
        assert rejected.empty, rejected
        assert validate_decisions(name, accepted)[1].empty
        h = accepted["hour"].iloc[len(accepted) // 2]
        cut, _ = run_strategy(get(name), w.until(h))
        pd.testing.assert_frame_equal(cut[cut["hour"] == h].reset_index(drop=True),
                                      accepted[accepted["hour"] == h].reset_index(drop=True))
        counts.append(len(accepted))
    print(name, counts)
    assert all(n > 0 for n in counts)
