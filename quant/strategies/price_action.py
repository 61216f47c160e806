"""Price-action strategies on closed bars: Monday range, order block, breaker, swing-failure pattern.

All four read 1h bars per (venue, symbol); a decision at hour H uses bars with ``hour <= H`` only
and enters at bar H's close. Stops sit at the setup's invalidation (a wick extreme or the far side
of a zone); targets are the design's (the Monday midpoint) or ``reward_risk`` × the risk.

* **Monday range** (the "Monday high/low" of ICT-style weekly profiles): Monday's 00:00–24:00 UTC
  high and low are marked once Monday's last bar has closed (24 bars, else no range). Tuesday to
  Sunday, a bar whose wick sweeps beyond one side (and not the other) and closes back inside the
  range is an entry at that close, stop at the wick extreme, target the range midpoint. The target
  is fixed by the range, so a sweep whose midpoint is under ``min_reward_risk`` (≥ 2) × the risk
  away is **not emitted**. Gate: the swing bias (:func:`quant.strategies.timeframes.swing_bias`) of
  the weekly (lookback 3), 3-day (3) and daily (5) closed bars; a long only when none is bearish, a
  short only when none is bullish. Confidence ``0.4 + 0.2 × (timeframes agreeing with the side)``.
* **Order block** (Smart-Money-Concepts usage): a *displacement* candle has a body ≥ ``body_mult``
  × the mean body of the ``body_window`` candles before it; its order block is the last opposing
  candle at most ``max_gap`` bars before it, and the zone is that candle's body. The first later
  bar (within ``max_age``) that trades into the zone and closes on its near side or inside is the
  retest: long from a bullish block (a bearish candle before an up-displacement), short mirrored.
  A close through the far side first voids the block.
* **Breaker**: an order block whose zone one candle closes through (the first close beyond its
  far side, within ``max_age``) flips polarity — a broken bullish block becomes resistance — and
  is traded on its first retest within ``max_age`` of the break, unless closed through again first.
* **Swing-failure pattern**: a candle wicks beyond the last confirmed 1h swing level
  (``swing_lookback``) and closes back inside; the *next* candle confirms by closing further
  inside than the SFP candle's close (below it after a swept high). The decision is at the
  confirming candle; stop beyond both candles' extremes. **Confluence**: when the SFP's wick ends
  inside an active zone of the same polarity (an order block or a breaker, not yet closed through
  or expired at the SFP candle), confidence × :data:`CONFLUENCE_MULT`, capped at 1.0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.strategies.base import Param, Strategy, StrategyInput, decisions, register
from quant.strategies.timeframes import BEARISH, BULLISH, asof_hourly, htf_bias, period_start, swing_points

#: Confidence multiplier of an SFP inside an order-block or breaker zone (capped at 1.0).
CONFLUENCE_MULT = 1.5
#: Monday range confidence: the base, and what each higher timeframe agreeing with the side adds.
MONDAY_BASE_CONFIDENCE, MONDAY_STEP_CONFIDENCE = 0.4, 0.2
#: Higher timeframes of the Monday-range gate, each with the name of its swing-lookback parameter.
BIAS_TIMEFRAMES = (("1W", "weekly_lookback"), ("3D", "three_day_lookback"), ("1D", "daily_lookback"))


def _series(bars: pd.DataFrame):
    """(venue, symbol, bars of that series sorted by hour with a fresh index)."""
    for (venue, symbol), g in bars.groupby(["venue", "symbol"], sort=True):
        yield venue, symbol, g.sort_values("hour").reset_index(drop=True)


def confluence(confidence: np.ndarray | float, in_zone: np.ndarray | bool) -> np.ndarray:
    """Confidence × :data:`CONFLUENCE_MULT` (capped at 1.0) where ``in_zone``, unchanged elsewhere."""
    c = np.asarray(confidence, dtype="float64")
    return np.where(in_zone, np.minimum(c * CONFLUENCE_MULT, 1.0), c)


# ---------------------------------------------------------------------------------------- Monday range
def monday_ranges(g: pd.DataFrame) -> pd.DataFrame:
    """Each 1h bar of one series with its week's complete Monday ``mon_high``/``mon_low`` (NaN on Mondays)."""
    week = period_start(g["hour"], "1W")
    monday = g["hour"].dt.day_of_week == 0
    stats = g[monday].groupby(week[monday]).agg(mon_high=("high", "max"), mon_low=("low", "min"), n=("high", "size"))
    stats = stats[stats["n"] == 24]
    out = g.assign(mon_high=week.map(stats["mon_high"]), mon_low=week.map(stats["mon_low"]))
    out.loc[monday, ["mon_high", "mon_low"]] = np.nan
    return out


def _monday_range(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    bars = data.bars
    if bars.empty:
        return decisions()
    bias = pd.DataFrame(index=bars.index)
    for tf, key in BIAS_TIMEFRAMES:
        bias[tf] = asof_hourly(bars, htf_bias(bars, tf, int(p[key])), ["bias"])["bias"].fillna(0).to_numpy()
    rows = []
    for venue, symbol, g in _series(bars.assign(**{f"b{tf}": bias[tf] for tf, _ in BIAS_TIMEFRAMES})):
        g = monday_ranges(g)
        mh, ml, h, lo, c = (g[k].to_numpy() for k in ("mon_high", "mon_low", "high", "low", "close"))
        mid = (mh + ml) / 2
        b = g[[f"b{tf}" for tf, _ in BIAS_TIMEFRAMES]].to_numpy("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            inside = (c < mh) & (c > ml)
            short = inside & (h > mh) & ~(lo < ml) & ~(b == BULLISH).any(axis=1)
            long = inside & (lo < ml) & ~(h > mh) & ~(b == BEARISH).any(axis=1)
            rr = np.where(short, (c - mid) / (h - c), (mid - c) / (c - lo))
        for i in np.flatnonzero((short | long) & (rr >= float(p["min_reward_risk"]))):
            side, sign = ("short", -1) if short[i] else ("long", 1)
            agree = int((b[i] == sign).sum())
            rows.append({
                "hour": g["hour"][i], "venue": venue, "symbol": symbol, "side": side, "entry": c[i],
                "stop": h[i] if short[i] else lo[i], "target": mid[i],
                "confidence": MONDAY_BASE_CONFIDENCE + MONDAY_STEP_CONFIDENCE * agree,
                "reason": (f"Monday range {ml[i]:.6g}-{mh[i]:.6g} swept to {h[i] if short[i] else lo[i]:.6g}, "
                           f"closed back inside at {c[i]:.6g}; target midpoint {mid[i]:.6g} ({rr[i]:.2f}R); "
                           f"swing bias W/3D/D {b[i][0]:+d}/{b[i][1]:+d}/{b[i][2]:+d}"),
            })
    return decisions(rows)


# ------------------------------------------------------------------------------- order blocks, breakers
def order_blocks(o: np.ndarray, c: np.ndarray, body_mult: float, body_window: int, max_gap: int) -> pd.DataFrame:
    """Order blocks of one series: one row per displacement candle with an opposing candle before it.

    Returns columns ``disp`` (displacement bar index), ``ob`` (order-block bar index), ``polarity``
    (+1 a bullish block = support, −1 bearish), ``bottom``/``top`` (the block candle's body, quote
    currency) and ``strength`` (displacement body / mean body of the ``body_window`` before it).
    """
    n = len(c)
    body = np.abs(c - o)
    mean_prev = np.full(n, np.nan)
    if n > body_window:
        mean_prev[body_window:] = np.lib.stride_tricks.sliding_window_view(body, body_window)[:-1].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = np.where(mean_prev > 0, body / mean_prev, np.nan)
        disp = strength >= body_mult
    rows = []
    for polarity, disp_dir, opposing in ((1, c > o, c < o), (-1, c < o, c > o)):
        last_opp = np.maximum.accumulate(np.where(opposing, np.arange(n), -1))
        prior = np.concatenate([[-1], last_opp[:-1]])  # last opposing candle strictly before each bar
        d = np.flatnonzero(disp & disp_dir & (prior >= 0) & (np.arange(n) - prior <= max_gap))
        k = prior[d]
        rows.append(pd.DataFrame({"disp": d, "ob": k, "polarity": polarity, "bottom": np.minimum(o[k], c[k]),
                                  "top": np.maximum(o[k], c[k]), "strength": strength[d]}))
    return pd.concat(rows, ignore_index=True).sort_values("disp", kind="stable").reset_index(drop=True)


def zone_events(start: np.ndarray, polarity: np.ndarray, bottom: np.ndarray, top: np.ndarray,
                h: np.ndarray, lo: np.ndarray, c: np.ndarray, max_age: int) -> tuple[np.ndarray, np.ndarray]:
    """First retest and first close-through of each zone over bars ``start … start + max_age − 1``.

    A support zone (polarity +1) is retested by a bar with ``low <= top`` and ``close >= bottom``
    and closed through by ``close < bottom``; a resistance zone (−1) mirrored. Returns bar indices
    ``(retest, through)``, −1 where none happens inside the age.
    """
    if len(start) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    idx = start[:, None] + np.arange(max_age)[None, :]
    valid = idx < len(c)
    idx = np.minimum(idx, len(c) - 1)
    s, b, t = polarity[:, None], bottom[:, None], top[:, None]
    retest = valid & np.where(s > 0, (lo[idx] <= t) & (c[idx] >= b), (h[idx] >= b) & (c[idx] <= t))
    through = valid & np.where(s > 0, c[idx] < b, c[idx] > t)

    def first(m: np.ndarray) -> np.ndarray:
        return np.where(m.any(axis=1), idx[np.arange(len(m)), m.argmax(axis=1)], -1)

    return first(retest), first(through)


def zones(g: pd.DataFrame, p: Mapping[str, object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(order blocks, breakers) of one series with their retest bar, close-through bar and active span.

    Each frame has ``polarity``, ``bottom``, ``top``, ``born`` (first bar the zone is live),
    ``retest`` and ``through`` (bar index or −1) and ``until`` (last bar it is live: the bar before
    its close-through, or its age's end).
    """
    o, h, lo, c = (g[k].to_numpy("float64") for k in ("open", "high", "low", "close"))
    age = int(p["max_age"])
    obs = order_blocks(o, c, float(p["body_mult"]), int(p["body_window"]), int(p["max_gap"]))
    obs["born"] = obs["disp"] + 1
    frames = []
    for zs in (obs, None):
        if zs is None:  # breakers: blocks closed through, polarity flipped, live from the bar after the break
            broken = frames[0][frames[0]["through"] >= 0]
            zs = broken.assign(polarity=-broken["polarity"], born=broken["through"] + 1)
        pol, bot, top, born = (zs[k].to_numpy() for k in ("polarity", "bottom", "top", "born"))
        retest, through = zone_events(born.astype("int64"), pol, bot, top, h, lo, c, age)
        until = np.where(through >= 0, through - 1, np.minimum(born + age - 1, len(c) - 1))
        frames.append(zs.assign(retest=retest, through=through, until=until).reset_index(drop=True))
    return frames[0], frames[1]


def _retest_rows(venue: str, symbol: str, g: pd.DataFrame, zs: pd.DataFrame, p: Mapping[str, object], kind: str) -> list[dict]:
    """Decisions at each zone's retest bar (before any close-through): entry close, stop past zone and wick."""
    h, lo, c = (g[k].to_numpy("float64") for k in ("high", "low", "close"))
    ok = zs[(zs["retest"] >= 0) & ((zs["through"] < 0) | (zs["retest"] < zs["through"]))]
    rows = []
    for z in ok.itertuples(index=False):
        r = int(z.retest)
        stop = min(z.bottom, lo[r]) if z.polarity > 0 else max(z.top, h[r])
        risk = abs(c[r] - stop)
        if not risk > 0:
            continue
        target = c[r] + z.polarity * float(p["reward_risk"]) * risk
        rows.append({"hour": g["hour"][r], "venue": venue, "symbol": symbol, "side": "long" if z.polarity > 0 else "short",
                     "entry": c[r], "stop": stop, "target": target, "confidence": float(p["confidence"]),
                     "reason": (f"{kind} retest: zone {z.bottom:.6g}-{z.top:.6g} from the candle of {g['hour'][int(z.ob)]:%Y-%m-%d %H:00} "
                                f"(displacement {z.strength:.2f}x mean body), retest closed {c[r]:.6g}; "
                                f"stop {stop:.6g}, target {target:.6g} ({float(p['reward_risk']):g}R)")})
    return rows


def _zone_strategy(kind: str):
    def signals(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
        rows: list[dict] = []
        for venue, symbol, g in _series(data.bars):
            obs, breakers = zones(g, p)
            rows += _retest_rows(venue, symbol, g, obs if kind == "order block" else breakers, p, kind)
        return decisions(rows)

    return signals


# -------------------------------------------------------------------------------- swing-failure pattern
def _in_zone(bars_i: np.ndarray, wick: np.ndarray, polarity: int, zs: pd.DataFrame) -> np.ndarray:
    """Whether each bar ``bars_i``'s ``wick`` ends inside a live zone of ``polarity`` at that bar."""
    z = zs[zs["polarity"] == polarity]
    if z.empty or len(bars_i) == 0:
        return np.zeros(len(bars_i), dtype=bool)
    live = (z["born"].to_numpy() <= bars_i[:, None]) & (bars_i[:, None] <= z["until"].to_numpy())
    inside = (z["bottom"].to_numpy() <= wick[:, None]) & (wick[:, None] <= z["top"].to_numpy())
    return (live & inside).any(axis=1)


def _sfp(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    rows = []
    for venue, symbol, g in _series(data.bars):
        h, lo, c = (g[k].to_numpy("float64") for k in ("high", "low", "close"))
        sh, sl = swing_points(h, lo, int(p["swing_lookback"]))
        # The last swing confirmed by the bar before t (a swing confirmed at t-1 is known at t).
        lvl_h = pd.Series(sh).ffill().shift(1).to_numpy()
        lvl_l = pd.Series(sl).ffill().shift(1).to_numpy()
        obs, breakers = zones(g, p)
        all_zones = pd.concat([obs, breakers], ignore_index=True)
        for polarity, side in ((-1, "short"), (1, "long")):
            lvl, wick = (lvl_h, h) if polarity < 0 else (lvl_l, lo)
            with np.errstate(invalid="ignore"):
                swept = (wick > lvl) & (c < lvl) if polarity < 0 else (wick < lvl) & (c > lvl)
            t = np.flatnonzero(swept[:-1])
            t = t[(c[t + 1] - c[t]) * polarity > 0]  # confirmed: the next close further inside
            conf = confluence(np.full(len(t), float(p["confidence"])), _in_zone(t, wick[t], polarity, all_zones))
            for i, k in enumerate(t):
                j = k + 1
                stop = max(h[k], h[j]) if polarity < 0 else min(lo[k], lo[j])
                risk = abs(c[j] - stop)
                target = c[j] + polarity * float(p["reward_risk"]) * risk
                rows.append({"hour": g["hour"][j], "venue": venue, "symbol": symbol, "side": side, "entry": c[j],
                             "stop": stop, "target": target, "confidence": conf[i],
                             "reason": (f"SFP: wick {wick[k]:.6g} beyond swing {lvl[k]:.6g}, closed back at {c[k]:.6g}, "
                                        f"confirmed by close {c[j]:.6g}; stop {stop:.6g}, target {target:.6g}"
                                        + ("; inside an order-block/breaker zone (confluence)" if conf[i] > float(p["confidence"]) else ""))})
    return decisions(rows)


ZONE_PARAMS = (
    Param("body_mult", float, 2.0, 1.5, 4.0, "displacement body / mean body of the window before it"),
    Param("body_window", int, 10, 5, 30, "candles in the mean body"),
    Param("max_gap", int, 3, 1, 10, "bars back from the displacement to look for the opposing candle"),
    Param("max_age", int, 48, 6, 168, "bars a zone stays live (and a broken block may still be retested)"),
    Param("reward_risk", float, 2.5, 2.0, 5.0, "target distance / stop distance"),
    Param("confidence", float, 0.5, 0.05, 1.0, "confidence of a decision (before any confluence)"),
)

#: Hours a zone strategy reads back at its parameters' largest values: the body window, the gap to the
#: opposing candle and a zone's age (twice for a breaker: the block's age to its break, then the breaker's).
_ZONE_H = 30 + 10 + 168
#: The swing memory of the SFP and the Monday range's HTF swing bias are unbounded (the last confirmed swing
#: may be older); these look-backs cover the usual case, not every one.
MONDAY_RANGE = register(Strategy(
    "monday_range", _monday_range, family="price_action", lookback_h=24 * 7 * 20,
    params=(
        Param("weekly_lookback", int, 3, 1, 6, "swing lookback on weekly bars"),
        Param("three_day_lookback", int, 3, 1, 6, "swing lookback on 3-day bars"),
        Param("daily_lookback", int, 5, 2, 10, "swing lookback on daily bars"),
        Param("min_reward_risk", float, 2.0, 2.0, 5.0, "least (midpoint − entry) / (entry − wick) to emit"),
    ),
    doc="Monday-range sweep back inside, to the midpoint, gated by W/3D/D swing bias."))
ORDER_BLOCK = register(Strategy("order_block", _zone_strategy("order block"), ZONE_PARAMS, lookback_h=_ZONE_H,
                                family="price_action", doc="First retest of the last opposing candle before a displacement."))
BREAKER = register(Strategy("breaker", _zone_strategy("breaker"), ZONE_PARAMS, lookback_h=_ZONE_H + 168,
                            family="price_action", doc="An order block closed through, polarity flipped, traded on retest."))
SFP = register(Strategy(
    "sfp", _sfp, (*ZONE_PARAMS, Param("swing_lookback", int, 5, 2, 12, "1h swing lookback of the swept levels")),
    lookback_h=_ZONE_H + 168 + 2 * 12, family="price_action", doc="Swing-failure pattern, confirmed by the next close; confluence with zones."))
