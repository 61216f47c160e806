"""The ONE fill simulator: backtest, paper and replay all fill orders here.

It never fills without a counterparty at the price. An order decided at hour H works during
the bar of H + 1h (its ``exec_hour``):

* limit buy — fills only if the bar traded strictly below the limit (``low < limit``; a touch is
  not a fill), at ``min(limit, open)`` (a resting buy meets an open below it);
  limit sell — only if ``high > limit``, at ``max(limit, open)``. Maker fee.
* market — at the open, plus slippage (``entry_slippage_bps`` against the taker). Taker fee.
* stop — a sell stop triggers when ``low <= stop`` and fills at ``min(stop, open)`` less
  ``stop_slippage_bps``; a buy stop mirrors it. Taker fee.
* every fill is capped at ``max_volume_share`` of the bar's traded volume (partial fills); a bar
  with no volume, or no bar at all, is no counterparty: the order is rejected and counted.

Prices must be finite and > 0: a bad bar raises ``ValueError`` naming it, never a silent fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

BPS = 1e-4
FILL_COLUMNS = [
    "client_order_id", "exec_hour", "venue", "symbol", "side", "order_type", "layer", "leg",
    "qty", "filled_qty", "fill_price", "notional", "fee", "status", "reason",
]
#: Statuses: the order traded in full / in part / not at all although the market was there /
#: rejected because nobody traded at the price (no bar, no volume, price never reached).
STATUSES = ("filled", "partial", "not_triggered", "no_counterparty")


@dataclass(frozen=True)
class FillParams:
    """Execution costs and limits (defaults: Binance/Bybit USDT-perp taker 5 bps, maker 2 bps).

    Attributes
    ----------
    maker_fee_bps, taker_fee_bps : fees in basis points of notional.
    entry_slippage_bps : market orders pay this against the open.
    stop_slippage_bps : stops pay this against the trigger (gaps pay more: the open).
    max_volume_share : largest share of the bar's base volume one order may take.
    """

    maker_fee_bps: float = 2.0
    taker_fee_bps: float = 5.0
    entry_slippage_bps: float = 5.0
    stop_slippage_bps: float = 10.0
    max_volume_share: float = 0.10


#: ``order_type`` codes of ``fill_one`` (anything else is -1: it never fills and pays the taker fee).
ORDER_KIND_CODES = {"market": 0, "limit": 1, "stop": 2}
KIND_MARKET, KIND_LIMIT, KIND_STOP, KIND_OTHER = 0, 1, 2, -1
#: ``fill_one``'s status and reason codes index these.
STATUS_OF_CODE = ("filled", "partial", "no_counterparty", "not_triggered")
REASON_OF_CODE = (
    "",
    "capped at the bar's volume share",
    "the bar never traded through the limit (a touch is not a fill)",
    "stop price not reached",
    "no volume traded in the execution hour",
    "no market data for the execution hour",
)
_FILLED, _PARTIAL, _NO_COUNTERPARTY, _NOT_TRIGGERED = 0, 1, 2, 3
_R_NONE, _R_CAPPED, _R_TOUCH, _R_STOP, _R_NO_VOLUME, _R_NO_BAR = 0, 1, 2, 3, 4, 5
_MAX_FLOAT = np.finfo(np.float64).max


@njit(cache=True)
def _nan_to_num(x: float) -> float:
    """``np.nan_to_num`` of one float: NaN → 0, ±inf → ±largest float."""
    if np.isnan(x):
        return 0.0
    if x == np.inf:
        return _MAX_FLOAT
    if x == -np.inf:
        return -_MAX_FLOAT
    return x


@njit(cache=True)
def fee_usd(notional: float, kind: int, maker_fee_bps: float, taker_fee_bps: float) -> float:
    """The book's fee on a fill's notional: the maker rate for a limit order (``kind`` = ``KIND_LIMIT``), the
    taker rate otherwise — what the simulator charges, and a venue fill whose fee the venue did not say."""
    return notional * (maker_fee_bps if kind == KIND_LIMIT else taker_fee_bps) * BPS


@njit(cache=True)
def fill_one(  # noqa: C901 - the rules, in one place
        is_buy: bool, kind: int, qty: float, limit: float, bar_open: float, bar_high: float, bar_low: float,
        bar_volume: float, maker_fee_bps: float, taker_fee_bps: float, entry_slippage_bps: float,
        stop_slippage_bps: float, max_volume_share: float) -> tuple[float, float, float, float, int, int]:
    """The fill rules for ONE intent against its execution bar — the module docstring, as a function.

    ``kind`` is ``ORDER_KIND_CODES[order_type]`` (-1 for anything else); ``limit`` is the limit or
    stop price (NaN for market orders); the bar's ``bar_open`` is NaN when there is no bar.
    Returns ``(filled_qty, fill_price, notional, fee, status_code, reason_code)``: fill_price is NaN
    when nothing filled; the codes index ``STATUS_OF_CODE`` and ``REASON_OF_CODE``.
    """
    price = np.nan
    if kind == KIND_MARKET:
        slip = entry_slippage_bps * BPS
        price = bar_open * (1 + slip) if is_buy else bar_open * (1 - slip)
    crossed = bar_low < limit if is_buy else bar_high > limit
    if kind == KIND_LIMIT and crossed:
        price = min(limit, bar_open) if is_buy else max(limit, bar_open)
    triggered = bar_high >= limit if is_buy else bar_low <= limit
    if kind == KIND_STOP and triggered:
        sslip = stop_slippage_bps * BPS
        price = max(limit, bar_open) * (1 + sslip) if is_buy else min(limit, bar_open) * (1 - sslip)
    no_bar = np.isnan(bar_open)
    no_volume = not no_bar and not bar_volume > 0
    capacity = 0.0 if no_bar else max_volume_share * _nan_to_num(bar_volume)
    filled = 0.0
    if np.isfinite(price) and not no_volume:
        filled = np.nan if np.isnan(qty) else (capacity if capacity < qty else qty)
    if not filled > 0:
        price = np.nan
    notional = filled * _nan_to_num(price)
    fee = fee_usd(notional, kind, maker_fee_bps, taker_fee_bps)
    if no_bar:
        return filled, price, notional, fee, _NO_COUNTERPARTY, _R_NO_BAR
    if no_volume:
        return filled, price, notional, fee, _NO_COUNTERPARTY, _R_NO_VOLUME
    if kind == KIND_STOP and not triggered:
        return filled, price, notional, fee, _NOT_TRIGGERED, _R_STOP
    if kind == KIND_LIMIT and not crossed:
        return filled, price, notional, fee, _NO_COUNTERPARTY, _R_TOUCH
    if filled >= qty:
        return filled, price, notional, fee, _FILLED, _R_NONE
    return filled, price, notional, fee, _PARTIAL, _R_CAPPED


@njit(cache=True)
def _fill_all(is_buy, kind, qty, limit, bar_open, bar_high, bar_low, bar_volume, maker_fee_bps, taker_fee_bps,
              entry_slippage_bps, stop_slippage_bps, max_volume_share):
    n = qty.shape[0]
    filled, price, notional, fee = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    status, reason = np.empty(n, np.int8), np.empty(n, np.int8)
    for i in range(n):
        filled[i], price[i], notional[i], fee[i], status[i], reason[i] = fill_one(
            is_buy[i], kind[i], qty[i], limit[i], bar_open[i], bar_high[i], bar_low[i], bar_volume[i],
            maker_fee_bps, taker_fee_bps, entry_slippage_bps, stop_slippage_bps, max_volume_share)
    return filled, price, notional, fee, status, reason


@njit(cache=True)
def first_bad_bar(o, h, lo, c, v) -> int:
    """Index of the first bar with a price not finite and > 0 or a volume not >= 0; -1 if none."""
    for i in range(o.shape[0]):
        if not (np.isfinite(o[i]) and o[i] > 0 and np.isfinite(h[i]) and h[i] > 0 and np.isfinite(lo[i]) and lo[i] > 0
                and np.isfinite(c[i]) and c[i] > 0 and v[i] >= 0):
            return i
    return -1


def bad_bar_error(venue: str, symbol: str, hour: object, o: float, h: float, lo: float, c: float, v: float) -> ValueError:
    """The error naming a bar :func:`first_bad_bar` refused, with its prices and volume."""
    return ValueError(f"bad bar for {venue} {symbol} at {hour}: prices must be finite and > 0 "
                      f"and volume >= 0 (open={o}, high={h}, low={lo}, close={c}, volume={v})")


def _validate_bars(bars: pd.DataFrame) -> None:
    bad = first_bad_bar(*(bars[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume")))
    if bad >= 0:
        row = bars.iloc[bad]
        raise bad_bar_error(row["venue"], row["symbol"], row["hour"], row["open"], row["high"], row["low"], row["close"],
                            row["volume"])


_HOUR_NS = 3_600_000_000_000
#: Hours since the epoch fit well below this; (instrument code × stride + hour) is a unique key.
_KEY_STRIDE = 10**7


def _instrument_codes(bars: pd.DataFrame, intents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One integer per (venue, symbol), shared by bars and intents.

    Bars come grouped by instrument, so only the first bar of each run of equal (venue, symbol) is
    named; the names of those few bars and of the intents are factorized together.
    """
    venue, symbol = bars["venue"], bars["symbol"]
    heads = (venue.ne(venue.shift()) | symbol.ne(symbol.shift())).to_numpy(dtype=bool)
    at = np.flatnonzero(heads)
    head_names = bars["venue"].iloc[at] + "|" + bars["symbol"].iloc[at]
    names = pd.concat([head_names, intents["venue"] + "|" + intents["symbol"]], ignore_index=True)
    codes, _ = pd.factorize(names)
    bar_codes = np.repeat(codes[:len(at)].astype(np.int64), np.diff(np.append(at, len(bars))))
    return bar_codes, codes[len(at):].astype(np.int64)


def _bar_of_each_intent(intents: pd.DataFrame, bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """open, high, low, volume of each intent's execution bar (NaN where there is none).

    A sorted integer key (instrument code, hour) and one ``searchsorted`` replace a pandas merge:
    the fill step is the hot path of every backtest.
    """
    n_bars = len(bars)
    bar_codes, want_codes = _instrument_codes(bars, intents)
    bar_key = bar_codes * _KEY_STRIDE + bars["hour"].to_numpy(dtype="datetime64[ns]").view("int64") // _HOUR_NS
    want = want_codes * _KEY_STRIDE + intents["exec_hour"].to_numpy(dtype="datetime64[ns]").view("int64") // _HOUR_NS
    if n_bars > 1 and (np.diff(bar_key) > 0).all():  # already in key order (the usual layout): no sort, no duplicate
        order, sorted_keys = np.arange(n_bars), bar_key
    else:
        order = np.argsort(bar_key, kind="stable")
        sorted_keys = bar_key[order]
        if n_bars > 1 and (np.diff(sorted_keys) == 0).any():
            dup = bars.iloc[order[1:][np.diff(sorted_keys) == 0][0]]
            raise ValueError(f"two bars for {dup['venue']} {dup['symbol']} at {dup['hour']}")
    pos = np.clip(np.searchsorted(sorted_keys, want), 0, max(n_bars - 1, 0))
    found = (sorted_keys[pos] == want) if n_bars else np.zeros(len(want), bool)
    rows = order[pos] if n_bars else np.zeros(len(want), np.int64)  # no bars at all: nothing to index
    cols = []
    for c in ("open", "high", "low", "volume"):
        values = bars[c].to_numpy(dtype="float64")[rows] if n_bars else np.full(len(want), np.nan)
        cols.append(np.where(found, values, np.nan))
    return tuple(cols)


def simulate_fills(intents: pd.DataFrame, bars: pd.DataFrame, params: FillParams | None = None) -> pd.DataFrame:
    """Fill ``intents`` (``quant.book.orders.INTENT_COLUMNS``) against hourly ``bars``.

    Each intent goes through ``fill_one`` (the rules) in one compiled loop.

    Parameters
    ----------
    intents : one row per order intent.
    bars : one row per (venue, symbol, hour) with open, high, low, close, volume (base units).
    params : costs and limits.

    Returns
    -------
    One row per intent with ``FILL_COLUMNS``; ``fill_price`` NaN and ``filled_qty`` 0 where
    nothing traded, ``reason`` saying why.
    """
    p = params or FillParams()
    if intents.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in FILL_COLUMNS})
    _validate_bars(bars)
    df = intents
    o, h, lo, vol = _bar_of_each_intent(intents, bars)
    kind = np.full(len(df), KIND_OTHER, dtype=np.int8)
    order_type = df["order_type"]
    for name, code in ORDER_KIND_CODES.items():
        kind[np.asarray(order_type == name, dtype=bool)] = code
    filled, price, notional, fee, status, reason = _fill_all(
        np.asarray(df["side"] == "buy", dtype=bool), kind, df["qty"].to_numpy(dtype="float64"),
        df["limit"].to_numpy(dtype="float64"), o, h, lo, vol, float(p.maker_fee_bps), float(p.taker_fee_bps),
        float(p.entry_slippage_bps), float(p.stop_slippage_bps), float(p.max_volume_share))
    out = df[["client_order_id", "exec_hour", "venue", "symbol", "side", "order_type", "layer", "leg", "qty"]].reset_index(drop=True)
    out["filled_qty"] = filled
    out["fill_price"] = price
    out["notional"] = notional
    out["fee"] = fee
    out["status"] = np.array(STATUS_OF_CODE)[status]
    out["reason"] = np.array(REASON_OF_CODE)[reason]
    return out
