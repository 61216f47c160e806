"""Bybit v5 REST responses (linear perpetuals) built from the bundled real sample.

Shapes follow Bybit's v5 API docs (bybit-exchange.github.io/docs/v5, "Market"): every answer is
``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": ms}``, and history
lists come **newest first**: of the rows in ``[start, end]`` the newest ``limit`` are returned, the
opposite of Binance, so the client's paging is checked against both orders.

* ``/v5/market/instruments-info``: synthetic entries for the sample's five coins (filters are
  placeholders; only symbol, status, coins and ``fundingInterval`` matter to the client).
* ``/v5/market/kline``: the real Bybit candles (turnover derived as v x typical price).
* ``/v5/market/funding/history``: the real Bybit settlements.
"""

from __future__ import annotations

import pandas as pd

from tests.support.binance_shapes import frame, num
from tests.support.replay_server import ReplayServer, Reply, Request, json_reply

QUOTE = "USDT"
#: The sample's timestamp for every envelope (the server does not pretend to be live).
SERVER_TIME_MS = 1_759_276_800_000


def envelope(result: dict, ret_code: int = 0, ret_msg: str = "OK") -> Reply:
    """Bybit's v5 envelope (HTTP 200 even for errors, as Bybit does)."""
    return json_reply({"retCode": ret_code, "retMsg": ret_msg, "result": result, "retExtInfo": {},
                       "time": SERVER_TIME_MS})


SYMBOL_INVALID = envelope({}, 10001, "params error: Symbol Invalid")


def instrument(coin: str) -> dict:
    """One ``instruments-info`` entry of a USDT linear perpetual."""
    return {
        "symbol": f"{coin}{QUOTE}", "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": coin, "quoteCoin": QUOTE, "settleCoin": QUOTE, "launchTime": "1585526400000",
        "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "4",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.0001", "maxPrice": "1999999.0000", "tickSize": "0.0001"},
        "lotSizeFilter": {"maxOrderQty": "1000000", "minOrderQty": "0.001", "qtyStep": "0.001",
                          "postOnlyMaxOrderQty": "1000000", "maxMktOrderQty": "100000",
                          "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
        "upperFundingRate": "0.02", "lowerFundingRate": "-0.02",
    }


def newest_first(rows: pd.DataFrame, req: Request, *, start: str, end: str, maximum: int) -> pd.DataFrame:
    """Bybit's selection: rows in ``[start, end]``, the newest ``limit``, newest first."""
    limit = min(req.int_param("limit", maximum) or maximum, maximum)
    lo, hi = req.int_param(start), req.int_param(end)
    if lo is not None:
        rows = rows[rows["ms"] >= lo]
    if hi is not None:
        rows = rows[rows["ms"] <= hi]
    return rows.iloc[::-1].iloc[:limit]


def _rows_of(kind: str, req: Request) -> pd.DataFrame:
    rows = frame(kind, "bybit")
    symbol = req.param("symbol") or ""
    return rows[rows["coin"] == symbol.removesuffix(QUOTE)]


def instruments_info(req: Request) -> Reply:
    """``GET /v5/market/instruments-info?category=linear``."""
    if req.param("category") != "linear" or req.param("status") == "PreLaunch":
        return envelope({"category": req.param("category"), "list": [], "nextPageCursor": ""})
    coins = sorted(frame("candles", "bybit")["coin"].unique())
    return envelope({"category": "linear", "list": [instrument(c) for c in coins], "nextPageCursor": ""})


def kline(req: Request) -> Reply:
    """``GET /v5/market/kline``: ``[start, open, high, low, close, volume, turnover]`` strings."""
    if req.param("interval") != "60":
        return envelope({}, 10001, "params error: Invalid period!")
    rows = _rows_of("candles", req)
    if rows.empty:
        return SYMBOL_INVALID
    picked = newest_first(rows, req, start="start", end="end", maximum=1000)
    out = [[str(r.ms), num(r.o), num(r.h), num(r.l), num(r.c), num(r.v), num(r.v * (r.h + r.l + r.c) / 3)]
           for r in picked.itertuples()]
    return envelope({"symbol": req.param("symbol"), "category": "linear", "list": out})


def funding_history(req: Request) -> Reply:
    """``GET /v5/market/funding/history``: ``{symbol, fundingRate, fundingRateTimestamp}``."""
    rows = _rows_of("funding", req)
    if rows.empty:
        return SYMBOL_INVALID
    picked = newest_first(rows, req, start="startTime", end="endTime", maximum=200)
    out = [{"symbol": req.param("symbol"), "fundingRate": num(r.funding_rate), "fundingRateTimestamp": str(r.ms)}
           for r in picked.itertuples()]
    return envelope({"category": "linear", "list": out})


def install_bybit(server: ReplayServer) -> None:
    """Serve the routes above on ``server``."""
    server.route("/v5/market/instruments-info", instruments_info)
    server.route("/v5/market/kline", kline)
    server.route("/v5/market/funding/history", funding_history)



