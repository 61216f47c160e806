"""A strategy's decisions on one instrument as arrays, with what repeats across a sweep's trials computed once.

A sweep calls one strategy hundreds of times on the same bars with different parameters. Through
``quant.strategies.run_strategy`` a call costs ~100 ms on a symbol-year (pandas group-bys, one
reason string per decision). Most of that repeats: Wilder's ATR(14) and DMI do not depend on any
parameter, an EMA depends on its span only, an RSI on its period, a channel on its length. For
the studies of ``quant.strategies.studies`` a :class:`SignalCache` computes each such series once,
with the study's own functions (so the same bits), and builds a trial's decisions from them with
the study's arithmetic and ``validate_decisions``'s rules in numpy. Any other strategy goes
through ``run_strategy`` itself. ``tests/quant/research/test_search.py`` proves the fast path
returns ``run_strategy``'s accepted decisions, value for value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from quant.strategies import studies as st
from quant.strategies.base import MIN_REWARD_RISK, REWARD_RISK_EPS, Strategy, StrategyInput, run_strategy


@dataclass(frozen=True)
class DecisionArrays:
    """One decision per row of the instrument's hour grid: ``sign`` +1 long, −1 short, 0 none; prices NaN where none."""

    sign: np.ndarray
    entry: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    confidence: np.ndarray

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.sign))


def _onset(state: np.ndarray) -> np.ndarray:
    """``studies.onset`` on one instrument: the state where it starts (known, non-zero, unlike the bar before), else 0."""
    prev = np.concatenate([[np.nan], state[:-1]])
    with np.errstate(invalid="ignore"):
        fire = ~np.isnan(state) & ~np.isnan(prev) & (state != 0) & (state != prev)
    return np.where(fire, state, 0.0)


def _clip_conf(x: np.ndarray) -> np.ndarray:
    """``studies.scaled`` with full = 1: clipped to [MIN_CONFIDENCE, 1], NaN kept."""
    return np.clip(x, st.MIN_CONFIDENCE, 1.0)


class SignalCache:
    """Param-independent series of one instrument's bars (sorted by hour), computed on first use and kept.

    ``bars``: one instrument's ``perp_ohlcv_1h`` rows; ``rows`` maps each (hour-sorted) row to its
    index on the grid the kernel runs over; ``data``: the instrument's full input, for strategies
    without a fast path (and for ``funding_harvest``'s funding).
    """

    def __init__(self, data: StrategyInput, rows: np.ndarray, n_grid: int) -> None:
        self.data = data
        self.bars = st.prepared(data.bars)
        self.rows = rows
        self.n_grid = n_grid
        self.close = self.bars["close"].to_numpy("float64")
        self._memo: dict[tuple, np.ndarray] = {}

    def memo(self, key: tuple, fn: Callable[[], pd.Series]) -> np.ndarray:
        if key not in self._memo:
            self._memo[key] = np.asarray(fn(), dtype="float64")
        return self._memo[key]

    @cached_property
    def atr(self) -> np.ndarray:
        return st.wilder_atr(self.bars).to_numpy("float64")

    @cached_property
    def dmi(self) -> pd.DataFrame:
        return st.wilder_adx(self.bars)

    # One instrument: ``per_instrument``'s group-by would call these on the same one series.
    def ema(self, span: int) -> np.ndarray:
        return self.memo(("ema", span), lambda: self.bars["close"].ewm(span=span, adjust=False).mean())

    def rsi(self, period: int) -> np.ndarray:
        return self.memo(("rsi", period), lambda: st.wilder_rsi(self.bars, period))

    def channel(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        b = self.bars
        hi = self.memo(("hi", n), lambda: b["high"].rolling(n, min_periods=n).max().shift(1))
        lo = self.memo(("lo", n), lambda: b["low"].rolling(n, min_periods=n).min().shift(1))
        return hi, lo

    def funding_apr(self) -> np.ndarray:
        return self.memo(("funding_apr",), lambda: st.latest_funding(self.bars, self.data.funding))

    def decisions(self, strategy: Strategy, overrides: Mapping[str, object] | None = None) -> DecisionArrays:
        """``strategy``'s accepted decisions with ``overrides`` (validated like ``run_strategy``), on the grid."""
        p = strategy.resolve(overrides)
        fast = FAST_PATHS.get(strategy.name)
        if fast is None or FAST_STRATEGIES.get(strategy.name) is not strategy.signals:
            return self._from_frame(run_strategy(strategy, self.data, p)[0])
        sign, conf = fast(self, p)
        return self._bracket(sign, float(p["atr_mult"]) * self.atr, float(p["rr"]), conf)

    def _bracket(self, sign: np.ndarray, stop_dist: np.ndarray, rr: float, conf: np.ndarray) -> DecisionArrays:
        """``studies.bracket`` then ``validate_decisions`` (one instrument: one decision per hour already)."""
        entry = self.close
        with np.errstate(invalid="ignore"):
            stop = entry - sign * stop_dist
            target = entry + sign * rr * stop_dist
            ok = (sign != 0) & (stop_dist > 0) & np.isfinite(stop_dist) & (stop > 0) & (conf > 0)
            risk = (entry - stop) * sign
            reward = (target - entry) * sign
            ok &= np.isfinite(entry) & np.isfinite(target) & (entry > 0) & (target > 0) & (risk > 0)
            ok &= (reward >= MIN_REWARD_RISK * risk * (1 - REWARD_RISK_EPS)) & (conf <= 1)
        return self._on_grid(np.flatnonzero(ok), sign, entry, stop, target, conf)

    def _on_grid(self, idx: np.ndarray, sign, entry, stop, target, conf) -> DecisionArrays:
        out = [np.zeros(self.n_grid)] + [np.full(self.n_grid, np.nan) for _ in range(4)]
        at = self.rows[idx]
        for arr, values in zip(out, (sign, entry, stop, target, conf), strict=True):
            arr[at] = np.asarray(values, dtype="float64")[idx]
        return DecisionArrays(*out)

    def _from_frame(self, accepted: pd.DataFrame) -> DecisionArrays:
        """Decisions of any strategy (``run_strategy``'s accepted rows) on this instrument, on the grid."""
        b = self.bars
        mine = accepted[(accepted["venue"] == b["venue"].iloc[0]) & (accepted["symbol"] == b["symbol"].iloc[0])]
        mine = mine.sort_values(["hour", "confidence"], ascending=[True, False], kind="stable").drop_duplicates("hour")
        pos = pd.Index(b["hour"]).get_indexer(pd.to_datetime(mine["hour"], utc=True))
        keep = pos >= 0
        sign = np.where(mine["side"].to_numpy() == "long", 1.0, -1.0)
        values = [np.zeros(len(b)), *(np.full(len(b), np.nan) for _ in range(4))]
        for arr, col in zip(values, (sign, mine["entry"], mine["stop"], mine["target"], mine["confidence"]), strict=True):
            arr[pos[keep]] = np.asarray(col, dtype="float64")[keep]
        return self._on_grid(np.flatnonzero(values[0] != 0), *values)


# -- the studies' arithmetic on cached series (quant.strategies.studies, one instrument) ----------


def _ema_cross(c: SignalCache, p: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    fast, slow = int(p["fast"]), int(p["slow"])
    n = len(c.close)
    if fast >= slow or not n:
        return np.zeros(n), np.full(n, st.PRIOR_CONFIDENCE)
    warm = np.arange(n) >= slow - 1
    state = np.where(warm, np.sign(c.ema(fast) - c.ema(slow)), np.nan)
    return _onset(state), np.full(n, st.PRIOR_CONFIDENCE)


def _rsi_reversion(c: SignalCache, p: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = float(p["lower"]), float(p["upper"])
    n = len(c.close)
    if lower >= upper or not n:
        return np.zeros(n), np.full(n, np.nan)
    rsi = c.rsi(int(p["period"]))
    with np.errstate(invalid="ignore"):
        state = np.where(np.isnan(rsi), np.nan, np.where(rsi < lower, 1.0, np.where(rsi > upper, -1.0, 0.0)))
    sign = _onset(state)
    depth = np.where(sign > 0, lower - rsi, rsi - upper)
    conf = _clip_conf((st.PRIOR_CONFIDENCE + (1 - st.PRIOR_CONFIDENCE) * depth / st.RSI_FULL_DEPTH) / 1.0)
    return sign, conf


def _breakout(c: SignalCache, p: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    hi, lo = c.channel(int(p["bars"]))
    with np.errstate(invalid="ignore"):
        raw = np.where(c.close > hi, 1.0, np.where(c.close < lo, -1.0, 0.0))
    state = np.where(~np.isnan(hi) & ~np.isnan(lo), raw, np.nan)
    return _onset(state), np.full(len(c.close), st.PRIOR_CONFIDENCE)


def _adx_trend(c: SignalCache, p: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    adx = c.memo(("adx",), lambda: c.dmi["adx"])
    direction = c.memo(("direction",), lambda: np.sign(c.dmi["plus_di"] - c.dmi["minus_di"]))
    thr = float(p["threshold"])
    with np.errstate(invalid="ignore"):
        state = np.where(adx > thr, direction, 0.0)
    state = np.where(~np.isnan(adx) & ~np.isnan(direction), state, np.nan)
    return _onset(state), _clip_conf(adx / st.ADX_MAX)


def _funding_harvest(c: SignalCache, p: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    apr = c.funding_apr()
    thr = float(p["entry_apr"])
    with np.errstate(invalid="ignore"):
        sign = np.where(apr > thr, -1.0, 0.0)
    return sign, _clip_conf(apr / (st.FULL_CONFIDENCE_MULT * thr))


FastPath = Callable[[SignalCache, Mapping[str, object]], tuple[np.ndarray, np.ndarray]]
#: Strategies with a cached path (sign and confidence per row), and the signals function each one mirrors.
FAST_PATHS: dict[str, FastPath] = {"ema_cross": _ema_cross, "rsi_reversion": _rsi_reversion, "breakout": _breakout,
                                   "adx_trend": _adx_trend, "funding_harvest": _funding_harvest}
FAST_STRATEGIES = {"ema_cross": st.ema_cross, "rsi_reversion": st.rsi_reversion, "breakout": st.breakout,
                   "adx_trend": st.adx_trend, "funding_harvest": st.funding_harvest}
