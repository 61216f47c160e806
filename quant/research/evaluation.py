"""What an evaluation returns, the metrics of one window, and the bar they must clear.

The journal never runs a strategy itself: it calls an :class:`Evaluator` (the range backtest
engine in production, fakes in the tests) with a strategy name, a parameter set and a window, and
gets back the hourly returns and the trade count. Everything below is computed from those two.

Metrics of a window (``HOURS_PER_YEAR`` = 8760, r the hourly returns as fractions):

* ``apr = mean(r) × 8760`` — simple, not compounded (as ``quant.report.tables``).
* ``sharpe = mean(r) / std(r, ddof 1) × √8760``; ``sharpe_per_obs`` the same without √8760, the
  number the deflated Sharpe ratio reads (``quant.report.deflated``).
* ``max_drawdown = max_t (1 − E_t / max_{s ≤ t} E_s)`` with E the compounded equity, E_0 = 1.
* ``skew`` γ3 and ``kurtosis`` γ4, the raw (not excess) fourth standardised moment, plug-in.

A window holding any non-finite return has every metric NaN: what was seen there has no APR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy import stats

from quant.ml.metrics import sharpe
from quant.report.deflated import DeflatedSharpe
from quant.report.tables import HOURS_PER_YEAR
from quant.research.fmt import finite, num, pct
from quant.research.hypothesis import Scalar, Thresholds, Window
from quant.research.pbo import PBOResult

NAN = float("nan")


@dataclass(frozen=True)
class EvalResult:
    """One evaluation: hourly returns (fractions, indexed by UTC hour inside the window) and trades."""

    returns: pd.Series
    trades: int


class Evaluator(Protocol):
    """Runs ``strategy`` with ``params`` over ``window`` and reports its hourly returns and trade count."""

    def __call__(self, strategy: str, params: Mapping[str, Scalar], window: Window) -> EvalResult: ...


def check_result(result: EvalResult, window: Window) -> pd.Series:
    """The result's returns as float64, after checking they belong to ``window``.

    Raises
    ------
    ValueError
        Not a Series on a UTC DatetimeIndex, a duplicate hour, an hour outside [start, end) (the
        evaluator looked past its window), or a trade count that is not a whole number ≥ 0.
    """
    r = result.returns
    if not isinstance(r, pd.Series) or not isinstance(r.index, pd.DatetimeIndex) or r.index.tz is None:
        raise ValueError("an evaluator must return its returns as a Series on a tz-aware DatetimeIndex")
    if r.index.has_duplicates:
        raise ValueError("an evaluator returned one hour twice")
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    if len(r) and (r.index.min() < start or r.index.max() >= end):
        raise ValueError(f"an evaluator returned hours outside its window {window}")
    trades = result.trades
    if isinstance(trades, bool) or not isinstance(trades, int | np.integer) or trades < 0:
        raise ValueError(f"trade count must be a whole number >= 0, got {trades!r}")
    return r.sort_index().astype("float64")


@dataclass(frozen=True)
class WindowMetrics:
    """What was seen on one window; see the module docstring for each formula."""

    window: Window
    hours: int
    nonfinite: int
    trades: int
    apr: float
    sharpe: float
    sharpe_per_obs: float
    max_drawdown: float
    skew: float
    kurtosis: float

    def to_dict(self) -> dict:
        return {**vars(self), "window": self.window.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping) -> WindowMetrics:
        floats = {k: float(d[k]) for k in ("apr", "sharpe", "sharpe_per_obs", "max_drawdown", "skew", "kurtosis")}
        return cls(window=Window.from_dict(d["window"]), hours=int(d["hours"]), nonfinite=int(d["nonfinite"]),
                   trades=int(d["trades"]), **floats)


def max_drawdown(r: np.ndarray) -> float:
    """Largest fall of the compounded equity (from 1) below its running peak, as a fraction; NaN if empty."""
    if not len(r):
        return NAN
    equity = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return float(np.max(1.0 - equity / peak))


def window_metrics(returns: pd.Series, trades: int, window: Window) -> WindowMetrics:
    """Metrics of one window's hourly ``returns`` (already checked by :func:`check_result`)."""
    values = returns.to_numpy(dtype="float64")
    bad = int((~np.isfinite(values)).sum())
    r = values if not bad else np.array([])
    varies = len(r) >= 2 and float(np.std(r)) > 0.0
    return WindowMetrics(
        window=window, hours=len(values), nonfinite=bad, trades=int(trades),
        apr=float(np.mean(r) * HOURS_PER_YEAR) if len(r) else NAN,
        sharpe=sharpe(r, HOURS_PER_YEAR), sharpe_per_obs=sharpe(r, 1.0),
        max_drawdown=max_drawdown(r),
        skew=float(stats.skew(r)) if varies else NAN,
        kurtosis=float(stats.kurtosis(r, fisher=False)) if varies else NAN,
    )


def _bar(label: str, value: float, passes: bool, shown: str, bar: str, relation: str) -> str | None:
    """The reason a number fails its bar, or None; a non-finite number always fails."""
    if not finite(value):
        return f"{label} is n/a (a missing number never passes)"
    return None if passes else f"{label} {shown} {relation} {bar}"


def judge(
    m: WindowMetrics, t: Thresholds, dsr: DeflatedSharpe | None, pbo: PBOResult | None, *, sweep: bool
) -> list[str]:
    """Every reason ``m`` fails the bar ``t``; an empty list is the only way to VALIDATED.

    Comparisons are written so that NaN fails them (``not x >= bar``), and each bar names its own
    reason. ``dsr`` None (not computed) fails like a NaN one; ``pbo`` is judged on sweeps only.
    """
    reasons = [f"{m.nonfinite} non-finite hourly return(s)"] if m.nonfinite else []
    reasons += [r for r in (
        _bar("APR", m.apr, m.apr >= t.min_apr, pct(m.apr), pct(t.min_apr), "<"),
        _bar("Sharpe", m.sharpe, m.sharpe >= t.min_sharpe, num(m.sharpe), num(t.min_sharpe), "<"),
        _bar("max drawdown", m.max_drawdown, m.max_drawdown <= t.max_drawdown,
             pct(m.max_drawdown, False), pct(t.max_drawdown, False), ">"),
    ) if r]
    if not m.trades >= t.min_trades:
        reasons.append(f"{m.trades} trade(s) < {t.min_trades}: too few to judge")
    dsr_value = dsr.dsr if dsr is not None else NAN
    if not finite(dsr_value):
        reasons.append(f"DSR is n/a ({dsr.reason if dsr is not None and dsr.reason else 'not computed'})")
    elif not dsr_value >= t.min_dsr:
        reasons.append(f"DSR {dsr_value:.2f} < {t.min_dsr:.2f} over {dsr.n_trials} trial(s)")
    if sweep:
        value = pbo.pbo if pbo is not None else NAN
        if not finite(value):
            reasons.append("PBO is n/a (a sweep without it never passes)")
        elif not value < t.max_pbo:
            reasons.append(f"PBO {value:.2f} >= {t.max_pbo:.2f}: the in-sample best is no better than a coin flip")
    return reasons


def metric_values(m: WindowMetrics) -> tuple[float, ...]:
    """The numbers a VALIDATED verdict stands on (each must be finite)."""
    return (m.apr, m.sharpe, m.sharpe_per_obs, m.max_drawdown)

