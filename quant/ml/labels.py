"""Labels of the ML sleeve: the forward return of a long spot trade over a horizon, net of its costs.

A decision at hour H is taken at H's close (what the features of H know) and buys at that close;
the trade is sold at the close of H + ``horizon_h``. Both trades pay ``cost_per_trade`` (0.4% on a
spot venue, 0.8% the round trip, as the design assumes):

    net = close[H + h] · (1 − c) / (close[H] · (1 + c)) − 1

The class is "trade" (1) only when that net return is positive — the move exceeds the costs — and
0 otherwise; unknown (NaN) where the bar at H + h does not exist (the end of the data, a gap),
never 0. ``label_end`` is the last hour whose price the label uses (H + h): a training row may only
be used for a fold whose first hour comes after it (``quant.ml.folds``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.market_data.tables import HOUR

#: Cost of one spot trade (fee and spread), as a fraction of its notional.
COST_PER_TRADE = 0.004
#: Hours between the decision and the exit, unless told.
DEFAULT_HORIZON_H = 4
LABEL_COLUMNS = ["hour", "venue", "symbol", "label_end", "fwd_return", "net_return", "label"]


def net_return(entry: np.ndarray, exit_: np.ndarray, cost_per_trade: float = COST_PER_TRADE) -> np.ndarray:
    """The round trip's return after paying ``cost_per_trade`` on the buy and on the sell."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return exit_ * (1.0 - cost_per_trade) / (entry * (1.0 + cost_per_trade)) - 1.0


def forward_labels(
    ohlcv: pd.DataFrame, horizon_h: int = DEFAULT_HORIZON_H, cost_per_trade: float = COST_PER_TRADE
) -> pd.DataFrame:
    """One row per (venue, symbol, hour) of ``ohlcv`` (columns ``hour, venue, symbol, close``): :data:`LABEL_COLUMNS`.

    Raises ValueError for a horizon below one hour, a cost outside [0, 1), or a duplicated bar.
    """
    if int(horizon_h) != horizon_h or horizon_h < 1:
        raise ValueError(f"horizon_h must be a whole number of hours >= 1, got {horizon_h!r}")
    if not 0.0 <= cost_per_trade < 1.0:
        raise ValueError(f"cost_per_trade must be in [0, 1), got {cost_per_trade!r}")
    keys = ["venue", "symbol", "hour"]
    if ohlcv.duplicated(keys).any():
        first = ohlcv[ohlcv.duplicated(keys, keep=False)].iloc[0]
        raise ValueError(f"two bars for {first['venue']} {first['symbol']} {first['hour']}: labels need one price per hour")
    bars = ohlcv[keys + ["close"]].sort_values(keys, kind="stable").reset_index(drop=True)
    ahead = bars.assign(hour=bars["hour"] - horizon_h * HOUR).rename(columns={"close": "exit_close"})
    out = bars.merge(ahead, on=keys, how="left")
    entry = out["close"].to_numpy(dtype="float64")
    exit_ = out["exit_close"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["fwd_return"] = exit_ / entry - 1.0
    out["net_return"] = net_return(entry, exit_, cost_per_trade)
    out["label"] = np.where(np.isfinite(out["net_return"]), (out["net_return"] > 0).astype("float64"), np.nan)
    out["label_end"] = out["hour"] + horizon_h * HOUR
    return out.loc[:, LABEL_COLUMNS]
