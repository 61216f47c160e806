"""The whole registry: no strategy sees the future, every one declares sound parameters and runs
clean on the bundled data, and run_strategy rejects a broken strategy or decision by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import Param, Strategy, StrategyInput, decisions, register, registry, run_strategy
from quant.strategies.base import validate_decisions
from tests.quant.strategies.test_studies import T0, make_bars

NAMES = sorted(registry())
#: Hours of the 2026 window the truncation test runs on (enough for a week-long z-score to warm up).
SLICE_H = 360
#: Fixed hours (offsets into the slice) checked for every strategy, plus up to three with decisions.
FIXED_OFFSETS_H = (200, 280, SLICE_H - 1)


@pytest.fixture(scope="session")
def window_slice(bundled_windows) -> StrategyInput:
    """The first :data:`SLICE_H` hours of the bundled 2026 window (the one with open interest)."""
    data = bundled_windows[1]
    return data.until(data.bars["hour"].min() + pd.Timedelta(hours=SLICE_H - 1))


@pytest.fixture(scope="session")
def bundled_runs(bundled_windows) -> dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]]:
    """(accepted, rejected) of every registered strategy on each bundled window, computed once."""
    return {name: [run_strategy(registry()[name], data) for data in bundled_windows] for name in NAMES}


def _at(frame: pd.DataFrame, hour: pd.Timestamp) -> pd.DataFrame:
    rows = frame[frame["hour"] == hour]
    # an empty decisions() frame's hour is datetime64[s], a filled one's the input's unit: compare the instants
    rows = rows.assign(hour=rows["hour"].astype("datetime64[ns, UTC]"))
    return rows.sort_values(["venue", "symbol", "side", "entry"]).reset_index(drop=True)


def test_the_registry_holds_the_studies_and_flow_strategies():
    assert {"ema_cross", "adx_trend", "breakout", "rsi_reversion", "funding_harvest",
            "wick_flow", "valentini_flow", "oi_flow", "footprint_divergence"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_decision_at_hour_h_is_the_same_computed_on_data_until_h(name, window_slice):
    strategy = registry()[name]
    full, rejected = run_strategy(strategy, window_slice)
    assert rejected.empty, rejected.head().to_dict("records")
    start = window_slice.bars["hour"].min()
    hours = {start + pd.Timedelta(hours=k) for k in FIXED_OFFSETS_H}
    traded = full["hour"].drop_duplicates().sort_values().tolist()
    hours |= {traded[i] for i in {0, len(traded) // 2, len(traded) - 1}} if traded else set()
    for hour in sorted(hours):
        cut, cut_rejected = run_strategy(strategy, window_slice.until(hour))
        assert cut_rejected.empty, f"{name} at {hour}: {cut_rejected.head().to_dict('records')}"
        assert not (cut["hour"] > hour).any(), f"{name} emitted a decision after the data it was given"
        pd.testing.assert_frame_equal(_at(cut, hour), _at(full, hour), check_exact=True, obj=f"{name} at {hour}")


@pytest.mark.parametrize("name", NAMES)
def test_each_strategy_declares_sound_parameters(name):
    strategy = registry()[name]
    assert strategy.name == name
    assert callable(strategy.signals)
    assert isinstance(strategy.lookback_h, int)
    assert strategy.lookback_h >= 0
    names = [p.name for p in strategy.params]
    assert len(names) == len(set(names)), f"{name} declares a parameter twice"
    for p in strategy.params:
        assert p.kind in (int, float, bool)
        if p.kind is not bool:
            assert p.low <= p.default <= p.high, f"{name}.{p.name}"
            assert p.coerce(p.low) == p.low
            assert p.coerce(p.high) == p.high
        assert p.coerce(p.default) == p.default
    assert strategy.resolve() == {p.name: p.default for p in strategy.params}


def test_strategy_names_are_unique_even_ignoring_case():
    assert len({n.lower() for n in NAMES}) == len(NAMES)


def test_a_second_strategy_under_a_registered_name_is_refused():
    taken = registry()[NAMES[0]]
    with pytest.raises(ValueError, match="already registered"):
        register(Strategy(taken.name, lambda data, params: decisions()))
    assert registry()[NAMES[0]] is taken


@pytest.mark.parametrize("name", NAMES)
def test_each_strategy_runs_clean_on_the_bundled_data(name, bundled_runs):
    counts = []
    for accepted, rejected in bundled_runs[name]:
        assert rejected.empty, rejected.head().to_dict("records")
        assert validate_decisions(name, accepted)[1].empty
        assert (accepted["strategy"] == name).all()
        counts.append(len(accepted))
    print(f"{name}: {counts} decisions per bundled window")


# -- run_strategy rejects what is broken, naming the strategy -------------------------------------


def _bars() -> StrategyInput:
    return StrategyInput(make_bars([100.0] * 5))


def _rows(*prices: tuple[str, float, float, float]) -> pd.DataFrame:
    return decisions([{"hour": T0 + pd.Timedelta(hours=i), "venue": "binance", "symbol": "TEST/USDT:USDT", "strategy": "",
                       "side": side, "entry": e, "stop": s, "target": t, "confidence": 0.5, "reason": "test"}
                      for i, (side, e, s, t) in enumerate(prices)])


def test_a_strategy_that_raises_is_rejected_as_a_whole():
    def boom(data, params):
        raise ZeroDivisionError("no range")

    accepted, rejected = run_strategy(Strategy("boom", boom), _bars())
    assert accepted.empty
    assert rejected[["strategy", "reason"]].to_dict("records") == [{"strategy": "boom", "reason": "raised ZeroDivisionError: no range"}]


def test_a_strategy_that_returns_no_frame_is_rejected():
    _, rejected = run_strategy(Strategy("listy", lambda data, params: []), _bars())
    assert rejected["reason"].tolist() == ["returned list, not a decision frame"]


@pytest.mark.parametrize(("row", "reason"), [
    (("long", np.nan, 95.0, 110.0), "entry, stop and target must be finite"),
    (("long", 100.0, 95.0, np.nan), "entry, stop and target must be finite"),
    (("long", 100.0, 101.0, 110.0), "stop is not beyond the entry on the losing side"),
    (("short", 100.0, 99.0, 90.0), "stop is not beyond the entry on the losing side"),
    (("long", 100.0, 95.0, 109.0), "target is under 2:1 reward to risk"),
    (("short", 100.0, 105.0, 91.0), "target is under 2:1 reward to risk"),
    (("buy", 100.0, 95.0, 110.0), "side must be long or short"),
])
def test_a_bad_decision_is_rejected_with_the_strategy_name_and_the_reason(row, reason):
    good = ("long", 100.0, 95.0, 110.0)
    accepted, rejected = run_strategy(Strategy("sloppy", lambda data, params: _rows(good, row)), _bars())
    assert accepted["entry"].tolist() == [100.0]  # the sound decision still passes
    assert accepted["strategy"].tolist() == ["sloppy"]
    assert rejected[["hour", "strategy", "reason"]].to_dict("records") == [
        {"hour": T0 + pd.Timedelta(hours=1), "strategy": "sloppy", "reason": reason}]


def test_bad_parameters_raise_before_the_strategy_runs():
    strategy = Strategy("knobs", lambda data, params: decisions(), (Param("n", int, 5, 1, 10),))
    with pytest.raises(ValueError, match="outside its range"):
        run_strategy(strategy, _bars(), {"n": 11})
    with pytest.raises(ValueError, match="no parameter m"):
        run_strategy(strategy, _bars(), {"m": 1})
