"""quant.cascade: the L2 arming score, its hysteresis and the mean-reversion ladder.

Expected numbers are worked out by hand in the comments. The bundled sample has open interest
(hyperliquid, 2025-12-07 → 2026-03-07) and candles (binance/bybit, to 2025-09-30) that never
overlap in time, so the full score runs on real open interest with synthetic candles and
funding, or on real candles and funding with synthetic open interest — each test says which.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

from quant.cascade import score as cc
from quant.market_data import tables as md
from quant.market_data.funding import infer_interval_hours

REL = 1e-9
HOUR = pd.Timedelta(hours=1)
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"
T0 = pd.Timestamp("2026-01-01 00:00", tz="UTC")
VENUE, SYM = "hyperliquid", "ETH/USDC:USDC"
P = cc.CascadeParams()


def at(h: int) -> pd.Timestamp:
    return T0 + h * HOUR


# -- ramps, percentile, score -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "zero_at", "one_at", "expected"),
    [
        # oi_signal: percentile rank 70 -> 0, 95 -> 1, midpoint 82.5 -> 0.5
        (50.0, 70.0, 95.0, 0.0), (70.0, 70.0, 95.0, 0.0), (82.5, 70.0, 95.0, 0.5),
        (95.0, 70.0, 95.0, 1.0), (100.0, 70.0, 95.0, 1.0),
        # funding_signal: |rate per 8h| 0 -> 0, 0.0005 -> 0.5, 0.001 -> 1, capped beyond
        (0.0, 0.0, 0.001, 0.0), (0.0005, 0.0, 0.001, 0.5), (0.001, 0.0, 0.001, 1.0), (0.003, 0.0, 0.001, 1.0),
        # compression_signal: falling ramp, vol ratio 1.0 -> 0, 0.75 -> 0.5, 0.5 -> 1
        (1.5, 1.0, 0.5, 0.0), (1.0, 1.0, 0.5, 0.0), (0.75, 1.0, 0.5, 0.5), (0.5, 1.0, 0.5, 1.0), (0.2, 1.0, 0.5, 1.0),
    ],
)
def test_linear_ramp_endpoints_and_midpoints(x: float, zero_at: float, one_at: float, expected: float) -> None:
    assert float(cc.linear_ramp(x, zero_at, one_at)) == pytest.approx(expected, rel=REL, abs=1e-12)


def test_linear_ramp_keeps_nan_and_refuses_a_flat_ramp() -> None:
    assert math.isnan(float(cc.linear_ramp(np.nan, 70.0, 95.0)))
    with pytest.raises(ValueError, match="two distinct"):
        cc.linear_ramp(1.0, 0.5, 0.5)


def test_default_params_are_the_design_card() -> None:
    assert (P.weight_oi, P.weight_funding, P.weight_compression) == (0.55, 0.20, 0.25)
    assert (P.oi_pct_zero, P.oi_pct_full, P.oi_window_h, P.oi_min_history_h) == (70.0, 95.0, 168, 72)
    assert (P.funding_full_8h, P.ratio_zero, P.ratio_full, P.trigger, P.hold) == (0.001, 1.0, 0.5, 0.6, 0.4)


@pytest.mark.parametrize(
    ("oi", "funding", "compression", "expected"),
    [
        (1.0, 0.5, 0.0, 0.65),  # 0.55·1 + 0.20·0.5 + 0.25·0
        (0.0, 1.0, 1.0, 0.45),  # 0.20 + 0.25: never arms without open interest
        (1.0, 1.0, 1.0, 1.0),
        (0.5, 0.0, 0.4, 0.375),  # 0.275 + 0 + 0.1
    ],
)
def test_combine_score(oi: float, funding: float, compression: float, expected: float) -> None:
    assert float(cc.combine_score(oi, funding, compression, P)) == pytest.approx(expected, rel=REL)


def test_combine_score_nan_in_nan_out() -> None:
    assert math.isnan(float(cc.combine_score(1.0, np.nan, 1.0, P)))


def test_oi_percentile_rank_on_a_tiny_hand_series() -> None:
    # window 4: [10] -> 1/1; [10,30] cur 30 -> 2/2; [10,30,20] cur 20 -> 2/3;
    # [10,30,20,40] cur 40 -> 4/4; [30,20,40,25] cur 25 -> {20,25} 2/4 = 50
    rank, n = cc.oi_percentile_rank([10.0, 30.0, 20.0, 40.0, 25.0], window=4)
    assert rank.tolist() == pytest.approx([100.0, 100.0, 200.0 / 3.0, 100.0, 50.0], rel=REL)
    assert n.tolist() == [1, 2, 3, 4, 4]


def test_oi_percentile_rank_missing_hours() -> None:
    # A missing current hour has no rank; a missing past hour is simply not counted.
    rank, n = cc.oi_percentile_rank([10.0, np.nan, 20.0, 5.0], window=3)
    assert math.isnan(rank[1])
    assert rank[[0, 2, 3]].tolist() == pytest.approx([100.0, 100.0, 50.0], rel=REL)  # [10,_,20]; [_,20,5]
    assert n.tolist() == [1, 1, 2, 2]


def test_oi_percentile_rank_matches_scipy_weak() -> None:
    values = np.random.default_rng(7).lognormal(20.0, 0.1, 300)
    rank, _ = cc.oi_percentile_rank(values, window=168)
    for i in (0, 5, 100, 167, 168, 299):
        ref = percentileofscore(values[max(0, i - 167): i + 1], values[i], kind="weak")
        assert rank[i] == pytest.approx(ref, rel=REL)


def test_funding_per_8h() -> None:
    # hyperliquid 1h, binance 4h and 8h settlements
    got = cc.funding_per_8h([0.0000125, 0.0002, -0.0001], [1.0, 4.0, 8.0])
    assert got.tolist() == pytest.approx([0.0001, 0.0004, -0.0001], rel=REL)


def test_realised_vol_by_hand() -> None:
    closes = [100.0, 110.0, 99.0, np.nan, 99.0]
    rv = cc.realised_vol(closes, window=2, min_returns=2)
    # row 2: returns ln(1.1), ln(0.9) -> sqrt((ln1.1² + ln0.9²)/2); rows 3, 4 lack a return
    assert rv[2] == pytest.approx(math.sqrt((math.log(1.1) ** 2 + math.log(0.9) ** 2) / 2), rel=REL)
    assert np.isnan(rv[[0, 1, 3, 4]]).all()


def test_average_true_range_by_hand() -> None:
    # TR: bar 1 max(3, |12-10|, |9-10|) = 3; bar 2 max(2, |14-11|, |12-11|) = 3; bar 3 max(4, 1, 3) = 4
    atr = cc.average_true_range([11, 12, 14, 13], [9, 9, 12, 9], [10, 11, 13, 12], window=2)
    assert np.isnan(atr[:2]).all()
    assert atr[2:].tolist() == pytest.approx([3.0, 3.5], rel=REL)


# -- hysteresis -------------------------------------------------------------------------------

HYSTERESIS = [
    # score, armed, triggered
    (0.30, False, False),
    (0.65, True, True),  # >= 0.6 arms
    (0.50, True, False),  # >= 0.4 holds
    (0.40, True, False),  # the hold threshold itself holds
    (0.35, False, False),  # < 0.4 disarms
    (0.50, False, False),  # 0.5 does not re-arm ...
    (0.59, False, False),
    (0.60, True, True),  # ... re-arming needs 0.6 again
    (np.nan, False, False),  # NaN never passes a threshold
    (0.45, False, False),
]


def test_arm_states_hysteresis_table() -> None:
    scores = [s for s, _, _ in HYSTERESIS]
    assert cc.arm_states(scores, P).tolist() == [a for _, a, _ in HYSTERESIS]


def test_arm_frame_marks_triggers_and_carries_state_per_instrument() -> None:
    n = len(HYSTERESIS)
    scores = pd.DataFrame(
        {
            "hour": [at(h) for h in range(n)] * 2,
            "venue": [VENUE] * (2 * n),
            "symbol": [SYM] * n + ["BTC/USDC:USDC"] * n,
            "score": [s for s, _, _ in HYSTERESIS] + [0.5] * n,
        }
    )
    got = cc.arm(scores, P, armed_before={(VENUE, "BTC/USDC:USDC"): True})
    eth = got[got["symbol"] == SYM]
    assert eth["armed"].tolist() == [a for _, a, _ in HYSTERESIS]
    assert eth["triggered"].tolist() == [t for _, _, t in HYSTERESIS]
    btc = got[got["symbol"] == "BTC/USDC:USDC"]
    assert btc["armed"].all()  # armed in the previous partition, 0.5 holds
    assert not btc["triggered"].any()  # already armed: no new trigger


# -- the hourly table on synthetic inputs -----------------------------------------------------

LAST = 99  # hours 0..99 are scored; OI starts at hour 0


def synthetic(
    *, oi_from: int = 0, calm: float = 0.01, last_24h: float = 0.02, rate_8h: float = 0.0005
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rising OI from ``oi_from``; closes alternating ±``calm`` log moves, ±``last_24h`` in the
    24 returns ending at hour LAST; 8h settlements at ``rate_8h``."""
    oi_ts = pd.date_range(at(oi_from), at(LAST), freq="h", tz="UTC", unit="ns")
    oi = md.open_interest_table([(VENUE, SYM, pd.DataFrame({"ts": oi_ts, "oi_usd": 1e9 + 1e6 * np.arange(len(oi_ts))}))])
    px_ts = pd.date_range(at(-168), at(LAST), freq="h", tz="UTC", unit="ns")
    size = np.where(np.arange(len(px_ts)) > len(px_ts) - 25, last_24h, calm)
    moves = size * np.where(np.arange(len(px_ts)) % 2 == 0, 1.0, -1.0)
    moves[0] = 0.0
    close = 100.0 * np.exp(np.cumsum(moves))
    bars = pd.DataFrame({"ts": px_ts, "open": close, "high": close, "low": close, "close": close, "volume": 1.0})
    ohlcv = md.ohlcv_table([(VENUE, SYM, bars)], px_ts[0])
    f_ts = pd.date_range(at(-24), at(LAST), freq="8h", tz="UTC", unit="ns")
    funding = md.funding_table([(VENUE, SYM, pd.DataFrame({"ts": f_ts, "funding_rate": rate_8h, "interval_hours": 8.0}))])
    return oi, ohlcv, funding


def scores_of(oi: pd.DataFrame, ohlcv: pd.DataFrame, funding: pd.DataFrame, first: int = 60) -> pd.DataFrame:
    return cc.cascade_scores(oi, ohlcv, funding, md.hours_of(at(first), at(LAST + 1)), P).set_index("hour")


def test_full_score_by_hand_triggers_at_065() -> None:
    row = scores_of(*synthetic()).loc[at(LAST)]
    # OI rises every hour: the current hour is the max of its 100 hours -> rank 100 -> signal 1
    assert row["oi_history_hours"] == 100
    assert row["oi_pct_rank"] == pytest.approx(100.0, rel=REL)
    assert row["oi_signal"] == 1.0
    # 8h rate 0.0005 -> half of 0.001 -> 0.5; positive: crowded longs, cascade down
    assert row["funding_rate_8h"] == pytest.approx(0.0005, rel=REL)
    assert row["funding_signal"] == pytest.approx(0.5, rel=REL)
    assert row["direction"] == "down"
    # rv_24h = 0.02; rv_7d = sqrt((24·0.02² + 144·0.01²)/168); ratio > 1 -> no compression
    assert row["rv_24h"] == pytest.approx(0.02, rel=REL)
    assert row["rv_7d"] == pytest.approx(math.sqrt((24 * 0.02**2 + 144 * 0.01**2) / 168), rel=REL)
    assert row["compression_signal"] == 0.0
    assert row["status"] == "ok"
    assert row["score"] == pytest.approx(0.65, rel=REL)  # 0.55 + 0.10 + 0 >= 0.6
    assert cc.arm_states([row["score"]], P).tolist() == [True]


def test_compressed_vol_and_negative_funding() -> None:
    row = scores_of(*synthetic(last_24h=0.001, rate_8h=-0.002)).loc[at(LAST)]
    # ratio = 0.001 / sqrt((24·0.001² + 144·0.01²)/168) ≈ 0.108 < 0.5 -> 1; |funding| capped -> 1
    assert row["vol_ratio"] == pytest.approx(0.001 / math.sqrt((24 * 0.001**2 + 144 * 0.01**2) / 168), rel=REL)
    assert (row["compression_signal"], row["funding_signal"]) == (1.0, 1.0)
    assert row["direction"] == "up"  # crowded shorts: the squeeze goes up
    assert row["score"] == pytest.approx(1.0, rel=REL)


def test_insufficient_oi_history_until_72_hours() -> None:
    s = scores_of(*synthetic())
    # OI from hour 0: hour 70 has 71 hours of it, hour 71 has 72
    assert s.loc[at(70), ["oi_history_hours", "status"]].tolist() == [71, "insufficient OI history"]
    assert math.isnan(s.loc[at(70), "score"])
    assert math.isnan(s.loc[at(70), "oi_signal"])
    assert s.loc[at(71), ["oi_history_hours", "status"]].tolist() == [72, "ok"]


def test_missing_oi_is_a_no_oi_row_never_a_value() -> None:
    oi, ohlcv, funding = synthetic()
    oi = oi[oi["hour"] != at(90)]
    s = scores_of(oi, ohlcv, funding)
    assert s.loc[at(90), "status"] == "no OI"
    assert math.isnan(s.loc[at(90), "score"])
    assert math.isnan(s.loc[at(90), "oi_usd"])
    assert s.loc[at(91), ["oi_history_hours", "status"]].tolist() == [91, "ok"]  # 92 hours, one missing


def test_instrument_with_candles_but_no_oi_gets_no_oi_rows() -> None:
    _, ohlcv, funding = synthetic()  # binance in the sample: candles, no open interest
    s = scores_of(md.open_interest_table([]), ohlcv, funding)
    assert len(s) == LAST + 1 - 60
    assert set(s["status"]) == {"no OI"}
    assert s["score"].isna().all()


def test_missing_price_and_funding_statuses() -> None:
    oi, ohlcv, funding = synthetic()
    s = scores_of(oi, ohlcv[ohlcv["hour"] != at(95)], funding.iloc[:0])
    assert s.loc[at(95), "status"] == "no price"
    # hour 96 lost two returns (c95/c94 and c96/c95): 22 < 24
    assert s.loc[at(96), "status"] == "insufficient price history"
    assert s.loc[at(94), "status"] == "no funding"
    assert pd.isna(s.loc[at(94), "direction"])
    assert s["score"].isna().all()


def test_stale_funding_is_no_funding() -> None:
    oi, ohlcv, funding = synthetic()
    s = scores_of(oi, ohlcv, funding[funding["settlement_ts"] <= at(72)])
    # last settlement 72:00; hour 95 ends at 96:00, exactly 24h later -> still usable; 96 is not
    assert s.loc[at(95), "status"] == "ok"
    assert s.loc[at(96), "status"] == "no funding"


def test_empty_inputs_keep_the_schema() -> None:
    oi, ohlcv, funding = synthetic()
    got = cc.cascade_scores(oi.iloc[:0], ohlcv.iloc[:0], funding, md.hours_of(at(0), at(3)), P)
    assert list(got.columns) == cc.SCORE_COLUMNS
    assert got.empty
    assert str(got["hour"].dtype) == "datetime64[ns, UTC]"


def test_hours_must_be_whole_hours() -> None:
    with pytest.raises(ValueError, match="whole UTC hours"):
        cc.cascade_scores(*synthetic(), pd.DatetimeIndex([at(80) + pd.Timedelta(minutes=30)]), P)


# -- real open interest (hyperliquid BTC) with synthetic candles and funding ------------------

BTC = "BTC/USDC:USDC"
GAP = md.hours_of(pd.Timestamp("2026-01-19 00:00", tz="UTC"), pd.Timestamp("2026-01-19 18:00", tz="UTC"))


@pytest.fixture(scope="module")
def real_oi_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    raw = pd.read_parquet(SAMPLE / "open_interest" / "hyperliquid_oi_1h.parquet")
    raw = raw[raw["coin"] == "BTC"]
    part = pd.DataFrame({"ts": raw["timestamp"].astype("datetime64[ns, UTC]"), "oi_usd": raw["oi_usd"].to_numpy()})
    oi = md.open_interest_table([(VENUE, BTC, part)])
    ts = pd.date_range("2025-12-01", "2026-02-01", freq="h", tz="UTC", unit="ns", inclusive="left")
    rng = np.random.default_rng(11)
    close = 90_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, len(ts)) * np.linspace(1.0, 0.3, len(ts))))
    bars = pd.DataFrame({"ts": ts, "open": close, "high": close * 1.002, "low": close * 0.998, "close": close, "volume": 1.0})
    ohlcv = md.ohlcv_table([(VENUE, BTC, bars)], ts[0])
    rates = rng.normal(0.00002, 0.00006, len(ts))
    funding = md.funding_table([(VENUE, BTC, pd.DataFrame({"ts": ts, "funding_rate": rates, "interval_hours": 1.0}))])
    return raw, oi, ohlcv, funding


WINDOW = md.hours_of(pd.Timestamp("2026-01-10", tz="UTC"), pd.Timestamp("2026-01-25", tz="UTC"))


def test_real_oi_gap_hours_say_no_oi(real_oi_inputs) -> None:
    _, oi, ohlcv, funding = real_oi_inputs
    s = cc.cascade_scores(oi, ohlcv, funding, WINDOW, P)
    assert len(s) == len(WINDOW)
    no_oi = s[s["status"] == "no OI"]
    assert no_oi["hour"].tolist() == list(GAP)  # the sample's 18 missing hours, nothing invented
    assert no_oi["score"].isna().all()
    assert (s.loc[s["status"] != "no OI", "status"] == "ok").all()


def test_real_oi_rank_matches_scipy_on_the_raw_file(real_oi_inputs) -> None:
    raw, oi, ohlcv, funding = real_oi_inputs
    s = cc.cascade_scores(oi, ohlcv, funding, WINDOW, P).set_index("hour")
    series = raw.set_index(raw["timestamp"].astype("datetime64[ns, UTC]"))["oi_usd"]
    for hour in (WINDOW[0], GAP[-1] + HOUR, WINDOW[-1]):
        past = series[(series.index > hour - 168 * HOUR) & (series.index <= hour)]
        assert s.loc[hour, "oi_history_hours"] == len(past)
        assert s.loc[hour, "oi_pct_rank"] == pytest.approx(percentileofscore(past, series[hour], kind="weak"), rel=REL)


@pytest.mark.parametrize("cut", ["2026-01-12 05:00", "2026-01-19 03:00", "2026-01-19 18:00", "2026-01-24 23:00"])
def test_truncation_score_at_h_ignores_rows_after_h(real_oi_inputs, cut: str) -> None:
    _, oi, ohlcv, funding = real_oi_inputs
    h = pd.Timestamp(cut, tz="UTC")
    full = cc.cascade_scores(oi, ohlcv, funding, WINDOW, P)
    cut_inputs = (oi[oi["hour"] <= h], ohlcv[ohlcv["hour"] <= h], funding[funding["hour"] <= h])
    short = cc.cascade_scores(*cut_inputs, WINDOW[: WINDOW.get_loc(h) + 1], P)
    pd.testing.assert_frame_equal(short.iloc[[-1]].reset_index(drop=True), full[full["hour"] == h].reset_index(drop=True))


def test_range_equals_its_hours_one_by_one_bit_for_bit(real_oi_inputs) -> None:
    _, oi, ohlcv, funding = real_oi_inputs
    hours = md.hours_of(GAP[-1] - 5 * HOUR, GAP[-1] + 6 * HOUR)  # "no OI" hours, then ok ones
    whole = cc.cascade_scores(oi, ohlcv, funding, hours, P)
    alone = pd.concat([cc.cascade_scores(oi, ohlcv, funding, hours[i: i + 1], P) for i in range(len(hours))])
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), whole, check_exact=True)


# -- real candles and funding (binance BTC, Sep 2025) with synthetic open interest -------------


def test_real_candles_and_funding_against_a_plain_loop() -> None:
    coin, sym = "BTC", "BTC/USDT:USDT"
    c = pd.read_parquet(SAMPLE / "perp_ohlcv_1h" / "binance_bybit_2025.parquet")
    c = c[(c["venue"] == "binance") & (c["coin"] == coin)]
    bars = pd.DataFrame({"ts": c["timestamp"].astype("datetime64[ns, UTC]"), "open": c["o"].to_numpy(),
                         "high": c["h"].to_numpy(), "low": c["l"].to_numpy(), "close": c["c"].to_numpy(),
                         "volume": c["v"].to_numpy()})
    f = pd.read_parquet(SAMPLE / "funding" / "binance_bybit_hyperliquid_2025.parquet")
    f = f[(f["venue"] == "binance") & (f["coin"] == coin)].sort_values("timestamp")
    ts = f["timestamp"].astype("datetime64[ns, UTC]")
    settle = pd.DataFrame({"ts": ts, "funding_rate": f["funding_rate"].to_numpy(), "interval_hours": infer_interval_hours(ts)})
    oi_ts = pd.date_range("2025-09-01", "2025-10-01", freq="h", tz="UTC", unit="ns", inclusive="left")
    oi = md.open_interest_table([("binance", sym, pd.DataFrame({"ts": oi_ts, "oi_usd": 8e9 + 1e7 * np.sin(np.arange(len(oi_ts)))}))])
    ohlcv = md.ohlcv_table([("binance", sym, bars)], bars["ts"].iloc[0])
    funding = md.funding_table([("binance", sym, settle)])
    hour = pd.Timestamp("2025-09-25 13:00", tz="UTC")
    row = cc.cascade_scores(oi, ohlcv, funding, pd.DatetimeIndex([hour]), P).iloc[0]

    closes = bars.set_index("ts")["close"]
    window = closes[(closes.index >= hour - 168 * HOUR) & (closes.index <= hour)].tolist()
    assert len(window) == 169  # the real candles have no gap here
    returns = [math.log(b / a) for a, b in zip(window[:-1], window[1:], strict=True)]
    rv_7d = math.sqrt(sum(r * r for r in returns) / 168)
    rv_24h = math.sqrt(sum(r * r for r in returns[-24:]) / 24)
    assert row["rv_7d"] == pytest.approx(rv_7d, rel=REL)
    assert row["vol_ratio"] == pytest.approx(rv_24h / rv_7d, rel=REL)
    assert row["compression_signal"] == pytest.approx(min(1.0, max(0.0, (1.0 - rv_24h / rv_7d) / 0.5)), rel=REL, abs=1e-12)
    last = f[f["timestamp"] <= hour + HOUR].iloc[-1]  # binance BTC settles every 8h
    assert row["funding_rate_8h"] == pytest.approx(last["funding_rate"], rel=REL)
    assert row["close"] == closes[hour]
    expected = 0.55 * row["oi_signal"] + 0.20 * min(1.0, abs(last["funding_rate"]) / 0.001) + 0.25 * row["compression_signal"]
    assert row["status"] == "ok"
    assert row["score"] == pytest.approx(expected, rel=REL)


# -- the ladder -------------------------------------------------------------------------------


def test_buy_ladder_by_hand() -> None:
    ladder = cc.build_ladder(100.0, 1_000.0, "down", P)
    got = cc.rungs_frame(ladder)
    assert list(got.columns) == cc.RUNG_COLUMNS
    assert got["rung"].tolist() == [1, 2, 3]
    assert set(got["side"]) == {"buy"}
    assert got["limit"].tolist() == pytest.approx([98.5, 97.0, 95.0], rel=REL)
    assert got["stop"].tolist() == pytest.approx([96.5, 95.0, 93.0], rel=REL)  # 2% of price below each rung
    # risk 2 each, 2:1 needs 4 of reward: 98.5 -> 102.5 and 97 -> 101 (a return to 100 pays only
    # 1.5 and 3); 95 -> 100 pays 5 = 2.5:1, so the rung targets the pre-cascade price itself
    assert got["target"].tolist() == pytest.approx([102.5, 101.0, 100.0], rel=REL)
    assert got["reward_risk"].tolist() == pytest.approx([2.0, 2.0, 2.5], rel=REL)
    assert got["qty"].tolist() == pytest.approx([250 / 98.5, 350 / 97, 400 / 95], rel=REL)
    assert got["notional_usd"].tolist() == pytest.approx([250.0, 350.0, 400.0], rel=REL)
    assert ladder.rejected == ()


def test_sell_ladder_mirrors_the_buy_ladder() -> None:
    got = cc.rungs_frame(cc.build_ladder(100.0, 1_000.0, "up", P))
    assert set(got["side"]) == {"sell"}
    assert got["limit"].tolist() == pytest.approx([101.5, 103.0, 105.0], rel=REL)
    assert got["stop"].tolist() == pytest.approx([103.5, 105.0, 107.0], rel=REL)
    assert got["target"].tolist() == pytest.approx([97.5, 99.0, 100.0], rel=REL)
    assert got["qty"].tolist() == pytest.approx([250 / 101.5, 350 / 103, 400 / 105], rel=REL)


@pytest.mark.parametrize(
    ("overshoot", "kept", "dropped"),
    [
        (0.03, [1, 2, 3], []),
        (0.02, [2, 3], [1]),  # rung 1's 2:1 target 102.5 is 2.5% above the price
        (0.0, [3], [1, 2]),  # strict reversion: only a rung >= 2 x 2% deep pays 2:1 back to 100
    ],
)
def test_two_to_one_rule_drops_rungs_and_never_reallocates(overshoot: float, kept: list[int], dropped: list[int]) -> None:
    ladder = cc.build_ladder(100.0, 1_000.0, "down", cc.CascadeParams(max_target_overshoot=overshoot))
    assert [r.rung for r in ladder.rungs] == kept
    assert [s.split(" at")[0] for s in ladder.rejected] == [f"rung {k}" for k in dropped]
    assert all(r.reward_risk >= 2.0 - 1e-9 for r in ladder.rungs)
    assert {r.rung: r.notional_usd for r in ladder.rungs}.get(3) == pytest.approx(400.0, rel=REL)


def test_sell_target_at_or_below_zero_is_dropped() -> None:
    p = cc.CascadeParams(depths=(1.0,), sizes=(1.0,), depth_unit="atr", stop_offset=1.0, max_target_overshoot=5.0)
    # ATR 30: limit 130, stop 160, risk 30; back to 100 pays 30 < 60 -> 2:1 target 130 - 60 = 70
    assert [r.target for r in cc.build_ladder(100.0, 1e3, "up", p, atr=30.0).rungs] == pytest.approx([70.0], rel=REL)
    # ATR 120: limit 220, stop 340, risk 120 -> 2:1 target 220 - 240 = -20: no such price
    ladder = cc.build_ladder(100.0, 1e3, "up", p, atr=120.0)
    assert ladder.rungs == ()
    assert ladder.rejected == ("rung 1 at 220: a 2:1 target would be -20 (<= 0)",)


def test_atr_ladder_by_hand() -> None:
    p = cc.CascadeParams(depths=(1.0, 2.0), sizes=(0.5, 0.5), depth_unit="atr", stop_offset=1.0)
    got = cc.rungs_frame(cc.build_ladder(100.0, 1_000.0, "down", p, atr=2.0))
    # ATR 2: limits 98, 96; stops 96, 94; risk 2 -> 2:1 needs 4: 98 -> 102, 96 -> 100 (exactly 2:1)
    assert got["limit"].tolist() == pytest.approx([98.0, 96.0], rel=REL)
    assert got["stop"].tolist() == pytest.approx([96.0, 94.0], rel=REL)
    assert got["target"].tolist() == pytest.approx([102.0, 100.0], rel=REL)
    assert got["qty"].tolist() == pytest.approx([500 / 98, 500 / 96], rel=REL)


@pytest.mark.parametrize(("direction", "depths"), [("down", (0.015, -0.01)), ("down", (0.0,)), ("up", (-0.02,))])
def test_rung_on_the_wrong_side_of_the_price_is_an_error(direction: str, depths: tuple[float, ...]) -> None:
    p = cc.CascadeParams(depths=depths, sizes=tuple(0.5 for _ in depths))
    side = "buy" if direction == "down" else "sell"
    with pytest.raises(ValueError, match=f"{side} rung .* is not (below|above) the price 100"):
        cc.build_ladder(100.0, 1_000.0, direction, p)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"price": 100.0, "budget_usd": 1e3, "direction": None}, "direction must be"),
        ({"price": float("nan"), "budget_usd": 1e3, "direction": "down"}, "price must be"),
        ({"price": 100.0, "budget_usd": -1.0, "direction": "down"}, "budget_usd must be"),
    ],
)
def test_ladder_rejects_bad_inputs(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cc.build_ladder(params=P, **kwargs)


def test_atr_ladder_needs_an_atr() -> None:
    with pytest.raises(ValueError, match="positive atr"):
        cc.build_ladder(100.0, 1e3, "down", cc.CascadeParams(depth_unit="atr"))


def test_zero_budget_places_zero_quantities() -> None:
    ladder = cc.build_ladder(100.0, 0.0, "down", P)
    assert [r.qty for r in ladder.rungs] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight_oi": 0.6}, "sum to 1"),
        ({"hold": 0.6}, "below trigger"),
        ({"oi_min_history_h": 200}, "oi_min_history_h"),
        ({"sizes": (0.5, 0.5, 0.5)}, "sum to at most 1"),
        ({"sizes": (0.5, 0.5)}, "3 depths but 2 sizes"),
        ({"depth_unit": "bps"}, "depth_unit"),
        ({"stop_offset": 0.0}, "stop_offset"),
    ],
)
def test_params_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cc.CascadeParams(**kwargs)
