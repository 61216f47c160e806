"""Out-of-sample scores (``quant.ml.metrics``): hand-checked numbers, baselines on the same rows, AUC by pair counting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.ml.metrics import EPS, fold_metrics, sharpe, trade_returns

Y = [1, 0, 1, 0]
P = [0.9, 0.2, 0.6, 0.4]


def auc_by_pairs(y: np.ndarray, p: np.ndarray) -> float:
    """The AUC as its definition: the share of (positive, negative) pairs the positive wins, ties counted half."""
    wins = 0.0
    pairs = 0
    for p_pos in p[y == 1]:
        for p_neg in p[y == 0]:
            pairs += 1
            wins += 1.0 if p_pos > p_neg else 0.5 if p_pos == p_neg else 0.0
    return wins / pairs


def test_scores_by_hand() -> None:
    got = fold_metrics(Y, P)
    assert got["n"] == 4
    assert got["n_dropped"] == 0
    assert got["base_rate"] == 0.5
    # −mean(ln .9, ln .8, ln .6, ln .6) = (0.1053605 + 0.2231436 + 2 · 0.5108256) / 4 = 0.3375388
    expected = -(math.log(0.9) + math.log(0.8) + 2 * math.log(0.6)) / 4
    assert got["log_loss"] == pytest.approx(expected, rel=1e-12)
    assert got["log_loss"] == pytest.approx(0.3375388, abs=1e-7)
    assert got["auc"] == 1.0  # both positives (.9, .6) above both negatives (.2, .4)
    assert got["hit_rate"] == 1.0  # p >= .5 gives 1, 0, 1, 0
    assert got["brier"] == pytest.approx((0.01 + 0.04 + 0.16 + 0.16) / 4, rel=1e-12)


def test_calibration_by_hand() -> None:
    got = fold_metrics(Y, P)
    # one row in each of bins 2, 4, 6, 9: |.2-0| + |.4-0| + |.6-1| + |.9-1| = 1.1, weighted 1/4 each
    assert got["ece"] == pytest.approx(0.275, rel=1e-12)
    table = got["calibration"]
    assert len(table) == 10
    assert [b["n"] for b in table] == [0, 0, 1, 0, 1, 0, 1, 0, 0, 1]
    assert table[6] == {"lo": pytest.approx(0.6), "hi": pytest.approx(0.7), "n": 1, "mean_p": 0.6, "observed_rate": 1.0}
    assert math.isnan(table[0]["mean_p"])
    assert math.isnan(table[0]["observed_rate"])


def test_calibration_bins_are_equal_width_and_the_last_one_holds_one() -> None:
    got = fold_metrics([1, 1, 0, 0], [0.95, 1.0, 0.05, 0.0])
    assert [b["n"] for b in got["calibration"]] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert got["calibration"][9]["mean_p"] == pytest.approx(0.975)
    assert got["ece"] == pytest.approx(0.5 * 0.025 + 0.5 * 0.025)


@pytest.mark.parametrize(
    ("y", "p", "auc"),
    [
        # positives .8, .3 vs negatives .5, .1: (.8>.5) (.8>.1) (.3<.5) (.3>.1) -> 3 of 4 pairs
        ([1, 1, 0, 0], [0.8, 0.3, 0.5, 0.1], 0.75),
        # positives .7, .4 vs negatives .7, .2, .9: .5 + 1 + 0 + 0 + 1 + 0 = 2.5 of 6 pairs (a tie counts half)
        ([1, 0, 1, 0, 0], [0.7, 0.7, 0.4, 0.2, 0.9], 2.5 / 6),
        ([0, 1], [0.9, 0.1], 0.0),
    ],
)
def test_auc_by_counting_pairs_by_hand(y: list[int], p: list[float], auc: float) -> None:
    assert fold_metrics(y, p)["auc"] == pytest.approx(auc, rel=1e-12)


def test_auc_agrees_with_pairwise_counting_on_random_rows_with_ties() -> None:
    rng = np.random.default_rng(7)
    y = (rng.random(300) < 0.35).astype(float)
    p = np.round(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.25, 300), 0, 1), 1)  # rounding makes ties
    assert fold_metrics(y, p)["auc"] == pytest.approx(auc_by_pairs(y, p), rel=1e-12)


def test_one_class_only_gives_a_nan_auc_never_a_crash() -> None:
    got = fold_metrics([1, 1, 1], [0.9, 0.4, 0.7], momentum_sign=[1, -1, 1])
    assert math.isnan(got["auc"])
    assert math.isnan(got["baselines"]["momentum_sign"]["auc"])
    assert got["hit_rate"] == pytest.approx(2 / 3)
    assert got["base_rate"] == 1.0


def test_the_flat_baseline_by_hand() -> None:
    flat = fold_metrics(Y, P, train_base_rate=0.25)["baselines"]["always_flat"]
    assert flat["hit_rate"] == 0.5  # no trade is right on the two 0 labels
    # the constant .25 of the training rows: −(2 ln .25 + 2 ln .75) / 4 = (1.3862944 + 0.2876821) / 2
    assert flat["log_loss"] == pytest.approx(-(math.log(0.25) + math.log(0.75)) / 2, rel=1e-12)
    assert flat["log_loss"] == pytest.approx(0.8369882, abs=1e-7)
    assert flat["brier"] == pytest.approx((0.75**2 + 0.25**2) / 2, rel=1e-12)


def test_the_flat_baseline_without_a_training_rate_has_no_probabilistic_scores() -> None:
    flat = fold_metrics(Y, P)["baselines"]["always_flat"]
    assert flat["hit_rate"] == 0.5
    assert math.isnan(flat["log_loss"])
    assert math.isnan(flat["brier"])


def test_the_momentum_baseline_by_hand() -> None:
    got = fold_metrics(Y, P, momentum_sign=[1.0, 1.0, -1.0, np.nan])["baselines"]["momentum_sign"]
    # trades rows 0, 1 (positive momentum); rows 2 (negative) and 3 (unknown) stay flat
    assert got["hit_rate"] == 0.5  # right on rows 0 and 3
    hard, soft = 1.0 - EPS, EPS
    expected = -(math.log(hard) + math.log(1.0 - hard) + math.log(soft) + math.log(1.0 - soft)) / 4
    assert got["log_loss"] == pytest.approx(expected, rel=1e-12)
    assert got["log_loss"] == pytest.approx(2 * 34.5388 / 4, rel=1e-4)  # two confident misses of −ln 1e-15
    assert got["brier"] == pytest.approx(0.5, rel=1e-12)
    # positives score (high, low), negatives (high, low): tie .5 + win 1 + loss 0 + tie .5 = 2 of 4
    assert got["auc"] == pytest.approx(0.5)
    assert fold_metrics(Y, P)["baselines"]["momentum_sign"] is None


def test_probabilities_are_clipped_before_the_logarithm() -> None:
    got = fold_metrics([0, 1], [1.0, 1.0])
    assert math.isfinite(got["log_loss"])
    assert got["log_loss"] == pytest.approx(-math.log(1 - (1 - EPS)) / 2, rel=1e-9)


def test_rows_without_a_label_are_dropped_everywhere() -> None:
    got = fold_metrics([1, np.nan, 0], [0.9, 0.05, 0.2], momentum_sign=[1, 1, -1], train_base_rate=0.5)
    same = fold_metrics([1, 0], [0.9, 0.2], momentum_sign=[1, -1], train_base_rate=0.5)
    assert got["n_dropped"] == 1
    assert got["n"] == 2
    for key in ("log_loss", "auc", "hit_rate", "brier", "ece", "base_rate"):
        assert got[key] == same[key]
    assert got["baselines"] == same["baselines"]


def test_no_labelled_rows_gives_nan_scores() -> None:
    got = fold_metrics([np.nan, np.nan], [0.4, 0.6], train_base_rate=0.3)
    assert got["n"] == 0
    for key in ("log_loss", "auc", "hit_rate", "brier", "ece", "base_rate"):
        assert math.isnan(got[key]), key
    assert all(math.isnan(v) for v in got["baselines"]["always_flat"].values())


@pytest.mark.parametrize(
    ("y", "p", "kwargs"),
    [
        ([1, 0, 1], [0.5, 0.5], {}),
        ([1, 0], [0.5, 0.5], {"momentum_sign": [1, 1, 1]}),
        ([1, 2], [0.5, 0.5], {}),
        ([1, 0], [0.5, 1.2], {}),
        ([1, 0], [0.5, np.nan], {}),
    ],
    ids=["y-vs-p-length", "momentum-length", "label-not-0-1", "p-above-1", "p-nan-on-a-labelled-row"],
)
def test_bad_inputs_raise(y: list, p: list, kwargs: dict) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case names its own cause in its id
        fold_metrics(y, p, **kwargs)


def test_trade_returns_take_the_trade_only_strictly_above_the_threshold() -> None:
    got = trade_returns([0.6, 0.5, 0.4, 0.9, np.nan], [0.01, 0.02, -0.03, np.nan, 0.05])
    np.testing.assert_array_equal(got, [0.01, 0.0, 0.0, np.nan, 0.0])
    np.testing.assert_array_equal(trade_returns([0.6, 0.7], [0.01, 0.02], threshold=0.65), [0.0, 0.02])
    with pytest.raises(ValueError, match="one length"):
        trade_returns([0.6], [0.01, 0.02])


def test_sharpe_by_hand() -> None:
    # mean .02, std (ddof 1) .01: 2 per hour, × √8760 a year
    assert sharpe([0.01, 0.02, 0.03], 8760) == pytest.approx(2 * math.sqrt(8760), rel=1e-12)
    assert sharpe([0.01, np.nan, 0.02, 0.03], 8760) == pytest.approx(2 * math.sqrt(8760), rel=1e-12)
    assert sharpe([-0.01, 0.01], 1) == pytest.approx(0.0)


@pytest.mark.parametrize("returns", [[], [0.01], [0.01] * 7, [0.0, 0.0, 0.0], [np.nan, 0.02]])
def test_sharpe_of_degenerate_returns_is_nan_never_inf(returns: list[float]) -> None:
    assert math.isnan(sharpe(returns, 8760))


def test_sharpe_needs_a_positive_period_count() -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        sharpe([0.01, 0.02], 0)
