"""Out-of-sample scores of the ML sleeve: one walk-forward fold's evaluation rows against naive baselines.

A row is one (venue, symbol, hour) of a fold's test window: ``y`` its label (1 when a long spot
trade over the horizon beats the 0.8% round trip, ``quant.ml.labels``) and ``p`` the model's
probability of that. A score means little alone, so :func:`fold_metrics` scores two baselines on
the same rows:

- **always flat** never trades. Its hit rate is that of p = 0 (the share of 0 labels). For the
  probabilistic scores (log loss, Brier) p = 0 would be a strawman (log loss ≈ 34.5 on every
  positive row), so the flat baseline is the constant predictor at the *training* base rate — the
  best a model that knows nothing about the hour can say, and one it could have said before the
  fold began (the test rows' own rate would look ahead).
- **momentum sign** trades when the last 1h/4h momentum is positive: p = 1 there, 0 elsewhere,
  hardened to [ε, 1 − ε] for the log loss.

:func:`trade_returns` and :func:`sharpe` turn probabilities into the returns of the trades taken.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

#: Probabilities are clipped to [EPS, 1 − EPS] before a logarithm (sklearn's historical default).
EPS = 1e-15
#: Equal-width bins on [0, 1] of the calibration summary.
CALIBRATION_BINS = 10
#: p at or above this is read as "trade" by the hit rate.
HIT_THRESHOLD = 0.5


def _as_1d(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood (nats per row) of labels ``y`` under ``p`` clipped to [EPS, 1 − EPS]; NaN if empty."""
    if len(y) == 0:
        return float("nan")
    q = np.clip(p, EPS, 1.0 - EPS)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log(1.0 - q)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of ``p`` against the 0/1 labels; NaN if empty."""
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def hit_rate(y: np.ndarray, p: np.ndarray) -> float:
    """Share of rows where "trade" (p ≥ :data:`HIT_THRESHOLD`) agrees with the label; NaN if empty."""
    return float(np.mean((p >= HIT_THRESHOLD) == (y == 1.0))) if len(y) else float("nan")


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (sklearn): the chance a random positive row scores above a random negative one, ties half.

    NaN where the rows hold one class only (sklearn would raise: the AUC is undefined there).
    """
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p))


def calibration(y: np.ndarray, p: np.ndarray, n_bins: int = CALIBRATION_BINS) -> tuple[float, list[dict]]:
    """Expected calibration error and the reliability table over ``n_bins`` equal-width bins of p.

    ECE = Σ_b (n_b / n) · |mean p_b − observed rate_b| (Naeini, Cooper & Hauskrecht 2015,
    "Obtaining Well Calibrated Probabilities Using Bayesian Binning"). Bins are [k/n, (k+1)/n),
    the last one closed at 1. The table has one entry per bin, empty bins included:
    ``{"lo", "hi", "n", "mean_p", "observed_rate"}`` with NaN means where ``n`` is 0.
    ECE is NaN when there are no rows.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.floor(p * n_bins).astype("int64"), 0, n_bins - 1) if len(p) else np.array([], "int64")
    table: list[dict] = []
    ece = 0.0
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        mean_p = float(p[mask].mean()) if count else float("nan")
        rate = float(y[mask].mean()) if count else float("nan")
        if count:
            ece += count / len(p) * abs(mean_p - rate)
        bounds = {"lo": float(edges[b]), "hi": float(edges[b + 1])}
        table.append({**bounds, "n": count, "mean_p": mean_p, "observed_rate": rate})
    return (float(ece) if len(p) else float("nan")), table


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"log_loss": log_loss(y, p), "auc": auc(y, p), "hit_rate": hit_rate(y, p), "brier": brier(y, p)}


def _flat_baseline(y: np.ndarray, train_base_rate: float | None) -> dict[str, float]:
    """No trade (p = 0) for the hit rate; the constant training base rate for log loss and Brier (NaN if unknown)."""
    out = {"hit_rate": hit_rate(y, np.zeros_like(y)), "log_loss": float("nan"), "brier": float("nan")}
    if train_base_rate is not None and np.isfinite(train_base_rate):
        constant = np.full_like(y, float(train_base_rate))
        out["log_loss"], out["brier"] = log_loss(y, constant), brier(y, constant)
    return out


def _momentum_baseline(y: np.ndarray, sign: np.ndarray) -> dict[str, float]:
    """Trade (p = 1 − EPS) where the momentum is positive, else p = EPS; unknown momentum never trades."""
    p = np.where(np.nan_to_num(sign, nan=0.0) > 0, 1.0 - EPS, EPS)
    return _scores(y, p)


def fold_metrics(
    y: object,
    p: object,
    *,
    momentum_sign: object | None = None,
    train_base_rate: float | None = None,
) -> dict:
    """Scores of one walk-forward fold's evaluation rows, with the naive baselines on the same rows.

    Parameters
    ----------
    y : array of {0, 1} or NaN
        Labels. Rows whose label is NaN (the horizon is past the data, a gap) are dropped from
        every score, the baselines' included; their count is ``n_dropped``.
    p : array of float in [0, 1]
        The model's probability of label 1, one per row.
    momentum_sign : array, optional
        The sign (or value) of the last 1h/4h momentum known at each row's hour; > 0 means the
        momentum rule trades. NaN (momentum not yet known) counts as no trade.
    train_base_rate : float, optional
        Share of label 1 in the fold's *training* rows: the flat baseline's constant p for the log
        loss and Brier score. Without it those two are NaN.

    Returns
    -------
    dict
        ``n``, ``n_dropped``, ``base_rate`` (share of 1 labels), ``log_loss`` (nats per row), ``auc``,
        ``hit_rate``, ``brier``, ``ece``, ``calibration`` (list of 10 bins, see :func:`calibration`),
        and ``baselines``: ``{"always_flat": {hit_rate, log_loss, brier}, "momentum_sign": {log_loss,
        auc, hit_rate, brier} or None}``. Every score of an empty set of rows is NaN.

    Raises
    ------
    ValueError
        Arrays of different lengths; a label other than 0, 1 or NaN; a p outside [0, 1] or NaN on a
        labelled row.
    """
    y_arr, p_arr = _as_1d("y", y), _as_1d("p", p)
    sign = None if momentum_sign is None else _as_1d("momentum_sign", momentum_sign)
    lengths = {len(y_arr), len(p_arr)} | (set() if sign is None else {len(sign)})
    if len(lengths) > 1:
        raise ValueError(f"y, p and momentum_sign must have one length, got {sorted(lengths)}")
    keep = ~np.isnan(y_arr)
    y_arr, p_arr = y_arr[keep], p_arr[keep]
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("labels must be 0, 1 or NaN")
    if not ((p_arr >= 0.0) & (p_arr <= 1.0)).all():  # also false for NaN
        raise ValueError("p must be a probability in [0, 1] on every labelled row")
    ece, table = calibration(y_arr, p_arr)
    return {
        "n": len(y_arr),
        "n_dropped": int((~keep).sum()),
        "base_rate": float(y_arr.mean()) if len(y_arr) else float("nan"),
        **_scores(y_arr, p_arr),
        "ece": ece,
        "calibration": table,
        "baselines": {
            "always_flat": _flat_baseline(y_arr, train_base_rate),
            "momentum_sign": None if sign is None else _momentum_baseline(y_arr, sign[keep]),
        },
    }


def trade_returns(p: object, net_return: object, threshold: float = HIT_THRESHOLD) -> np.ndarray:
    """Per-row return of the strategy that takes the trade where ``p > threshold``.

    Parameters
    ----------
    p : array of float
        Probabilities; NaN (no prediction) takes no trade.
    net_return : array of float
        The trade's return net of the round trip's costs (fraction, ``quant.ml.labels.net_return``).
    threshold : float
        Strictly above it the trade is taken.

    Returns
    -------
    numpy.ndarray
        ``net_return`` where the trade is taken (NaN stays NaN: a taken trade of unknown outcome),
        0.0 elsewhere (no position, whatever the market did).
    """
    p_arr, r_arr = _as_1d("p", p), _as_1d("net_return", net_return)
    if len(p_arr) != len(r_arr):
        raise ValueError(f"p and net_return must have one length, got {len(p_arr)} and {len(r_arr)}")
    return np.where(p_arr > threshold, r_arr, 0.0)


def sharpe(returns: object, periods_per_year: float) -> float:
    """Annualised Sharpe ratio: mean / std (ddof 1) of the per-period returns × √periods_per_year.

    NaN rows are dropped. NaN — never ±inf — for fewer than 2 rows or returns that do not vary.
    Overlapping trades (a 4h horizon scored every hour) make consecutive rows correlated, which
    this plain estimator does not correct for.
    """
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    r = _as_1d("returns", returns)
    r = r[~np.isnan(r)]
    if len(r) < 2 or np.all(r == r[0]):
        return float("nan")
    sd = float(np.std(r, ddof=1))
    if not np.isfinite(sd) or sd == 0.0:
        return float("nan")
    return float(np.mean(r) / sd * np.sqrt(periods_per_year))
