"""The allocator with hand-checked budgets."""

from __future__ import annotations

import math

import pytest

from quant.book.allocator import AllocatorParams, allocate


def by_layer(df):
    return df.set_index("layer")


def test_equal_strength_keeps_the_base_split():
    out = by_layer(allocate(100_000, {"L1": 1.0, "L2": 1.0, "L3": 1.0}))
    # deployable = 100k × 50% = 50k; 60/25/15 -> 30k / 12.5k / 7.5k
    assert out["weight"].tolist() == pytest.approx([0.60, 0.25, 0.15])
    assert out["budget_usd"].tolist() == pytest.approx([30_000, 12_500, 7_500])
    assert out.loc["L2", "cap_usd"] == pytest.approx(20_000)  # 20% of bankroll
    assert out.loc["L3", "theta_budget_usd"] == pytest.approx(500)  # 0.5% of bankroll a day
    assert out.loc["L1", "max_position_usd"] == pytest.approx(25_000)
    assert out.loc["L1", "min_position_usd"] == pytest.approx(1_000)


def test_signal_strength_shifts_the_split():
    # s = (1, 0.2, 1): mean 0.7333; raw L1 = 0.6 × (1 + 0.5 × 0.2667) = 0.68; L2 = 0.25 × (1 − 0.2667) = 0.18333;
    # L3 = 0.15 × 1.13333 = 0.17; total 1.03333 -> weights 0.65806, 0.17742, 0.16452
    out = by_layer(allocate(100_000, {"L1": 1.0, "L2": 0.2, "L3": 1.0}))
    assert out["weight"].tolist() == pytest.approx([0.68 / 1.0333333, 0.1833333 / 1.0333333, 0.17 / 1.0333333], rel=1e-6)
    assert out["weight"].sum() == pytest.approx(1.0)


def test_no_signal_layer_gets_nothing_and_its_share_stays_cash():
    out = by_layer(allocate(100_000, {"L1": 1.0, "L2": math.nan, "L3": 0.0}))
    assert out.loc["L2", "weight"] == 0.0
    assert out.loc["L3", "weight"] == 0.0
    assert out.loc["L1", "weight"] == pytest.approx(0.60)  # not inflated to 100%
    assert out.loc["L1", "budget_usd"] == pytest.approx(30_000)
    assert "no signal" in out.loc["L2", "reason"]


def test_drawdown_multiplier_scales_everything():
    out = by_layer(allocate(100_000, {"L1": 1.0, "L2": 1.0, "L3": 1.0}, risk_multiplier=0.25))
    assert out["budget_usd"].sum() == pytest.approx(12_500)
    assert out.loc["L3", "theta_budget_usd"] == pytest.approx(125)
    halted = allocate(100_000, {"L1": 1.0, "L2": 1.0, "L3": 1.0}, risk_multiplier=0.0)
    assert halted["budget_usd"].sum() == 0.0


def test_growth_is_a_bankroll_bump():
    small = allocate(100_000, {"L1": 1.0, "L2": 0.5, "L3": 1.0})
    big = allocate(300_000, {"L1": 1.0, "L2": 0.5, "L3": 1.0})
    assert (big["budget_usd"] / small["budget_usd"]).tolist() == pytest.approx([3.0, 3.0, 3.0])


@pytest.mark.parametrize("bank", [0.0, -1.0, math.nan])
def test_bad_bankroll(bank):
    with pytest.raises(ValueError, match="bankroll_usd must be a positive amount"):
        allocate(bank, {"L1": 1.0})


def test_bad_base_weights():
    with pytest.raises(ValueError, match="sum to 1"):
        AllocatorParams(base_weights={"L1": 0.5, "L2": 0.25, "L3": 0.15})
