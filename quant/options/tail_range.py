"""The tail hedge of many hours recentred from one snapshot, computed as arrays (hours × options).

:func:`quant.options.tail_hedge.hedge_row` recentres the snapshot on each hour's close
(:func:`quant.options.model.recentre_chain`) and selects the strangle from it
(:func:`quant.options.strangle.select_strangle`), building two DataFrames per hour. Over a range
every hour recentres the SAME snapshot, so most of that is shared:

* days to expiry and ``t_years`` do not depend on the hour (every expiry moves with ``as_of``),
  so the DTE window and the order in which expiries are tried are fixed;
* strikes and forwards are the snapshot's × the hour's ratio ``close / F_near``, and the
  Black-76 prices and greeks are the same element-wise numpy calls, on a (hours × options)
  array instead of one hour's row — the same operations on the same numbers, so the same bits.

:func:`recentred_strangles` returns, per hour, the fields of the strangle ``select_strangle``
would pick (same expiry, same strikes, same tie-breaks: nearest the target, then further OTM,
then chain order), or None where this path does not decide — a chain that cannot be anchored,
no OTM put or call, no expiry in the window, no eligible strike — so the caller falls back to
``hedge_row``, whose status message says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.options.chain import SECONDS_PER_DAY, OptionChain
from quant.options.model import MODELLED_PREFIX, SIDES, anchor_forward
from quant.options.pricing import DAYS_PER_YEAR, black76_greeks, gbs_price
from quant.options.strangle import StrangleConfig

HOUR = pd.Timedelta(hours=1)
#: Hours per array block: bounds the memory of the (hours × options) arrays (~20 of them).
CHUNK_H = 1024


def _fixed(snapshot: OptionChain, first_as_of: pd.Timestamp, config: StrangleConfig) -> dict[str, np.ndarray]:
    """What does not change with the hour: the window's options, their times and the expiry order."""
    src = snapshot.quotes
    seconds = (src["expiry"] + (first_as_of - snapshot.as_of) - first_as_of).dt.total_seconds().to_numpy(dtype="float64")
    dte = seconds / SECONDS_PER_DAY
    window = np.flatnonzero((dte >= config.dte_min) & (dte <= config.dte_max))
    expiry_ns = pd.DatetimeIndex(src["expiry"]).as_unit("ns").asi8
    ranked = sorted(set(expiry_ns[window].tolist()), key=lambda e: (abs(dte[expiry_ns == e][0] - config.dte_target), e))
    return {
        "window": window, "dte": dte, "t": seconds / (SECONDS_PER_DAY * DAYS_PER_YEAR), "expiry_ns": expiry_ns,
        "ranked": np.asarray(ranked, dtype="int64"), "forward": src["underlying_usd"].to_numpy(dtype="float64"),
        "strike": src["strike"].to_numpy(dtype="float64"), "is_call": src["is_call"].to_numpy(dtype=bool),
        "rate": src["rate"].to_numpy(dtype="float64"),
        **{c: src[c].to_numpy(dtype="float64") for c in ("iv", "bid_iv", "ask_iv", "open_interest")},
        **{f"{side}_coin": src[f"{side}_coin"].to_numpy(dtype="float64") for side, _ in SIDES},
    }


def _grid(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(x, shape))


def _priced(f: dict[str, np.ndarray], ratio: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
    """``recentre_chain``'s columns for options ``cols`` at each ratio (rows = hours)."""
    forward = f["forward"][cols][None, :] * ratio[:, None]
    strike = f["strike"][cols][None, :] * ratio[:, None]
    shape = forward.shape
    is_call, t, rate = _grid(f["is_call"][cols], shape), _grid(f["t"][cols], shape), _grid(f["rate"][cols], shape)
    greeks = black76_greeks(forward, strike, t, _grid(f["iv"][cols], shape), is_call, rate)
    quote_iv = np.stack([_grid(f[c][cols], shape) for _, c in SIDES[1:]])
    with np.errstate(invalid="ignore", divide="ignore"):
        model_coin = np.concatenate(
            [greeks.price[None], gbs_price(forward[None], strike[None], t[None], quote_iv, is_call[None], rate[None], 0.0)]
        ) / forward[None]
    out = {"forward": forward, "strike": strike, "delta": greeks.delta, "vega_usd": greeks.vega, "theta_usd": greeks.theta,
           "otm": np.where(is_call, strike > forward, strike < forward)}
    for i, (side, iv_column) in enumerate(SIDES):
        known = np.isfinite(f[iv_column][cols])[None, :]
        out[f"{side}_coin"] = np.where(known, model_coin[i], f[f"{side}_coin"][cols][None, :])
        out[f"{side}_usd"] = out[f"{side}_coin"] * forward
    return out


def _pick(candidates: np.ndarray, distance: np.ndarray, further_otm: np.ndarray) -> np.ndarray:
    """Per row, the column ``_pick_strike`` takes: least distance, then least ``further_otm``, then the first."""
    d = np.where(candidates, distance, np.inf)
    tie = candidates & (d == d.min(axis=1, keepdims=True))
    o = np.where(tie, further_otm, np.inf)
    return np.argmax(tie & (o == o.min(axis=1, keepdims=True)), axis=1)


def _distance(q: dict[str, np.ndarray], config: StrangleConfig, is_call: bool) -> np.ndarray:
    if config.strike_by == "delta":
        return np.abs(np.abs(q["delta"]) - config.delta_target)
    target = q["forward"] * (1.0 + (1.0 if is_call else -1.0) * config.otm_pct)
    return np.abs(q["strike"] - target) / q["forward"]


Picks = list[tuple[int, int] | None]


def _chunk(f: dict[str, np.ndarray], ratio: np.ndarray, config: StrangleConfig) -> tuple[Picks, dict[str, np.ndarray]]:
    """Per hour of the chunk, the (put, call) positions in the window of the strangle (or None), and the window priced."""
    n = len(ratio)
    all_otm = np.where(f["is_call"][None, :], f["strike"][None, :] * ratio[:, None] > f["forward"][None, :] * ratio[:, None],
                       f["strike"][None, :] * ratio[:, None] < f["forward"][None, :] * ratio[:, None])
    ok = (all_otm & f["is_call"]).any(axis=1) & (all_otm & ~f["is_call"]).any(axis=1)
    cols = f["window"]
    if not len(cols):
        return [None] * n, {}
    q = _priced(f, ratio, cols)
    call = f["is_call"][cols]
    ok &= (q["otm"] & call).any(axis=1) & (q["otm"] & ~call).any(axis=1)
    eligible = (q["otm"] & np.isfinite(q["bid_coin"]) & np.isfinite(q["ask_coin"])
                & (f["open_interest"][cols] >= config.min_open_interest) & np.isfinite(q["delta"]) & np.isfinite(q["theta_usd"]))
    if config.strike_by == "delta":
        size = np.abs(q["delta"])
        eligible &= (size >= config.delta_min) & (size <= config.delta_max)
    picked: Picks = [None] * n
    todo = ok.copy()
    for expiry in f["ranked"]:
        here = f["expiry_ns"][cols] == expiry
        puts, calls = eligible & (here & ~call), eligible & (here & call)
        take = todo & puts.any(axis=1) & calls.any(axis=1)
        if not take.any():
            continue
        put = _pick(puts, _distance(q, config, False), q["strike"])
        call_at = _pick(calls, _distance(q, config, True), -q["strike"])
        for i in np.flatnonzero(take):
            picked[i] = (int(put[i]), int(call_at[i]))
        todo &= ~take
    return picked, q


def recentred_strangles(snapshot: OptionChain, hours: pd.DatetimeIndex, closes: np.ndarray,
                        config: StrangleConfig) -> list[dict[str, object] | None]:
    """Per hour (positive finite ``closes``, ``snapshot`` taken before each hour), the strangle's
    ``quant.options.tail_hedge`` fields as ``hedge_row`` computes them from the snapshot recentred
    on the close at the hour's end; None where this path does not decide (module docstring)."""
    try:
        near = anchor_forward(snapshot)
    except ValueError:
        return [None] * len(hours)
    f = _fixed(snapshot, hours[0] + HOUR, config)
    src = snapshot.quotes
    names = (MODELLED_PREFIX + src["instrument"].astype(str)).to_numpy(dtype=object)
    out: list[dict[str, object] | None] = []
    for a in range(0, len(hours), CHUNK_H):
        ratio = np.asarray(closes[a:a + CHUNK_H], dtype="float64") / near
        picks, q = _chunk(f, ratio, config)
        for i, pick in enumerate(picks):
            if pick is None:
                out.append(None)
                continue
            put, call = pick
            pick = (int(f["window"][put]), int(f["window"][call]))
            leg = {name: {k: float(q[k][i, j]) for k in ("strike", "ask_usd", "mark_usd", "delta", "vega_usd", "theta_usd")}
                   for name, j in (("put", put), ("call", call))}
            shift = (hours[a + i] + HOUR - snapshot.as_of).value
            out.append({
                "expiry": pd.Timestamp(int(f["expiry_ns"][pick[0]]) + shift, tz="UTC"), "dte_days": float(f["dte"][pick[0]]),
                "put_instrument": str(names[pick[0]]), "call_instrument": str(names[pick[1]]),
                "put_strike": leg["put"]["strike"], "call_strike": leg["call"]["strike"],
                "put_iv": float(f["iv"][pick[0]]), "call_iv": float(f["iv"][pick[1]]),
                "put_ask_usd": leg["put"]["ask_usd"], "call_ask_usd": leg["call"]["ask_usd"],
                "put_mark_usd": leg["put"]["mark_usd"], "call_mark_usd": leg["call"]["mark_usd"],
                "put_delta": leg["put"]["delta"], "call_delta": leg["call"]["delta"],
                "theta_usd": leg["put"]["theta_usd"] + leg["call"]["theta_usd"],
                "vega_usd": leg["put"]["vega_usd"] + leg["call"]["vega_usd"],
                "premium_usd": leg["put"]["ask_usd"] + leg["call"]["ask_usd"],
            })
    return out
