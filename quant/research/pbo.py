"""The probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, D. H., Borwein, J. M., López de Prado, M. & Zhu, Q. J. (2017), "The Probability of Backtest
Overfitting", Journal of Computational Finance 20(4), 39–69, section 2 (the CSCV algorithm):

1. M is the T × N matrix of per-period returns of N configurations over the same T periods.
2. Cut its rows into S disjoint blocks of T/S consecutive rows (S even).
3. Each of the C(S, S/2) combinations c of S/2 blocks is an in-sample set J; the other S/2
   blocks are its out-of-sample complement J̄.
4. On J, pick the best configuration n* by the performance statistic R (Sharpe, per observation).
   On J̄, its relative rank is ω̄_c = rank(R̄_{n*}) / (N + 1), rank 1 the worst out of sample, and
   its logit λ_c = ln(ω̄_c / (1 − ω̄_c)).
5. PBO = #{c : λ_c ≤ 0} / C(S, S/2): the share of splits where the in-sample best ranks at or
   below the out-of-sample median.

Conventions the paper leaves open, chosen here: the T mod S rows left over are the *earliest* ones
and are dropped (the recent past is kept); an in-sample tie goes to the first configuration (the
lowest column); out-of-sample ties share their average rank; a configuration whose returns do not
vary on a half has no Sharpe there and ranks last on it (no evidence is the worst evidence).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

#: Blocks the journal cuts a sweep's training returns into (the paper's examples use S = 16).
DEFAULT_BLOCKS = 16
#: Rows each block needs at least: a Sharpe ratio on a half needs two returns per column.
MIN_ROWS_PER_BLOCK = 1

Statistic = Literal["sharpe", "mean"]


@dataclass(frozen=True)
class PBOResult:
    """The CSCV outcome: ``pbo`` in [0, 1] and the split geometry behind it.

    ``logits`` holds λ_c per split in the order of ``itertools.combinations(range(S), S/2)``; it is
    not persisted by the journal (only the summary is), so a loaded result has an empty one.
    """

    pbo: float
    n_blocks: int
    n_splits: int
    n_strategies: int
    n_rows: int
    logits: tuple[float, ...] = field(default=(), compare=False, repr=False)

    def summary(self) -> dict[str, float | int]:
        """The fields the journal stores (everything but the logits)."""
        return {"pbo": self.pbo, "n_blocks": self.n_blocks, "n_splits": self.n_splits,
                "n_strategies": self.n_strategies, "n_rows": self.n_rows}


def _block_sums(m: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block and column: count, Σx and Σx² of the returns shifted by the column mean.

    The shift leaves the variance unchanged and keeps Σx² − (Σx)²/n from cancelling; a constant
    column becomes exactly 0 so its variance is exactly 0.
    """
    rows = m.shape[0] // n_blocks
    kept = m[m.shape[0] - rows * n_blocks:]
    shift = kept.mean(axis=0)
    blocks = (kept - shift).reshape(n_blocks, rows, m.shape[1])
    counts = np.full(n_blocks, float(rows))
    return counts, blocks.sum(axis=1), (blocks**2).sum(axis=1), shift


def _statistic(n: np.ndarray, s1: np.ndarray, s2: np.ndarray, shift: np.ndarray, kind: Statistic) -> np.ndarray:
    """Mean or Sharpe (mean / std, ddof 1) per split and column from the shifted sums; NaN where undefined."""
    n = n[:, None]
    mean = s1 / n
    if kind == "mean":
        return mean + shift
    var = (s2 - s1 * mean) / (n - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0.0, (mean + shift) / np.sqrt(var), np.nan)


def cscv_pbo(returns: object, n_blocks: int = DEFAULT_BLOCKS, statistic: Statistic = "sharpe") -> PBOResult:
    """Probability of backtest overfitting of picking the best of N configurations (CSCV, see the module).

    Parameters
    ----------
    returns : array-like of float, shape (T, N)
        Per-period returns (fractions) of N ≥ 2 configurations over the same T periods; a pandas
        DataFrame works (its columns are the configurations). Every entry must be finite.
    n_blocks : int
        S, even and ≥ 2, with at least one row per block (two with S = 2 and the Sharpe, which
        needs two returns in each half).
    statistic : {"sharpe", "mean"}
        R: the per-observation Sharpe ratio (mean / std, ddof 1) or the mean return.

    Returns
    -------
    PBOResult
        ``pbo`` = share of the C(S, S/2) splits with λ ≤ 0.

    Raises
    ------
    ValueError
        Not two-dimensional, fewer than 2 configurations, a non-finite entry, S odd or below 2, or
        too few rows for S blocks.
    """
    m = np.asarray(returns, dtype="float64")
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"returns must be a T x N matrix with N >= 2 configurations, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("returns must be finite: a NaN or infinite return has no rank")
    if int(n_blocks) != n_blocks or n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even whole number >= 2, got {n_blocks!r}")
    rows_needed = n_blocks * (2 if (statistic == "sharpe" and n_blocks == 2) else MIN_ROWS_PER_BLOCK)
    if m.shape[0] < rows_needed:
        raise ValueError(f"{m.shape[0]} rows cannot fill {n_blocks} blocks (need at least {rows_needed})")
    counts, s1, s2, shift = _block_sums(m, n_blocks)
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    chosen = np.zeros((len(combos), n_blocks))
    for i, combo in enumerate(combos):
        chosen[i, list(combo)] = 1.0
    rest = 1.0 - chosen
    r_in = _statistic(chosen @ counts, chosen @ s1, chosen @ s2, shift, statistic)
    r_out = _statistic(rest @ counts, rest @ s1, rest @ s2, shift, statistic)
    best = np.argmax(np.nan_to_num(r_in, nan=-np.inf), axis=1)  # first column wins a tie
    ranks = stats.rankdata(np.nan_to_num(r_out, nan=-np.inf), axis=1)  # 1 = worst, ties averaged
    omega = ranks[np.arange(len(combos)), best] / (m.shape[1] + 1.0)
    logits = np.log(omega / (1.0 - omega))
    pbo = float(np.mean(logits <= 0.0))
    return PBOResult(pbo, int(n_blocks), len(combos), int(m.shape[1]), int(m.shape[0]),
                     tuple(float(x) for x in logits))


def n_splits(n_blocks: int) -> int:
    """C(S, S/2): how many in-sample / out-of-sample splits CSCV forms from ``n_blocks`` blocks."""
    return math.comb(n_blocks, n_blocks // 2)
