"""Is a validation window inside one market regime? A bull quarter validates only bull strategies.

Two criteria, either of which flags the window (``one_regime`` True):

* **one-sided trend** — the benchmark's buy-and-hold log return over the window in units of what a
  driftless random walk with the window's own hourly volatility would travel:
  ``trend_z = ln(P_last / P_first) / (σ_h · √n)``, σ_h the standard deviation (ddof 1) of the n
  hourly log returns. Without drift trend_z is ≈ N(0, 1), so ``|trend_z| ≥ ONE_SIDED_TREND_Z``
  (2) is a window that mostly went one way (+60% in a quarter at 0.5%/h volatility gives ≈ 2).
* **one regime label** — of the hours with a known label of :func:`quant.features.regime_scores`
  (``"unknown"`` left out, ``"neutral"`` counted), the most common label holds at least
  ``ONE_REGIME_SHARE`` (80%; the bundled sample's most common label, range, holds 41%).

When neither can be computed (no benchmark prices, no known labels) ``one_regime`` is None: the
regime is unknown, and the journal treats unknown like one regime (nothing missing ever passes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.features.regime import UNKNOWN
from quant.research.fmt import finite, pct
from quant.research.hypothesis import Window

#: |trend_z| at or above this is a one-sided window (two random-walk standard deviations).
ONE_SIDED_TREND_Z = 2.0
#: Share of known-label hours in one regime label at or above which the window is one regime.
ONE_REGIME_SHARE = 0.8

NAN = float("nan")


@dataclass(frozen=True)
class MarketContext:
    """The market over a window: the benchmark's hourly closes and, optionally, hourly regime labels."""

    benchmark_close: pd.Series
    regimes: pd.Series | None = None


#: Window → its market context; the wiring reads the benchmark (e.g. BTC perp) and its regime labels.
Market = Callable[[Window], MarketContext]


@dataclass(frozen=True)
class RegimeFlag:
    """Whether a window is inside one regime (None: unknown) and the numbers behind the call."""

    one_regime: bool | None
    trend_z: float
    buy_hold_return: float
    dominant_label: str | None
    dominant_share: float

    def describe(self) -> str:
        """One line: "one regime (bull trend, trend z +2.40; 87% 'trend')" and the like."""
        if self.one_regime is None:
            return "regime unknown (no benchmark prices, no known labels)"
        share = f"; {pct(self.dominant_share, False)} '{self.dominant_label}'" if self.dominant_label else ""
        side = "bull" if self.trend_z > 0 else "bear"
        sided = f"{side} trend, " if finite(self.trend_z) and abs(self.trend_z) >= ONE_SIDED_TREND_Z else ""
        head = "one regime" if self.one_regime else "mixed regimes"
        trend = f"trend z {self.trend_z:+.2f}" if finite(self.trend_z) else "trend z n/a"
        return f"{head} ({sided}{trend}, buy & hold {pct(self.buy_hold_return)}{share})"

    def to_dict(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, d: dict) -> RegimeFlag:
        one = d["one_regime"]
        return cls(None if one is None else bool(one), float(d["trend_z"]), float(d["buy_hold_return"]),
                   d["dominant_label"], float(d["dominant_share"]))


def trend_z(close: pd.Series) -> tuple[float, float]:
    """(trend_z, buy-and-hold simple return) of hourly closes; NaN for fewer than 3 prices or no variation."""
    p = close.dropna().to_numpy(dtype="float64")
    p = p[p > 0.0]
    if len(p) < 3:
        return NAN, NAN
    log_r = np.diff(np.log(p))
    sd = float(np.std(log_r, ddof=1))
    total = float(np.log(p[-1] / p[0]))
    z = total / (sd * np.sqrt(len(log_r))) if sd > 0.0 else NAN
    return z, float(np.expm1(total))


def dominant_label(regimes: pd.Series | None) -> tuple[str | None, float]:
    """The most common known label and its share of the known-label hours; (None, NaN) if none is known."""
    if regimes is None:
        return None, NAN
    known = regimes[regimes.notna() & (regimes != UNKNOWN)]
    if not len(known):
        return None, NAN
    counts = known.value_counts()
    return str(counts.index[0]), float(counts.iloc[0] / len(known))


def regime_flag(context: MarketContext) -> RegimeFlag:
    """Flag a window from its market context (see the module docstring for both criteria)."""
    z, buy_hold = trend_z(context.benchmark_close)
    label, share = dominant_label(context.regimes)
    votes = [abs(z) >= ONE_SIDED_TREND_Z] if finite(z) else []
    votes += [share >= ONE_REGIME_SHARE] if finite(share) else []
    return RegimeFlag(any(votes) if votes else None, z, buy_hold, label, share)

