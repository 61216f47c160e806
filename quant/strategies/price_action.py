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

Every series is decided on its own, but all are computed at once: the bars of all (venue, symbol)
series lie end to end in one set of arrays (:func:`_panel`), and each window, swing, zone and
"next candle" is bounded by its bar's series, so a result equals the series computed alone. The
decision frame is built once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.strategies.base import Param, Strategy, StrategyInput, decisions, register
from quant.strategies.timeframes import (
    BEARISH,
    BULLISH,
    HOUR_NS,
    TIMEFRAME_EPOCHS,
    TIMEFRAME_HOURS,
    asof_panel,
    hours_ns,
    htf_bias,
    series_bounds,
    split_series,
    swing_points,
)

#: Confidence multiplier of an SFP inside an order-block or breaker zone (capped at 1.0).
CONFLUENCE_MULT = 1.5
#: Monday range confidence: the base, and what each higher timeframe agreeing with the side adds.
MONDAY_BASE_CONFIDENCE, MONDAY_STEP_CONFIDENCE = 0.4, 0.2
#: Higher timeframes of the Monday-range gate, each with the name of its swing-lookback parameter.
BIAS_TIMEFRAMES = (("1W", "weekly_lookback"), ("3D", "three_day_lookback"), ("1D", "daily_lookback"))
#: The 1h bars of one Monday (a range needs all of them).
MONDAY_BARS = 24

#: Bars of every series laid end to end (see :func:`_panel`), column name -> array.
Bars = dict[str, np.ndarray]
#: Zones, column name -> array with one element per zone (see :func:`zones`); a DataFrame reads the same.
Zones = Mapping[str, np.ndarray]


def _panel(bars: pd.DataFrame) -> tuple[list[tuple[str, str]], Bars]:
    """Every (venue, symbol) series of ``bars`` end to end, by venue then symbol, each oldest first.

    Returns the series' keys and the panel: ``hour`` (int64 ns UTC), ``open``/``high``/``low``/``close``
    (quote currency) per bar, ``first`` and ``end`` per bar (its series' first bar and one past its
    last: each computation below stays inside a bar's series) and ``starts`` (each series' first bar).
    """
    bars, series = split_series(bars)
    starts = np.array([rows.start for _, _, rows in series], dtype="int64")
    first, end = series_bounds(starts, len(bars))
    panel = {"hour": hours_ns(bars["hour"]), **{k: bars[k].to_numpy("float64") for k in ("open", "high", "low", "close")},
             "first": first, "end": end, "starts": starts}
    return [(venue, symbol) for venue, symbol, _ in series], panel


def _decisions(keys: list[tuple[str, str]], g: Bars, *parts: dict[str, np.ndarray | list]) -> pd.DataFrame:
    """One decision frame from ``parts`` of rows, series by series (within a series, parts then rows in order).

    Each part maps ``at`` (the panel bar decided at) and ``side``, ``entry``, ``stop``, ``target``,
    ``confidence``, ``reason`` to one element per row.
    """
    cols = {k: np.concatenate([np.asarray(part[k], dtype=object if k in ("side", "reason") else None) for part in parts])
            for k in parts[0]}
    if not len(cols["at"]):
        return decisions()
    at = cols.pop("at")
    series = np.searchsorted(g["starts"], at, side="right") - 1
    order = np.argsort(series, kind="stable")
    venue, symbol = (np.array([k[i] for k in keys], dtype=object)[series[order]] for i in (0, 1))
    return decisions({"hour": pd.DatetimeIndex(g["hour"][at[order]], tz="UTC"), "venue": venue, "symbol": symbol,
                      **{k: v[order] for k, v in cols.items()}})


def _hour_text(hour: np.ndarray) -> list[str]:
    """Each int64-ns UTC hour as ``YYYY-MM-DD HH:00``."""
    return [f"{t[:10]} {t[11:13]}:00" for t in np.datetime_as_string(hour.view("M8[ns]"), unit="h")]


def confluence(confidence: np.ndarray | float, in_zone: np.ndarray | bool) -> np.ndarray:
    """Confidence × :data:`CONFLUENCE_MULT` (capped at 1.0) where ``in_zone``, unchanged elsewhere."""
    c = np.asarray(confidence, dtype="float64")
    return np.where(in_zone, np.minimum(c * CONFLUENCE_MULT, 1.0), c)


# ---------------------------------------------------------------------------------------- Monday range
def monday_ranges(hour: np.ndarray, high: np.ndarray, low: np.ndarray, starts: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each 1h bar's week's Monday high and low (quote currency): ``(mon_high, mon_low)``.

    ``hour`` is int64 ns UTC, oldest first within each series (``starts``: each series' first bar
    when several lie end to end). A week (from Monday 00:00 UTC) has a range only when all 24 of
    its Monday bars are there; bars of other weeks, and Monday's own bars (the range is not known
    before Monday's last bar closes), get NaN.
    """
    since = hour - TIMEFRAME_EPOCHS["1W"].value
    week_ns = TIMEFRAME_HOURS["1W"] * HOUR_NS
    week, monday = since // week_ns, since % week_ns < MONDAY_BARS * HOUR_NS
    mon_high, mon_low = np.full(len(hour), np.nan), np.full(len(hour), np.nan)
    m = np.flatnonzero(monday)
    if not len(m):
        return mon_high, mon_low
    # one key per (series, week), ascending along the panel
    key = series_bounds(starts, len(hour))[0] * (week.max() - week.min() + 1) + (week - week.min())
    first = np.flatnonzero(np.r_[True, key[m][1:] != key[m][:-1]])
    full = np.diff(np.r_[first, len(m)]) == MONDAY_BARS
    keys = key[m][first][full]
    at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
    has = ~monday & (keys[at] == key) if len(keys) else np.zeros(len(hour), dtype=bool)
    mon_high[has] = np.fmax.reduceat(high[m], first)[full][at[has]]
    mon_low[has] = np.fmin.reduceat(low[m], first)[full][at[has]]
    return mon_high, mon_low


def _monday_range(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    if data.bars.empty:
        return decisions()
    keys, g = _panel(data.bars)
    b = np.column_stack([asof_panel(htf_bias(data.bars, tf, int(p[key])), "bias", keys, g["starts"], g["hour"])
                         for tf, key in BIAS_TIMEFRAMES])
    b = np.where(np.isnan(b), 0, b).astype("int64")  # no bias before the first closed HTF bar
    h, lo, c = g["high"], g["low"], g["close"]
    mh, ml = monday_ranges(g["hour"], h, lo, g["starts"])
    mid = (mh + ml) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = (c < mh) & (c > ml)
        short = inside & (h > mh) & ~(lo < ml) & ~(b == BULLISH).any(axis=1)
        long = inside & (lo < ml) & ~(h > mh) & ~(b == BEARISH).any(axis=1)
        rr = np.where(short, (c - mid) / (h - c), (mid - c) / (c - lo))
    i = np.flatnonzero((short | long) & (rr >= float(p["min_reward_risk"])))
    is_short = short[i]
    agree = (b[i] == np.where(is_short, -1, 1)[:, None]).sum(axis=1)
    stop = np.where(is_short, h[i], lo[i])
    reason = [f"Monday range {l_:.6g}-{h_:.6g} swept to {s_:.6g}, closed back inside at {c_:.6g}; "
              f"target midpoint {m_:.6g} ({r_:.2f}R); swing bias W/3D/D {w:+d}/{d3:+d}/{d1:+d}"
              for l_, h_, s_, c_, m_, r_, (w, d3, d1) in zip(ml[i].tolist(), mh[i].tolist(), stop.tolist(), c[i].tolist(),
                                                         mid[i].tolist(), rr[i].tolist(), b[i].tolist(), strict=True)]
    return _decisions(keys, g, {"at": i, "side": np.where(is_short, "short", "long"), "entry": c[i], "stop": stop,
                                "target": mid[i], "confidence": MONDAY_BASE_CONFIDENCE + MONDAY_STEP_CONFIDENCE * agree,
                                "reason": reason})


# ------------------------------------------------------------------------------- order blocks, breakers
def _blocks(o: np.ndarray, c: np.ndarray, first: np.ndarray, body_mult: float, body_window: int, max_gap: int) -> dict:
    """:func:`order_blocks` as column arrays, for bars whose series begin at ``first`` (per bar)."""
    n = len(c)
    i = np.arange(n)
    body = np.abs(c - o)
    mean_prev = np.full(n, np.nan)
    if n > body_window:
        mean_prev[body_window:] = np.lib.stride_tricks.sliding_window_view(body, body_window)[:-1].mean(axis=1)
    mean_prev[i - first < body_window] = np.nan  # the window would reach into the series before
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = np.where(mean_prev > 0, body / mean_prev, np.nan)
        disp = strength >= body_mult
    parts = []
    for polarity, disp_dir, opposing in ((1, c > o, c < o), (-1, c < o, c > o)):
        last_opp = np.maximum.accumulate(np.where(opposing, i, -1))
        prior = np.r_[-1, last_opp[:-1]]  # last opposing candle strictly before each bar
        d = np.flatnonzero(disp & disp_dir & (prior >= first) & (i - prior <= max_gap))
        k = prior[d]
        parts.append({"disp": d, "ob": k, "polarity": np.full(len(d), polarity), "bottom": np.minimum(o[k], c[k]),
                      "top": np.maximum(o[k], c[k]), "strength": strength[d]})
    order = np.argsort(np.r_[parts[0]["disp"], parts[1]["disp"]], kind="stable")
    return {k: np.r_[parts[0][k], parts[1][k]][order] for k in parts[0]}


def order_blocks(o: np.ndarray, c: np.ndarray, body_mult: float, body_window: int, max_gap: int) -> pd.DataFrame:
    """Order blocks of one series: one row per displacement candle with an opposing candle before it.

    Returns columns ``disp`` (displacement bar index), ``ob`` (order-block bar index), ``polarity``
    (+1 a bullish block = support, −1 bearish), ``bottom``/``top`` (the block candle's body, quote
    currency) and ``strength`` (displacement body / mean body of the ``body_window`` before it).
    """
    o, c = np.asarray(o, dtype="float64"), np.asarray(c, dtype="float64")
    return pd.DataFrame(_blocks(o, c, np.zeros(len(c), dtype="int64"), body_mult, body_window, max_gap))


def zone_events(start: np.ndarray, polarity: np.ndarray, bottom: np.ndarray, top: np.ndarray,
                h: np.ndarray, lo: np.ndarray, c: np.ndarray, max_age: int, end: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """First retest and first close-through of each zone over bars ``start … start + max_age − 1``.

    A support zone (polarity +1) is retested by a bar with ``low <= top`` and ``close >= bottom``
    and closed through by ``close < bottom``; a resistance zone (−1) mirrored. Bars from each zone's
    ``end`` on (one past its series' last bar; default ``len(c)``) do not count. Returns bar indices
    ``(retest, through)``, −1 where none happens inside the age.
    """
    if len(start) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    idx = start[:, None] + np.arange(max_age)[None, :]
    valid = idx < (len(c) if end is None else end[:, None])
    idx = np.minimum(idx, len(c) - 1)
    s, b, t = polarity[:, None], bottom[:, None], top[:, None]
    retest = valid & np.where(s > 0, (lo[idx] <= t) & (c[idx] >= b), (h[idx] >= b) & (c[idx] <= t))
    through = valid & np.where(s > 0, c[idx] < b, c[idx] > t)

    def first(m: np.ndarray) -> np.ndarray:
        return np.where(m.any(axis=1), idx[np.arange(len(m)), m.argmax(axis=1)], -1)

    return first(retest), first(through)


def _with_events(zs: dict, g: Bars, age: int) -> dict:
    """``zs`` (with ``born``) plus its ``retest``, ``through`` and ``until`` bars, each inside the zone's series."""
    born, end = zs["born"], g["end"][zs["disp"]]
    retest, through = zone_events(born.astype("int64"), zs["polarity"], zs["bottom"], zs["top"],
                                  g["high"], g["low"], g["close"], age, end)
    until = np.where(through >= 0, through - 1, np.minimum(born + age - 1, end - 1))
    return {**zs, "retest": retest, "through": through, "until": until}


def zones(g: Bars, p: Mapping[str, object]) -> tuple[Zones, Zones]:
    """(order blocks, breakers) of the panel ``g`` (:func:`_panel`) with their events and active span.

    Each maps the :func:`order_blocks` columns (bar indices into the panel) and ``born`` (first bar
    the zone is live), ``retest`` and ``through`` (bar index or −1) and ``until`` (last bar it is
    live: the bar before its close-through, or its age's end, never past its series' last bar) to
    one array each, one element per zone, zones ordered by displacement bar.
    """
    age = int(p["max_age"])
    obs = _blocks(g["open"], g["close"], g["first"], float(p["body_mult"]), int(p["body_window"]), int(p["max_gap"]))
    obs = _with_events({**obs, "born": obs["disp"] + 1}, g, age)
    # breakers: blocks closed through, polarity flipped, live from the bar after the break
    broken = obs["through"] >= 0
    breakers = {k: v[broken] for k, v in obs.items()}
    breakers.update(polarity=-breakers["polarity"], born=breakers["through"] + 1)
    return obs, _with_events(breakers, g, age)


def _retests(keys: list[tuple[str, str]], g: Bars, zs: Zones, p: Mapping[str, object], kind: str) -> pd.DataFrame:
    """Decisions at each zone's retest bar (before any close-through): entry close, stop past zone and wick."""
    h, lo, c = g["high"], g["low"], g["close"]
    pol, bottom, top, retest, through = (np.asarray(zs[k]) for k in ("polarity", "bottom", "top", "retest", "through"))
    z = np.flatnonzero((retest >= 0) & ((through < 0) | (retest < through)))
    r = retest[z].astype("int64")
    # the zone's far side or the retest's wick, whichever is further (a NaN wick keeps the zone's side)
    stop = np.where(pol[z] > 0, np.where(lo[r] < bottom[z], lo[r], bottom[z]), np.where(h[r] > top[z], h[r], top[z]))
    ok = np.abs(c[r] - stop) > 0
    z, r, stop = z[ok], r[ok], stop[ok]
    rr = float(p["reward_risk"])
    target = c[r] + pol[z] * rr * np.abs(c[r] - stop)
    ob = np.asarray(zs["ob"])[z].astype("int64")
    reason = [f"{kind} retest: zone {b:.6g}-{t:.6g} from the candle of {at} (displacement {s:.2f}x mean body), "
              f"retest closed {e:.6g}; stop {st:.6g}, target {tg:.6g} ({rr:g}R)"
              for b, t, at, s, e, st, tg in zip(bottom[z].tolist(), top[z].tolist(), _hour_text(g["hour"][ob]),
                                                 np.asarray(zs["strength"])[z].tolist(), c[r].tolist(), stop.tolist(),
                                                 target.tolist(), strict=True)]
    return _decisions(keys, g, {"at": r, "side": np.where(pol[z] > 0, "long", "short"), "entry": c[r], "stop": stop,
                                "target": target, "confidence": np.full(len(r), float(p["confidence"])), "reason": reason})


def _zone_strategy(kind: str):
    def signals(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
        if data.bars.empty:
            return decisions()
        keys, g = _panel(data.bars)
        obs, breakers = zones(g, p)
        return _retests(keys, g, obs if kind == "order block" else breakers, p, kind)

    return signals


# -------------------------------------------------------------------------------- swing-failure pattern
def _in_zone(bars_i: np.ndarray, wick: np.ndarray, polarity: int, zs: Zones) -> np.ndarray:
    """Whether each bar ``bars_i``'s ``wick`` ends inside a live zone of ``polarity`` at that bar."""
    m = np.asarray(zs["polarity"]) == polarity
    if not m.any() or len(bars_i) == 0:
        return np.zeros(len(bars_i), dtype=bool)
    born, until, bottom, top = (np.asarray(zs[k])[m] for k in ("born", "until", "bottom", "top"))
    live = (born <= bars_i[:, None]) & (bars_i[:, None] <= until)  # a zone is live inside its own series only
    inside = (bottom <= wick[:, None]) & (wick[:, None] <= top)
    return (live & inside).any(axis=1)


def _prior_level(levels: np.ndarray, first: np.ndarray) -> np.ndarray:
    """At each bar, the last non-NaN level at an earlier bar of its series (NaN if none).

    A swing confirmed at bar t − 1 is known at bar t.
    """
    seen = np.maximum.accumulate(np.where(np.isnan(levels), -1, np.arange(len(levels))))  # last level at or before
    prior = np.r_[-1, seen][:len(levels)]
    return np.where(prior >= first, levels[np.maximum(prior, 0)], np.nan)


def _sfp(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    if data.bars.empty:
        return decisions()
    keys, g = _panel(data.bars)
    h, lo, c, first = g["high"], g["low"], g["close"], g["first"]
    base, rr = float(p["confidence"]), float(p["reward_risk"])
    sh, sl = swing_points(h, lo, int(p["swing_lookback"]), g["starts"])
    lvl_h, lvl_l = _prior_level(sh, first), _prior_level(sl, first)
    obs, breakers = zones(g, p)
    all_zones = {k: np.r_[np.asarray(obs[k]), np.asarray(breakers[k])] for k in ("polarity", "born", "until", "bottom", "top")}
    parts = []
    for polarity, side in ((-1, "short"), (1, "long")):
        lvl, wick = (lvl_h, h) if polarity < 0 else (lvl_l, lo)
        with np.errstate(invalid="ignore"):
            swept = (wick > lvl) & (c < lvl) if polarity < 0 else (wick < lvl) & (c > lvl)
        k = np.flatnonzero(swept & (np.arange(len(c)) + 1 < g["end"]))  # a next candle of the same series
        k = k[(c[k + 1] - c[k]) * polarity > 0]  # confirmed: the next close further inside
        j = k + 1
        conf = confluence(np.full(len(k), base), _in_zone(k, wick[k], polarity, all_zones))
        # beyond both candles' extremes (a NaN on the confirming candle keeps the SFP candle's)
        stop = np.where(h[j] > h[k], h[j], h[k]) if polarity < 0 else np.where(lo[j] < lo[k], lo[j], lo[k])
        target = c[j] + polarity * rr * np.abs(c[j] - stop)
        reason = [f"SFP: wick {w:.6g} beyond swing {lv:.6g}, closed back at {ck:.6g}, confirmed by close {cj:.6g}; "
                  f"stop {st:.6g}, target {tg:.6g}" + ("; inside an order-block/breaker zone (confluence)" if cf > base else "")
                  for w, lv, ck, cj, st, tg, cf in zip(wick[k].tolist(), lvl[k].tolist(), c[k].tolist(), c[j].tolist(),
                                                      stop.tolist(), target.tolist(), conf.tolist(), strict=True)]
        parts.append({"at": j, "side": np.full(len(j), side), "entry": c[j], "stop": stop, "target": target,
                      "confidence": conf, "reason": reason})
    return _decisions(keys, g, *parts)  # within a series, shorts before longs


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
