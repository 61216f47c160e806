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


def simulate_fills(intents: pd.DataFrame, bars: pd.DataFrame, params: FillParams | None = None) -> pd.DataFrame:
    """Fill ``intents`` (``quant.orders.INTENT_COLUMNS``) against hourly ``bars``.

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
    bar = bars[["venue", "symbol", "hour", "open", "high", "low", "volume"]].rename(columns={"hour": "exec_hour"})
    df = intents.merge(bar, on=["venue", "symbol", "exec_hour"], how="left", validate="many_to_one")
    buy = (df["side"] == "buy").to_numpy()
    kind = df["order_type"].to_numpy()
    lim = df["limit"].to_numpy(dtype="float64")
    o, h, lo = (df[c].to_numpy(dtype="float64") for c in ("open", "high", "low"))
    vol = df["volume"].to_numpy(dtype="float64")

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

    out = df[["client_order_id", "exec_hour", "venue", "symbol", "side", "order_type", "layer", "leg", "qty"]].copy()
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
