"""The deflated Sharpe ratio: how likely a backtest's Sharpe is real after choosing it among many trials.

Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for Selection
Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 94–107.

Every Sharpe ratio here is **per observation** (not annualised): mean / std of the per-period
returns. Divide an annualised one by √(periods per year) first, or the probabilities saturate at 1.
Kurtosis is the **raw** fourth standardised moment γ4 (3 for a normal), never the excess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Euler–Mascheroni constant γ of the expected-maximum formula.
EULER_GAMMA = 0.5772156649


def probabilistic_sharpe(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """Probability that the true Sharpe ratio exceeds ``sr_benchmark``, given the observed one.

    Bailey & López de Prado (2014), the PSR they take from Bailey & López de Prado (2012),
    "The Sharpe Ratio Efficient Frontier":

        PSR(SR*) = Φ( (SR − SR*) · √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

    Parameters
    ----------
    sr, sr_benchmark : float
        Observed and benchmark Sharpe ratios, per observation.
    n_obs : int
        T, the number of returns behind ``sr``.
    skew : float
        γ3, the returns' skewness.
    kurtosis : float
        γ4, the returns' raw kurtosis (3 for normal returns).

    Returns
    -------
    float
        A probability in [0, 1]; NaN where an input is NaN.

    Raises
    ------
    ValueError
        ``n_obs`` < 2, or a denominator 1 − γ3·SR + (γ4 − 1)/4·SR² that is not positive (moments
        no distribution has: Pearson's γ4 ≥ 1 + γ3² keeps it ≥ 0).
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be at least 2, got {n_obs!r}")
    variance_term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if variance_term <= 0.0:  # NaN compares false and flows on to a NaN probability
        raise ValueError(f"1 - skew*sr + (kurtosis-1)/4*sr^2 must be positive, got {variance_term!r}")
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance_term)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` independent trials whose true Sharpe is 0.

    Bailey & López de Prado (2014), the expected maximum of N standard normal Sharpe estimates by
    extreme value theory, scaled by their standard deviation:

        SR0 = √V · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) )

    with V the variance of the trials' Sharpe ratios and γ :data:`EULER_GAMMA`. One trial involves
    no selection: SR0 = 0 (the formula's Φ⁻¹(0) = −∞ would say otherwise).

    Parameters
    ----------
    sr_variance : float
        V, per-observation Sharpe ratios squared; NaN gives NaN (except for one trial).
    n_trials : int
        N ≥ 1.

    Returns
    -------
    float
        SR0, per observation.
    """
    if int(n_trials) != n_trials or n_trials < 1:
        raise ValueError(f"n_trials must be a whole number >= 1, got {n_trials!r}")
    if sr_variance < 0.0:
        raise ValueError(f"sr_variance must be non-negative, got {sr_variance!r}")
    if n_trials == 1:
        return 0.0
    quantiles = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(math.sqrt(sr_variance) * quantiles)


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of one selected strategy and what went into it.

    ``sr`` and ``sr0`` are per observation; ``kurtosis`` is raw (3 for normal returns); ``dsr`` is
    the probability that the true Sharpe exceeds ``sr0``. ``reason`` says why ``dsr`` is NaN.
    """

    sr: float
    sr0: float
    dsr: float
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float
    reason: str | None = None

    @property
    def psr(self) -> float:
        """The same number by its other name: the PSR against the benchmark SR0."""
        return self.dsr


def _moments(r: np.ndarray) -> tuple[float, float, float]:
    """Per-observation Sharpe (std ddof 1), skewness and raw kurtosis (plug-in moments, scipy defaults).

    The plug-in (biased) moments are those of the sample's own distribution, so they obey Pearson's
    inequality and the PSR denominator cannot go negative.
    """
    sd = float(np.std(r, ddof=1))
    sr = float(np.mean(r) / sd) if sd > 0.0 else float("nan")
    skew = float(stats.skew(r)) if sd > 0.0 else float("nan")
    kurt = float(stats.kurtosis(r, fisher=False)) if sd > 0.0 else float("nan")
    return sr, skew, kurt


def deflated_sharpe(returns: object, n_trials: int, trial_sharpes: object) -> DeflatedSharpe:
    """Deflated Sharpe ratio of the selected strategy's ``returns`` among ``n_trials`` trials.

    Bailey & López de Prado (2014): the PSR against the benchmark SR* = SR0,
    SR0 = :func:`expected_max_sharpe` (var(trial_sharpes, ddof=1), n_trials), then
    DSR = :func:`probabilistic_sharpe` (SR, SR0, T, γ3, γ4) with the returns' own skewness and raw
    kurtosis.

    Parameters
    ----------
    returns : array of float
        The selected strategy's per-period returns (fractions); NaN rows are dropped.
    n_trials : int
        Every configuration tried, logged or not: at least ``len(trial_sharpes)``.
    trial_sharpes : array of float
        Per-observation Sharpe ratios of the trials (the selected one included); NaN ones dropped.

    Returns
    -------
    DeflatedSharpe
        ``dsr`` NaN, with ``reason``, where fewer than 2 returns or trial Sharpes remain (with
        ``n_trials`` ≥ 2), where the returns do not vary, or where their moments are degenerate.

    Raises
    ------
    ValueError
        ``n_trials`` below 1 or below the number of trial Sharpes given.
    """
    sharpes = np.asarray(trial_sharpes, dtype="float64").ravel()
    if int(n_trials) != n_trials or n_trials < max(1, len(sharpes)):
        raise ValueError(f"n_trials ({n_trials!r}) must be >= 1 and >= len(trial_sharpes) ({len(sharpes)})")
    sharpes = sharpes[~np.isnan(sharpes)]
    r = np.asarray(returns, dtype="float64").ravel()
    r = r[~np.isnan(r)]
    n_trials, n_obs = int(n_trials), len(r)
    sr, skew, kurt = _moments(r) if n_obs >= 2 else (float("nan"),) * 3
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) >= 2 else float("nan")
    sr0 = expected_max_sharpe(variance, n_trials)

    def result(dsr: float, reason: str | None) -> DeflatedSharpe:
        return DeflatedSharpe(sr, sr0, dsr, n_trials, n_obs, skew, kurt, reason)

    if n_obs < 2:
        return result(float("nan"), f"{n_obs} return(s): a Sharpe ratio needs at least 2")
    if not np.isfinite(sr):
        return result(float("nan"), "the returns do not vary: no Sharpe ratio")
    if not np.isfinite(sr0):
        return result(float("nan"), f"{len(sharpes)} trial Sharpe ratio(s): their variance needs at least 2")
    try:
        return result(probabilistic_sharpe(sr, sr0, n_obs, skew, kurt), None)
    except ValueError as err:
        return result(float("nan"), f"degenerate moments: {err}")
