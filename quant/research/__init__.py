"""Research: the experiment journal (hypotheses, verdicts that cannot fool themselves) and parameter search.

A :class:`Hypothesis` is declared first (strategy, parameters or a grid, thresholds, train /
validation / test windows); a :class:`Journal` runs it through an :class:`Evaluator`, judges the
validation window, counts every configuration as a trial, deflates the Sharpe ratio over that count,
scores sweeps by the probability of backtest overfitting (:func:`cscv_pbo`), flags one-regime
validation windows, and lets the test window be looked at once. :func:`render_journal` prints it.

The face of ``quant.research``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.research.entry import Entry, Trial, Verdict
from quant.research.evaluation import EvalResult, Evaluator, WindowMetrics, judge, window_metrics
from quant.research.hypothesis import Hypothesis, Thresholds, Window
from quant.research.journal import Journal
from quant.research.pbo import PBOResult, cscv_pbo
from quant.research.regime_window import Market, MarketContext, RegimeFlag, regime_flag
from quant.research.render import render_entry, render_journal
from quant.research.store import JournalCorrupt, load

__all__ = [
    "Entry",
    "EvalResult",
    "Evaluator",
    "Hypothesis",
    "Journal",
    "JournalCorrupt",
    "Market",
    "MarketContext",
    "PBOResult",
    "RegimeFlag",
    "Thresholds",
    "Trial",
    "Verdict",
    "Window",
    "WindowMetrics",
    "cscv_pbo",
    "judge",
    "load",
    "regime_flag",
    "render_entry",
    "render_journal",
    "window_metrics",
]
