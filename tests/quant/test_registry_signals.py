"""The registry as one table: anchored histories make an hour alone equal the same hour in a range,
rows are run_strategy's own, a raising strategy is a rejected row that stops no other, and the
720-hour cap decides the bundled windows' last week as the whole window does (known exceptions named)."""

from __future__ import annotations

import pandas as pd
import pytest

from quant.market_data import tables as md
from quant.registry_signals import (
    BLOCK_H,
    COLUMNS,
    LOOKBACK_CAP_H,
    STATUS_ACCEPTED,
    STATUS_REJECTED,
    anchor,
    history_h,
    raised,
    registry_signals,
)
from quant.strategies import Strategy, StrategyInput, decisions, registry, run_strategy
from resources.exchange.replay import SAMPLE_WINDOWS
from tests.quant.strategies.conftest import bundled_window

HOUR = pd.Timedelta(hours=1)
#: Four hours across a Monday 00:00 of the 2026 window: two anchors for every strategy.
HOURS = md.hours_of(pd.Timestamp("2026-02-08 22:00", tz="UTC"), pd.Timestamp("2026-02-09 02:00", tz="UTC"))
#: Declared look-back beyond the cap, and decisions that change with it on the bundled data.
CAPPED_AND_CHANGED = {"monday_range"}


@pytest.fixture(scope="module")
def window_2026() -> StrategyInput:
    a, b = SAMPLE_WINDOWS[1]
    return bundled_window(pd.Timestamp(a), pd.Timestamp(b))


def _boom(data: StrategyInput, params) -> pd.DataFrame:
    raise RuntimeError("division by a missing bar")


BROKEN = Strategy("zz_broken", _boom, lookback_h=24, family="test")


def test_anchor_is_the_monday_of_the_week_holding_the_history_start():
    hours = pd.DatetimeIndex(["2026-02-09 00:00", "2026-02-15 23:00", "2026-02-16 00:00"], tz="UTC")
    assert list(anchor(hours, 0)) == [pd.Timestamp("2026-02-09", tz="UTC")] * 2 + [pd.Timestamp("2026-02-16", tz="UTC")]
    assert all(anchor(hours, 720) <= hours - 720 * HOUR)
    assert all(hours - anchor(hours, 720) < (720 + BLOCK_H) * HOUR)
    assert history_h(registry()["monday_range"]) == LOOKBACK_CAP_H
    assert history_h(registry()["wick_flow"]) == registry()["wick_flow"].lookback_h


def test_a_range_equals_its_hours_one_by_one_bit_for_bit(window_2026):
    ranged = registry_signals(window_2026.until(HOURS[-1]), HOURS)
    alone = pd.concat([registry_signals(window_2026.until(h), pd.DatetimeIndex([h])) for h in HOURS], ignore_index=True)
    pd.testing.assert_frame_equal(ranged, alone, check_exact=True)
    assert list(ranged.columns) == COLUMNS
    assert (ranged["status"] == STATUS_ACCEPTED).sum() > 10
    assert set(ranged["hour"]) <= set(HOURS)


def test_rows_are_the_registrys_decisions(window_2026):
    hour = HOURS[-1]
    table = registry_signals(window_2026.until(hour), pd.DatetimeIndex([hour]))
    cols = ["venue", "symbol", "side", "entry", "stop", "target", "confidence", "reason"]
    for name, strategy in registry().items():
        first = anchor(pd.DatetimeIndex([hour]), history_h(strategy))[0]
        data = window_2026.until(hour)
        data = StrategyInput(*(df[df["hour"] >= first].reset_index(drop=True) for df in
                               (data.bars, data.features, data.funding, data.open_interest)))
        accepted, _ = run_strategy(strategy, data)
        want = accepted[accepted["hour"] == hour][cols].sort_values(cols).reset_index(drop=True)
        got = table[(table["strategy"] == name) & (table["status"] == STATUS_ACCEPTED)][cols]
        pd.testing.assert_frame_equal(got.sort_values(cols).reset_index(drop=True), want, check_exact=True, check_dtype=False,
                                      obj=name)


def test_a_raising_strategy_is_a_rejected_row_each_hour_and_the_others_go_on(window_2026):
    chosen = {"wick_flow": registry()["wick_flow"], BROKEN.name: BROKEN}
    table = registry_signals(window_2026.until(HOURS[-1]), HOURS, strategies=chosen)
    broken = table[table["strategy"] == BROKEN.name]
    assert list(broken["hour"]) == list(HOURS)
    assert set(broken["status"]) == {STATUS_REJECTED}
    assert broken["rejection"].str.startswith("raised RuntimeError: division by a missing bar").all()
    assert raised(table).sum() == len(HOURS)
    alone = registry_signals(window_2026.until(HOURS[-1]), HOURS, strategies={"wick_flow": chosen["wick_flow"]})
    pd.testing.assert_frame_equal(table[table["strategy"] == "wick_flow"].reset_index(drop=True), alone, check_exact=True)


def test_a_refused_decision_is_a_rejected_row_naming_the_reason(window_2026):
    def wrong_side(data: StrategyInput, params) -> pd.DataFrame:
        last = data.bars[data.bars["hour"] == data.bars["hour"].max()].iloc[:1]
        return decisions([{"hour": last["hour"].iloc[0], "venue": last["venue"].iloc[0], "symbol": last["symbol"].iloc[0],
                           "strategy": "x", "side": "long", "entry": 100.0, "stop": 101.0, "target": 110.0,
                           "confidence": 0.5, "reason": "test"}])

    table = registry_signals(window_2026.until(HOURS[0]), HOURS[:1], strategies={"x": Strategy("x", wrong_side)})
    (row,) = table.to_dict("records")
    assert row["status"] == STATUS_REJECTED
    assert row["rejection"] == "stop is not beyond the entry on the losing side"
    assert not raised(table).any()


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="capped: see quant.registry_signals"))
    if n in CAPPED_AND_CHANGED else n for n in sorted(registry())
])
def test_the_capped_history_decides_the_last_week_as_the_whole_window(name):
    strategy = registry()[name]
    for a, b in SAMPLE_WINDOWS:
        data = bundled_window(pd.Timestamp(a), pd.Timestamp(b))
        week = md.hours_of(pd.Timestamp(b) - BLOCK_H * HOUR, pd.Timestamp(b))
        whole, _ = run_strategy(strategy, data)
        table = registry_signals(data, week, strategies={name: strategy})
        # the same decisions (keys, sides, entries exact); stops and targets to 1e-3: each strategy runs on its
        # own look-back, over which a Wilder/EMA seed decays to ~1e-4 by the registry's design, not to the bit
        cols, keys = ["hour", "venue", "symbol", "side", "entry", "stop", "target", "confidence"], ["hour", "venue", "symbol", "side", "entry"]
        want = whole[whole["hour"] >= week[0]][cols].sort_values(keys).reset_index(drop=True)
        got = table[table["status"] == STATUS_ACCEPTED][cols].sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-3, check_dtype=False, obj=f"{name} in the week before {b}")
