"""Self-exciting (Hawkes) arrival intensity with an exponential kernel, and its maximum-likelihood fit.

Hawkes, A. G. (1971), "Spectra of some self-exciting and mutually exciting point processes",
Biometrika 58(1); the O(n) recursion and log-likelihood are Ozaki, T. (1979), "Maximum likelihood
estimation of Hawkes' self-exciting point processes", Ann. Inst. Statist. Math. 31.

Times are float seconds from any origin (use :func:`distinct_event_times` for trade timestamps:
seconds since the first one keeps sub-microsecond precision). Part of the public API of
:mod:`quant.microstructure`, which re-exports everything here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit
from scipy.optimize import minimize

NS_PER_SECOND = 1_000_000_000
#: A fit needs at least this many events; fewer gives NaN parameters.
MIN_EVENTS_FOR_FIT = 10
#: Upper bound on the branching ratio alpha/beta in the fit (stationarity needs < 1).
MAX_BRANCHING = 0.999
#: Decay rates beta are searched within exp(±this) of the mean event rate N/T.
LOG_BETA_SPAN = 10.0
#: Baseline mu is searched between exp(-this) * N/T and e * N/T.
LOG_MU_SPAN = 25.0
#: Starting decay rates, as multiples of the mean event rate; the best converged start wins.
BETA_STARTS = (0.1, 1.0, 10.0)
#: A fitted coordinate this close to a bound is reported as ``at_bound``.
BOUND_TOL = 1e-6


@dataclass(frozen=True)
class HawkesFit:
    """Maximum-likelihood (mu, alpha, beta) of an exponential-kernel Hawkes process.

    ``mu`` is in events per second, ``alpha`` in events per second per past event, ``beta`` in
    1/seconds; all are NaN when the optimiser did not converge (``converged`` False, ``message``
    says why). ``at_bound`` flags an optimum on a search bound (e.g. branching ratio 0 or 0.999).
    """

    mu: float
    alpha: float
    beta: float
    branching_ratio: float
    log_likelihood: float
    converged: bool
    at_bound: bool
    n_events: int
    message: str


@njit(cache=True)
def _excitation(t: np.ndarray, beta: float) -> np.ndarray:
    """A_i = sum_{j<i} exp(-beta (t_i - t_j)) by A_i = exp(-beta (t_i - t_{i-1})) (1 + A_{i-1})."""
    a = np.zeros(t.size)
    for i in range(1, t.size):
        a[i] = math.exp(-beta * (t[i] - t[i - 1])) * (1.0 + a[i - 1])
    return a


@njit(cache=True)
def _intensity_at_events(t: np.ndarray, mu: float, alpha: float, beta: float) -> np.ndarray:
    """mu + alpha A_i in the same pass as the recursion (no temporaries)."""
    lam = np.empty(t.size)
    a = 0.0
    for i in range(t.size):
        if i > 0:
            a = math.exp(-beta * (t[i] - t[i - 1])) * (1.0 + a)
        lam[i] = mu + alpha * a
    return lam


@njit(cache=True)
def _loglik_grad(t: np.ndarray, horizon: float, mu: float, alpha: float, beta: float) -> tuple:
    """Log-likelihood on [0, horizon] and its gradient in (mu, alpha, beta), one O(n) pass.

    B_i = sum_{j<i} (t_i - t_j) exp(-beta (t_i - t_j)) = -dA_i/dbeta follows
    B_i = exp(-beta d) (B_{i-1} + d (1 + A_{i-1})) with d = t_i - t_{i-1}.
    """
    a = 0.0
    b = 0.0
    sum_log = 0.0
    g_mu = 0.0
    g_a = 0.0
    g_b = 0.0
    s1 = 0.0  # sum (1 - exp(-beta (T - t_i)))
    s2 = 0.0  # sum (T - t_i) exp(-beta (T - t_i))
    for i in range(t.size):
        if i > 0:
            d = t[i] - t[i - 1]
            e = math.exp(-beta * d)
            b = e * (b + d * (1.0 + a))
            a = e * (1.0 + a)
        lam = mu + alpha * a
        inv = 1.0 / lam
        sum_log += math.log(lam)
        g_mu += inv
        g_a += a * inv
        g_b += b * inv
        rest = horizon - t[i]
        tail = math.expm1(-beta * rest)  # exp(-beta (T - t_i)) - 1, exact near 0
        s1 -= tail
        s2 += rest * (tail + 1.0)
    ll = sum_log - mu * horizon - alpha / beta * s1
    d_mu = g_mu - horizon
    d_alpha = g_a - s1 / beta
    d_beta = -alpha * g_b + alpha / beta**2 * s1 - alpha / beta * s2
    return ll, d_mu, d_alpha, d_beta


@njit(cache=True)
def _first_bad(t: np.ndarray) -> int:
    """Index of the first non-finite or not strictly increasing time; -1 if none (one pass)."""
    for i in range(t.size):
        if not math.isfinite(t[i]) or (i > 0 and not t[i] > t[i - 1]):
            return i
    return -1


def _event_array(times: np.ndarray) -> np.ndarray:
    t = np.ascontiguousarray(times, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError("event times must be a 1-D array")
    bad = _first_bad(t)
    if bad >= 0 and not math.isfinite(t[bad]):
        raise ValueError(f"event times contain NaN or inf (at {bad})")
    if bad >= 0:
        raise ValueError(f"event times must be strictly increasing (at {bad}; collapse ties with distinct_event_times)")
    return t


def _params_ok(mu: float, alpha: float, beta: float) -> bool:
    """False when any parameter is NaN (a failed fit: the answer is NaN); ValueError when invalid."""
    if any(math.isnan(p) for p in (mu, alpha, beta)):
        return False
    if not (mu > 0 and alpha >= 0 and beta > 0) or not all(math.isfinite(p) for p in (mu, alpha, beta)):
        raise ValueError(f"need mu > 0, alpha >= 0, beta > 0 (finite); got {mu}, {alpha}, {beta}")
    return True


def branching_ratio(alpha: float, beta: float) -> float:
    """Expected number of direct offspring per event, ``alpha / beta`` (stationary iff < 1).

    NaN for NaN input or ``beta <= 0``.
    """
    return alpha / beta if beta > 0 else math.nan


def distinct_event_times(ts: pd.Series | pd.DatetimeIndex, origin: pd.Timestamp | None = None) -> np.ndarray:
    """Seconds since ``origin`` (default: the first timestamp) of each DISTINCT timestamp.

    A taker order that sweeps several makers prints several trades with one exchange timestamp;
    they are one arrival, and a simple point process has no simultaneous events, so ties are
    collapsed. Raises ValueError on naive or decreasing timestamps; empty in, empty out.
    """
    idx = pd.DatetimeIndex(ts)
    if idx.tz is None:
        raise ValueError("timestamps must be timezone-aware UTC")
    ns = idx.as_unit("ns").asi8
    if ns.size == 0:
        return np.empty(0)
    if np.any(np.diff(ns) < 0):
        raise ValueError("timestamps must be non-decreasing")
    base = ns[0] if origin is None else pd.Timestamp(origin).as_unit("ns").value
    keep = np.concatenate(([True], np.diff(ns) > 0))
    return (ns[keep] - base) / NS_PER_SECOND


def hawkes_intensity(
    times: np.ndarray, mu: float, alpha: float, beta: float, at: np.ndarray | None = None
) -> np.ndarray:
    """Conditional intensity lambda(t) = mu + sum_{t_i < t} alpha exp(-beta (t - t_i)) (Hawkes 1971).

    Parameters
    ----------
    times : np.ndarray
        Event times in seconds, strictly increasing (ValueError otherwise; NaN -> ValueError).
    mu, alpha, beta : float
        Baseline (1/s), jump per event (1/s), decay (1/s). NaN (a failed fit) gives all-NaN output;
        mu <= 0, alpha < 0 or beta <= 0 raises ValueError.
    at : np.ndarray, optional
        Evaluation times in seconds (any order). Default: the event times themselves, where the
        intensity is the left limit (the event itself not yet counted).

    Returns
    -------
    np.ndarray of events per second, one per event (or per ``at`` point). O(n + m log n).
    """
    t = _event_array(times)
    grid = None if at is None else np.asarray(at, dtype=np.float64)
    size = t.size if grid is None else grid.size
    if not _params_ok(mu, alpha, beta):
        return np.full(size, np.nan)
    if grid is None:
        return _intensity_at_events(t, float(mu), float(alpha), float(beta))
    if not np.all(np.isfinite(grid)):
        raise ValueError("evaluation times contain NaN or inf")
    if t.size == 0:
        return np.full(size, float(mu))
    a = _excitation(t, float(beta))
    last = np.searchsorted(t, grid, side="left") - 1  # last event strictly before each point
    k = np.maximum(last, 0)
    elapsed = np.where(last >= 0, grid - t[k], 0.0)  # no overflow before the first event
    return np.where(last >= 0, mu + alpha * (1.0 + a[k]) * np.exp(-beta * elapsed), mu)


def _window(t: np.ndarray, start: float | None, end: float | None) -> tuple[float, float]:
    lo = float(t[0]) if start is None else float(start)
    hi = float(t[-1]) if end is None else float(end)
    if not (lo <= t[0] and hi >= t[-1]):
        raise ValueError(f"observation window [{lo}, {hi}] must contain every event")
    return lo, hi


def hawkes_log_likelihood(
    times: np.ndarray, mu: float, alpha: float, beta: float, *, start: float | None = None, end: float | None = None
) -> float:
    """Log-likelihood of events on [start, end] for the exponential kernel (Ozaki 1979).

    ``l = sum_i log(mu + alpha A_i) - mu (T - T0) - (alpha/beta) sum_i (1 - exp(-beta (T - t_i)))``.
    ``start``/``end`` default to the first/last event. NaN for NaN parameters or no events.
    """
    t = _event_array(times)
    if t.size == 0 or not _params_ok(mu, alpha, beta):
        return math.nan
    lo, hi = _window(t, start, end)
    return float(_loglik_grad(t - lo, hi - lo, float(mu), float(alpha), float(beta))[0])


def _nan_fit(n: int, message: str) -> HawkesFit:
    return HawkesFit(math.nan, math.nan, math.nan, math.nan, math.nan, False, False, n, message)


def fit_hawkes(times: np.ndarray, *, start: float | None = None, end: float | None = None) -> HawkesFit:
    """Maximum-likelihood (mu, alpha, beta) of an exponential Hawkes process (Ozaki 1979).

    L-BFGS-B on ``(log mu, alpha/beta, log beta)`` with the analytic gradient, the branching ratio
    bounded to [0, MAX_BRANCHING] so the fit stays stationary; a few starting decays
    (``BETA_STARTS`` x N/T), best converged one kept.

    Parameters
    ----------
    times : np.ndarray
        Event times in seconds, strictly increasing (ValueError otherwise).
    start, end : float, optional
        Observation window; default first and last event.

    Returns
    -------
    HawkesFit; NaN parameters and ``converged=False`` with fewer than MIN_EVENTS_FOR_FIT events, an
    empty window, or no converged start.
    """
    t = _event_array(times)
    if t.size < MIN_EVENTS_FOR_FIT:
        return _nan_fit(t.size, f"need at least {MIN_EVENTS_FOR_FIT} events, got {t.size}")
    lo, hi = _window(t, start, end)
    rel, horizon = t - lo, hi - lo
    if horizon <= 0:
        return _nan_fit(t.size, "empty observation window")
    n = t.size
    log_rate = math.log(n / horizon)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        mu, ratio, beta = math.exp(x[0]), x[1], math.exp(x[2])
        ll, d_mu, d_a, d_b = _loglik_grad(rel, horizon, mu, ratio * beta, beta)
        grad = np.array([mu * d_mu, beta * d_a, beta * (d_b + ratio * d_a)])
        return -ll / n, -grad / n

    bounds = [
        (log_rate - LOG_MU_SPAN, log_rate + 1.0),
        (0.0, MAX_BRANCHING),
        (log_rate - LOG_BETA_SPAN, log_rate + LOG_BETA_SPAN),
    ]
    best = None
    for mult in BETA_STARTS:
        x0 = np.array([log_rate + math.log(0.5), 0.5, log_rate + math.log(mult)])
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 1000})
        if res.success and np.all(np.isfinite(res.x)) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        return _nan_fit(n, f"no start converged: {res.message}")
    mu, ratio, beta = math.exp(best.x[0]), float(best.x[1]), math.exp(best.x[2])
    at_bound = any(min(abs(x - b[0]), abs(x - b[1])) < BOUND_TOL for x, b in zip(best.x, bounds, strict=True))
    return HawkesFit(mu, ratio * beta, beta, ratio, -best.fun * n, True, at_bound, n, str(best.message))
