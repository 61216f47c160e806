"""Risk state with hand-checked numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.book.risk import (
    daily_loss,
    drawdown_ladder,
    meets_reward_risk,
    position_size,
    reward_risk,
    session_paused,
    trade_risk_pct,
)


def series(values, start="2025-09-01 00:00") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h", tz="UTC"), dtype="float64")


def test_drawdown_is_measured_from_the_peak_not_the_start():
    # 100 -> 120 (peak) -> 108 is a 10% drawdown from 120, although still +8% on the start.
    lad = drawdown_ladder(series([100, 120, 108, 102, 96, 130]))
    assert lad["peak"].tolist() == [100, 120, 120, 120, 120, 130]
    assert lad["drawdown"].tolist() == pytest.approx([0, 0, 0.10, 0.15, 0.20, 0])
    assert lad["level"].tolist() == ["normal", "normal", "reduce_risk", "reduce_exposure", "halt", "normal"]
    assert lad["multiplier"].tolist() == [1.0, 1.0, 0.5, 0.25, 0.0, 1.0]


def test_carried_peak_counts():
    lad = drawdown_ladder(series([90.0]), peak_before=100.0)
    assert lad["drawdown"].iloc[0] == pytest.approx(0.10)
    assert lad["level"].iloc[0] == "reduce_risk"


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_bad_equity_is_an_error(bad):
    with pytest.raises(ValueError, match="equity must be finite and > 0"):
        drawdown_ladder(series([100, bad]))


def test_daily_loss_from_the_days_open():
    eq = series([100, 95, 89, 91], start="2025-09-01 21:00")  # 21,22,23 on day 1; 00 on day 2
    out = daily_loss(eq)
    assert out["loss"].tolist() == pytest.approx([0, 0.05, 0.11, 0.0])
    assert out["breach"].tolist() == [False, False, True, False]


def test_session_pause_latches():
    assert session_paused(series([100, 97, 94.9, 99, 101])).tolist() == [False, False, True, True, True]


def test_trade_risk_is_vol_adjusted_within_1_to_2_pct():
    assert trade_risk_pct(0.5, 0.5) == pytest.approx(0.02)
    assert trade_risk_pct(1.0, 0.5) == pytest.approx(0.01)  # 2% × 0.5 = 1%
    assert trade_risk_pct(4.0, 0.5) == pytest.approx(0.01)  # clipped at the min
    assert trade_risk_pct(0.6, 0.45) == pytest.approx(0.015)
    assert trade_risk_pct(np.nan, 0.5) == pytest.approx(0.01)


def test_position_size_by_hand():
    # 50,000 equity, 1% risk = 500 USD; entry 100, stop 95 -> 100 units
    assert position_size(50_000, 100.0, 95.0, 0.01) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="must differ"):
        position_size(50_000, 100.0, 100.0, 0.01)
    with pytest.raises(ValueError, match="positive numbers"):
        position_size(0.0, 100.0, 95.0, 0.01)


@pytest.mark.parametrize(
    ("entry", "stop", "target", "side", "ratio", "ok"),
    [(100, 95, 110, "buy", 2.0, True), (100, 95, 109, "buy", 1.8, False), (100, 104, 90, "sell", 2.5, True)],
)
def test_reward_to_risk(entry, stop, target, side, ratio, ok):
    assert reward_risk(entry, stop, target, side) == pytest.approx(ratio)
    assert meets_reward_risk(entry, stop, target, side) is ok


def test_stop_on_the_wrong_side_is_an_error():
    with pytest.raises(ValueError, match="must straddle"):
        reward_risk(100, 105, 110, "buy")


@pytest.mark.parametrize(("x", "lo", "hi"), [
    (0.5, 0.01, 0.02), (0.015, 0.01, 0.02), (0.001, 0.01, 0.02), (0.01, 0.01, 0.02), (0.02, 0.01, 0.02),
    (math.nan, 0.01, 0.02), (0.015, math.nan, 0.02), (0.015, 0.01, math.nan), (-0.0, 0.0, 0.02), (0.0, -0.0, 0.02),
    (0.03, 0.02, 0.01), (math.inf, 0.01, 0.02), (-math.inf, 0.01, 0.02),
])
def test_the_risk_clip_is_numpys_clip_bit_for_bit(x, lo, hi):
    from quant.book.risk import _clip
    assert np.float64(_clip(x, lo, hi)).tobytes() == np.clip(np.float64(x), lo, hi).tobytes()
