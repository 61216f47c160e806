"""PairFlow: the hedge ratio and z-score by hand, the z-to-price mapping, both legs, and the bundled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import stat_arb as sa
from quant.strategies.base import StrategyInput, get, run_strategy, validate_decisions

T0 = pd.Timestamp("2025-03-04 00:00", tz="UTC")


def test_rolling_beta_by_hand() -> None:
    # y = [1, 2, 3], x = [1, 2, 4]: dx = [-4/3, -1/3, 5/3], dy = [-1, 0, 1]; Σdx·dy = 3, Σdx² = 14/3.
    beta = sa.rolling_beta(np.array([1.0, 2, 3]), np.array([1.0, 2, 4]), 3)
    assert np.isnan(beta[:2]).all()
    assert beta[2] == pytest.approx(9 / 14, rel=1e-12)


def test_z_score_by_hand() -> None:
    # Spread deviations under β = 9/14: dy − β·dx = [-2/14, 3/14, -1/14]; sd = √((4 + 9 + 1)/196 / 2) = √(1/28);
    # z = (-1/14) / √(1/28) = −1/√7.
    st = sa.pair_spread(np.exp([1.0, 2, 3]), np.exp([1.0, 2, 4]), 3, 3)
    assert st["z"].iloc[2] == pytest.approx(-1 / np.sqrt(7), rel=1e-12)
    assert st["sd"].iloc[2] == pytest.approx(np.sqrt(1 / 28), rel=1e-12)
    assert st["spread"].iloc[2] == pytest.approx(3 - 9 / 14 * 4, rel=1e-12)
    assert np.isnan(st["z"].iloc[:2]).all()


def test_degenerate_spread_is_nan() -> None:
    st = sa.pair_spread(np.exp([1.0, 2, 3, 4]), np.full(4, 5.0), 3, 3)  # var(x) = 0: no hedge ratio
    assert st["beta"].isna().all()
    assert st["z"].isna().all()


def pair_bars(jump: float, n: int = 40, venue_b: str = "binance") -> pd.DataFrame:
    """BTC ≈ ETH^0.5 with seeded noise over ``n`` hours; BTC's last close × (1 + ``jump``)."""
    rng = np.random.default_rng(7)
    x = np.log(2000) + np.cumsum(rng.normal(0, 0.01, n))
    y = 0.5 * x + np.log(60000 / np.sqrt(2000)) + rng.normal(0, 0.001, n)
    y[-1] += np.log1p(jump)
    hours = T0 + pd.to_timedelta(np.arange(n), unit="h")
    rows = [pd.DataFrame({"hour": hours, "venue": v, "symbol": s, "close": np.exp(p)})
            for v, s, p in (("binance", "BTC/USDT:USDT", y), (venue_b, "ETH/USDT:USDT", x))]
    df = pd.concat(rows, ignore_index=True)
    return df.assign(open=df["close"], high=df["close"], low=df["close"], volume=1.0)


PARAMS = {"beta_window": 24, "z_window": 12}


def test_rich_leg_shorted_cheap_leg_bought_with_z_mapped_levels() -> None:
    df = pair_bars(0.03)
    out, rejected = run_strategy(get("pairflow"), StrategyInput(df), PARAMS)
    assert rejected.empty
    last = df["hour"].max()
    entry = out[out["hour"] == last].set_index("symbol")
    assert entry.loc["BTC/USDT:USDT", "side"] == "short"
    assert entry.loc["ETH/USDT:USDT", "side"] == "long"
    assert entry["reason"].nunique() == 1
    assert "PairFlow BTC/ETH on binance" in entry["reason"].iloc[0]
    # The levels: BTC moves the spread 1:1, ETH by −β; target z = 0, stop z + 0.75.
    pa_, pb = df[df["symbol"] == "BTC/USDT:USDT"]["close"].to_numpy(), df[df["symbol"] == "ETH/USDT:USDT"]["close"].to_numpy()
    st = sa.pair_spread(pa_, pb, 24, 12).iloc[-1]
    assert st["z"] >= 2
    btc, eth = entry.loc["BTC/USDT:USDT"], entry.loc["ETH/USDT:USDT"]
    assert btc["target"] == pytest.approx(pa_[-1] * np.exp(-st["z"] * st["sd"]), rel=1e-12)
    assert btc["stop"] == pytest.approx(pa_[-1] * np.exp(0.75 * st["sd"]), rel=1e-12)
    assert eth["target"] == pytest.approx(pb[-1] * np.exp(st["z"] * st["sd"] / st["beta"]), rel=1e-12)
    assert eth["stop"] == pytest.approx(pb[-1] * np.exp(-0.75 * st["sd"] / st["beta"]), rel=1e-12)
    assert btc["confidence"] == pytest.approx(min(1.0, st["z"] / 4))


def test_cheap_leg_bought_when_z_negative() -> None:
    out, _ = run_strategy(get("pairflow"), StrategyInput(pair_bars(-0.03)), PARAMS)
    last = out[out["hour"] == out["hour"].max()].set_index("symbol")
    assert last.loc["BTC/USDT:USDT", "side"] == "long"
    assert last.loc["ETH/USDT:USDT", "side"] == "short"


def test_only_the_first_hour_of_an_excursion() -> None:
    df = pair_bars(0.0, n=400)
    out, _ = run_strategy(get("pairflow"), StrategyInput(df), PARAMS)
    pa_, pb = (df[df["symbol"] == s]["close"].to_numpy() for s in ("BTC/USDT:USDT", "ETH/USDT:USDT"))
    z = sa.pair_spread(pa_, pb, 24, 12)["z"].to_numpy()
    idx = ((out["hour"] - T0) / pd.Timedelta(hours=1)).astype(int).unique()
    assert len(idx) > 0
    assert (np.abs(z[idx]) >= 2).all()
    assert not (np.abs(z[idx - 1]) >= 2).any()


def test_pair_not_emitted_under_two_to_one() -> None:
    df = pair_bars(0.03)
    pa_, pb = (df[df["symbol"] == s]["close"].to_numpy() for s in ("BTC/USDT:USDT", "ETH/USDT:USDT"))
    z = sa.pair_spread(pa_, pb, 24, 12)["z"].iloc[-1]
    assert 2 <= z < 4  # a stop 2 z-units out against a reward of z: under 2:1
    out, _ = run_strategy(get("pairflow"), StrategyInput(df), {**PARAMS, "stop_z": 2.0})
    assert (out["hour"] != df["hour"].max()).all()


def test_non_positive_hedge_ratio_is_no_pair() -> None:
    assert sa._legs(T0, "binance", "BTC", "ETH", "BTC/USDT:USDT", "ETH/USDT:USDT", 60000.0, 2000.0,
                    2.5, -0.4, 0.01, get("pairflow").resolve()) == []


def test_legs_on_different_venues_are_not_paired() -> None:
    out, _ = run_strategy(get("pairflow"), StrategyInput(pair_bars(0.03, venue_b="bybit")), PARAMS)
    assert out.empty


def test_bundled_windows(bundled_windows: list[StrategyInput]) -> None:
    counts = []
    for w in bundled_windows:
        accepted, rejected = run_strategy(get("pairflow"), w)
        assert rejected.empty, rejected
        assert validate_decisions("pairflow", accepted)[1].empty
        assert len(accepted) % 2 == 0
        assert (accepted.groupby(["hour", "venue", "reason"]).size() == 2).all()  # one decision per leg
        h = accepted["hour"].iloc[len(accepted) // 2]
        cut, _ = run_strategy(get("pairflow"), w.until(h))
        pd.testing.assert_frame_equal(cut[cut["hour"] == h].reset_index(drop=True),
                                      accepted[accepted["hour"] == h].reset_index(drop=True))
        counts.append(len(accepted))
    print("pairflow", counts)
    assert all(n > 0 for n in counts)
