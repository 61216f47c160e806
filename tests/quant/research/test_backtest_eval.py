"""The journal's book evaluator on a small constructed market, every number checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.features.regime import LABELS, NEUTRAL, UNKNOWN
from quant.research import Window
from quant.research.backtest_eval import BookEvaluator, BookMarket, MarketTables, equity_returns
from quant.research.evaluation import check_result
from quant.strategies import Strategy, decisions
from tests.quant.book.test_step import BTC, T0, H, bars

WINDOW = Window(T0.to_pydatetime(), (T0 + 4 * H).to_pydatetime())
LOOKBACK_H = 3
#: Hours -3..-1 are the look-back, 0..3 the window, 4..5 after it: a flat 100 except the target bar (hour 2).
MARKET = bars([(i, BTC, 100, 100, 100, 100) for i in range(-3, 0)]
              + [(0, BTC, 100, 100, 100, 100), (1, BTC, 101, 102, 100, 101), (2, BTC, 150, 210, 149, 205),
                 (3, BTC, 205, 205, 205, 205)]
              + [(i, BTC, 205, 205, 205, 205) for i in (4, 5)])


def long_at(*hours: int):
    """A strategy deciding long BTC at 100 (stop 50, target 200) at each of ``hours``; records what it was shown."""
    seen: list[pd.DataFrame] = []

    def signals(data, params):
        seen.append(data.bars)
        return decisions([{"hour": T0 + i * H, "venue": "binance", "symbol": BTC, "strategy": "fake", "side": "long",
                           "entry": 100.0, "stop": 50.0, "target": 200.0, "confidence": 0.8, "reason": "test"}
                          for i in hours])

    return Strategy("fake", signals, lookback_h=LOOKBACK_H), seen


def evaluate(strategy, market=MARKET):
    return BookEvaluator(MarketTables(market), strategies={"fake": strategy})("fake", {}, WINDOW)


def test_a_decision_that_hits_its_target_gives_the_hand_computed_return_in_that_hour():
    strategy, _ = long_at(0)
    result = evaluate(strategy)
    # 1% of 100,000 over a 50 risk = 20 BTC; bought at hour 1's open 101 + 5 bps, taker fee 5 bps, marked at 101
    entry = 101 * 1.0005
    e1 = 100_000 - 20 * entry * 0.0005 + 20 * (101 - entry)
    # hour 2 trades through the 200 target: sold at 200, maker fee 2 bps
    e2 = 100_000 - 20 * entry * 0.0005 + 20 * (200 - entry) - 20 * 200 * 0.0002
    assert result.trades == 1
    assert result.returns.tolist() == pytest.approx([0.0, e1 / 100_000 - 1, e2 / e1 - 1, 0.0], rel=1e-9)
    assert result.returns.iloc[2] > 0.019  # ~ +1.98%: two risks won on a 1% risk, less costs


def test_flat_hours_are_zero_and_hours_outside_the_window_never_appear():
    strategy, seen = long_at(-1, 5)  # one decision before the window, one after: neither trades
    result = evaluate(strategy)
    hours = pd.date_range(WINDOW.start, WINDOW.end, freq="h", inclusive="left")
    assert result.returns.index.equals(hours)
    assert (result.returns == 0.0).all()
    assert result.trades == 0
    check_result(result, WINDOW)  # what the journal checks: UTC hours inside [start, end) only
    # the strategy saw its look-back and the window, nothing after it
    shown = pd.to_datetime(seen[0]["hour"], utc=True)
    assert (shown.min(), shown.max()) == (T0 - LOOKBACK_H * H, T0 + 3 * H)


def test_a_strategy_that_fails_as_a_whole_is_an_error_not_a_flat_window():
    def broken(data, params):
        raise ZeroDivisionError("boom")

    with pytest.raises(RuntimeError, match="fake failed.*ZeroDivisionError: boom"):
        evaluate(Strategy("fake", broken))


def test_an_unknown_strategy_is_refused_by_name():
    with pytest.raises(KeyError, match="no strategy 'nope'"):
        BookEvaluator(MarketTables(MARKET), strategies={})("nope", {}, WINDOW)


def test_equity_returns_start_from_the_bankroll_and_need_every_hour():
    hours = pd.date_range(T0, periods=3, freq="h")
    ledger = pd.DataFrame({"hour": hours, "layer": "total", "equity_usd": [101.0, 99.99, 99.99]})
    assert equity_returns(ledger, hours, 100.0).tolist() == pytest.approx([0.01, 99.99 / 101 - 1, 0.0], rel=1e-12)
    with pytest.raises(ValueError, match="one total row for every hour"):
        equity_returns(ledger.iloc[:2], hours, 100.0)


def test_the_market_context_is_the_benchmark_inside_the_window():
    features = MARKET[["hour", "venue", "symbol"]].assign(
        slope_24h=0.0, vol_24h=0.01, adx_14=10.0, vol_ratio=1.0, mr_distance_atr=0.0, mom_24h=0.0, breadth_24h=0.5)
    other = MARKET.assign(venue="bybit", close=1.0)
    context = BookMarket(MarketTables(pd.concat([MARKET, other]), features))(WINDOW)
    assert context.benchmark_close.tolist() == [100.0, 101.0, 205.0, 205.0]
    assert context.regimes.index.equals(context.benchmark_close.index)
    assert context.regimes.notna().all()
    assert np.isin(context.regimes.unique(), [*LABELS, NEUTRAL, UNKNOWN]).all()

