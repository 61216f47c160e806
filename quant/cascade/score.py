"""L2 liquidation-cascade capture: the hourly arming score and the mean-reversion limit ladder.

Design (Perpetua L2 card): a cascade needs fuel (open interest stretched against its own last
week), a crowded side (large funding) and a coiled spring (realised volatility compressed):

    score = 0.55·oi_signal + 0.20·funding_signal + 0.25·compression_signal

The layer arms at ``score >= 0.6``, stays armed while ``score >= 0.4`` and disarms below
(hysteresis, :func:`arm_states`); while armed it rests a ladder of limit orders where the forced
liquidations should overshoot, and takes the snap-back (:func:`build_ladder`).

Timing: the row of hour H uses only what is known at the END of hour H — the open interest
stamped in hour H, the candle opened at H (closed at H+1h) and the last funding settlement at or
before H+1h. Nothing later, so a backfill equals its hours run one by one.

Direction: positive funding means longs pay, i.e. longs are crowded; their forced selling drives
the cascade DOWN, so the ladder BUYS below the price. Negative funding: crowded shorts, the
squeeze goes UP, the ladder SELLS above. Zero or unknown funding gives no direction and no ladder.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from quant.cascade.params import (  # noqa: F401 - re-exported names of the layer
    DEPTH_UNITS,
    DOWN,
    FUNDING_REFERENCE_HOURS,
    HOUR,
    PERCENT,
    REWARD_RISK_SLACK,
    RUNG_COLUMNS,
    SCORE_COLUMNS,
    SIDE_OF_DIRECTION,
    STATUS_NO_FUNDING,
    STATUS_NO_OI,
    STATUS_NO_PRICE,
    STATUS_OK,
    STATUS_SHORT_OI,
    STATUS_SHORT_PRICE,
    UP,
    CascadeParams,
    _check_ladder_params,
    _check_score_params,
    trailing_windows,
)
from quant.cascade.window_kernels import observed_counts, window_rank_counts, window_sum_squares
from quant.ramps import linear_ramp  # noqa: F401 - part of this module's API


def oi_percentile_rank(oi_usd: ArrayLike, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Percentile rank (0–100] of each hour's open interest within the ``window`` hours ending at it.

    Parameters
    ----------
    oi_usd : hourly open interest in USD on a gap-free hourly grid (NaN = no data), axis 0 = time.
    window : hours in the trailing window, the current hour included.

    Returns
    -------
    (rank, n) : ``rank = 100 · #{window values <= current} / n`` — scipy's
    ``percentileofscore(kind="weak")`` over the window's observed values — and ``n``, the hours
    with data in the window. ``rank`` is NaN where the current value is missing.
    """
    values = np.asarray(oi_usd, dtype="float64")
    at_or_below, n = window_rank_counts(values.reshape(len(values), -1), window)  # integers: any order is exact
    at_or_below, n = at_or_below.reshape(values.shape), n.reshape(values.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = PERCENT * at_or_below / n
    return np.where(np.isfinite(values), rank, np.nan), n


def realised_vol(close: ArrayLike, window: int, min_returns: int) -> np.ndarray:
    """Hourly realised volatility ``sqrt(mean(r²))`` of the 1h log returns in the trailing window.

    Zero-mean realised variance (Andersen & Bollerslev 1998); not annualised, since only ratios
    of it are used. A return needs both closes; NaN with fewer than ``min_returns`` returns.
    """
    c = np.asarray(close, dtype="float64")
    c = np.where(c > 0, c, np.nan)
    returns = np.full_like(c, np.nan)
    returns[1:] = np.log(c[1:] / c[:-1])
    if returns.ndim == 2 and returns.shape[1] > 1 and returns.flags.c_contiguous:
        total, n = window_sum_squares(returns, window)  # numpy's own summation order here (window_kernels)
    else:
        windows = trailing_windows(returns, window)
        n = np.isfinite(windows).sum(axis=-1)
        total = np.nansum(windows * windows, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rv = np.sqrt(total / n)
    return np.where(n >= min_returns, rv, np.nan)


def funding_per_8h(rate: ArrayLike, interval_hours: ArrayLike) -> np.ndarray:
    """A per-interval funding rate restated per 8h: ``rate · 8 / interval_hours``."""
    return np.asarray(rate, dtype="float64") * FUNDING_REFERENCE_HOURS / np.asarray(interval_hours, dtype="float64")


def combine_score(
    oi_signal: ArrayLike, funding_signal: ArrayLike, compression_signal: ArrayLike, params: CascadeParams
) -> np.ndarray:
    """``w_oi·oi + w_funding·funding + w_compression·compression``; NaN in any input gives NaN."""
    return (
        params.weight_oi * np.asarray(oi_signal, dtype="float64")
        + params.weight_funding * np.asarray(funding_signal, dtype="float64")
        + params.weight_compression * np.asarray(compression_signal, dtype="float64")
    )


def arm_states(score: ArrayLike, params: CascadeParams, armed_before: bool = False) -> np.ndarray:
    """Hysteresis: arm at ``score >= trigger``, stay armed while ``score >= hold``, else disarm.

    ``armed_before`` is the state at the hour before the first score (the previous partition's
    output). A NaN score never passes a threshold, so it disarms.
    """
    state = armed_before
    out = np.zeros(len(np.asarray(score)), dtype=bool)
    for i, s in enumerate(np.asarray(score, dtype="float64")):  # inherently sequential; tiny
        state = bool(s >= params.hold) if state else bool(s >= params.trigger)
        out[i] = state
    return out


# -- the hourly table -------------------------------------------------------------------------


def cascade_scores(
    oi: pd.DataFrame,
    ohlcv: pd.DataFrame,
    funding: pd.DataFrame,
    hours: pd.DatetimeIndex,
    params: CascadeParams | None = None,
) -> pd.DataFrame:
    """One row per (venue, symbol, hour): the cascade score and why it is NaN when it is.

    Parameters
    ----------
    oi : ``open_interest_table`` rows from ``hours[0] - params.oi_lookback`` to ``hours[-1]``.
    ohlcv : ``ohlcv_table`` rows from ``hours[0] - params.price_lookback`` to ``hours[-1]``.
    funding : ``funding_table`` rows from ``hours[0] - funding_max_age_h`` to ``hours[-1]``.
    hours : the hours to score. Rows stamped after ``hours[-1]`` are ignored.

    Returns
    -------
    :data:`SCORE_COLUMNS`. The three inputs join on the exact (venue, symbol): to score a
    Binance perp on Hyperliquid open interest, the caller relabels the rows it wants used.
    A row exists where the instrument has open interest or candles in its look-back. ``score``
    is NaN unless ``status == "ok"``; otherwise status names the first missing input, in the
    order "no OI", "insufficient OI history", "no price", "insufficient price history",
    "no funding". ``direction`` is "down" (funding > 0), "up" (< 0) or missing.
    ``rv_*`` are hourly (not annualised); ``close`` is the ladder's reference price.
    """
    p = params or CascadeParams()
    keys = _instruments(oi, ohlcv)
    if not len(hours) or not len(keys):
        return _empty_scores()
    hours = pd.DatetimeIndex(hours).as_unit("ns")
    oi_grid = pd.date_range(hours[0] - p.oi_lookback, hours[-1], freq="h", tz="UTC", unit="ns")
    px_grid = pd.date_range(hours[0] - p.price_lookback, hours[-1], freq="h", tz="UTC", unit="ns")
    oi_wide = _wide(oi, "oi_usd", oi_grid, keys)
    close_wide = _wide(ohlcv, "close", px_grid, keys)
    at_oi, at_px = oi_grid.get_indexer(hours), px_grid.get_indexer(hours)
    if (at_oi < 0).any() or not hours.equals(hours.floor("h")) or not hours.is_monotonic_increasing:
        raise ValueError("hours must be ascending whole UTC hours")

    rank, n_oi = oi_percentile_rank(oi_wide, p.oi_window_h)
    rv_short = realised_vol(close_wide, p.vol_short_h, p.vol_min_returns_short)[at_px]
    rv_long = realised_vol(close_wide, p.vol_long_h, p.vol_min_returns_long)[at_px]
    n_px = observed_counts(close_wide, p.vol_long_h + 1)[at_px]
    rank, n_oi = rank[at_oi], n_oi[at_oi]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(rv_long > 0, rv_short / rv_long, np.nan)

    rows = pd.DataFrame(
        {
            "hour": hours.repeat(len(keys)),
            "venue": np.tile(keys.get_level_values(0).to_numpy(dtype=object), len(hours)),
            "symbol": np.tile(keys.get_level_values(1).to_numpy(dtype=object), len(hours)),
            "oi_usd": oi_wide[at_oi].ravel(),
            "oi_history_hours": n_oi.ravel().astype("int64"),
            "oi_pct_rank": np.where(n_oi >= p.oi_min_history_h, rank, np.nan).ravel(),
            "rv_24h": rv_short.ravel(),
            "rv_7d": rv_long.ravel(),
            "vol_ratio": ratio.ravel(),
            "close": close_wide[at_px].ravel(),
        }
    )
    rows = rows[(n_oi.ravel() > 0) | (n_px.ravel() > 0)].reset_index(drop=True)
    rows["funding_rate_8h"] = _last_funding_8h(rows, funding, p.funding_max_age_h * HOUR)
    return _score(rows, p)


def _score(rows: pd.DataFrame, p: CascadeParams) -> pd.DataFrame:
    rows["oi_signal"] = linear_ramp(rows["oi_pct_rank"], p.oi_pct_zero, p.oi_pct_full)
    rows["funding_signal"] = linear_ramp(rows["funding_rate_8h"].abs(), 0.0, p.funding_full_8h)
    rows["compression_signal"] = linear_ramp(rows["vol_ratio"], p.ratio_zero, p.ratio_full)
    rows["status"] = np.select(
        [
            rows["oi_usd"].isna(),
            rows["oi_pct_rank"].isna(),
            rows["close"].isna(),
            rows["vol_ratio"].isna(),
            rows["funding_rate_8h"].isna(),
        ],
        [STATUS_NO_OI, STATUS_SHORT_OI, STATUS_NO_PRICE, STATUS_SHORT_PRICE, STATUS_NO_FUNDING],
        default=STATUS_OK,
    )
    score = combine_score(rows["oi_signal"], rows["funding_signal"], rows["compression_signal"], p)
    rows["score"] = np.where(rows["status"] == STATUS_OK, score, np.nan)
    f = rows["funding_rate_8h"].to_numpy()
    rows["direction"] = np.select([f > 0, f < 0], [DOWN, UP], default=None)
    out = rows.loc[:, SCORE_COLUMNS].sort_values(["hour", "venue", "symbol"], kind="stable")
    return out.astype({"venue": "str", "symbol": "str", "direction": "str", "status": "str"}).reset_index(drop=True)


def _instruments(*tables: pd.DataFrame) -> pd.MultiIndex:
    parts = [t[["venue", "symbol"]] for t in tables if not t.empty]
    if not parts:
        return pd.MultiIndex.from_tuples([], names=["venue", "symbol"])
    pairs = pd.concat(parts).astype(str).drop_duplicates().sort_values(["venue", "symbol"])
    return pd.MultiIndex.from_frame(pairs)


def _wide(table: pd.DataFrame, column: str, grid: pd.DatetimeIndex, keys: pd.MultiIndex) -> np.ndarray:
    """``table[column]`` as a (hour × instrument) array on ``grid``; the last row wins per hour."""
    out = np.full((len(grid), len(keys)), np.nan)
    if table.empty:
        return out
    t = table[(table["hour"] >= grid[0]) & (table["hour"] <= grid[-1])]
    t = t.sort_values("ts", kind="stable").drop_duplicates(["venue", "symbol", "hour"], keep="last")
    row = grid.get_indexer(pd.DatetimeIndex(t["hour"]).as_unit("ns"))
    col = keys.get_indexer(pd.MultiIndex.from_arrays([t["venue"].astype(str), t["symbol"].astype(str)]))
    ok = (row >= 0) & (col >= 0)
    out[row[ok], col[ok]] = t[column].to_numpy(dtype="float64")[ok]
    return out


def _last_funding_8h(rows: pd.DataFrame, funding: pd.DataFrame, max_age: pd.Timedelta) -> np.ndarray:
    """Per row, the last settlement at or before the hour's end (within ``max_age``), per 8h."""
    if funding.empty or rows.empty:
        return np.full(len(rows), np.nan)
    f = pd.DataFrame(
        {
            "venue": funding["venue"].astype(str),
            "symbol": funding["symbol"].astype(str),
            "settlement_ts": pd.to_datetime(funding["settlement_ts"], utc=True).astype("datetime64[ns, UTC]"),
            "rate_8h": funding_per_8h(funding["funding_rate"], funding["interval_hours"]),
        }
    ).sort_values("settlement_ts", kind="stable")
    left = pd.DataFrame(
        {
            "venue": rows["venue"].astype(str),
            "symbol": rows["symbol"].astype(str),
            "as_of": rows["hour"] + HOUR - pd.Timedelta(1, "ns"),
            "pos": np.arange(len(rows)),
        }
    ).sort_values("as_of", kind="stable")
    merged = pd.merge_asof(
        left, f, left_on="as_of", right_on="settlement_ts", by=["venue", "symbol"],
        direction="backward", tolerance=max_age,
    )
    out = np.full(len(rows), np.nan)
    out[merged["pos"].to_numpy()] = merged["rate_8h"].to_numpy(dtype="float64")
    return out


def _empty_scores() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in SCORE_COLUMNS})
    return df.astype(
        {
            "hour": "datetime64[ns, UTC]", "venue": "str", "symbol": "str", "oi_history_hours": "int64",
            "direction": "str", "status": "str",
        }
    )


def arm(
    scores: pd.DataFrame, params: CascadeParams | None = None,
    armed_before: Mapping[tuple[str, str], bool] | None = None,
) -> pd.DataFrame:
    """``scores`` plus ``armed`` (hysteresis state) and ``triggered`` (armed this hour, not the last).

    ``armed_before`` maps (venue, symbol) to its state at the hour before the first row (the
    previous partition); absent means disarmed. Each instrument runs in hour order.
    """
    p = params or CascadeParams()
    before = armed_before or {}
    out = scores.sort_values(["venue", "symbol", "hour"], kind="stable").reset_index(drop=True)
    armed = np.zeros(len(out), dtype=bool)
    triggered = np.zeros(len(out), dtype=bool)
    score = out["score"].to_numpy(dtype="float64")
    for key, idx in out.groupby(["venue", "symbol"], sort=False).indices.items():
        start = bool(before.get(key, False))
        states = arm_states(score[idx], p, start)
        armed[idx] = states
        triggered[idx] = states & ~np.concatenate([[start], states[:-1]])
    out["armed"], out["triggered"] = armed, triggered
    return out.sort_values(["hour", "venue", "symbol"], kind="stable").reset_index(drop=True)


from quant.cascade.ladder import Ladder, Rung, average_true_range, build_ladder, rungs_frame  # noqa: E402,F401
