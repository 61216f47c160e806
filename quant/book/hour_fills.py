"""Execution bars for every instrument the book trades, and the fills of one hour.

The one fill simulator (``quant.book.fills``) needs an hourly bar per instrument:

* perps — the real candle;
* the L1 spot leg — the perp's candle × (1 − spot basis), flagged ``modelled`` (the sample has
  no spot candles; never silently assumed equal: every such fill says it is modelled);
* L3 options — Black-76 values of the option at the underlying's open/high/low/close on the
  option's last known IV, volume ``MODEL_OPTION_CONTRACTS_PER_HOUR``, flagged ``modelled``.

Reduce-only orders never trade more than the leg holds, and when a stop and a target of the same
L2 rung both trade in one bar the stop is assumed first (the worse outcome) and the target is
cancelled: an OCO pair can never both fill.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.book.fills import FILL_COLUMNS, simulate_fills
from quant.book.params import L3_UNDERLYING, MODEL_OPTION_CONTRACTS_PER_HOUR, BookParams
from quant.options.chain import SECONDS_PER_DAY
from quant.options.pricing import DAYS_PER_YEAR, black76_greeks

BAR_COLUMNS = ["hour", "venue", "symbol", "open", "high", "low", "close", "volume", "modelled"]
BOOK_FILL_COLUMNS = ["hour", *FILL_COLUMNS, "position", "modelled"]


def underlying_bar(bars: pd.DataFrame) -> pd.Series | None:
    """The L3 underlying's candle of the hour (first venue of ``L3_UNDERLYING`` that has one)."""
    for venue, symbol in L3_UNDERLYING:
        row = bars[(bars["venue"] == venue) & (bars["symbol"] == symbol)]
        if len(row):
            return row.iloc[0]
    return None


def option_values(forward: np.ndarray, strike: float, expiry: pd.Timestamp, iv: float, call: bool,
                  at: pd.Timestamp) -> np.ndarray:
    """Black-76 value per contract (USD) at each forward, ``at`` the valuation time (UTC)."""
    t = max((pd.Timestamp(expiry) - at).total_seconds(), 0.0) / (SECONDS_PER_DAY * DAYS_PER_YEAR)
    if t == 0.0:
        return np.maximum(forward - strike, 0.0) if call else np.maximum(strike - forward, 0.0)
    return np.asarray(black76_greeks(forward, strike, t, iv, call).price, dtype="float64")


def execution_bars(hour: pd.Timestamp, bars: pd.DataFrame, options: pd.DataFrame, params: BookParams) -> pd.DataFrame:
    """Bars of hour ``hour`` for perps, modelled spot legs and modelled options.

    ``options`` has one row per option instrument to price: ``instrument, strike, expiry,
    option_type, iv``. An option with no underlying candle gets no bar (no fill, no mark).
    """
    perp = bars.loc[:, ["venue", "symbol", "open", "high", "low", "close", "volume"]].copy()
    perp["modelled"] = False
    spot = perp.copy()
    spot["symbol"] = spot["symbol"].str.split(":", n=1).str[0]
    for c in ("open", "high", "low", "close"):
        spot[c] = spot[c] * (1.0 - params.spot_basis)
    spot["modelled"] = True
    parts = [perp, spot]
    under = underlying_bar(bars)
    if len(options) and under is not None:
        rows = []
        ohlc = np.array([under["open"], under["high"], under["low"], under["close"]], dtype="float64")
        for o in options.drop_duplicates("instrument").itertuples(index=False):
            call = o.option_type == "C"
            v_start = option_values(ohlc[:3], o.strike, o.expiry, o.iv, call, hour)
            v_close = option_values(ohlc[3:], o.strike, o.expiry, o.iv, call, hour + pd.Timedelta(hours=1))[0]
            rows.append({"venue": "deribit", "symbol": o.instrument, "open": v_start[0], "high": max(v_start[1:].max(), v_close),
                         "low": min(v_start[1:].min(), v_close), "close": v_close,
                         "volume": MODEL_OPTION_CONTRACTS_PER_HOUR, "modelled": True})
        parts.append(pd.DataFrame(rows))
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else perp
    out.insert(0, "hour", hour)
    # An expired or worthless option is no market: a zero price is not a bar to trade on.
    return out[(out[["open", "high", "low", "close"]] > 0).all(axis=1)].reset_index(drop=True)


def fill_hour(pending: pd.DataFrame, bars: pd.DataFrame, held: dict[tuple[str, str, str, str], float],
              params: BookParams, cancel_entries: bool = False) -> pd.DataFrame:
    """Fill the approved intents of the previous hour against this hour's ``bars``.

    ``held`` maps (layer, venue, instrument, leg) to the signed quantity held before the hour;
    reduce-only fills are clamped to it. ``cancel_entries``: the kill switch holds this hour, so
    working orders that would open or add (not reduce-only) are cancelled, never filled.
    Returns ``BOOK_FILL_COLUMNS``.
    """
    todo = pending[pending["approved"]].reset_index(drop=True) if len(pending) else pending
    if todo.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in BOOK_FILL_COLUMNS})
    # Stops before targets so an OCO pair resolves to the worse outcome; otherwise intent order.
    rank = np.where(todo["order_type"] == "stop", 0, 1)
    todo = todo.iloc[np.lexsort((np.arange(len(todo)), rank))].reset_index(drop=True)
    parts = []
    for layer, rows in todo.groupby("layer", sort=True):
        filled = simulate_fills(rows, bars, params.fills[layer])
        filled["position"] = rows["position"].to_numpy()
        filled["reduce_only"] = rows["reduce_only"].to_numpy()
        filled["order_pos"] = rows.index.to_numpy()
        parts.append(filled)
    out = pd.concat(parts, ignore_index=True).sort_values("order_pos", kind="stable").reset_index(drop=True)
    _clamp_reduce_only(out, held)
    if cancel_entries:
        _cancel_entries(out)
    flags = bars.set_index(["venue", "symbol"])["modelled"]
    keys = pd.MultiIndex.from_arrays([out["venue"], out["symbol"]])
    out["modelled"] = flags.reindex(keys).fillna(False).to_numpy(dtype=bool)
    out["hour"] = out["exec_hour"]
    return out.loc[:, BOOK_FILL_COLUMNS]


def _cancel_entries(out: pd.DataFrame) -> None:
    """Every order that is not reduce-only is cancelled: nothing opens while the kill switch holds the hour."""
    entries = ~out["reduce_only"].to_numpy(dtype=bool)
    if not entries.any():
        return
    out.loc[entries, ["filled_qty", "notional", "fee"]] = 0.0
    out.loc[entries, "fill_price"] = np.nan
    out.loc[entries, "status"] = "cancelled"
    out.loc[entries, "reason"] = "kill switch tripped: working entries are cancelled"


def _clamp_reduce_only(out: pd.DataFrame, held: dict[tuple[str, str, str, str], float]) -> None:
    """Reduce-only fills never exceed what the leg still holds (in fill order); the rest is cancelled."""
    remaining = dict(held)
    for i in out.index[out["reduce_only"].to_numpy(dtype=bool)]:
        leg = str(out.at[i, "leg"]).split(":", 1)[0]
        key = (out.at[i, "layer"], out.at[i, "venue"], out.at[i, "symbol"], leg)
        left = abs(remaining.get(key, 0.0))
        want = float(out.at[i, "filled_qty"])
        take = min(want, left)
        if take < want:
            scale = take / want if want > 0 else 0.0
            out.at[i, "filled_qty"] = take
            out.at[i, "notional"] = out.at[i, "notional"] * scale
            out.at[i, "fee"] = out.at[i, "fee"] * scale
            if take == 0.0:
                out.at[i, "fill_price"] = np.nan
                out.at[i, "status"] = "cancelled"
                out.at[i, "reason"] = "reduce-only: the leg was already closed this hour (stop assumed before target)"
            else:
                out.at[i, "status"] = "partial"
                out.at[i, "reason"] = "reduce-only: clamped to the quantity still held"
        if take > 0:
            sign = 1.0 if remaining.get(key, 0.0) > 0 else -1.0
            remaining[key] = remaining.get(key, 0.0) - sign * take
