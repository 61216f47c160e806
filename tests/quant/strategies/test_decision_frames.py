"""The decision frame's types however it is built, and asking run_strategy for a few hours changes nothing at them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.strategies import decisions, registry, run_strategy
from quant.strategies.base import DECISION_COLUMNS, DECISION_DTYPES, wanted_hours

H = pd.Timedelta(hours=1)
HOURS = pd.date_range("2026-01-01", periods=3, freq="h", tz="UTC")
ROWS = {"hour": HOURS, "venue": ["binance"] * 3, "symbol": ["BTC/USDT:USDT"] * 3, "strategy": "", "side": ["long"] * 3,
        "entry": [100.0, 101.0, 102.0], "stop": [99.0, 100.0, 101.0], "target": [102.0, 103.0, 104.0],
        "confidence": [0.5, 0.6, 0.7], "reason": ["a", "b", "c"]}


def _pandas_way(rows) -> pd.DataFrame:
    """The reference: pandas builds the frame with the columns, then casts it (what decisions() did before)."""
    df = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    df["hour"] = pd.to_datetime(df["hour"], utc=True).astype("datetime64[ns, UTC]")
    return df.astype(DECISION_DTYPES)[DECISION_COLUMNS].reset_index(drop=True)


@pytest.mark.parametrize("case", ["dict", "frame", "shuffled index", "no reason", "no hour", "empty", "records"])
def test_decisions_has_one_set_of_types_however_built(case):
    frame = pd.DataFrame(ROWS)
    rows = {"dict": ROWS, "frame": frame, "shuffled index": frame.iloc[[2, 0]].set_axis([7, 3]),
            "no reason": frame.drop(columns="reason"), "no hour": frame.drop(columns="hour"), "empty": frame.iloc[:0],
            "records": frame.to_dict("records")}[case]
    got = decisions(rows)
    pd.testing.assert_frame_equal(got, _pandas_way(rows), check_exact=True)
    assert str(got["hour"].dtype) == "datetime64[ns, UTC]"
    assert all(got[c].dtype == np.dtype(t) for c, t in DECISION_DTYPES.items())  # object stays object, never str


def test_the_wanted_hours_hint_is_set_only_while_a_strategy_runs():
    seen = []

    def spy(data, params):
        seen.append(wanted_hours())
        return decisions()

    from quant.strategies import Strategy, StrategyInput

    data = StrategyInput(pd.DataFrame({"hour": HOURS, "venue": "v", "symbol": "s", "open": 1.0, "high": 1.0,
                                       "low": 1.0, "close": 1.0, "volume": 1.0}))
    run_strategy(Strategy("spy", spy), data, hours=HOURS[1:2])
    run_strategy(Strategy("spy", spy), data)
    assert list(seen[0]) == [HOURS[1].value]
    assert seen[1] is None
    assert wanted_hours() is None


def test_asking_for_some_hours_returns_exactly_those_hours_of_the_whole_run(bundled_windows):
    data = bundled_windows[1]
    first = data.bars["hour"].min()
    data = data.until(first + 400 * H)
    for name, strategy in registry().items():
        whole, whole_rej = run_strategy(strategy, data)
        traded = sorted(whole["hour"].unique())
        asked = pd.DatetimeIndex(sorted({first + 399 * H, *traded[-3:], *traded[:1]})).as_unit("ns")
        some, some_rej = run_strategy(strategy, data, hours=asked)
        expected = whole[whole["hour"].isin(asked)].reset_index(drop=True)
        pd.testing.assert_frame_equal(some, expected, check_exact=True, obj=name)
        assert some_rej.empty == whole_rej[whole_rej["hour"].isin(asked)].empty, name


def test_decision_columns_of_unequal_lengths_are_refused():
    with pytest.raises(ValueError, match="unequal lengths"):
        decisions({**ROWS, "entry": [100.0, 101.0]})


def test_no_strategy_modifies_the_inputs_the_registry_shares(bundled_windows):
    """The registry hands one cut of the inputs to every strategy of an anchor: none may change it."""
    import copy

    data = bundled_windows[1]
    data = data.until(data.bars["hour"].min() + 300 * H)
    for name, strategy in registry().items():
        before = copy.deepcopy(data)
        run_strategy(strategy, data)
        for field in ("bars", "features", "funding", "open_interest", "chain"):
            was, now = getattr(before, field), getattr(data, field)
            if was is None:
                assert now is None, (name, field)
            else:
                pd.testing.assert_frame_equal(now, was, check_exact=True, obj=f"{name} {field}")
