"""quant.features.regime: one table row per label with hand-worked scores, NaN -> unknown, and the
2025-04-07 sell-off in the bundled sample labelled a crash."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.features import regime as rg
from quant.features.hourly import FEATURE_LOOKBACK_H, compute_features
from quant.features.regime import SCORE_COLUMNS, RegimeParams, ramp, regime_scores
from quant.market_data.tables import hours_of
from tests.quant.features.test_hourly import load_sample

REL = 1e-9
HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
ROOT24 = math.sqrt(24)

#: No rule fires: flat (trend_z 0), vol_ratio 1 (high_vol 0, crash 0 via mom 0), far from the
#: mean (|mr| 3 -> range 0), directional (adx 0.5 -> range 0).
NEUTRAL_ROW = {
    "slope_24h": 0.0, "vol_24h": 0.01, "adx_14": 0.5, "vol_ratio": 1.0, "mr_distance_atr": 3.0,
    "mom_24h": 0.0, "breadth_24h": 0.6,
}


def frame(**overrides: float) -> pd.DataFrame:
    row = {"hour": T0, "venue": "binance", "symbol": "BTC/USDT:USDT", **NEUTRAL_ROW, **overrides}
    return pd.DataFrame([row])


# (overrides, expected label, expected scores in SCORE_COLUMNS order: crash, high_vol, trend, range)
CASES = {
    "neutral": ({}, "neutral", (0.0, 0.0, 0.0, 0.0)),
    # mom −15% (ramp 1), vol_ratio 1.5 (crash ramp 1, high_vol (1.5−1.2)/0.6 = 0.5), breadth 0 (1).
    "crash": ({"mom_24h": -0.15, "vol_ratio": 1.5, "breadth_24h": 0.0}, "crash", (1.0, 0.5, 0.0, 0.0)),
    # mom −7% -> (−0.07+0.04)/(−0.06) = 0.5; vol_ratio 1.3 -> 1 (high_vol 1/6); breadth 0.3 -> 2/3.
    "crash_partial": (
        {"mom_24h": -0.07, "vol_ratio": 1.3, "breadth_24h": 0.3}, "crash", (0.5, 1 / 6, 0.0, 0.0),
    ),
    "high_vol": ({"vol_ratio": 2.0}, "high_vol", (0.0, 1.0, 0.0, 0.0)),
    # trend_z = 0.003·√24 / 0.005 ≈ 2.94 -> 1; adx 0.5 -> 1; adx kills range.
    "trend_up": ({"slope_24h": 0.003, "vol_24h": 0.005}, "trend", (0.0, 0.0, 1.0, 0.0)),
    "trend_down": ({"slope_24h": -0.003, "vol_24h": 0.005}, "trend", (0.0, 0.0, 1.0, 0.0)),
    # trend_z = 1.25 -> 0.5, adx 0.4 -> 0.75: min 0.5. range: adx 0.4 -> 0.25, vol 1 -> 1/3, mr 3 -> 0.
    "trend_partial": ({"slope_24h": 1.25 * 0.01 / ROOT24, "adx_14": 0.4}, "trend", (0.0, 0.0, 0.5, 0.0)),
    # Quiet (0.7), near the mean (0.5 ATR), no direction (adx 0.2): range 1.
    "range": ({"vol_ratio": 0.7, "mr_distance_atr": -0.5, "adx_14": 0.2}, "range", (0.0, 0.0, 0.0, 1.0)),
    # vol_ratio 0.95 -> 0.5, |mr| 1.5 -> 0.5, adx 0.3 -> 0.75: min 0.5.
    "range_partial": (
        {"vol_ratio": 0.95, "mr_distance_atr": 1.5, "adx_14": 0.3}, "range", (0.0, 0.0, 0.0, 0.5),
    ),
    # Crash and high_vol both 1: the tie goes to crash.
    "tie_crash_first": ({"mom_24h": -0.2, "vol_ratio": 2.0, "breadth_24h": 0.0}, "crash", (1.0, 1.0, 0.0, 0.0)),
}


@pytest.mark.parametrize(("overrides", "label", "scores"), list(CASES.values()), ids=list(CASES))
def test_label_table(overrides: dict[str, float], label: str, scores: tuple[float, ...]) -> None:
    got = regime_scores(frame(**overrides))
    assert got["regime"].tolist() == [label]
    assert got.loc[0, SCORE_COLUMNS].astype(float).tolist() == pytest.approx(list(scores), rel=REL, abs=1e-12)


# Which scores a NaN in each input makes unknown.
NAN_CASES = {
    "slope_24h": ["trend_score"],
    "vol_24h": ["trend_score"],
    "adx_14": ["trend_score", "range_score"],
    "vol_ratio": ["crash_score", "high_vol_score", "range_score"],
    "mr_distance_atr": ["range_score"],
    "mom_24h": ["crash_score"],
    "breadth_24h": ["crash_score"],
}


@pytest.mark.parametrize(("column", "nan_scores"), list(NAN_CASES.items()), ids=list(NAN_CASES))
def test_nan_feature_gives_nan_scores_and_unknown(column: str, nan_scores: list[str]) -> None:
    got = regime_scores(frame(**{column: float("nan")}))
    assert got["regime"].tolist() == ["unknown"]
    assert [c for c in SCORE_COLUMNS if math.isnan(got.loc[0, c])] == [c for c in SCORE_COLUMNS if c in nan_scores]


def test_zero_volatility_is_unknown_not_infinite_trend() -> None:
    got = regime_scores(frame(vol_24h=0.0, slope_24h=0.0))
    assert math.isnan(got.loc[0, "trend_score"])
    assert got["regime"].tolist() == ["unknown"]


@pytest.mark.parametrize(
    ("x", "ends", "expected"),
    [
        (0.5, (0.0, 1.0), 0.5),
        (-1.0, (0.0, 1.0), 0.0),
        (2.0, (0.0, 1.0), 1.0),
        (0.95, (1.1, 0.8), 0.5),  # decreasing ramp
        (0.5, (1.1, 0.8), 1.0),
        (-0.07, (-0.04, -0.10), 0.5),
    ],
)
def test_ramp(x: float, ends: tuple[float, float], expected: float) -> None:
    assert float(ramp(np.array([x]), ends)[0]) == pytest.approx(expected, rel=REL)


def test_ramp_keeps_nan() -> None:
    assert math.isnan(float(ramp(np.array([np.nan]), (0.0, 1.0))[0]))


def test_params_validate_and_shift_labels() -> None:
    with pytest.raises(ValueError, match="high_vol_ratio"):
        RegimeParams(high_vol_ratio=(1.5, 1.5))
    # A stricter high-vol rule turns the high_vol case neutral.
    got = regime_scores(frame(vol_ratio=2.0), params=RegimeParams(high_vol_ratio=(2.5, 3.0)))
    assert got["regime"].tolist() == ["neutral"]


def test_rows_keep_order_and_columns() -> None:
    feats = pd.concat([frame(vol_ratio=2.0), frame(vol_ratio=0.7, mr_distance_atr=0.0, adx_14=0.1)], ignore_index=True)
    feats.loc[1, "symbol"] = "ETH/USDT:USDT"
    got = regime_scores(feats)
    assert list(got.columns) == rg.REGIME_COLUMNS
    assert got["symbol"].tolist() == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert got["regime"].tolist() == ["high_vol", "range"]
    empty = regime_scores(feats.iloc[0:0])
    assert list(empty.columns) == rg.REGIME_COLUMNS
    assert empty.empty


def test_real_sell_off_2025_04_07() -> None:
    start = pd.Timestamp("2025-04-06 00:00", tz="UTC")
    hours = hours_of(start, start + 48 * HOUR)
    feats = compute_features(load_sample(start - FEATURE_LOOKBACK_H * HOUR, hours[-1] + HOUR), hours)
    got = regime_scores(feats).set_index(["hour", "venue", "symbol"])
    # 06:00: BTC −10.5%, ETH −23%, SOL −21% over 24h, every coin down on both venues, 24h vol
    # 1.24–1.85× the week's: a crash everywhere (a strong downtrend too, but crash wins ties).
    at_crash = got.xs(pd.Timestamp("2025-04-07 06:00", tz="UTC"), level="hour")
    assert len(at_crash) == 9  # Binance had no HYPE perp yet
    assert (at_crash["regime"] == "crash").all()
    # A day earlier the market was still calm for most.
    assert (got.xs(pd.Timestamp("2025-04-06 06:00", tz="UTC"), level="hour")["regime"] != "crash").all()
    scores = got[SCORE_COLUMNS].to_numpy()
    known = ~np.isnan(scores).any(axis=1)
    assert ((scores[known] >= 0) & (scores[known] <= 1)).all()
    assert set(got.loc[known, "regime"]) <= {*rg.LABELS, "neutral"}
    assert (got.loc[~known, "regime"] == "unknown").all()


def test_calm_market_share_and_unknown_hours():
    from quant.features.regime import calm_market

    h0, h1, h2 = pd.date_range("2025-09-01", periods=3, freq="h", tz="UTC")
    regimes = pd.DataFrame({
        "hour": [h0] * 5 + [h1] * 5 + [h2] * 2,
        "regime": ["range", "neutral", "range", "range", "trend",  # 4 of 5 calm: 0.8 -> calm
                   "range", "range", "trend", "crash", "unknown",  # 2 of 4 known: not calm
                   "unknown", "unknown"],  # nothing known: not calm
    })
    hours = pd.DatetimeIndex([h0, h1, h2, h2 + pd.Timedelta(hours=1)])
    assert calm_market(regimes, hours).tolist() == [True, False, False, False]
