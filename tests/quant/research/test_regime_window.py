"""One-regime windows (``quant.research.regime_window``): the trend z by hand, the label share, unknown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.research import MarketContext, regime_flag
from quant.research.regime_window import dominant_label, trend_z
from tests.quant.research.fakes import VALIDATION, bull_market, hours, mixed_market


def test_trend_z_of_four_prices_by_hand() -> None:
    # log returns ln 1.1, ln .9, ln 1.1: total ln 1.089, over sd(ddof 1) * sqrt 3
    z, buy_hold = trend_z(pd.Series([100.0, 110.0, 99.0, 108.9]))
    log_r = [math.log(1.1), math.log(0.9), math.log(1.1)]
    mean = sum(log_r) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in log_r) / 2)
    assert z == pytest.approx(math.log(1.089) / (sd * math.sqrt(3)), rel=1e-12)
    assert buy_hold == pytest.approx(0.089, rel=1e-12)


def test_a_bull_window_is_one_regime() -> None:
    flag = regime_flag(bull_market(VALIDATION))
    assert flag.one_regime is True
    assert flag.trend_z > 2.0
    assert "one regime (bull trend" in flag.describe()


def test_a_zig_zag_through_three_labels_is_mixed() -> None:
    flag = regime_flag(mixed_market(VALIDATION))
    assert flag.one_regime is False
    assert abs(flag.trend_z) < 2.0
    assert flag.dominant_share == pytest.approx(224 / 672, rel=1e-12)  # 672 hours, three labels in turn


@pytest.mark.parametrize(("trend", "unknown", "one_regime"), [(17, 3, True), (15, 5, True), (15, 0, False)])
def test_eighty_percent_of_known_hours_in_one_label_is_one_regime(trend: int, unknown: int, one_regime: bool) -> None:
    # 17 trend + 3 unknown + 3 range: 17/20 known = 85%; 15 + 5 + 3: 15/18 = 83%; 15 + 0 + 5: 75%
    labels = ["trend"] * trend + ["unknown"] * unknown + ["range"] * (3 if unknown else 5)
    idx = hours(VALIDATION)[: len(labels)]
    flat = pd.Series(np.where(np.arange(len(idx)) % 2 == 0, 100.0, 101.0), index=idx)
    flag = regime_flag(MarketContext(flat, pd.Series(labels, index=idx)))
    assert flag.one_regime is one_regime
    assert flag.dominant_label == "trend"


def test_with_nothing_known_the_regime_is_unknown() -> None:
    idx = hours(VALIDATION)[:2]
    flag = regime_flag(MarketContext(pd.Series([100.0, 101.0], index=idx), pd.Series(["unknown"] * 2, index=idx)))
    assert flag.one_regime is None
    assert "unknown" in flag.describe()
    label, share = dominant_label(None)
    assert label is None
    assert math.isnan(share)
