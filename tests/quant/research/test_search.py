"""Parameter search: the compiled single-instrument ST book equals ``run_book``; the cached signals equal ``run_strategy``; every trial is reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import quant.strategies as qs
from quant.book.params import BookParams, StrategyLayerParams
from quant.book.risk import RiskParams
from quant.book.step import fresh_state, run_book
from quant.research import Hypothesis, Journal, Thresholds, Window, cscv_pbo
from quant.research.search import (
    Market,
    SearchEvaluator,
    grid_points,
    market,
    param_grid,
    param_sample,
    simulate,
    sweep,
)
from resources.exchange.replay import SAMPLE_WINDOWS
from tests.quant.book.test_step import NO_CASCADE, NO_TAIL
from tests.quant.book.test_strategy_layer import NO_CARRY
from tests.quant.strategies.conftest import bundled_window

USD_TOL = 1e-9
#: A book whose risk state bites: 5% of equity risked a trade, a day-long time stop, tight ladder, pause and limit.
TIGHT = BookParams(strategies=StrategyLayerParams(risk_pct=0.05, max_hold_h=24),
                   risk=RiskParams(reduce_risk_dd=0.004, reduce_exposure_dd=0.008, halt_dd=0.05,
                                   daily_loss_limit=0.006, session_dd_pause=0.003))
#: A bankroll so large that the 10%-of-volume cap cuts entries, stops and targets into partial fills.
HUGE = BookParams(bankroll_usd=1e10)


@pytest.fixture(scope="module")
def window_2025():
    a, b = SAMPLE_WINDOWS[0]
    return bundled_window(pd.Timestamp(a), pd.Timestamp(b))


@pytest.fixture(scope="module")
def markets(window_2025) -> dict[tuple[str, str], Market]:
    pairs = window_2025.bars[["venue", "symbol"]].drop_duplicates().itertuples(index=False)
    return {(v, s): market(window_2025, v, s) for v, s in pairs}


def book_run(m: Market, strategy: str, overrides: dict, params: BookParams, span: slice):
    """The same trial through the book: the instrument's bars, funding and accepted decisions, other layers idle."""
    accepted, _ = qs.run_strategy(qs.get(strategy), m.signals.data, overrides)
    hours = m.hours[span]
    out, _ = run_book(fresh_state(), hours, m.signals.data.bars, m.signals.data.funding, NO_CARRY, NO_CASCADE, NO_TAIL,
                      params, strategies=accepted.assign(status="accepted"))
    return out


CASES = [  # (strategy, overrides, venue, symbol, params, hours from the start (None: all), what it must exercise)
    ("ema_cross", {}, "binance", "BTC/USDT:USDT", BookParams(), None, {"stop", "target", "funding"}),
    ("rsi_reversion", {}, "bybit", "ETH/USDT:USDT", TIGHT, None, {"paused", "ladder", "exit"}),
    ("rsi_reversion", {"period": 7, "lower": 20.0, "upper": 85.0, "rr": 3.0}, "binance", "SOL/USDT:USDT", BookParams(), 2500,
     {"stop", "target"}),
    ("breakout", {}, "binance", "ETH/USDT:USDT", HUGE, 2500, {"partial"}),
    ("breakout", {"bars": 96, "atr_mult": 4.5, "rr": 4.0}, "bybit", "BTC/USDT:USDT", BookParams(), None, {"exit"}),
    ("ema_cross", {"fast": 5, "slow": 60, "atr_mult": 1.0, "rr": 2.5}, "binance", "HYPE/USDT:USDT", TIGHT, None,
     {"paused", "ladder"}),
    ("breakout", {"bars": 12, "atr_mult": 1.5}, "bybit", "DOGE/USDT:USDT", replace(TIGHT, bankroll_usd=1e9), 2500,
     {"partial", "exit"}),
]


def _exercised(out, kernel_fills: pd.DataFrame) -> set[str]:
    st = out.allocations[out.allocations["layer"] == "ST"]
    intents = out.intents.set_index("client_order_id")
    got = out.fills[out.fills["filled_qty"] > 0]
    seen = set(kernel_fills["kind"])
    if (got["filled_qty"] < got["qty"]).any():
        seen.add("partial")
    if (out.ledger.loc[out.ledger["layer"] == "total", "funding_usd"] != 0).any():
        seen.add("funding")
    if st["risk_multiplier"].isin([0.5, 0.25]).any():
        seen.add("ladder")
    if (out.ledger["session_paused"] | out.ledger["daily_loss_halt"]).any():
        seen.add("paused")
    assert intents.index.is_unique
    return seen


@pytest.mark.parametrize(("strategy", "overrides", "venue", "symbol", "params", "n_hours", "expects"), CASES,
                         ids=[f"{c[0]}-{c[3].split('/')[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_kernel_equals_the_book_hour_by_hour(markets, strategy, overrides, venue, symbol, params, n_hours, expects):
    m = markets[(venue, symbol)]
    span = slice(0, n_hours or len(m.hours))
    out = book_run(m, strategy, overrides, params, span)
    run = simulate(m, m.signals.decisions(qs.get(strategy), overrides), params, span)

    total = out.ledger[out.ledger["layer"] == "total"]
    assert total["hour"].tolist() == list(m.hours[span])
    assert np.max(np.abs(total["equity_usd"].to_numpy() - run.equity)) <= USD_TOL

    got = out.fills[out.fills["filled_qty"] > 0].reset_index(drop=True)
    assert len(got) == len(run.fills)
    assert got["hour"].tolist() == run.fills["hour"].tolist()
    signed = np.where(got["side"] == "buy", 1.0, -1.0) * got["filled_qty"].to_numpy()
    np.testing.assert_allclose(run.fills["qty"], signed, rtol=1e-12, atol=0)
    np.testing.assert_allclose(run.fills["price"], got["fill_price"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(run.fills["fee"], got["fee"], rtol=0, atol=USD_TOL)
    entries = out.intents[(out.intents["layer"] == "ST") & ~out.intents["reduce_only"]]
    assert run.trades == int(got["client_order_id"].isin(entries["client_order_id"]).sum())
    assert run.trades > 0
    assert expects <= _exercised(out, run.fills)


FAST_PARAMS = [
    ("ema_cross", {}), ("ema_cross", {"fast": 3, "slow": 10, "rr": 5.0}), ("ema_cross", {"fast": 40, "slow": 30}),
    ("rsi_reversion", {}), ("rsi_reversion", {"period": 2, "lower": 5.0, "upper": 95.0, "atr_mult": 0.5}),
    ("rsi_reversion", {"period": 50, "lower": 45.0, "upper": 55.0}),
    ("breakout", {}), ("breakout", {"bars": 6, "atr_mult": 5.0}), ("breakout", {"bars": 240}),
    ("adx_trend", {}), ("adx_trend", {"threshold": 40.0}), ("funding_harvest", {}), ("funding_harvest", {"entry_apr": 0.05}),
]


@pytest.mark.parametrize(("strategy", "overrides"), FAST_PARAMS)
def test_cached_signals_equal_run_strategy(markets, strategy, overrides):
    m = markets[("bybit", "HYPE/USDT:USDT")]
    s = qs.get(strategy)
    fast = m.signals.decisions(s, overrides)
    reference = m.signals._from_frame(qs.run_strategy(s, m.signals.data, overrides)[0])
    for name in ("sign", "entry", "stop", "target", "confidence"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(reference, name), err_msg=name)


def test_the_grid_and_the_sample_stay_inside_the_declared_ranges():
    s = qs.get("ema_cross")
    grid = param_grid(s, 4)
    assert grid["fast"] == (3, 35, 68, 100)
    assert grid["rr"] == (2.0, 3.0, 4.0, 5.0)
    assert len(grid_points(grid)) == 4**4
    assert param_grid(s, {"fast": 2})["slow"] == (26,)  # an unnamed parameter keeps its default
    for draw in param_sample(s, 50, seed=3):
        assert s.resolve(draw) == draw  # every draw passes the strategy's own validation
    assert param_sample(s, 5, seed=3) == param_sample(s, 5, seed=3)


def test_a_sweep_reports_every_trial_and_feeds_pbo(markets):
    m = markets[("binance", "BTC/USDT:USDT")]
    sets = grid_points(param_grid("breakout", {"bars": 3, "atr_mult": 2, "rr": 2}))
    result = sweep("breakout", m, sets)
    assert result.n_trials == len(sets) == 12
    assert list(result.table.columns[:3]) == ["bars", "atr_mult", "rr"]
    assert result.returns.shape == (len(m.hours), 12)
    assert (result.table["trades"] > 0).all()
    one = simulate(m, m.signals.decisions(qs.get("breakout"), sets[5]), BookParams())
    np.testing.assert_array_equal(result.returns[5].to_numpy(), one.returns(BookParams().bankroll_usd).to_numpy())
    assert 0.0 <= cscv_pbo(result.returns.to_numpy(), 8).pbo <= 1.0


def test_the_journal_counts_every_configuration_of_a_search(markets, tmp_path):
    m = markets[("binance", "BTC/USDT:USDT")]
    start = m.hours[0].to_pydatetime()
    day = timedelta(days=1)
    grid = param_grid("rsi_reversion", {"period": 2, "lower": 3})
    h = Hypothesis("rsi-btc-sweep", "RSI reversion pays on BTC", "rsi_reversion",
                   train=Window(start, start + 90 * day), validation=Window(start + 90 * day, start + 150 * day),
                   test=Window(start + 150 * day, start + 200 * day), thresholds=Thresholds(0.0, 0.0, 0.5, 1), grid=grid)
    journal = Journal(tmp_path, SearchEvaluator(m), code_version="test")
    entry = journal.run(h)
    assert entry.trials_added == len(grid_points(grid)) == 6
    assert journal.trial_count == 6
    assert entry.pbo is not None
    first = sweep("rsi_reversion", m, [dict(entry.trials[0].params)], window=h.train)
    assert entry.trials[0].train.trades == int(first.table["trades"].iloc[0])
    assert entry.trials[0].train.sharpe == pytest.approx(first.table["sharpe"].iloc[0], rel=1e-12)
