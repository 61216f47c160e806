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

from quant.strategies.arrays import Panel, base_coin, decision_frame
from quant.strategies.base import Param, Strategy, StrategyInput, decisions, register, wanted

#: The traded pairs as (leg a, leg b) base coins.
PAIRS = (("BTC", "ETH"), ("BTC", "SOL"), ("ETH", "SOL"))


class LogPrice:
    """One leg's log prices ``ln P`` (oldest first) and their trailing windows' deviations, each computed once.

    A coin is a leg of two pairs on a venue; where both pairs see the same hours they share its
    deviations and sums of squares (the same arrays, so the same bits as computing them twice).
    """

    def __init__(self, log_price: np.ndarray) -> None:
        self.values = log_price
        self._dev: dict[int, np.ndarray] = {}
        self._ss: dict[int, np.ndarray] = {}

    def deviations(self, window: int) -> np.ndarray:
        """Each trailing window (ending at index ≥ window − 1, one per row) minus its own mean."""
        if window not in self._dev:
            w = np.lib.stride_tricks.sliding_window_view(self.values, window)
            self._dev[window] = w - w.mean(axis=1, keepdims=True)
        return self._dev[window]

    def sum_sq(self, window: int) -> np.ndarray:
        """Σ of each trailing window's squared deviations (``window`` × its population variance)."""
        if window not in self._ss:
            d = self.deviations(window)
            self._ss[window] = (d * d).sum(axis=1)
        return self._ss[window]


def _beta(y: LogPrice, x: LogPrice, window: int) -> np.ndarray:
    out = np.full(len(y.values), np.nan)
    if len(y.values) >= window >= 2:
        var = x.sum_sq(window)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[window - 1:] = np.where(var > 0, (x.deviations(window) * y.deviations(window)).sum(axis=1) / var, np.nan)
    return out


def rolling_beta(y: np.ndarray, x: np.ndarray, window: int) -> np.ndarray:
    """OLS slope of ``y`` on ``x`` over the ``window`` points ending at each index (NaN before, or if var(x) = 0)."""
    return _beta(LogPrice(y), LogPrice(x), window)


def _spread(y: LogPrice, x: LogPrice, beta_window: int, z_window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beta, z, sd) of :func:`pair_spread` from the legs' log prices."""
    n = len(y.values)
    z, sd = np.full(n, np.nan), np.full(n, np.nan)
    beta = _beta(y, x, beta_window)
    skip = max(beta_window - z_window, 0)  # z windows ending before the first β have no spread (NaN either way)
    if n >= z_window >= 2 and n - z_window + 1 > skip:
        dy, dx = y.deviations(z_window)[skip:], x.deviations(z_window)[skip:]
        first = z_window - 1 + skip
        s_dev = dy - beta[first:, None] * dx  # spread deviations from the window mean under β_t
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.sqrt((s_dev * s_dev).sum(axis=1) / (z_window - 1))
            d = np.where(d > 0, d, np.nan)
            sd[first:] = d
            z[first:] = s_dev[:, -1] / d
    return beta, z, sd


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
    beta, z, sd = _spread(LogPrice(y), LogPrice(x), beta_window, z_window)
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


def _venues(bars: Panel) -> dict[str, dict[str, int | None]]:
    """Per venue (sorted), each base coin's instrument in ``bars``; None for a coin quoted in several symbols."""
    legs: dict[str, dict[str, int | None]] = {}
    for k, (venue, symbol) in enumerate(bars.names):
        coins = legs.setdefault(venue, {})
        coin = base_coin(symbol)
        coins[coin] = None if coin in coins else k
    return legs


def _pair_rows(bars: Panel, logs: list[LogPrice], venue: str, a: str, b: str, ka: int, kb: int,
               p: Mapping[str, object]) -> list[dict]:
    """Entries of pair (a, b) on one venue: instruments ``ka`` and ``kb`` of ``bars`` on their common hours.

    A leg has one bar an hour (the bars' grain), so the common hours are a plain intersection; a
    leg seen on all of them reuses its whole-window :class:`LogPrice`.
    """
    (sa, ea), (sb, eb) = bars.bounds()[ka], bars.bounds()[kb]
    hours, ia, ib = np.intersect1d(bars.hour[sa:ea], bars.hour[sb:eb], assume_unique=True, return_indices=True)
    legs = [logs[k] if len(hours) == e - s else LogPrice(logs[k].values[i]) for k, s, e, i in ((ka, sa, ea, ia), (kb, sb, eb, ib))]
    beta, z, sd = _spread(*legs, int(p["beta_window"]), int(p["z_window"]))
    with np.errstate(invalid="ignore"):
        beyond = np.abs(z) >= float(p["entry_z"])
    first = wanted(hours, beyond & ~np.r_[False, beyond[:-1]])
    close = bars["close"]
    pa, pb = close[sa:ea][ia], close[sb:eb][ib]
    rows: list[dict] = []
    for i in np.flatnonzero(first):
        rows += _legs(pd.Timestamp(hours[i], tz="UTC"), venue, a, b, bars.names[ka][1], bars.names[kb][1], pa[i], pb[i],
                      z[i], beta[i], sd[i], p)
    return rows


def _pairflow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    """Every pair's legs; a pair whose coin is already a leg of an earlier pair (``PAIRS`` order) that
    hour is left out whole: one position per instrument, and a pair is never traded on one leg."""
    bars = Panel.of(data.bars)
    if bars.empty:
        return decisions()
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(bars["close"])
    logs = [LogPrice(log_close[s:e]) for s, e in bars.bounds()]
    rows: list[dict] = []
    for venue, coins in _venues(bars).items():
        claimed: set[tuple] = set()
        for a, b in PAIRS:
            if coins.get(a) is None or coins.get(b) is None:
                continue
            legs = _pair_rows(bars, logs, venue, a, b, coins[a], coins[b], p)
            for first in range(0, len(legs), 2):
                pair = legs[first:first + 2]
                keys = {(r["hour"], r["symbol"]) for r in pair}
                if keys & claimed:
                    continue
                claimed |= keys
                rows += pair
    return decision_frame(np.asarray([r["hour"].value for r in rows], dtype=np.int64),
                          *([r[c] for r in rows] for c in ("venue", "symbol", "side", "entry", "stop", "target", "confidence", "reason")))


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
