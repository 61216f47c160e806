"""What the range engine does once per range equals what an hour did on its own: execution bars, predictions, strings, ids."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.book.hour_fills import execution_bars, fill_hour
from quant.book.legs import string_values
from quant.book.orders import check_order, client_order_id, client_order_id_at, hour_stamp
from quant.book.params import BookParams
from quant.book.range_inputs import RangeInputs
from quant.ml.predictions import PREDICTION_COLUMNS
from tests.quant.book.test_step import BTC, ETH, NO_CASCADE, NO_TAIL, T0, H, bars

NO_CARRY = pd.DataFrame(columns=["hour", "venue", "symbol", "entry", "exit", "funding_apr"])
NO_FUNDING = pd.DataFrame(columns=["hour", "venue", "symbol", "funding_rate"])
NO_ML = pd.DataFrame(columns=PREDICTION_COLUMNS)


def inputs(b: pd.DataFrame, ml: pd.DataFrame = NO_ML, params: BookParams | None = None) -> RangeInputs:
    return RangeInputs(b, NO_FUNDING, NO_CARRY, NO_CASCADE, NO_TAIL, ml, params or BookParams())


@pytest.mark.parametrize("dtype", ["str", "string"])
def test_string_values_equal_tolist_missing_values_included(dtype):
    s = pd.Series(["binance", "bybit", None, "binance", "", "é"], dtype=dtype)
    got, want = string_values(s), s.tolist()
    assert [type(x) for x in got] == [type(x) for x in want]
    assert got[:2] + got[3:] == want[:2] + want[3:]
    assert str(got[2]) == str(want[2])  # nan / <NA> / None, as the column's own tolist


MIXED = bars([(0, BTC, 100.0, 101.0, 99.0, 100.5), (0, ETH, 0.0, 10.0, 9.0, 9.5),  # open 0: no market, left out
              (1, ETH, 10.0, 11.0, 9.0, 10.5), (1, BTC, 100.0, math.inf, 99.0, 100.0),  # inf: breaks the fill rule
              (2, BTC, 100.0, 100.0, 100.0, 100.0, -1.0), (3, ETH, math.nan, 10.0, 9.0, 9.5)])


@pytest.mark.parametrize("i", range(4))
def test_the_ranges_execution_bars_equal_an_hours_own_in_keys_order_and_values(i):
    p = BookParams(spot_basis=0.001)
    hour = inputs(MIXED, params=p).at(T0 + i * H)
    own = execution_bars(T0 + i * H, hour.bars, [], p)
    ranged = execution_bars(T0 + i * H, hour.bars, [], p, hour.exec_base, hour.under)
    assert list(ranged.items()) == list(own.items())
    assert [type(x) for bar in ranged.values() for x in bar] == [type(x) for bar in own.values() for x in bar]
    # hour 0: both perps and spots of BTC only, all good; hour 1: the inf bar must still be checked
    assert ranged.checked == {0: 2, 1: 0, 2: 0, 3: 0}[i]


def test_a_bad_bar_is_named_the_same_with_or_without_the_ranges_bars():
    p = BookParams()
    hour = inputs(MIXED, params=p).at(T0 + H)
    intent = {"approved": True, "order_type": "market", "exec_hour": T0 + H, "venue": "binance", "symbol": ETH, "layer": "L1"}
    errors = []
    for base in (None, hour.exec_base):
        with pytest.raises(ValueError, match="bad bar for binance BTC/USDT:USDT") as e:
            fill_hour(T0 + H, [intent], execution_bars(T0 + H, hour.bars, [], p, base, hour.under), {}, p)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert "high=inf" in errors[0]


def _predictions(rows):
    return pd.DataFrame([{"hour": T0 + i * H, "venue": "binance", "symbol": s, "probability": pr, "expected_return": er,
                          "sigma_1h": 0.01, "corr_btc_7d": 0.5, "horizon_h": 4, "status": st} for i, s, pr, er, st in rows])


def test_an_hours_predictions_give_the_tradable_rows_and_those_held_in_input_order():
    ml = _predictions([(0, ETH, 0.7, 0.02, "ok"), (0, BTC, 0.9, 0.03, "no model: warming up"), (0, "SOL/USDT:USDT", 0.8, 0.01, "ok")])
    hour = inputs(bars([(0, BTC, 1, 1, 1, 1)]), ml).at(T0)
    assert len(hour.predictions) == 3
    recs, why = hour.predictions.records(set())
    assert [r["symbol"] for r in recs] == [ETH, "SOL/USDT:USDT"]
    assert why == ["", ""]
    recs, why = hour.predictions.records({("binance", BTC)})
    assert [r["symbol"] for r in recs] == [ETH, BTC, "SOL/USDT:USDT"]
    assert why[1] == "status: no model: warming up"
    assert hour.ml_strength == 0.8  # the best probability that may trade (not BTC's 0.9)


def test_two_predictions_of_one_key_name_the_first_hour_that_repeats_one():
    ml = _predictions([(1, BTC, 0.7, 0.02, "ok"), (0, ETH, 0.7, 0.02, "ok"), (1, BTC, 0.6, 0.02, "ok"), (0, ETH, 0.6, 0.02, "ok")])
    with pytest.raises(ValueError, match=r"two predictions for binance ETH/USDT:USDT at 2025-06-10 00:00:00\+00:00"):
        inputs(bars([(0, BTC, 1, 1, 1, 1)]), ml)


def test_client_order_ids_from_the_hours_stamp_equal_the_ids_of_the_hour():
    h = T0 + 5 * H
    assert hour_stamp(h) == "2025-06-10T05:00:00+00:00"
    assert client_order_id_at(hour_stamp(h), "L2", BTC, "rung1", "bybit") == client_order_id(h, "L2", BTC, "rung1", "bybit")
    assert client_order_id_at(hour_stamp(h), "L2", BTC, "rung1", "bybit") != client_order_id(h, "L2", BTC, "rung1", "binance")


@pytest.mark.parametrize(("args", "message"), [
    (("buy", 1.0, "market", None, "L9"), "layer must be one of"),
    (("buy", np.nan, "market", None, "L1"), "order quantity must be a positive number, got nan"),
    (("buy", 1.0, "market", 5.0, "L1"), "a market order has no limit price"),
    (("buy", 1.0, "stop", None, "L1"), "a stop order needs a positive price, got None"),
    (("hold", 1.0, "market", None, "L1"), "side must be one of"),
])
def test_check_order_refuses_a_malformed_order(args, message):
    side, qty, kind, limit, layer = args
    with pytest.raises(ValueError, match=message):
        check_order(BTC, side, qty, kind, limit, layer)


@pytest.mark.parametrize("enabled", [True, False])
def test_a_range_leaves_the_garbage_collector_as_it_found_it_even_when_it_raises(enabled):
    import gc

    from quant.book.step import fresh_state, run_book

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        b = bars([(0, BTC, 100.0, 101.0, 99.0, 100.0)])
        _, state = run_book(fresh_state(), pd.DatetimeIndex([T0]), b, NO_FUNDING, NO_CARRY, NO_CASCADE, NO_TAIL, BookParams())
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError, match="run the gap first"):
            run_book(state, pd.DatetimeIndex([T0 + 5 * H]), b, NO_FUNDING, NO_CARRY, NO_CASCADE, NO_TAIL, BookParams())
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


SPECIAL = [1.0, 0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 5e-324]


@pytest.mark.parametrize("v", SPECIAL)
@pytest.mark.parametrize("o", SPECIAL)
def test_one_bars_rule_is_the_fill_simulators_rule(o, v):
    from quant.book.fills import first_bad_bar
    from quant.book.hour_fills import bar_passes

    for bar in ((o, 2.0, 1.0, 1.5, v), (2.0, o, 1.0, 1.5, v), (2.0, 3.0, o, 1.5, v), (2.0, 3.0, 1.0, o, v)):
        assert bar_passes(*bar) == (first_bad_bar(*(np.array([x]) for x in bar)) < 0), bar
