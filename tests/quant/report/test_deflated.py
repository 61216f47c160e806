"""The deflated Sharpe ratio (``quant.report.deflated``): the paper's example, hand numbers, a Monte-Carlo check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats import norm

from quant.report.deflated import (
    EULER_GAMMA,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)


def test_the_papers_numerical_example() -> None:
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: N = 100 trials
    # whose annualised Sharpe ratios vary by V = 1/2, the best one SR = 2.5 a year over T = 1250
    # daily returns (250 a year) with skewness −3 and kurtosis 10. The paper reports SR0 ≈ 0.1132 a
    # day and DSR ≈ 0.9004 (quoted from the paper as we know it; the arithmetic below reproduces both).
    sr = 2.5 / math.sqrt(250)  # 0.1581139 a day
    sr0 = expected_max_sharpe(0.5 / 250, 100)
    # √0.002 · (0.4227843 · Φ⁻¹(0.99) + 0.5772157 · Φ⁻¹(1 − 1/(100e))) = 0.0447214 · (0.9835434 + 1.5470595)
    assert sr0 == pytest.approx(math.sqrt(0.002) * (0.9835434391 + 1.5470594541), rel=1e-9)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    # Φ((0.1581139 − 0.1131720) · √1249 / √(1 + 3 · 0.1581139 + 9/4 · 0.025)) = Φ(1.2838160)
    dsr = probabilistic_sharpe(sr, sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(norm.cdf(1.2838160365), rel=1e-9)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_of_normal_returns_is_the_closed_form() -> None:
    # skew 0, kurtosis 3: Φ((SR − SR*) √(T − 1) / √(1 + SR²/2)); SR .1, T 100: Φ(0.9925093) = 0.8395254
    for sr, sr_star, t in [(0.1, 0.0, 100), (0.05, 0.02, 2000), (-0.1, 0.0, 30), (0.3, 0.3, 10)]:
        expected = norm.cdf((sr - sr_star) * math.sqrt(t - 1) / math.sqrt(1 + sr**2 / 2))
        assert probabilistic_sharpe(sr, sr_star, t, 0.0, 3.0) == pytest.approx(expected, rel=1e-12)
    assert probabilistic_sharpe(0.1, 0.0, 100, 0.0, 3.0) == pytest.approx(0.8395254, abs=1e-7)
    assert probabilistic_sharpe(0.3, 0.3, 10, 0.0, 3.0) == 0.5


def test_psr_reads_raw_kurtosis_not_excess() -> None:
    raw = probabilistic_sharpe(0.2, 0.0, 100, 0.0, 3.0)  # a normal's raw kurtosis
    excess = probabilistic_sharpe(0.2, 0.0, 100, 0.0, 0.0)  # the same normal's excess kurtosis
    assert raw == pytest.approx(norm.cdf(0.2 * math.sqrt(99) / math.sqrt(1 + 0.04 / 2)), rel=1e-12)
    # with γ4 = 0 the denominator is 1 − 0.04/4 = 0.99: a different (and wrong) answer
    assert excess == pytest.approx(norm.cdf(0.2 * math.sqrt(99) / math.sqrt(0.99)), rel=1e-12)
    assert abs(raw - excess) > 1e-3


def test_deflated_sharpe_uses_the_returns_raw_kurtosis() -> None:
    rng = np.random.default_rng(11)
    returns = 0.001 + 0.01 * rng.standard_t(4, 2000)  # fat tails: raw kurtosis well above 3
    trials = [0.01, -0.02, 0.03, 0.0, 0.015]
    got = deflated_sharpe(returns, 20, trials)
    raw = stats.kurtosis(returns, fisher=False)
    assert got.kurtosis == pytest.approx(raw, rel=1e-12)
    assert got.kurtosis > 4
    assert got.skew == pytest.approx(stats.skew(returns), rel=1e-12)
    assert got.sr == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert got.sr0 == pytest.approx(expected_max_sharpe(np.var(trials, ddof=1), 20), rel=1e-12)
    assert got.dsr == pytest.approx(probabilistic_sharpe(got.sr, got.sr0, 2000, got.skew, raw), rel=1e-12)
    assert got.dsr != pytest.approx(probabilistic_sharpe(got.sr, got.sr0, 2000, got.skew, raw - 3), rel=1e-6)
    assert got.psr == got.dsr
    assert (got.n_trials, got.n_obs, got.reason) == (20, 2000, None)


def test_expected_max_sharpe_by_hand() -> None:
    assert EULER_GAMMA == 0.5772156649
    # N = 2: Φ⁻¹(1/2) = 0, so √V · γ · Φ⁻¹(1 − 1/(2e)) = 0.5772157 · 0.9004526 = 0.5197553
    assert expected_max_sharpe(1.0, 2) == pytest.approx(0.5197553443, rel=1e-9)
    assert expected_max_sharpe(4.0, 2) == pytest.approx(2 * 0.5197553443, rel=1e-9)
    assert expected_max_sharpe(0.3, 1) == 0.0  # one trial, no selection
    assert expected_max_sharpe(0.0, 50) == 0.0
    assert math.isnan(expected_max_sharpe(float("nan"), 5))


def test_expected_max_sharpe_rises_with_the_trials() -> None:
    values = [expected_max_sharpe(1.0, n) for n in (1, 2, 10, 100, 1000, 10_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_expected_max_sharpe_matches_a_monte_carlo_of_independent_null_trials() -> None:
    # N strategies of T normal zero-mean returns each: the best per-trial Sharpe, over many draws
    rng = np.random.default_rng(20140501)
    n_trials, n_obs, draws = 100, 250, 200
    best, variances = [], []
    for _ in range(draws):
        r = rng.standard_normal((n_trials, n_obs))
        srs = r.mean(axis=1) / r.std(axis=1, ddof=1)
        best.append(srs.max())
        variances.append(srs.var(ddof=1))
    predicted = expected_max_sharpe(float(np.mean(variances)), n_trials)
    assert np.mean(best) == pytest.approx(predicted, rel=0.10)


def test_dsr_falls_as_the_trials_grow() -> None:
    rng = np.random.default_rng(3)
    returns = 0.002 + 0.01 * rng.standard_normal(1000)
    trials = [0.2, 0.05, -0.03, 0.1, 0.0]
    dsrs = [deflated_sharpe(returns, n, trials).dsr for n in (5, 10, 100, 1000, 100_000)]
    assert all(a > b for a, b in zip(dsrs, dsrs[1:], strict=False))
    assert all(0.0 <= d <= 1.0 for d in dsrs)


def test_one_trial_deflates_nothing() -> None:
    rng = np.random.default_rng(5)
    returns = 0.001 + 0.01 * rng.standard_normal(500)
    got = deflated_sharpe(returns, 1, [returns.mean() / returns.std(ddof=1)])
    assert got.sr0 == 0.0
    assert got.dsr == pytest.approx(probabilistic_sharpe(got.sr, 0.0, 500, got.skew, got.kurtosis), rel=1e-12)


@pytest.mark.parametrize(
    ("returns", "trials", "reason"),
    [
        ([0.01, 0.02, -0.01], [0.1], "trial Sharpe"),
        ([0.01, 0.02, -0.01], [0.1, np.nan], "trial Sharpe"),
        ([0.01], [0.1, 0.2], "return"),
        ([0.01, 0.01, 0.01], [0.1, 0.2], "do not vary"),
    ],
)
def test_degenerate_inputs_give_nan_with_a_reason(returns: list[float], trials: list[float], reason: str) -> None:
    got = deflated_sharpe(returns, 10, trials)
    assert math.isnan(got.dsr)
    assert reason in got.reason


def test_nan_returns_are_dropped() -> None:
    clean = deflated_sharpe([0.01, 0.02, -0.01, 0.03], 4, [0.1, 0.2, 0.0])
    holed = deflated_sharpe([0.01, np.nan, 0.02, -0.01, 0.03], 4, [0.1, 0.2, 0.0])
    assert holed == clean
    assert holed.n_obs == 4


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe(0.1, 0.0, 1, 0.0, 3.0)
    with pytest.raises(ValueError, match="positive"):
        probabilistic_sharpe(1.0, 0.0, 100, 3.0, 1.0)  # 1 − 3 + 0 = −2
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(1.0, 0)
    with pytest.raises(ValueError, match="sr_variance"):
        expected_max_sharpe(-0.1, 5)
    with pytest.raises(ValueError, match="n_trials"):
        deflated_sharpe([0.01, 0.02, 0.0], 2, [0.1, 0.2, 0.3])  # three trials shown, two claimed
