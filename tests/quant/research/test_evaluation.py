"""Window metrics and the bar (``quant.research.evaluation``): hand numbers, and NaN never passes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.report.deflated import DeflatedSharpe
from quant.research import EvalResult, Thresholds, judge, window_metrics
from quant.research.evaluation import check_result, max_drawdown
from quant.research.pbo import PBOResult
from tests.quant.research.fakes import BAR, TRAIN, hours

FOUR = pd.Series([0.01, -0.02, 0.03, 0.0], index=hours(TRAIN)[:4])


def test_metrics_of_four_hours_by_hand() -> None:
    m = window_metrics(FOUR, 3, TRAIN)
    # mean .005 -> APR .005 * 8760 = 43.8; deviations .005 -.025 .025 -.005: sum of squares 1.3e-3,
    # / 3 = 4.3333e-4, sd .02081666; SR .005 / .02081666 = .24019223 an hour, x sqrt(8760) = 22.48074
    assert m.apr == pytest.approx(43.8, rel=1e-12)
    assert m.sharpe_per_obs == pytest.approx(0.005 / math.sqrt(1.3e-3 / 3), rel=1e-12)
    assert m.sharpe == pytest.approx(0.005 / math.sqrt(1.3e-3 / 3) * math.sqrt(8760), rel=1e-12)
    # equity 1.01, .9898, 1.019494, 1.019494: the fall .9898 / 1.01 - 1 = -2%
    assert m.max_drawdown == pytest.approx(0.02, rel=1e-12)
    # plug-in moments: m2 = 1.3e-3 / 4, m3 = (.005^3 - .025^3 + .025^3 - .005^3) / 4 = 0
    assert m.skew == pytest.approx(0.0, abs=1e-12)
    m4 = (2 * 0.005**4 + 2 * 0.025**4) / 4
    assert m.kurtosis == pytest.approx(m4 / (1.3e-3 / 4) ** 2, rel=1e-9)
    assert (m.hours, m.nonfinite, m.trades) == (4, 0, 3)


def test_drawdown_counts_a_fall_from_the_starting_equity() -> None:
    assert max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(0.1, rel=1e-12)
    assert max_drawdown(np.array([0.1, 0.1])) == 0.0
    assert math.isnan(max_drawdown(np.array([])))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_window_with_a_non_finite_return_has_no_metrics(bad: float) -> None:
    m = window_metrics(FOUR.where(FOUR.index != FOUR.index[1], bad), 3, TRAIN)
    assert m.nonfinite == 1
    assert all(math.isnan(x) for x in (m.apr, m.sharpe, m.sharpe_per_obs, m.max_drawdown, m.skew, m.kurtosis))


def test_returns_that_never_vary_have_no_sharpe() -> None:
    m = window_metrics(pd.Series(0.0, index=hours(TRAIN)), 0, TRAIN)
    assert m.apr == 0.0
    assert math.isnan(m.sharpe)
    assert math.isnan(m.kurtosis)


@pytest.mark.parametrize(("result", "message"), [
    (EvalResult(pd.Series([0.0], index=pd.DatetimeIndex([TRAIN.end])), 1), "outside its window"),
    (EvalResult(pd.Series([0.0], index=pd.DatetimeIndex([TRAIN.start - pd.Timedelta(hours=1)])), 1), "outside"),
    (EvalResult(pd.Series([0.0, 0.0], index=pd.DatetimeIndex([TRAIN.start] * 2)), 1), "twice"),
    (EvalResult(pd.Series([0.0], index=pd.DatetimeIndex(["2025-01-01 00:00"])), 1), "tz-aware"),
    (EvalResult(FOUR, -1), "whole number"),
    (EvalResult(FOUR, 2.5), "whole number"),
])
def test_an_evaluator_that_breaks_its_contract_is_an_error(result: EvalResult, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_result(result, TRAIN)


def _dsr(value: float, reason: str | None = None) -> DeflatedSharpe:
    return DeflatedSharpe(0.1, 0.0, value, 3, 744, 0.0, 3.0, reason)


def _metrics(**overrides: float):
    base = window_metrics(FOUR, 50, TRAIN)
    return type(base)(**{**vars(base), "apr": 0.2, "sharpe": 2.0, "max_drawdown": 0.1, **overrides})


def test_a_window_above_every_bar_has_no_reason_against_it() -> None:
    assert judge(_metrics(), BAR, _dsr(0.99), None, sweep=False) == []


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"apr": float("nan")}, "APR is n/a"),
    ({"sharpe": float("nan")}, "Sharpe is n/a"),
    ({"sharpe": float("inf")}, "Sharpe is n/a"),
    ({"max_drawdown": float("nan")}, "max drawdown is n/a"),
    ({"apr": 0.01}, "APR +1.0% < +5.0%"),
    ({"sharpe": 0.5}, "Sharpe 0.50 < 1.00"),
    ({"max_drawdown": 0.4}, "max drawdown 40.0% > 30.0%"),
    ({"trades": 9}, "9 trade(s) < 10: too few"),
    ({"nonfinite": 2}, "2 non-finite"),
])
def test_each_bar_rejects_on_its_own(overrides: dict, reason: str) -> None:
    reasons = judge(_metrics(**overrides), BAR, _dsr(0.99), None, sweep=False)
    assert len(reasons) == 1
    assert reason in reasons[0]


def test_trades_exactly_at_the_bar_pass() -> None:
    assert judge(_metrics(trades=10), BAR, _dsr(0.99), None, sweep=False) == []


@pytest.mark.parametrize(("dsr", "reason"), [
    (None, "DSR is n/a (not computed)"),
    (_dsr(float("nan"), "the returns do not vary"), "DSR is n/a (the returns do not vary)"),
    (_dsr(0.9), "DSR 0.90 < 0.95 over 3 trial(s)"),
])
def test_the_deflated_sharpe_must_clear_its_bar(dsr: DeflatedSharpe | None, reason: str) -> None:
    assert judge(_metrics(), BAR, dsr, None, sweep=False) == [reason]


@pytest.mark.parametrize(("pbo", "passes"), [(0.2, True), (0.5, False), (0.8, False), (float("nan"), False)])
def test_a_sweep_must_beat_a_coin_flip(pbo: float, passes: bool) -> None:
    reasons = judge(_metrics(), BAR, _dsr(0.99), PBOResult(pbo, 16, 12870, 4, 744), sweep=True)
    assert (reasons == []) is passes
    assert judge(_metrics(), BAR, _dsr(0.99), None, sweep=True) == ["PBO is n/a (a sweep without it never passes)"]
    assert judge(_metrics(), Thresholds(0.05, 1.0, 0.3, 10, max_pbo=0.9), _dsr(0.99),
                 PBOResult(0.8, 16, 12870, 4, 744), sweep=True) == []
