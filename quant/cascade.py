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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

HOUR = pd.Timedelta(hours=1)
PERCENT = 100.0
FUNDING_REFERENCE_HOURS = 8.0
DOWN, UP = "down", "up"
BUY, SELL = "buy", "sell"
SIDE_OF_DIRECTION = {DOWN: BUY, UP: SELL}
DEPTH_UNITS = ("pct", "atr")
#: Relative slack when testing reward:risk against its minimum, so 4.000000000000001 vs 4 passes.
REWARD_RISK_SLACK = 1e-9

STATUS_OK = "ok"
STATUS_NO_OI = "no OI"
STATUS_SHORT_OI = "insufficient OI history"
STATUS_NO_PRICE = "no price"
STATUS_SHORT_PRICE = "insufficient price history"
STATUS_NO_FUNDING = "no funding"

SCORE_COLUMNS = [
    "hour", "venue", "symbol", "oi_usd", "oi_history_hours", "oi_pct_rank", "oi_signal",
    "funding_rate_8h", "funding_signal", "rv_24h", "rv_7d", "vol_ratio", "compression_signal",
    "score", "direction", "close", "status",
]
RUNG_COLUMNS = ["rung", "side", "limit", "qty", "stop", "target", "notional_usd", "reward_risk"]


@dataclass(frozen=True)
class CascadeParams:
    """Every knob of the L2 layer, named. Fractions are of the reference price unless in ATR.

    Score: ``oi_signal`` ramps the percentile rank of the current open interest within its
    trailing ``oi_window_h`` hours from ``oi_pct_zero`` (0) to ``oi_pct_full`` (1), NaN with
    fewer than ``oi_min_history_h`` hours of data. ``funding_signal`` ramps |funding per 8h| from
    0 to ``funding_full_8h``. ``compression_signal`` ramps ``rv_24h / rv_7d`` from
    ``ratio_zero`` (0) down to ``ratio_full`` (1).

    Ladder: rung k rests ``depths[k]`` (fraction of price, or ATRs when ``depth_unit="atr"``)
    beyond the price with ``sizes[k]`` of the budget; its stop sits ``stop_offset`` further out.
    Targets must pay at least ``min_reward_risk``; see :func:`build_ladder`.
    """

    weight_oi: float = 0.55
    weight_funding: float = 0.20
    weight_compression: float = 0.25
    oi_window_h: int = 168
    oi_min_history_h: int = 72
    oi_pct_zero: float = 70.0
    oi_pct_full: float = 95.0
    funding_full_8h: float = 0.001
    funding_max_age_h: int = 24
    vol_short_h: int = 24
    vol_long_h: int = 168
    vol_min_returns_short: int = 24
    vol_min_returns_long: int = 144
    ratio_zero: float = 1.0
    ratio_full: float = 0.5
    trigger: float = 0.6
    hold: float = 0.4
    depths: tuple[float, ...] = (0.015, 0.03, 0.05)
    sizes: tuple[float, ...] = (0.25, 0.35, 0.40)
    depth_unit: str = "pct"
    stop_offset: float = 0.02
    min_reward_risk: float = 2.0
    max_target_overshoot: float = 0.03

    def __post_init__(self) -> None:
        _check_score_params(self)
        _check_ladder_params(self)

    @property
    def oi_lookback(self) -> pd.Timedelta:
        """Open interest needed before the first hour scored."""
        return (self.oi_window_h - 1) * HOUR

    @property
    def price_lookback(self) -> pd.Timedelta:
        """Candles needed before the first hour scored (``vol_long_h`` returns need one more close)."""
        return self.vol_long_h * HOUR


def _check_score_params(p: CascadeParams) -> None:
    if not np.isclose(p.weight_oi + p.weight_funding + p.weight_compression, 1.0, rtol=0, atol=1e-12):
        raise ValueError("score weights must sum to 1")
    if not 0 < p.oi_min_history_h <= p.oi_window_h:
        raise ValueError("need 0 < oi_min_history_h <= oi_window_h")
    if not 0 < p.vol_min_returns_short <= p.vol_short_h < p.vol_long_h:
        raise ValueError("need 0 < vol_min_returns_short <= vol_short_h < vol_long_h")
    if not 0 < p.vol_min_returns_long <= p.vol_long_h:
        raise ValueError("need 0 < vol_min_returns_long <= vol_long_h")
    if not p.hold < p.trigger:
        raise ValueError(f"hold {p.hold} must be below trigger {p.trigger} (hysteresis)")


def _check_ladder_params(p: CascadeParams) -> None:
    if len(p.depths) != len(p.sizes):
        raise ValueError(f"{len(p.depths)} depths but {len(p.sizes)} sizes")
    if any(s < 0 for s in p.sizes) or sum(p.sizes) > 1.0 + 1e-12:
        raise ValueError(f"sizes {p.sizes} must be >= 0 and sum to at most 1 of the budget")
    if p.depth_unit not in DEPTH_UNITS:
        raise ValueError(f"depth_unit must be one of {DEPTH_UNITS}, got {p.depth_unit!r}")
    if not (p.stop_offset > 0 and p.min_reward_risk > 0 and p.max_target_overshoot >= 0):
        raise ValueError("need stop_offset > 0, min_reward_risk > 0, max_target_overshoot >= 0")


# -- signals ----------------------------------------------------------------------------------


def linear_ramp(x: ArrayLike, zero_at: float, one_at: float) -> np.ndarray:
    """0 at or before ``zero_at``, 1 at or beyond ``one_at``, linear between; NaN stays NaN.

    ``one_at < zero_at`` gives a falling ramp (used for volatility compression).
    """
    if zero_at == one_at:
        raise ValueError("a ramp needs two distinct end points")
    return np.clip((np.asarray(x, dtype="float64") - zero_at) / (one_at - zero_at), 0.0, 1.0)


def trailing_windows(values: np.ndarray, window: int) -> np.ndarray:
    """View of the ``window`` rows ending at each row (NaN-padded before the first), last axis."""
    pad = np.full((window - 1, *values.shape[1:]), np.nan)
    return np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, values]), window, axis=0)


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
    windows = trailing_windows(values, window)
    n = np.isfinite(windows).sum(axis=-1)
    at_or_below = (windows <= values[..., None]).sum(axis=-1)
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
    windows = trailing_windows(returns, window)
    n = np.isfinite(windows).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rv = np.sqrt(np.nansum(windows * windows, axis=-1) / n)
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
    n_px = trailing_windows(np.isfinite(close_wide).astype("float64"), p.vol_long_h + 1).sum(axis=-1)[at_px]
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


# -- the ladder -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rung:
    """One resting limit order. ``rung`` 1 is nearest the price; ``qty`` is in base units."""

    rung: int
    side: str
    limit: float
    qty: float
    stop: float
    target: float
    notional_usd: float
    reward_risk: float


@dataclass(frozen=True)
class Ladder:
    """The rungs placed, and one sentence per rung dropped (its budget share stays unspent)."""

    direction: str
    reference_price: float
    budget_usd: float
    rungs: tuple[Rung, ...]
    rejected: tuple[str, ...]


def build_ladder(
    price: float, budget_usd: float, direction: str, params: CascadeParams | None = None,
    atr: float | None = None,
) -> Ladder:
    """Mean-reversion limit ladder beyond ``price`` on the cascade's side.

    Parameters
    ----------
    price : reference price (quote currency), normally the scored hour's close.
    budget_usd : the layer's ladder budget in USD (the allocator caps it, 20% of bankroll).
    direction : "down" (buy ladder below the price) or "up" (sell ladder above).
    atr : average true range in quote currency; required when ``depth_unit == "atr"``.

    Returns
    -------
    :class:`Ladder`. Rung k: ``limit = price ∓ depth_k``, ``stop = limit ∓ stop_offset``,
    ``qty = budget · size_k / limit``. Target: full reversion to ``price`` when that pays at
    least ``min_reward_risk`` (2:1); otherwise the nearest price that does
    (``limit ± 2·risk``), and the rung is dropped when that lies more than
    ``max_target_overshoot`` of the price beyond ``price`` — a gain the reversion thesis does
    not support — or at or below zero.

    Raises
    ------
    ValueError
        Unknown direction, non-positive price, negative budget, missing ATR, or a rung on the
        wrong side of the price (a buy rung at or above it, a sell rung at or below it).
    """
    p = params or CascadeParams()
    side = _side(direction)
    unit = _depth_unit_size(price, budget_usd, p, atr)
    away = -1.0 if side == BUY else 1.0  # rungs sit beyond the price in the cascade's direction
    rungs: list[Rung] = []
    rejected: list[str] = []
    for k, (depth, size) in enumerate(zip(p.depths, p.sizes, strict=True), start=1):
        limit = price + away * depth * unit
        if away * (limit - price) <= 0 or limit <= 0:
            raise ValueError(f"{side} rung {k} at {limit:g} is not {'below' if side == BUY else 'above'} "
                             f"the price {price:g}")
        stop = limit + away * p.stop_offset * unit
        target, why = _target(price, limit, stop, p)
        if why:
            rejected.append(f"rung {k} at {limit:g}: {why}")
            continue
        qty = budget_usd * size / limit
        risk = abs(limit - stop)
        rungs.append(Rung(k, side, limit, qty, stop, target, qty * limit, abs(target - limit) / risk))
    return Ladder(direction, float(price), float(budget_usd), tuple(rungs), tuple(rejected))


def _side(direction: str) -> str:
    if direction not in SIDE_OF_DIRECTION:
        raise ValueError(f"direction must be {DOWN!r} or {UP!r}, got {direction!r} (no ladder without one)")
    return SIDE_OF_DIRECTION[direction]


def _depth_unit_size(price: float, budget_usd: float, p: CascadeParams, atr: float | None) -> float:
    if not (np.isfinite(price) and price > 0):
        raise ValueError(f"price must be a positive number, got {price}")
    if not (np.isfinite(budget_usd) and budget_usd >= 0):
        raise ValueError(f"budget_usd must be a number >= 0, got {budget_usd}")
    if p.depth_unit == "pct":
        return float(price)
    if atr is None or not (np.isfinite(atr) and atr > 0):
        raise ValueError(f"depth_unit 'atr' needs a positive atr, got {atr}")
    return float(atr)


def _target(price: float, limit: float, stop: float, p: CascadeParams) -> tuple[float, str]:
    """(target, "") or (nan, why the rung cannot pay min_reward_risk)."""
    toward = 1.0 if limit < price else -1.0  # the snap-back runs back toward the price
    needed = p.min_reward_risk * abs(limit - stop)
    if abs(price - limit) >= needed * (1 - REWARD_RISK_SLACK):
        return float(price), ""
    target = limit + toward * needed
    overshoot = abs(target - price)
    if overshoot > p.max_target_overshoot * price * (1 + REWARD_RISK_SLACK):
        return np.nan, (f"a {p.min_reward_risk:g}:1 target ({target:g}) lies {overshoot / price:.2%} "
                        f"beyond the price, more than {p.max_target_overshoot:.2%}")
    if target <= 0:
        return np.nan, f"a {p.min_reward_risk:g}:1 target would be {target:g} (<= 0)"
    return float(target), ""


def rungs_frame(ladder: Ladder) -> pd.DataFrame:
    """The ladder's rungs as rows with :data:`RUNG_COLUMNS`."""
    return pd.DataFrame([vars(r) for r in ladder.rungs], columns=RUNG_COLUMNS).astype(
        {"rung": "int64", "side": "str", **dict.fromkeys(RUNG_COLUMNS[2:], "float64")}
    )


def average_true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike, window: int = 14) -> np.ndarray:
    """Simple mean of the true range over the trailing ``window`` bars (Wilder 1978, unsmoothed).

    ``TR = max(high - low, |high - prev close|, |low - prev close|)``; the first bar has no
    previous close and is NaN. A plain window mean (not Wilder's recursive smoothing) keeps each
    hour's value a function of its own window only. NaN unless the window is complete.
    """
    h, lo, c = (np.asarray(a, dtype="float64") for a in (high, low, close))
    prev = np.concatenate([[np.nan], c[:-1]])
    tr = np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))
    return trailing_windows(tr, window).mean(axis=-1)
