"""CSCV probability of backtest overfitting (``quant.research.pbo``): hand-counted splits and a loop reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from quant.research.pbo import cscv_pbo, n_splits

# Four one-row blocks, mean return as the statistic, so every half's mean is counted by hand.
A = [4.0, 0.0, 3.0, 1.0]
B = [1.6, 1.6, 1.6, 1.6]
C = [0.2, 1.4, 1.0, 2.8]


def test_two_strategies_four_blocks_counted_by_hand() -> None:
    # in-sample blocks: IS means (A, B) -> pick; OOS means (A, B) -> rank of the pick, omega = rank / 3
    # {0,1}: (2.0, 1.6) -> A; OOS {2,3}: (2.0, 1.6) -> rank 2, omega 2/3, lambda +ln 2
    # {0,2}: (3.5, 1.6) -> A; OOS {1,3}: (0.5, 1.6) -> rank 1, omega 1/3, lambda -ln 2  overfit
    # {0,3}: (2.5, 1.6) -> A; OOS {1,2}: (1.5, 1.6) -> rank 1                            overfit
    # {1,2}: (1.5, 1.6) -> B; OOS {0,3}: (2.5, 1.6) -> rank 1                            overfit
    # {1,3}: (0.5, 1.6) -> B; OOS {0,2}: (3.5, 1.6) -> rank 1                            overfit
    # {2,3}: (2.0, 1.6) -> A; OOS {0,1}: (2.0, 1.6) -> rank 2, lambda +ln 2
    result = cscv_pbo(np.column_stack([A, B]), n_blocks=4, statistic="mean")
    assert result.n_splits == 6
    assert result.pbo == pytest.approx(4 / 6, rel=1e-12)
    ln2 = math.log(2.0)
    assert result.logits == pytest.approx((ln2, -ln2, -ln2, -ln2, -ln2, ln2), rel=1e-12)


def test_three_strategies_a_median_rank_counts_as_overfit() -> None:
    # C's half means: {0,1} .8, {0,2} .6, {0,3} 1.5, {1,2} 1.2, {1,3} 2.1, {2,3} 1.9; omega = rank / 4
    # {0,1}: IS (2, 1.6, .8) -> A; OOS {2,3} (2, 1.6, 1.9): A rank 3, omega 3/4, lambda +ln 3
    # {0,2}: IS (3.5, 1.6, .6) -> A; OOS {1,3} (.5, 1.6, 2.1): rank 1, lambda -ln 3       overfit
    # {0,3}: IS (2.5, 1.6, 1.5) -> A; OOS {1,2} (1.5, 1.6, 1.2): rank 2, omega 1/2, lambda 0  overfit
    # {1,2}: IS (1.5, 1.6, 1.2) -> B; OOS {0,3} (2.5, 1.6, 1.5): rank 2, lambda 0          overfit
    # {1,3}: IS (.5, 1.6, 2.1) -> C; OOS {0,2} (3.5, 1.6, .6): rank 1, lambda -ln 3        overfit
    # {2,3}: IS (2, 1.6, 1.9) -> A; OOS {0,1} (2, 1.6, .8): rank 3, lambda +ln 3
    result = cscv_pbo(np.column_stack([A, B, C]), n_blocks=4, statistic="mean")
    assert result.pbo == pytest.approx(4 / 6, rel=1e-12)
    ln3 = math.log(3.0)
    assert result.logits == pytest.approx((ln3, -ln3, 0.0, 0.0, -ln3, ln3), abs=1e-12)


def test_a_strategy_best_everywhere_has_pbo_zero() -> None:
    rng = np.random.default_rng(11)
    m = rng.normal(0.0, 0.01, (400, 5))
    m[:, 2] += 0.05  # five standard deviations better every hour: best in and out of every split
    result = cscv_pbo(m, n_blocks=8)
    assert result.n_splits == n_splits(8) == 70
    assert result.pbo == 0.0
    assert min(result.logits) == pytest.approx(math.log(5 / 6 / (1 - 5 / 6)), rel=1e-12)


def test_pure_noise_is_overfit_about_half_the_time() -> None:
    # No configuration has an edge, so the in-sample best lands anywhere out of sample; averaged over
    # seeds the PBO is near 1/2 (with N = 10 the median rank 5 of 10 is below the mid-point, so a
    # little above 1/2 is expected; the band is loose on purpose).
    pbos = [cscv_pbo(np.random.default_rng(seed).normal(0.0, 0.01, (480, 10)), n_blocks=8).pbo for seed in range(30)]
    assert 0.4 <= float(np.mean(pbos)) <= 0.65


def _loop_reference(m: np.ndarray, s: int) -> float:
    """The paper's algorithm written as a plain loop over splits, Sharpe with numpy's own std."""
    rows = len(m) // s
    m = m[len(m) - rows * s:]
    blocks = [m[i * rows:(i + 1) * rows] for i in range(s)]
    overfit = 0
    combos = list(itertools.combinations(range(s), s // 2))
    for combo in combos:
        j = np.vstack([blocks[i] for i in combo])
        jbar = np.vstack([blocks[i] for i in range(s) if i not in combo])
        r_in = j.mean(axis=0) / j.std(axis=0, ddof=1)
        r_out = jbar.mean(axis=0) / jbar.std(axis=0, ddof=1)
        omega = stats.rankdata(r_out)[int(np.argmax(r_in))] / (m.shape[1] + 1)
        overfit += math.log(omega / (1 - omega)) <= 0
    return overfit / len(combos)


@pytest.mark.parametrize(("seed", "t", "n", "s"), [(0, 100, 3, 4), (1, 203, 6, 6), (2, 96, 4, 8), (3, 50, 2, 2)])
def test_sharpe_statistic_matches_a_plain_loop(seed: int, t: int, n: int, s: int) -> None:
    m = np.random.default_rng(seed).normal(0.001, 0.01, (t, n)) + np.linspace(0, 0.002, n)
    assert cscv_pbo(m, n_blocks=s).pbo == pytest.approx(_loop_reference(m, s), abs=1e-12)


def test_leftover_rows_are_the_earliest_and_are_dropped() -> None:
    m = np.column_stack([A, B])
    padded = np.vstack([[[-100.0, 100.0]], m])  # one extra row first: 5 rows, 4 blocks of 1
    assert cscv_pbo(padded, 4, "mean").logits == cscv_pbo(m, 4, "mean").logits


def test_a_configuration_that_never_varies_ranks_last() -> None:
    # column 0 is flat (no Sharpe anywhere), column 1 loses steadily, column 2 is noise around 0
    rng = np.random.default_rng(5)
    m = np.column_stack([np.zeros(80), rng.normal(-0.01, 0.001, 80), rng.normal(0.0, 0.01, 80)])
    result = cscv_pbo(m, n_blocks=4)
    assert np.isfinite(result.logits).all()  # the flat column is never picked, so no NaN rank


@pytest.mark.parametrize(("matrix", "s", "message"), [
    (np.zeros((10,)), 4, "T x N"),
    (np.zeros((10, 1)), 4, "N >= 2"),
    (np.array([[0.0, np.nan]] * 8), 4, "finite"),
    (np.zeros((10, 2)), 3, "even"),
    (np.zeros((10, 2)), 0, "even"),
    (np.zeros((3, 2)), 4, "cannot fill"),
    (np.zeros((3, 2)), 2, "cannot fill"),
])
def test_malformed_input_is_refused(matrix: np.ndarray, s: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cscv_pbo(matrix, n_blocks=s)
