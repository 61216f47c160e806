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


def _validate_bars(bars: pd.DataFrame) -> None:
    prices = bars[["open", "high", "low", "close"]].to_numpy(dtype="float64")
    bad = ~(np.isfinite(prices) & (prices > 0)).all(axis=1) | ~(bars["volume"].to_numpy(dtype="float64") >= 0)
    if bad.any():
        row = bars.loc[bad].iloc[0]
        raise ValueError(
            f"bad bar for {row['venue']} {row['symbol']} at {row['hour']}: prices must be finite and > 0 "
            f"and volume >= 0 (open={row['open']}, high={row['high']}, low={row['low']}, close={row['close']}, volume={row['volume']})"
        )


_HOUR_NS = 3_600_000_000_000
#: Hours since the epoch fit well below this; (instrument code × stride + hour) is a unique key.
_KEY_STRIDE = 10**7


def _bar_of_each_intent(intents: pd.DataFrame, bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """open, high, low, volume of each intent's execution bar (NaN where there is none).

    A sorted integer key (instrument code, hour) and one ``searchsorted`` replace a pandas merge:
    the fill step is the hot path of every backtest.
    """
    names = pd.concat([bars["venue"] + "|" + bars["symbol"], intents["venue"] + "|" + intents["symbol"]], ignore_index=True)
    codes, _ = pd.factorize(names)
    n_bars = len(bars)
    bar_key = codes[:n_bars].astype(np.int64) * _KEY_STRIDE + bars["hour"].to_numpy(dtype="datetime64[ns]").view("int64") // _HOUR_NS
    want = codes[n_bars:].astype(np.int64) * _KEY_STRIDE + intents["exec_hour"].to_numpy(dtype="datetime64[ns]").view("int64") // _HOUR_NS
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
    buy = (df["side"] == "buy").to_numpy()
    kind = df["order_type"].to_numpy()
    lim = df["limit"].to_numpy(dtype="float64")

    price = np.full(len(df), np.nan)
    market = kind == "market"
    slip = p.entry_slippage_bps * BPS
    price[market] = np.where(buy[market], o[market] * (1 + slip), o[market] * (1 - slip))
    limit = kind == "limit"
    crossed = np.where(buy, lo < lim, h > lim)
    take = limit & crossed
    price[take] = np.where(buy[take], np.minimum(lim[take], o[take]), np.maximum(lim[take], o[take]))
    stop = kind == "stop"
    triggered = np.where(buy, h >= lim, lo <= lim)
    fire = stop & triggered
    sslip = p.stop_slippage_bps * BPS
    price[fire] = np.where(buy[fire], np.maximum(lim[fire], o[fire]) * (1 + sslip), np.minimum(lim[fire], o[fire]) * (1 - sslip))

    no_bar = np.isnan(o)
    no_volume = ~no_bar & ~(vol > 0)
    capacity = np.where(no_bar, 0.0, p.max_volume_share * np.nan_to_num(vol))
    qty = df["qty"].to_numpy(dtype="float64")
    filled = np.where(np.isfinite(price) & ~no_volume, np.minimum(qty, capacity), 0.0)
    price = np.where(filled > 0, price, np.nan)
    fee_bps = np.where(limit, p.maker_fee_bps, p.taker_fee_bps)
    notional = filled * np.nan_to_num(price)

    out = df[["client_order_id", "exec_hour", "venue", "symbol", "side", "order_type", "layer", "leg", "qty"]].reset_index(drop=True)
    out["filled_qty"] = filled
    out["fill_price"] = price
    out["notional"] = notional
    out["fee"] = notional * fee_bps * BPS
    status, reason = _status(filled, qty, no_bar, no_volume, limit, stop, crossed, triggered)
    out["status"] = status
    out["reason"] = reason
    return out.reset_index(drop=True)


def _status(filled, qty, no_bar, no_volume, limit, stop, crossed, triggered) -> tuple[np.ndarray, np.ndarray]:
    status = np.where(filled >= qty, "filled", "partial").astype(object)
    reason = np.where(filled >= qty, "", "capped at the bar's volume share").astype(object)
    never = limit & ~crossed & ~no_bar & ~no_volume
    status[never] = "no_counterparty"
    reason[never] = "the bar never traded through the limit (a touch is not a fill)"
    untriggered = stop & ~triggered & ~no_bar & ~no_volume
    status[untriggered] = "not_triggered"
    reason[untriggered] = "stop price not reached"
    status[no_volume] = "no_counterparty"
    reason[no_volume] = "no volume traded in the execution hour"
    status[no_bar] = "no_counterparty"
    reason[no_bar] = "no market data for the execution hour"
    return status.astype(str), reason.astype(str)
