"""The table of ``model_predictions_1h``: one row per (venue, symbol, hour) the ML sleeve looked at.

``probability`` is the stacking meta-learner's probability that a long spot trade opened at the
hour's close and sold ``horizon_h`` hours later makes money after both trades' costs
(``quant.ml.labels``); final decisions come only from it. ``expected_return`` is that trade's
expected return **net of the round trip's costs**:

    E[net] = p · E[net | trade] + (1 − p) · E[net | no trade]

with the two conditional means taken from the fold's training rows, so a positive value is an
expected edge that exceeds the costs. ``p_<model>`` are the base models' probabilities (to compare
them and to count them as trials, never to trade on). ``regime`` is the regime classifier's most
likely state. ``sigma_1h`` (the prior week's hourly σ of log returns) and ``corr_btc_7d`` are the
hour's features the sleeve's sizing reads (volatility-adjusted risk, correlation clusters).

``status`` is ``ok`` or why the hour has no probability (``no model: …`` for a fold with too
little history, ``features incomplete`` while a look-back fills); such rows carry NaN, never a
made-up number, and the sleeve does not trade on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.ml.models import BASE_MODELS, REGIMES, Ensemble, predict

PREDICTION_DTYPES: dict[str, str] = {
    "hour": "datetime64[ns, UTC]",
    "venue": "object",
    "symbol": "object",
    "probability": "float64",
    "expected_return": "float64",
    "regime": "object",
    **{f"p_{m}": "float64" for m in BASE_MODELS},
    "sigma_1h": "float64",
    "corr_btc_7d": "float64",
    "horizon_h": "int64",
    "fold": "object",
    "model_version": "object",
    "status": "object",
}
PREDICTION_COLUMNS = list(PREDICTION_DTYPES)
STATUS_OK = "ok"


def prediction_rows(frame: pd.DataFrame, hours: pd.DatetimeIndex, *, ensemble: Ensemble | None, fold: str,
                    model_version: str, horizon_h: int, no_model_reason: str | None = None) -> pd.DataFrame:
    """The rows of ``model_predictions_1h`` for ``hours`` from one fold's ensemble.

    ``frame``: ``features_1h`` rows (the hours and up to ``SEQUENCE_H − 1`` hours before them, which
    the sequence models read) with the bars' ``sigma_1h`` joined. One row per (venue, symbol, hour)
    of ``frame`` inside ``hours``, in ``frame``'s order; ``ensemble`` None: the fold has no model
    (``no_model_reason``).
    """
    target = frame[frame["hour"].isin(hours)]
    n = len(target)
    cols: dict[str, object] = {
        "hour": target["hour"].array, "venue": target["venue"].to_numpy(dtype=object),
        "symbol": target["symbol"].to_numpy(dtype=object),
    }
    nan = np.full(n, np.nan)
    values = {c: nan.copy() for c in ("probability", "expected_return", *(f"p_{m}" for m in BASE_MODELS))}
    regime = np.full(n, "", dtype=object)
    if ensemble is None:
        status = np.full(n, f"no model: {no_model_reason or 'the fold was not trained'}", dtype=object)
        model_version = ""
    else:
        complete = target[ensemble.features].notna().all(axis=1).to_numpy()
        status = np.where(complete, STATUS_OK, "features incomplete").astype(object)
        got = predict(ensemble, frame, hours)  # the complete target rows, in frame order
        if len(got.meta):
            p = got.meta
            values["probability"][complete] = p
            values["expected_return"][complete] = p * ensemble.net_if_trade + (1.0 - p) * ensemble.net_if_not
            for name, v in got.base.items():
                values[f"p_{name}"][complete] = v
            regime[complete] = np.asarray(REGIMES, dtype=object)[np.argmax(got.regime, axis=1)]
    cols.update(values)
    cols.update(regime=regime, sigma_1h=target["sigma_1h"].to_numpy(dtype="float64"),
                corr_btc_7d=target["corr_btc_7d"].to_numpy(dtype="float64"), horizon_h=np.full(n, int(horizon_h)),
                fold=np.full(n, fold, dtype=object), model_version=np.full(n, model_version, dtype=object), status=status)
    out = pd.DataFrame({c: cols[c] for c in PREDICTION_COLUMNS})
    out["hour"] = pd.to_datetime(out["hour"], utc=True)
    return out
