"""The ML section of the report: hand-checked returns, buy-and-hold costs, the trial count and the DSR's inputs.

Two symbols over four hours, a one-hour horizon, so every trade's return is one line of arithmetic:
``net(a, b) = b·(1 − c) / (a·(1 + c)) − 1`` with c = 0.4 %, the exit at the next hour's close.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from quant.ml.models import BASE_MODELS
from quant.report.deflated import deflated_sharpe
from quant.report.display import format_ml_table, markdown_ml_table
from quant.report.ml import (
    ML_TABLE_COLUMNS,
    ROW_BOOK,
    ROW_FLAT,
    ROW_HOLD,
    ROW_STACK,
    buy_and_hold,
    count_trials,
    ml_sleeve_report,
    row_net_returns,
    signal_returns,
)
from tests.quant.report.test_report import BANKROLL, T0, book, fill, inst

C = 0.004
NAN = math.nan
A, B = ("binance", "AAA/USDT:USDT"), ("binance", "BBB/USDT:USDT")
CLOSES = {A: [100.0, 110.0, 99.0, 99.0, 120.0], B: [50.0, 50.0, 55.0, 44.0, 44.0]}  # hours 0..4
ML = ("ML", "binance", "AAA/USDT")


def net(entry: float, exit_: float) -> float:
    return exit_ * (1 - C) / (entry * (1 + C)) - 1


def at(h: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=h)


def bars(closes: dict = CLOSES) -> pd.DataFrame:
    return pd.DataFrame([{"hour": at(h), "venue": k[0], "symbol": k[1], "close": c}
                         for k, v in closes.items() for h, c in enumerate(v)])


# (hour, symbol, status, stack, xgboost, lightgbm, random_forest, lstm, transformer)
ROWS = [
    (0, A, "ok", 0.7, 0.9, 0.0, 0.9, NAN, 0.0), (0, B, "ok", 0.4, 0.9, 0.0, 0.0, NAN, 0.0),
    (1, A, "ok", 0.6, 0.9, 0.0, 0.0, NAN, 0.0), (1, B, "ok", 0.9, 0.9, 0.0, 0.9, NAN, 0.0),
    # A: ok but the stack's p is NaN; B: not ok, yet carries high p everywhere: neither may trade
    (2, A, "ok", NAN, 0.9, 0.0, 0.0, NAN, 0.0), (2, B, "features incomplete", 0.8, 0.9, 0.9, 0.9, 0.9, 0.9),
    (3, A, "ok", 0.2, 0.9, 0.0, 0.0, NAN, 0.0), (3, B, "ok", 0.55, 0.9, 0.0, 0.0, NAN, 0.0),
]


def predictions(rows: list[tuple] = ROWS, horizon_h: int = 1) -> pd.DataFrame:
    return pd.DataFrame([{"hour": at(h), "venue": s[0], "symbol": s[1], "status": st, "horizon_h": horizon_h,
                          "probability": p, **{f"p_{m}": v for m, v in zip(BASE_MODELS, base, strict=True)}}
                         for h, s, st, p, *base in rows])


def ledger() -> pd.DataFrame:
    # ML pnl −1, 5, 3, 8 (unrealised − fees, then realised 10 − fees 2): changes −1, 6, −2, 5 USD.
    return book([inst(0, ML, 0, 0, 1, 0), inst(1, ML, 0, 6, 1, 0), inst(2, ML, 0, 4, 1, 0), inst(3, ML, 10, 0, 2, 0)],
                hours=4)


def journal(folds: tuple[str, ...] = ("2024-02-19", "2024-02-26")) -> list[dict]:
    """What ``MlModelStore.save_trained`` appends: the five base models, the regime classifier, the stack."""
    return [{"key": f"k{f}", "fold": f, "model": m, "config": {"seed": 7, "horizon_h": 1}, "code_version": "v1",
             "trained_at": "2024-03-01T00:00:00Z"} for f in folds for m in (*BASE_MODELS, "regime", "stack")]


def plain_sr(values: list[float]) -> float:
    return statistics.mean(values) / statistics.stdev(values)


STACK_HOURLY = [net(100, 110) / 2, (net(110, 99) + net(50, 55)) / 2, 0.0, net(44, 44) / 2]
XGB_HOURLY = [(net(100, 110) + net(50, 50)) / 2, (net(110, 99) + net(50, 55)) / 2, net(99, 99) / 2,
              (net(99, 120) + net(44, 44)) / 2]
RF_HOURLY = [net(100, 110) / 2, net(50, 55) / 2, 0.0, 0.0]
BOOK_R = [-1 / BANKROLL, 6 / BANKROLL, -2 / BANKROLL, 5 / BANKROLL]


@pytest.fixture(scope="module")
def report():
    fills = pd.DataFrame([fill(*ML, 1.0, "filled"), fill(*ML, 1.0, "filled"), fill(*ML, 0.0, "no_counterparty"),
                          fill("L1", "binance", "BTC/USDT:USDT", 1.0, "filled")])
    return ml_sleeve_report(ledger(), predictions(), bars(), journal(), BANKROLL, fills=fills)


# -- trials -----------------------------------------------------------------------------------

def test_refits_of_one_config_on_many_folds_count_once_and_the_regime_classifier_never():
    assert count_trials(journal(("w1",))) == 6  # 5 base models + stack; regime left out
    assert count_trials(journal(("w1", "w2", "w3"))) == 6  # refits of the same (model, config, code_version)
    assert count_trials([]) == 0


def test_every_distinct_config_and_code_version_is_a_trial():
    base = {"fold": "w1", "key": "k", "trained_at": "t"}
    trials = [
        {**base, "model": "xgboost", "config": {"seed": 7, "trees": 100}, "code_version": "v1"},
        {**base, "model": "xgboost", "config": {"trees": 100, "seed": 7}, "code_version": "v1", "fold": "w2"},  # same
        {**base, "model": "xgboost", "config": {"seed": 7, "trees": 300}, "code_version": "v1"},  # new config
        {**base, "model": "xgboost", "config": {"seed": 7, "trees": 100}, "code_version": "v2"},  # new code
        {**base, "model": "lightgbm", "config": {"seed": 7, "trees": 100}, "code_version": "v1"},
        {**base, "model": "regime", "config": {"seed": 7, "trees": 300}, "code_version": "v3"},  # not a strategy
        {**base, "model": "stack", "config": {"seed": 7, "trees": 100}, "code_version": "v1"},
        {**base, "model": "stack", "config": {"seed": 7, "trees": 100}, "code_version": "v1", "fold": "w9"},
    ]
    assert count_trials(trials) == 5


# -- the signals -----------------------------------------------------------------------------

def test_row_net_returns_only_for_ok_rows_with_an_exit_bar():
    rows = predictions()
    got = row_net_returns(rows, bars())
    want = [net(100, 110), net(50, 50), net(110, 99), net(50, 55), net(99, 99), NAN, net(99, 120), net(44, 44)]
    assert got == pytest.approx(want, rel=1e-12, nan_ok=True)
    assert np.isnan(row_net_returns(rows, bars({A: CLOSES[A][:4], B: CLOSES[B][:4]}))[6:]).all()  # no hour-4 bar


def test_stack_signal_is_the_hours_equal_weight_book_of_trades_net_of_costs():
    rows = predictions()
    s = signal_returns(rows, row_net_returns(rows, bars()), "probability")
    assert s.hourly.to_numpy() == pytest.approx(STACK_HOURLY, rel=1e-12)
    assert s.return_pct == pytest.approx(sum(STACK_HOURLY), rel=1e-12)  # horizon 1: one tranche
    assert s.trades == 8  # A@0, A@1, B@1, B@3: four round trips, a buy and a sell each
    assert s.unscored == 0
    assert s.sr == pytest.approx(plain_sr(STACK_HOURLY), rel=1e-9)


def test_nan_and_not_ok_predictions_never_trade():
    rows = predictions()
    s = signal_returns(rows, row_net_returns(rows, bars()), "p_xgboost")  # 0.9 on every row
    assert s.trades == 2 * 7  # the features-incomplete row is not traded despite p 0.9
    assert s.hourly.to_numpy() == pytest.approx(XGB_HOURLY, rel=1e-12)
    all_bad = predictions([(h, k, "no model: short fold", 0.99, *[0.99] * 5) for h in range(4) for k in (A, B)])
    s = signal_returns(all_bad, row_net_returns(all_bad, bars()), "probability")
    assert (s.trades, s.return_pct, s.unscored) == (0, 0.0, 0)
    assert (s.hourly == 0.0).all()
    lstm = signal_returns(rows, row_net_returns(rows, bars()), "p_lstm")  # NaN wherever it is ok
    assert lstm.trades == 0
    assert math.isnan(lstm.sr)


def test_a_longer_horizon_splits_the_capital_in_tranches_and_unknown_exits_are_unscored():
    rows = predictions([(0, A, "ok", 0.9, *[0.0] * 5), (1, A, "ok", 0.0, *[0.0] * 5), (2, A, "ok", 0.0, *[0.0] * 5),
                        (3, A, "ok", 0.9, *[0.0] * 5)], horizon_h=2)
    s = signal_returns(rows, row_net_returns(rows, bars({A: CLOSES[A]})), "probability")
    assert s.hourly.to_numpy()[:3] == pytest.approx([net(100, 99), 0.0, 0.0], rel=1e-12)
    assert math.isnan(s.hourly.iloc[3])  # its exit (hour 5) is not stored: unscored, not a 0
    assert s.return_pct == pytest.approx(net(100, 99) / 2, rel=1e-12)  # half the capital per 2h cohort
    assert (s.trades, s.unscored) == (2, 1)


# -- buy-and-hold ------------------------------------------------------------------------------

def test_buy_and_hold_pays_the_cost_in_and_out():
    hours = pd.date_range(T0, periods=4, freq="h")
    returns, total, trades, left_out = buy_and_hold(bars(), [A, B], hours, C)
    assert total == pytest.approx((net(100, 99) + net(50, 44)) / 2, rel=1e-12)  # held 00:00 .. 03:00
    value = [1 / 1.004, (1.10 + 1.00) / 2 / 1.004, (0.99 + 1.10) / 2 / 1.004, (0.99 + 0.88) / 2 * 0.996 / 1.004]
    assert returns == pytest.approx(np.diff(value, prepend=1.0) / np.array([1.0, *value[:-1]]), rel=1e-12)
    assert returns[0] == pytest.approx(-C / (1 + C), rel=1e-12)  # the first hour is the entry cost
    assert (trades, left_out) == (4, [])
    flat = pd.DataFrame({"hour": hours, "venue": "binance", "symbol": "FLAT", "close": 100.0})
    _, total, _, _ = buy_and_hold(flat, [("binance", "FLAT")], hours, C)
    assert total == pytest.approx(0.996 / 1.004 - 1, rel=1e-12)  # an unmoved price loses the round trip


def test_buy_and_hold_leaves_out_a_symbol_without_a_first_close():
    late = bars().query("not (symbol == 'BBB/USDT:USDT' and hour == @T0)")
    _, total, trades, left_out = buy_and_hold(late, [A, B], pd.date_range(T0, periods=4, freq="h"), C)
    assert total == pytest.approx(net(100, 99), rel=1e-12)
    assert (trades, left_out) == (2, ["binance BBB/USDT:USDT"])


# -- the report ------------------------------------------------------------------------------

def test_the_table_rows_and_columns(report):
    assert list(report.table.index) == [ROW_BOOK, ROW_STACK, "best base model (random_forest)", ROW_HOLD, ROW_FLAT]
    assert list(report.table.columns) == list(ML_TABLE_COLUMNS)
    assert report.best_base == "random_forest"  # SR 0.866 beats xgboost's; lightgbm/transformer never trade
    assert report.trial_sharpes["random_forest"] == pytest.approx(plain_sr(RF_HOURLY), rel=1e-9)
    assert report.trial_sharpes["xgboost"] == pytest.approx(plain_sr(XGB_HOURLY), rel=1e-9)


def test_the_book_row_is_the_ml_layers_pnl_over_the_bankroll(report):
    row = report.table.loc[ROW_BOOK]
    assert row["return_pct"] == pytest.approx(8 / BANKROLL, rel=1e-12)
    assert row["sharpe"] == pytest.approx(plain_sr(BOOK_R) * math.sqrt(8760), rel=1e-9)
    assert report.sharpe == row["sharpe"]
    assert row["trades"] == 2  # the ML fills with filled_qty > 0; L1's fill is not the sleeve's


@pytest.mark.parametrize(("row", "ret", "hourly", "trades"), [
    (ROW_STACK, sum(STACK_HOURLY), STACK_HOURLY, 8),
    ("best base model (random_forest)", net(100, 110), RF_HOURLY, 4),  # net(50, 55) = net(100, 110)
])
def test_signal_rows(report, row, ret, hourly, trades):
    got = report.table.loc[row]
    assert got["return_pct"] == pytest.approx(ret, rel=1e-12)
    assert got["sharpe"] == pytest.approx(plain_sr(hourly) * math.sqrt(8760), rel=1e-9)
    assert got["trades"] == trades


def test_the_dsr_deflates_by_every_trial_with_the_signals_sharpe_variance(report):
    finite = [plain_sr(XGB_HOURLY), plain_sr(RF_HOURLY), plain_sr(STACK_HOURLY)]  # lightgbm, lstm, transformer: n/a
    want = deflated_sharpe(BOOK_R, 6, finite)
    assert report.n_trials == 6
    assert report.deflated.n_trials == 6
    assert report.deflated.sr0 == pytest.approx(want.sr0, rel=1e-9)
    assert report.deflated.dsr == pytest.approx(want.dsr, rel=1e-9)
    assert report.table.loc[ROW_BOOK, "dsr"] == pytest.approx(want.dsr, rel=1e-9)
    assert report.table.loc[ROW_STACK, "dsr"] == pytest.approx(deflated_sharpe(STACK_HOURLY, 6, finite).dsr, rel=1e-9)


def test_baseline_rows(report):
    hold, flat = report.table.loc[ROW_HOLD], report.table.loc[ROW_FLAT]
    assert hold["return_pct"] == pytest.approx((net(100, 99) + net(50, 44)) / 2, rel=1e-12)
    assert (hold["trades"], math.isnan(hold["dsr"])) == (4, True)
    assert (flat["return_pct"], flat["trades"]) == (0.0, 0)
    assert math.isnan(flat["sharpe"])
    assert math.isnan(flat["dsr"])


def test_text_and_markdown(report):
    lines = format_ml_table(report).splitlines()
    assert lines[0].startswith("ML sleeve over 4 hour(s), net of 0.4% a trade")
    assert lines[1].split() == ["strategy", "return", "%", "Sharpe", "DSR", "trades"]
    assert lines[3].split()[-1] == "2"
    assert lines[7].split() == ["always", "flat", "0.00", "n/a", "n/a", "0"]
    assert len({len(line) for line in lines[1:8]}) == 1  # fixed width
    assert "deflated over 6 trial(s)" in lines[9]
    assert lines[10].startswith(f"SR0 = {report.deflated.sr0:.4f} per hour")
    assert "from the variance of the trials' Sharpe ratios" in lines[10]
    assert "rows not traded: 1 features incomplete" in lines
    md = markdown_ml_table(report)
    assert "| always flat | 0.00 | n/a | n/a | 0 |" in md
    assert "| best base model (random_forest) | 9.12 |" in md


def test_no_predictions_says_so_and_still_reports_the_book():
    empty = predictions().iloc[0:0]
    out = ml_sleeve_report(ledger(), empty, bars().iloc[0:0], [], BANKROLL)
    assert out.table.loc[ROW_BOOK, "return_pct"] == pytest.approx(8 / BANKROLL)
    assert math.isnan(out.table.loc[ROW_BOOK, "trades"])  # no fills given
    assert out.table.loc[[ROW_STACK, "best base model (none)", ROW_HOLD]].isna().all().all()
    assert (out.n_trials, out.predicted_hours, out.best_base) == (0, 0, None)
    assert math.isnan(out.deflated.dsr)
    text = format_ml_table(out)
    assert "no predictions" in text
    assert "deflated over 0 trial(s)" in text
    assert "SR0 = n/a per hour" in text


def test_predictions_outside_the_ledger_hours_are_ignored_and_a_short_journal_is_raised():
    extra = predictions([(9, A, "ok", 0.9, *[0.9] * 5)])
    out = ml_sleeve_report(ledger(), pd.concat([predictions(), extra]), bars(), journal()[:2], BANKROLL)
    assert out.table.loc[ROW_STACK, "trades"] == 8
    assert out.n_trials == 2
    assert out.deflated.n_trials == 3  # three signals scored: the DSR never deflates by fewer
    assert any("fewer than the 3 signals" in n for n in out.notes)


def test_bad_input():
    with pytest.raises(ValueError, match="predictions is missing columns"):
        ml_sleeve_report(ledger(), predictions().drop(columns=["status"]), bars(), [], BANKROLL)
    with pytest.raises(ValueError, match="bars is missing columns"):
        ml_sleeve_report(ledger(), predictions(), bars().drop(columns=["close"]), [], BANKROLL)
    with pytest.raises(ValueError, match="bankroll"):
        ml_sleeve_report(ledger(), predictions(), bars(), [], 0.0)
