"""Execution bars for every instrument the book trades, and the fills of one hour.

The one fill simulator's rules (``quant.book.fills``) need an hourly bar per instrument:

* perps — the real candle;
* the L1 spot leg and the ML sleeve — the perp's candle × (1 − spot basis), flagged ``modelled``
  (the sample has no spot candles; never silently assumed equal: every such fill says it is modelled);
* L3 options — Black-76 values of the option at the underlying's open/high/low/close on the
  option's last known IV, volume ``MODEL_OPTION_CONTRACTS_PER_HOUR``, flagged ``modelled``.

Reduce-only orders never trade more than the leg holds, and when a stop and a target of the same
L2 rung both trade in one bar the stop is assumed first (the worse outcome) and the target is
cancelled: an OCO pair can never both fill.

Inside the book's range loop everything here is plain records (``quant.book.legs``): an hour's
bars are tuples ``(venue, symbol, open, high, low, close, volume)``, an execution bar a list
``[open, high, low, close, volume, modelled]`` keyed by (venue, symbol), a fill a dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.book.fills import (
    FILL_COLUMNS,
    ORDER_KIND_CODES,
    REASON_OF_CODE,
    STATUS_OF_CODE,
    FillParams,
    bad_bar_error,
    fill_one,
    first_bad_bar,
)
from quant.book.legs import Leg, is_missing
from quant.book.params import HOUR, L3_UNDERLYING, MODEL_OPTION_CONTRACTS_PER_HOUR, BookParams, spot_symbol
from quant.book.venue_fills import CLAMP_MARK, VenueRecord, is_venue_fill, venue_fill
from quant.options.chain import SECONDS_PER_DAY
from quant.options.pricing import DAYS_PER_YEAR, gbs_price

BOOK_FILL_COLUMNS = ["hour", *FILL_COLUMNS, "position", "modelled"]
Bar = tuple  # (venue, symbol, open, high, low, close, volume)
NAN = math.nan


def underlying_bar(bars: list[Bar]) -> Bar | None:
    """The L3 underlying's candle of the hour (first venue of ``L3_UNDERLYING`` that has one)."""
    for venue, symbol in L3_UNDERLYING:
        for b in bars:
            if b[0] == venue and b[1] == symbol:
                return b
    return None


def _years(expiry: pd.Timestamp, at: pd.Timestamp) -> float:
    return max((pd.Timestamp(expiry) - at).total_seconds(), 0.0) / (SECONDS_PER_DAY * DAYS_PER_YEAR)


def _values(forward: np.ndarray, strike: np.ndarray, t: np.ndarray, iv: np.ndarray, call: np.ndarray) -> np.ndarray:
    """Black-76 values (element by element, broadcast); at or past expiry (t = 0) the intrinsic value, whatever the IV."""
    with np.errstate(invalid="ignore"):
        values = gbs_price(forward, strike, t, iv, call, 0.0, 0.0)
    intrinsic = np.where(call, np.maximum(forward - strike, 0.0), np.maximum(strike - forward, 0.0))
    return np.where(t == 0.0, intrinsic, values)


def option_values(forward: np.ndarray, strike: float, expiry: pd.Timestamp, iv: float, call: bool,
                  at: pd.Timestamp) -> np.ndarray:
    """Black-76 value per contract (USD) at each forward, ``at`` the valuation time (UTC)."""
    forward = np.asarray(forward, dtype="float64")
    return _values(forward, np.float64(strike), np.full(forward.shape, _years(expiry, at)), np.float64(iv), np.bool_(call))


def _option_bars(hour: pd.Timestamp, ohlc: np.ndarray, options: list[tuple]) -> list[tuple[tuple[str, str], list]]:
    """Modelled bars of every option in one Black-76 call (element by element the same as :func:`option_values`):
    open/high/low valued at the hour's start on the underlying's open/high/low, the close at the hour's end."""
    strike = np.array([o[1] for o in options], dtype="float64")[:, None]
    iv = np.array([o[4] for o in options], dtype="float64")[:, None]
    call = np.array([o[3] == "C" for o in options])[:, None]
    t = np.array([[_years(o[2], hour)] * 3 + [_years(o[2], hour + HOUR)] for o in options], dtype="float64")
    forward = np.broadcast_to(ohlc, t.shape)
    values = _values(forward, strike, t, iv, call)
    top, bottom = values[:, 1:3].max(axis=1), values[:, 1:3].min(axis=1)  # NaN-propagating, as before
    out = []
    for (instrument, *_), v, hi, lo in zip(options, values, top, bottom, strict=True):
        out.append((("deribit", instrument), [v[0], max(hi, v[3]), min(lo, v[3]), v[3], MODEL_OPTION_CONTRACTS_PER_HOUR, True]))
    return out


def option_specs(pending: list[dict], legs: list[Leg]) -> list[tuple]:
    """(instrument, strike, expiry, option_type, iv) of every option to price: held legs' own terms first."""
    specs: dict[str, tuple] = {}
    for leg in legs:
        if leg.kind == "option":
            specs.setdefault(leg.instrument, (leg.instrument, leg.strike, leg.expiry, leg.option_type, leg.iv))
    for p in pending:
        if p["instrument_kind"] == "option" and not (is_missing(p["strike"]) or is_missing(p["iv"])):
            specs.setdefault(p["symbol"], (p["symbol"], p["strike"], p["expiry"], p["option_type"], p["iv"]))
    return list(specs.values())


class ExecutionBars(dict):
    """An hour's execution bars by (venue, symbol); the first ``checked`` already pass the fill simulator's bar rule."""

    checked: int = 0


def execution_bars(hour: pd.Timestamp, bars: list[Bar], options: list[tuple], params: BookParams,
                   base: tuple[list, list, bool] | None = None, under: Bar | None = None) -> ExecutionBars:
    """Bars of hour ``hour`` for perps, modelled spot legs and modelled options, in that order.

    An option with no underlying candle gets no bar (no fill, no mark); a bar with a price that
    is not > 0 (an expired or worthless option, a broken candle) is no market and is left out.
    ``base``: the perp and spot bars as ``quant.book.range_inputs`` builds them for the range
    (keys, bars, whether all pass the bar rule) and ``under`` the hour's :func:`underlying_bar`;
    None: built here from ``bars``.
    """
    out = ExecutionBars()
    rows: list[tuple[tuple[str, str], list]] = []
    if base is not None and len(out := ExecutionBars(zip(base[0], base[1], strict=True))) == len(base[0]):
        out.checked = len(out) if base[2] else 0
    else:  # built here (or a key repeats: the loop below names it)
        out = ExecutionBars()
        rows += [((b[0], b[1]), [b[2], b[3], b[4], b[5], b[6], False]) for b in bars]
        basis = 1.0 - params.spot_basis
        rows += [((b[0], spot_symbol(b[1])), [b[2] * basis, b[3] * basis, b[4] * basis, b[5] * basis, b[6], True]) for b in bars]
        under = underlying_bar(bars)
    if under is not None and options:
        rows += _option_bars(hour, np.array(under[2:6], dtype="float64"), options)
    for key, bar in rows:
        if bar[0] > 0 and bar[1] > 0 and bar[2] > 0 and bar[3] > 0:  # NaN compares false: no market
            if key in out:
                raise ValueError(f"two bars for {key[0]} {key[1]} at {hour}")
            out[key] = bar
    return out


def _validate_bars(hour: pd.Timestamp, ebars: dict[tuple[str, str], list]) -> None:
    """The fill simulator's bar rule (``quant.book.fills.first_bad_bar``) over the hour's execution bars."""
    skip = getattr(ebars, "checked", 0)
    if len(ebars) <= skip:
        return
    items = list(ebars.items())[skip:]
    if len(items) <= _FEW_BARS:  # the modelled option bars of an hour: the same rule without numpy's arrays
        bad = next((i for i, (_, bar) in enumerate(items) if not bar_passes(*bar[:5])), -1)
    else:
        bad = first_bad_bar(*np.array([bar[:5] for _, bar in items], dtype="float64").T)
    if bad >= 0:
        (venue, symbol), bar = items[bad]
        raise bad_bar_error(venue, symbol, hour, *bar[:5])


#: Up to this many bars are checked one by one (:func:`bar_passes`), more in one ``first_bad_bar`` pass.
_FEW_BARS = 8


def bar_passes(o: float, h: float, lo: float, c: float, v: float) -> bool:
    """``quant.book.fills.first_bad_bar``'s rule for one bar: every price finite and > 0, the volume >= 0."""
    return (math.isfinite(o) and o > 0 and math.isfinite(h) and h > 0 and math.isfinite(lo) and lo > 0
            and math.isfinite(c) and c > 0 and v >= 0)


def fill_intent(intent: dict, bar: list | None, p: FillParams) -> dict:
    """The one fill simulator's rules (``quant.book.fills.fill_one``) for one intent against its execution bar (None: none)."""
    o, h, lo, vol = (NAN, NAN, NAN, NAN) if bar is None else (bar[0], bar[1], bar[2], bar[4])
    kind = intent["order_type"]
    lim = intent["limit"]
    qty = float(intent["qty"])
    filled, price, notional, fee, status, reason = fill_one(
        intent["side"] == "buy", ORDER_KIND_CODES.get(kind, -1), qty, NAN if lim is None else float(lim), o, h, lo, vol,
        p.maker_fee_bps, p.taker_fee_bps, p.entry_slippage_bps, p.stop_slippage_bps, p.max_volume_share)
    return {
        "client_order_id": intent["client_order_id"], "exec_hour": intent["exec_hour"], "venue": intent["venue"],
        "symbol": intent["symbol"], "side": intent["side"], "order_type": kind, "layer": intent["layer"], "leg": intent["leg"],
        "qty": qty, "filled_qty": filled, "fill_price": price, "notional": notional, "fee": fee,
        "status": STATUS_OF_CODE[status], "reason": REASON_OF_CODE[reason], "position": intent["position"],
        "reduce_only": bool(intent["reduce_only"]),
    }


def fill_hour(hour: pd.Timestamp, pending: list[dict], ebars: dict[tuple[str, str], list],
              held: dict[tuple[str, str, str, str], float], params: BookParams, cancel_entries: bool = False,
              venue: Mapping[str, VenueRecord] | None = None) -> list[dict]:
    """Fill the approved intents of the previous hour against this hour's execution bars.

    ``held`` maps (layer, venue, instrument, leg) to the signed quantity held before the hour;
    reduce-only fills are clamped to it. ``cancel_entries``: the kill switch holds this hour, so
    working orders that would open or add (not reduce-only) are cancelled, never filled.
    Stops are filled before targets so an OCO pair resolves to the worse outcome; otherwise in
    intent order. Returns one dict per approved intent with ``BOOK_FILL_COLUMNS``.

    ``venue``: the venue's records by client order id (``quant.book.venue_fills``); an intent
    with one fills as the venue filled it, the others are simulated. A venue fill is what the
    account did, so the kill switch does not cancel it (it was sent before the trip); the
    reduce-only clamp still holds (the book never lets a close open the other side), naming it.
    """
    todo = [i for i in pending if i["approved"]]
    if not todo:
        return []
    _validate_bars(hour, ebars)
    todo = [i for i in todo if i["order_type"] == "stop"] + [i for i in todo if i["order_type"] != "stop"]
    out = []
    for intent in todo:
        record = None if venue is None else venue.get(intent["client_order_id"])
        if record is not None:
            out.append(venue_fill(intent, record, params.fills[intent["layer"]]))
            continue
        bar = ebars.get((intent["venue"], intent["symbol"])) if intent["exec_hour"] == hour else None
        out.append(fill_intent(intent, bar, params.fills[intent["layer"]]))
    _clamp_reduce_only(out, held)
    if cancel_entries:
        for f in out:
            if not f["reduce_only"] and not is_venue_fill(f["reason"]):
                f.update(filled_qty=0.0, notional=0.0, fee=0.0, fill_price=NAN, status="cancelled",
                         reason="kill switch tripped: working entries are cancelled")
    for f in out:
        bar = ebars.get((f["venue"], f["symbol"]))
        f["modelled"] = bool(bar[5]) if bar is not None else False
        f["hour"] = f["exec_hour"]
    return out


def _clamp_reduce_only(out: list[dict], held: dict[tuple[str, str, str, str], float]) -> None:
    """Reduce-only fills never exceed what the leg still holds (in fill order); the rest is cancelled."""
    remaining = dict(held)
    for f in out:
        if not f["reduce_only"]:
            continue
        key = (f["layer"], f["venue"], f["symbol"], str(f["leg"]).split(":", 1)[0])
        left = abs(remaining.get(key, 0.0))
        want = f["filled_qty"]
        take = min(want, left)
        if take < want:
            scale = take / want if want > 0 else 0.0
            f["filled_qty"] = take
            f["notional"] = f["notional"] * scale
            f["fee"] = f["fee"] * scale
            source = f["reason"] + "; " if is_venue_fill(f["reason"]) else ""  # a venue fill stays marked
            if take == 0.0:
                f.update(fill_price=NAN, status="cancelled",
                         reason=source + CLAMP_MARK + "the leg was already closed this hour (stop assumed before target)")
            else:
                f.update(status="partial", reason=source + CLAMP_MARK + "clamped to the quantity still held")
        if take > 0:
            sign = 1.0 if remaining.get(key, 0.0) > 0 else -1.0
            remaining[key] = remaining.get(key, 0.0) - sign * take
