"""Orders are data until the last hop: order intents and their deterministic client order ids.

An intent is decided at the END of hour ``hour`` from that hour's data and executes during the
next hour (``exec_hour = hour + 1h``). Its ``client_order_id`` is derived from
(hour, layer, venue, symbol, leg) only, so re-running an hour can never create a second order: the
same decision reproduces the same id, and the venue (or the simulator) de-duplicates on it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

import pandas as pd

LAYERS = ("L1", "L2", "L3", "ML", "ST")
#: The ML sleeve: spot, long only, no leverage (``quant.ml.sizing``).
ML_LAYER = "ML"
#: The strategies of the registry (``quant.strategies``), traded by ``quant.book.strategy_layer``.
STRATEGY_LAYER = "ST"
SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop")
#: Prefix of every Perpetua client order id (venues allow 32–36 characters).
CLIENT_ID_PREFIX = "pp"
CLIENT_ID_HASH_CHARS = 24

INTENT_COLUMNS = [
    "hour", "exec_hour", "venue", "symbol", "side", "qty", "order_type", "limit",
    "layer", "leg", "reason", "reduce_only", "client_order_id",
]


def client_order_id(hour: pd.Timestamp, layer: str, symbol: str, leg: str, venue: str) -> str:
    """Deterministic id from (hour, layer, symbol, leg) and the venue: ``pp-L1-<24 hex>``.

    The venue is part of the key because the same symbol trades on several venues (Binance and
    Bybit both list ``BTC/USDT:USDT``): without it two venues' orders of one hour would collide.

    >>> client_order_id(pd.Timestamp("2025-09-01 08:00", tz="UTC"), "L1", "BTC/USDT:USDT", "perp", "binance")[:6]
    'pp-L1-'
    """
    return client_order_id_at(hour_stamp(hour), layer, symbol, leg, venue)


def hour_stamp(hour: pd.Timestamp) -> str:
    """The decision hour as the client order id hashes it (ISO 8601, UTC): computed once per hour by the book."""
    return pd.Timestamp(hour).tz_convert("UTC").isoformat()


def client_order_id_at(stamp: str, layer: str, symbol: str, leg: str, venue: str) -> str:
    """:func:`client_order_id` from the hour's :func:`hour_stamp`."""
    digest = hashlib.sha256(f"{stamp}|{layer}|{venue}|{symbol}|{leg}".encode()).hexdigest()
    return f"{CLIENT_ID_PREFIX}-{layer}-{digest[:CLIENT_ID_HASH_CHARS]}"


@dataclass(frozen=True)
class OrderIntent:
    """One order the system intends to place. Pure data; nothing is sent by creating it.

    Attributes
    ----------
    hour : decision hour (UTC); the order works during ``hour + 1h``.
    venue, symbol : where and what (ccxt unified symbol).
    side : "buy" or "sell".
    qty : base units, > 0.
    order_type : "market", "limit" (rests at ``limit``) or "stop" (triggers at ``limit``).
    limit : limit / stop price in quote currency; None for market orders.
    layer : "L1", "L2", "L3", "ML" or "ST"; leg : the leg within the layer ("perp", "spot", "rung1", "long", …).
    reason : why, in words a person reads in the report.
    reduce_only : True for orders that only close exposure (never blocked by the caps).
    """

    hour: pd.Timestamp
    venue: str
    symbol: str
    side: str
    qty: float
    order_type: str
    limit: float | None
    layer: str
    leg: str
    reason: str
    reduce_only: bool = False

    def __post_init__(self) -> None:
        check_order(self.symbol, self.side, self.qty, self.order_type, self.limit, self.layer)

    @property
    def client_order_id(self) -> str:
        return client_order_id(self.hour, self.layer, self.symbol, self.leg, self.venue)

    @property
    def exec_hour(self) -> pd.Timestamp:
        return pd.Timestamp(self.hour) + pd.Timedelta(hours=1)


def check_order(symbol: str, side: str, qty: float, order_type: str, limit: float | None, layer: str) -> None:
    """:class:`OrderIntent`'s rules on side, type, layer, quantity and price (the book checks its wants with it).

    Raises
    ------
    ValueError
        The first rule broken, in that order.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if order_type not in ORDER_TYPES:
        raise ValueError(f"order_type must be one of {ORDER_TYPES}, got {order_type!r}")
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
    if not (math.isfinite(qty) and qty > 0):
        raise ValueError(f"{symbol}: order quantity must be a positive number, got {qty}")
    if order_type == "market":
        if limit is not None:
            raise ValueError(f"{symbol}: a market order has no limit price")
    elif limit is None or not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"{symbol}: a {order_type} order needs a positive price, got {limit}")


def intents_frame(intents: list[OrderIntent]) -> pd.DataFrame:
    """Intents as a table (one row per intent) with ``INTENT_COLUMNS``; raises on duplicate ids."""
    rows = []
    for intent in intents:
        row = asdict(intent)
        row["client_order_id"] = intent.client_order_id
        row["exec_hour"] = intent.exec_hour
        rows.append(row)
    df = pd.DataFrame(rows, columns=INTENT_COLUMNS)
    dup = df["client_order_id"].duplicated(keep=False)
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise ValueError(f"duplicate client order id {first['client_order_id']} ({first['layer']} {first['symbol']} {first['leg']})")
    df["limit"] = df["limit"].astype("float64")
    df["qty"] = df["qty"].astype("float64")
    df["reduce_only"] = df["reduce_only"].astype(bool)
    for col in ("hour", "exec_hour"):
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[ns, UTC]")
    return df.astype({c: "str" for c in ("venue", "symbol", "side", "order_type", "layer", "leg", "reason", "client_order_id")})
