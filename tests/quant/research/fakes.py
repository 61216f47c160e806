"""Hand-written fakes for the journal: an evaluator returning constructed hourly returns, a market."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from quant.research import EvalResult, Hypothesis, MarketContext, Thresholds, Window

JAN, FEB, MAR, APR, MAY, JUN, JUL = (datetime(2025, m, 1, tzinfo=UTC) for m in range(1, 8))
TRAIN, VALIDATION, TEST = Window(JAN, FEB), Window(FEB, MAR), Window(MAR, APR)
BAR = Thresholds(min_apr=0.05, min_sharpe=1.0, max_drawdown=0.3, min_trades=10)


def hours(window: Window) -> pd.DatetimeIndex:
    return pd.date_range(window.start, window.end, freq="h", inclusive="left")


def noise(window: Window, mu: float, sigma: float, seed: int) -> pd.Series:
    """Normal draws over every hour of ``window``, rescaled to mean exactly ``mu`` and std (ddof 1) ``sigma``."""
    idx = hours(window)
    z = np.random.default_rng(seed).standard_normal(len(idx))
    return pd.Series(mu + sigma * (z - z.mean()) / z.std(ddof=1), index=idx)


def good(window: Window, seed: int = 7) -> pd.Series:
    """Sharpe exactly 0.125 an hour (11.7 a year): validates on any month with room to spare."""
    return noise(window, 0.0005, 0.004, seed)


Returns = Callable[[str, Mapping, Window], pd.Series]


@dataclass
class FakeEvaluator:
    """Returns what ``returns(strategy, params, window)`` builds, with ``trades`` trades; logs every call."""

    returns: Returns
    trades: int = 50
    calls: list[tuple[str, dict, Window]] = field(default_factory=list)

    def __call__(self, strategy: str, params: Mapping, window: Window) -> EvalResult:
        self.calls.append((strategy, dict(params), window))
        return EvalResult(self.returns(strategy, params, window), self.trades)


def always_good(strategy: str, params: Mapping, window: Window) -> pd.Series:
    return good(window)


def mixed_market(window: Window) -> MarketContext:
    """A benchmark zig-zagging ±1% (no trend) through three regime labels in turn."""
    idx = hours(window)
    steps = np.where(np.arange(len(idx)) % 2 == 0, 0.01, -0.01)
    labels = np.array(["trend", "range", "high_vol"])[np.arange(len(idx)) % 3]
    return MarketContext(pd.Series(100 * np.exp(np.cumsum(steps)), index=idx), pd.Series(labels, index=idx))


def bull_market(window: Window) -> MarketContext:
    """A benchmark rising 0.1% every hour with ±0.5% noise: a one-sided window."""
    idx = hours(window)
    steps = 0.001 + np.random.default_rng(3).normal(0.0, 0.005, len(idx))
    return MarketContext(pd.Series(100 * np.exp(np.cumsum(steps)), index=idx))


def hypothesis(hid: str = "h1", **overrides) -> Hypothesis:
    fields = {"id": hid, "claim": "the fake strategy earns", "strategy": "fake", "train": TRAIN,
              "validation": VALIDATION, "test": TEST, "thresholds": BAR, "params": {"lookback": 24}}
    return Hypothesis(**{**fields, **overrides})
