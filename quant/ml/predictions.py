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

from quant.ml.models import BASE_MODELS

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
