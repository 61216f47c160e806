"""Price-action strategies on constructed bars with hand-checked levels, and a run on the bundled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import price_action as pa
from quant.strategies.base import StrategyInput, get, run_strategy, validate_decisions

MONDAY = pd.Timestamp("2025-03-03 00:00", tz="UTC")
T0 = pd.Timestamp("2025-03-04 00:00", tz="UTC")


def bars(ohlc: list[tuple[float, float, float, float]], start: pd.Timestamp = T0) -> pd.DataFrame:
    """1h bars from (open, high, low, close) rows, hourly from ``start``."""
    o, h, lo, c = (np.array(x, dtype="float64") for x in zip(*ohlc, strict=True))
    return pd.DataFrame({"hour": start + pd.to_timedelta(np.arange(len(o)), unit="h"), "venue": "binance",
                         "symbol": "BTC/USDT:USDT", "open": o, "high": h, "low": lo, "close": c, "volume": 1.0})


def run(name: str, df: pd.DataFrame, **overrides: object) -> pd.DataFrame:
    accepted, rejected = run_strategy(get(name), StrategyInput(df), overrides)
    assert rejected.empty, rejected
    return accepted


# ------------------------------------------------------------------------------------------ Monday range
def monday_week(tuesday: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """A Monday of flat bars (high 101, low 99) with one wick to 110 and one to 90, then ``tuesday``'s bars."""
    monday = [(100.0, 101.0, 99.0, 100.0)] * 24
    monday[5] = (100.0, 110.0, 99.0, 100.0)
    monday[17] = (100.0, 101.0, 90.0, 100.0)
    return bars(monday + tuesday, MONDAY)


def test_monday_range_sweeps_emit_at_the_close_with_wick_stop_and_midpoint_target() -> None:
    out = run("monday_range", monday_week([
        (104.0, 111.0, 103.0, 104.0),  # short sweep, but midpoint 100 is 4 away for 7 of risk: 0.57R, not emitted
        (108.0, 111.0, 107.0, 108.0),  # short: entry 108, stop 111, target 100 (8 / 3 = 2.67R)
        (95.0, 96.0, 89.0, 92.0),      # long: entry 92, stop 89, target 100 (8 / 3 = 2.67R)
        (100.0, 112.0, 99.0, 111.0),   # wick above but the close stays outside: no sweep
        (100.0, 111.0, 89.0, 100.0),   # both sides swept: ambiguous, no decision
    ]))
    assert out["hour"].tolist() == [T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2)]
    assert out["side"].tolist() == ["short", "long"]
    assert out["entry"].tolist() == [108.0, 92.0]
    assert out["stop"].tolist() == [111.0, 89.0]
    assert out["target"].tolist() == [100.0, 100.0]
    assert out["confidence"].tolist() == pytest.approx([0.4, 0.4])  # no higher timeframe has a bias yet
    assert "Monday range 90-110" in out["reason"].iloc[0]
    assert "2.67R" in out["reason"].iloc[0]


def test_monday_range_not_marked_during_monday() -> None:
    week = monday_week([])
    # A sweep-like bar on Monday itself (the range is not known until Monday's last bar closes).
    week.loc[23, ["open", "high", "low", "close"]] = [108.0, 111.0, 107.0, 108.0]
    assert run("monday_range", week).empty


def test_monday_range_needs_a_whole_monday() -> None:
    df = monday_week([(108.0, 111.0, 107.0, 108.0)]).iloc[1:]  # Monday 00:00 missing
    assert run("monday_range", df).empty


@pytest.mark.parametrize(("daily_bias", "expected"), [
    (-1, [("short", 0.6)]),  # bearish daily: the long is gated out, the short agrees with one timeframe
    (1, [("long", 0.6)]),    # bullish daily: the short is gated out
])
def test_monday_range_gated_by_swing_bias(monkeypatch: pytest.MonkeyPatch, daily_bias: int, expected: list) -> None:
    real = pa.htf_bias

    def fake(b: pd.DataFrame, tf: str, lookback: int) -> pd.DataFrame:
        if tf != "1D":
            return real(b, tf, lookback)
        assert lookback == 5
        return pd.DataFrame({"venue": ["binance"], "symbol": ["BTC/USDT:USDT"],
                             "visible_from": [MONDAY + pd.Timedelta(hours=23)], "bias": [daily_bias]})

    monkeypatch.setattr(pa, "htf_bias", fake)
    out = run("monday_range", monday_week([(108.0, 111.0, 107.0, 108.0), (95.0, 96.0, 89.0, 92.0)]))
    assert out["side"].tolist() == [side for side, _ in expected]
    assert out["confidence"].tolist() == pytest.approx([c for _, c in expected])


# ------------------------------------------------------------------------------- order block and breaker
SMALL = (100.0, 101.5, 99.5, 101.0)  # body 1
BLOCK_BARS = [SMALL] * 10 + [
    (101.0, 101.2, 99.8, 100.0),   # 10: the last bearish candle, zone = body [100, 101]
    (100.0, 104.2, 99.9, 104.0),   # 11: displacement, body 4 = 4 × the mean body (1) of bars 1-10
    (104.0, 105.5, 103.5, 105.0),  # 12: no touch
]


def test_order_block_zone() -> None:
    df = bars([*BLOCK_BARS, (105.0, 105.2, 100.5, 102.0)])
    o, c = df["open"].to_numpy(), df["close"].to_numpy()
    obs = pa.order_blocks(o, c, 2.0, 10, 3)
    first = obs.iloc[0]
    assert (first["disp"], first["ob"], first["polarity"], first["bottom"], first["top"]) == (11, 10, 1, 100.0, 101.0)
    assert first["strength"] == pytest.approx(4.0)
    # Bar 13's body 3 is ≥ 2 × 1.3 (mean of bars 3-12): a bearish displacement whose block is bar 12.
    assert obs.iloc[1][["disp", "ob", "polarity", "bottom", "top"]].tolist() == [13, 12, -1, 104.0, 105.0]


def test_order_block_retest_entry_stop_target() -> None:
    out = run("order_block", bars([*BLOCK_BARS, (105.0, 105.2, 100.5, 102.0)]))  # low 100.5 into the zone, close 102
    assert len(out) == 1
    row = out.iloc[0]
    assert row["hour"] == T0 + pd.Timedelta(hours=13)
    assert (row["side"], row["entry"], row["stop"], row["target"]) == ("long", 102.0, 100.0, 107.0)  # 102 + 2.5 × 2
    assert row["confidence"] == 0.5
    assert "zone 100-101" in row["reason"]


def test_order_block_closed_through_is_not_traded_but_becomes_a_breaker() -> None:
    df = bars([*BLOCK_BARS,
               (105.0, 105.2, 99.0, 99.5),   # 13: closes below the zone's bottom 100: the block is broken
               (99.5, 100.5, 99.4, 99.6)])   # 14: back up into the flipped zone, rejected below its top
    assert run("order_block", df).empty
    out = run("breaker", df)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["hour"] == T0 + pd.Timedelta(hours=14)
    assert (row["side"], row["entry"], row["stop"]) == ("short", 99.6, 101.0)
    assert row["target"] == pytest.approx(99.6 - 2.5 * 1.4)


def test_no_breaker_without_a_break() -> None:
    assert run("breaker", bars([*BLOCK_BARS, (105.0, 105.2, 100.5, 102.0)])).empty


# --------------------------------------------------------------------------------------------------- SFP
SFP_BARS = [
    (100.0, 101.0, 99.0, 100.0),
    (100.0, 102.0, 99.0, 101.0),
    (101.0, 105.0, 100.0, 103.0),  # 2: swing high 105 (lookback 2), confirmed at bar 4
    (103.0, 103.0, 100.0, 101.0),
    (101.0, 102.0, 99.0, 100.0),
    (100.0, 104.0, 99.0, 102.0),
    (102.0, 106.0, 101.0, 104.0),  # 6: wick 106 above 105, close 104 back below: the SFP candle
]


def test_sfp_confirmed_by_next_close() -> None:
    out = run("sfp", bars([*SFP_BARS, (104.0, 104.5, 102.0, 103.0)]), swing_lookback=2)  # 7: closes below 104
    assert len(out) == 1
    row = out.iloc[0]
    assert row["hour"] == T0 + pd.Timedelta(hours=7)  # the confirming candle, not the SFP candle
    assert (row["side"], row["entry"], row["stop"], row["target"], row["confidence"]) == ("short", 103.0, 106.0, 95.5, 0.5)
    assert "beyond swing 105" in row["reason"]


def test_sfp_unconfirmed_is_not_traded() -> None:
    assert run("sfp", bars([*SFP_BARS, (104.0, 105.0, 103.5, 104.5)]), swing_lookback=2).empty
    assert run("sfp", bars(SFP_BARS), swing_lookback=2).empty  # no next candle yet


@pytest.mark.parametrize(("base", "expected"), [(0.5, 0.75), (0.8, 1.0)])
def test_confluence_multiplies_and_caps(base: float, expected: float) -> None:
    assert pa.confluence(base, True) == pytest.approx(expected)
    assert pa.confluence(base, False) == base


@pytest.mark.parametrize(("base", "born", "expected"), [(0.5, 3, 0.75), (0.8, 3, 1.0), (0.5, 7, 0.5)])
def test_sfp_inside_a_live_zone_has_confluence(monkeypatch: pytest.MonkeyPatch, base: float, born: int, expected: float) -> None:
    zone = pd.DataFrame({"polarity": [-1], "bottom": [105.5], "top": [107.0], "born": [born], "until": [20],
                         "retest": [-1], "through": [-1]})
    monkeypatch.setattr(pa, "zones", lambda g, p: (zone, zone.iloc[:0]))
    out = run("sfp", bars([*SFP_BARS, (104.0, 104.5, 102.0, 103.0)]), swing_lookback=2, confidence=base)
    assert out["confidence"].tolist() == pytest.approx([expected])  # a zone born after the SFP candle (7) does not count


# ------------------------------------------------------------------------------------------- bundled data
@pytest.mark.parametrize("name", ["monday_range", "order_block", "breaker", "sfp"])
def test_bundled_windows(bundled_windows: list[StrategyInput], name: str) -> None:
    strategy = get(name)
    counts = []
    for w in bundled_windows:
        accepted, rejected = run_strategy(strategy, w)
        assert rejected.empty, rejected
        assert validate_decisions(name, accepted)[1].empty
        counts.append(len(accepted))
        h = accepted["hour"].iloc[len(accepted) // 2]  # a decision hour: the same with later rows removed
        cut, _ = run_strategy(strategy, w.until(h))
        pd.testing.assert_frame_equal(cut[cut["hour"] == h].reset_index(drop=True),
                                      accepted[accepted["hour"] == h].reset_index(drop=True))
    print(name, counts)
    assert all(n > 0 for n in counts)
