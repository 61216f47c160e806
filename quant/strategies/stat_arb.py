"""PairFlow: mean reversion of the log-price spread of two perps on the same venue.

Pairs BTC/ETH, BTC/SOL and ETH/SOL (the first coin is leg ``a``, the second leg ``b``), each on one
venue, hours where both legs have a bar. With ``y = ln P_a`` and ``x = ln P_b`` (Engle & Granger
1987 two-step: an OLS hedge ratio, then a stationary residual; Gatev, Goetzmann & Rouwenhorst 2006
for the z-score entry):

* hedge ratio ``β_t = cov(y, x) / var(x)`` over the ``beta_window`` hours ending at t (OLS slope);
* spread under today's hedge ratio ``s_i = y_i − β_t x_i`` for the ``z_window`` hours i ending at
  t (one β for the whole z window, so a drifting β does not show up as spread), and
  ``z_t = (s_t − mean(s)) / std(s)`` (ddof 1). A window with a missing value or zero variance gives
  NaN, which never trades.

Entry on the first hour of an excursion, ``|z_t| ≥ entry_z`` after ``|z_{t−1}| < entry_z`` (or an
unknown z): ``z > 0`` means ``a`` is rich against ``b`` — short ``a``, long ``b``; ``z < 0`` the
reverse. One decision per leg, at each leg's close, with the same reason naming the pair.

**From z to price levels.** The target is the spread back at its mean (``z = 0``), the stop the
spread ``stop_z`` further out (``|z| + stop_z``); a spread move of ``Δz`` is ``Δs = Δz · σ_s``
(``σ_s`` the z window's std). Each leg's level is the price at which that leg *alone* moves the
spread by ``Δs``, the other leg held: leg ``a`` carries coefficient 1, so ``P_a · exp(±Δs)``; leg
``b`` carries ``−β``, so ``P_b · exp(∓Δs / β)``. In log terms each leg's reward-to-risk is
``|z| / stop_z``; in price terms exp makes it a little less for the short leg, so the pair is
emitted only when **both** legs' price reward-to-risk is ≥ ``min_reward_risk`` (≥ 2), and only
when ``β > 0`` (a non-positive hedge ratio is no pair). Confidence ``min(1, |z| / (2 · entry_z))``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.strategies.base import Param, Strategy, StrategyInput, decisions, register

#: The traded pairs as (leg a, leg b) base coins.
PAIRS = (("BTC", "ETH"), ("BTC", "SOL"), ("ETH", "SOL"))


def base_coin(symbol: str) -> str:
    """``"BTC/USDT:USDT"`` → ``"BTC"``."""
    return symbol.split("/", 1)[0]


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    """Trailing windows of ``n`` values ending at each index ≥ n − 1 (rows), oldest first."""
    return np.lib.stride_tricks.sliding_window_view(x, n)


def rolling_beta(y: np.ndarray, x: np.ndarray, window: int) -> np.ndarray:
    """OLS slope of ``y`` on ``x`` over the ``window`` points ending at each index (NaN before, or if var(x) = 0)."""
    out = np.full(len(y), np.nan)
    if len(y) >= window >= 2:
        dy, dx = _deviations(y, window), _deviations(x, window)
        var = (dx * dx).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[window - 1:] = np.where(var > 0, (dx * dy).sum(axis=1) / var, np.nan)
    return out


def _deviations(x: np.ndarray, window: int) -> np.ndarray:
    """Each trailing window (ending at index ≥ window − 1) minus its own mean."""
    w = _windows(x, window)
    return w - w.mean(axis=1, keepdims=True)


def pair_spread(pa: np.ndarray, pb: np.ndarray, beta_window: int, z_window: int) -> pd.DataFrame:
    """Per hour of one aligned pair: ``beta``, ``spread`` (``ln P_a − β ln P_b``), ``z`` and ``sd``.

    Parameters
    ----------
    pa, pb : closes of legs a and b (quote currency) on the same hours, oldest first.
    beta_window, z_window : hours in the hedge ratio and in the z-score (≥ 2).

    Returns
    -------
    Columns ``beta`` (dimensionless), ``spread`` (log price), ``z`` (dimensionless) and ``sd`` (the z
    window's spread std, log price); NaN where a window is short, holds a NaN or has no variance.
    """
    y, x = np.log(pa), np.log(pb)
    n = len(y)
    z, sd = np.full(n, np.nan), np.full(n, np.nan)
    beta = rolling_beta(y, x, beta_window)
    if n >= z_window >= 2:
        dy, dx = _deviations(y, z_window), _deviations(x, z_window)
        b = beta[z_window - 1:]
        s_dev = dy - b[:, None] * dx  # spread deviations from the window mean under β_t
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.sqrt((s_dev * s_dev).sum(axis=1) / (z_window - 1))
            d = np.where(d > 0, d, np.nan)
            sd[z_window - 1:] = d
            z[z_window - 1:] = s_dev[:, -1] / d
    return pd.DataFrame({"beta": beta, "spread": y - beta * x, "z": z, "sd": sd})


def _legs(hour, venue: str, a: str, b: str, sym_a: str, sym_b: str, pa: float, pb: float,
          z: float, beta: float, sd: float, p: Mapping[str, object]) -> list[dict]:
    """The two leg decisions of one entry, or none when β ≤ 0 or a leg is under the reward-to-risk floor."""
    if not beta > 0:
        return []
    sign = np.sign(z)  # +1: a rich → short a, long b
    reward_s, risk_s = abs(z) * sd, float(p["stop_z"]) * sd
    legs = [
        (sym_a, "short" if sign > 0 else "long", pa, pa * np.exp(-sign * reward_s), pa * np.exp(sign * risk_s)),
        (sym_b, "long" if sign > 0 else "short", pb, pb * np.exp(sign * reward_s / beta), pb * np.exp(-sign * risk_s / beta)),
    ]
    if any(abs(t - e) < float(p["min_reward_risk"]) * abs(e - s) for _, _, e, t, s in legs):
        return []
    rich, cheap = (a, b) if sign > 0 else (b, a)
    reason = (f"PairFlow {a}/{b} on {venue}: z={z:+.2f} (entry {float(p['entry_z']):g}, beta={beta:.3f}, "
              f"spread sd {sd:.4g}): short {rich} rich / long {cheap} cheap; target z=0, stop z={z + sign * float(p['stop_z']):+.2f}")
    conf = min(1.0, abs(z) / (2 * float(p["entry_z"])))
    return [{"hour": hour, "venue": venue, "symbol": sym, "side": side, "entry": e, "stop": s, "target": t,
             "confidence": conf, "reason": reason} for sym, side, e, t, s in legs]


def _pair_rows(venue: str, bars: pd.DataFrame, a: str, b: str, p: Mapping[str, object]) -> list[dict]:
    """Entries of pair (a, b) on one venue's bars."""
    coins = bars["symbol"].map(base_coin)
    la, lb = bars[coins == a], bars[coins == b]
    if la.empty or lb.empty or la["symbol"].nunique() != 1 or lb["symbol"].nunique() != 1:
        return []
    m = la[["hour", "symbol", "close"]].merge(lb[["hour", "symbol", "close"]], on="hour", suffixes=("_a", "_b")).sort_values("hour")
    m = m.reset_index(drop=True)
    st = pair_spread(m["close_a"].to_numpy("float64"), m["close_b"].to_numpy("float64"), int(p["beta_window"]), int(p["z_window"]))
    beyond = np.abs(st["z"].to_numpy()) >= float(p["entry_z"])
    first = beyond & ~np.concatenate([[False], beyond[:-1]])
    rows: list[dict] = []
    for i in np.flatnonzero(first):
        rows += _legs(m["hour"][i], venue, a, b, m["symbol_a"][i], m["symbol_b"][i], m["close_a"][i], m["close_b"][i],
                      st["z"][i], st["beta"][i], st["sd"][i], p)
    return rows


def _pairflow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Every pair's legs; a pair whose coin is already a leg of an earlier pair (``PAIRS`` order) that
    hour is left out whole: one position per instrument, and a pair is never traded on one leg."""
    rows: list[dict] = []
    for venue, vb in data.bars.groupby("venue", sort=True):
        claimed: set[tuple] = set()
        for a, b in PAIRS:
            legs = _pair_rows(venue, vb, a, b, p)
            for first in range(0, len(legs), 2):
                pair = legs[first:first + 2]
                keys = {(r["hour"], r["symbol"]) for r in pair}
                if keys & claimed:
                    continue
                claimed |= keys
                rows += pair
    return decisions(rows)


PAIRFLOW = register(Strategy(
    "pairflow", _pairflow, family="stat_arb", lookback_h=720 + 336,  # the largest beta_window + z_window
    params=(
        Param("beta_window", int, 168, 24, 720, "hours in the OLS hedge ratio"),
        Param("z_window", int, 72, 12, 336, "hours in the spread's z-score"),
        Param("entry_z", float, 2.0, 1.5, 4.0, "|z| that opens the pair"),
        Param("stop_z", float, 0.75, 0.25, 2.0, "z units beyond the entry z where the pair is stopped"),
        Param("min_reward_risk", float, 2.0, 2.0, 5.0, "least price reward/risk of each leg to emit"),
    ),
    doc="Pairs z-score of the log spread with a rolling OLS hedge ratio; short the rich leg, long the cheap one."))
