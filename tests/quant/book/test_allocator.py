"""The allocator with hand-checked budgets."""

from __future__ import annotations

import math

import pytest

from quant.book.allocator import AllocatorParams, allocate


def by_layer(df):
    return df.set_index("layer")


ALL_ON = {"L1": 1.0, "L2": 1.0, "L3": 1.0, "ML": 1.0, "ST": 1.0}


def test_the_base_weights_cover_every_layer_and_sum_to_one():
    from quant.book.allocator import BASE_WEIGHTS
    from quant.book.orders import LAYERS
    assert set(BASE_WEIGHTS) == set(LAYERS)
    assert sum(BASE_WEIGHTS.values()) == pytest.approx(1.0, abs=1e-12)
    assert BASE_WEIGHTS["ML"] <= 0.20


def test_equal_strength_keeps_the_base_split():
    out = by_layer(allocate(100_000, ALL_ON))
    # deployable = 100k × 50% = 50k; 25/25/15/20/15 -> 12.5k / 12.5k / 7.5k / 10k / 7.5k
    assert out["weight"].tolist() == pytest.approx([0.25, 0.25, 0.15, 0.20, 0.15])
    assert out["budget_usd"].tolist() == pytest.approx([12_500, 12_500, 7_500, 10_000, 7_500])
    assert out.loc["L2", "cap_usd"] == pytest.approx(20_000)  # 20% of bankroll
    assert out.loc["ML", "cap_usd"] == pytest.approx(20_000)  # the sleeve's own 20% of bankroll
    assert out.loc["L3", "theta_budget_usd"] == pytest.approx(500)  # 0.5% of bankroll a day
    assert out.loc["L1", "max_position_usd"] == pytest.approx(25_000)
    assert out.loc["L1", "min_position_usd"] == pytest.approx(1_000)


def test_signal_strength_shifts_the_split():
    # s = (1, 1, 1, 0.2, 1): mean 0.84; raw L1 = L2 = 0.25 × (1 + 0.5 × 0.16) = 0.27; L3 = ST = 0.15 × 1.08 = 0.162;
    # ML = 0.2 × (1 − 0.5 × 0.64) = 0.136; total 1.0 (ML's base 0.2 is 1/5: the weighted and plain means agree)
    out = by_layer(allocate(100_000, {"L1": 1.0, "L2": 1.0, "L3": 1.0, "ML": 0.2, "ST": 1.0}))
    assert out["weight"].tolist() == pytest.approx([0.27, 0.27, 0.162, 0.136, 0.162], rel=1e-12)
    assert out["weight"].sum() == pytest.approx(1.0)


def test_no_signal_layer_gets_nothing_and_its_share_stays_cash():
    out = by_layer(allocate(100_000, {"L1": 1.0, "L2": math.nan, "L3": 0.0}))
    assert out.loc["L2", "weight"] == 0.0
    assert out.loc["L3", "weight"] == 0.0
    assert out.loc["ML", "weight"] == 0.0  # no strength given: no signal
    assert out.loc["ST", "weight"] == 0.0
    assert out.loc["L1", "weight"] == pytest.approx(0.25)  # not inflated to 100%
    assert out.loc["L1", "budget_usd"] == pytest.approx(12_500)
    assert "no signal" in out.loc["L2", "reason"]


def test_drawdown_multiplier_scales_everything():
    out = by_layer(allocate(100_000, ALL_ON, risk_multiplier=0.25))
    assert out["budget_usd"].sum() == pytest.approx(12_500)
    assert out.loc["L3", "theta_budget_usd"] == pytest.approx(125)
    assert out.loc["ML", "budget_usd"] == pytest.approx(2_500)  # 0.2 × 50k × 0.25
    halted = allocate(100_000, ALL_ON, risk_multiplier=0.0)
    assert halted["budget_usd"].sum() == 0.0


def test_growth_is_a_bankroll_bump():
    small = allocate(100_000, {"L1": 1.0, "L2": 0.5, "L3": 1.0, "ML": 0.6, "ST": 0.7})
    big = allocate(300_000, {"L1": 1.0, "L2": 0.5, "L3": 1.0, "ML": 0.6, "ST": 0.7})
    assert (big["budget_usd"] / small["budget_usd"]).tolist() == pytest.approx([3.0] * 5)


def test_the_ml_budget_is_capped_by_the_sleeves_exposure_cap():
    # ML alone: 0.2 × 50k = 10k, capped at 5% of 100k = 5k
    out = by_layer(allocate(100_000, {"ML": 1.0}, AllocatorParams(max_ml_pct=0.05)))
    assert out.loc["ML", "budget_usd"] == pytest.approx(5_000)
    assert "capped at 5,000 USD" in out.loc["ML", "reason"]


@pytest.mark.parametrize("bank", [0.0, -1.0, math.nan])
def test_bad_bankroll(bank):
    with pytest.raises(ValueError, match="bankroll_usd must be a positive amount"):
        allocate(bank, {"L1": 1.0})


def test_bad_base_weights():
    with pytest.raises(ValueError, match="sum to 1"):
        AllocatorParams(base_weights={"L1": 0.5, "L2": 0.25, "L3": 0.15})
