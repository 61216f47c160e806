"""Deribit JSON-RPC-over-HTTP responses built from the bundled real recordings.

* ``public/get_instruments``: the recorded ``DERIBIT.0`` payloads, served verbatim.
* ``public/get_book_summary_by_currency``: the 684 ETH option rows of
  ``eth_book_summary_20240108.csv`` (definer), without the columns that project derived
  (``currency``, ``expire_date``, ``strike_price``, ``option_type``); empty cells become null.
* ``public/ticker``: the last ``ticker.<instrument>.raw`` websocket message per instrument of
  ``DERIBIT.ws.1.0``; the subscription payload has the same fields as the HTTP result.
* ``public/get_order_book``: the ``book.<instrument>.raw`` snapshot (``["new", price, amount]``
  rows become ``[price, amount]``), merged with that instrument's ticker fields, as the HTTP
  method returns both.

Unknown instruments get Deribit's answer: HTTP 400 with JSON-RPC error -32602 on
``instrument_name``.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from tests.support.replay_server import (
    ReplayServer,
    Reply,
    Request,
    json_reply,
    read_recorded,
    read_ws_messages,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "deribit"
INSTRUMENTS = SAMPLE / "DERIBIT.0"
WS = SAMPLE / "DERIBIT.ws.1.0"
BOOK_SUMMARY_CSV = SAMPLE / "eth_book_summary_20240108.csv"
PREFIX = "/api/v2"
DERIVED_COLUMNS = ["currency", "expire_date", "strike_price", "option_type"]
#: Microsecond stamps of the envelope (fixed: the server does not pretend to be live).
US_IN = 1_704_712_781_414_000


def rpc_result(result: Any) -> Reply:
    """A successful JSON-RPC envelope, as Deribit wraps every HTTP answer."""
    return json_reply({"jsonrpc": "2.0", "result": result, "usIn": US_IN, "usOut": US_IN + 150,
                       "usDiff": 150, "testnet": False})


def rpc_error(code: int, message: str, data: dict[str, Any] | None = None, status: int = 400,
              headers: dict[str, str] | None = None) -> Reply:
    """A JSON-RPC error envelope (HTTP 400 unless told otherwise)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return json_reply({"jsonrpc": "2.0", "error": error, "usIn": US_IN, "usOut": US_IN + 90,
                       "usDiff": 90, "testnet": False}, status, headers=headers)


UNKNOWN_INSTRUMENT = rpc_error(-32602, "Invalid params", {"reason": "instrument not found",
                                                          "param": "instrument_name"})


@cache
def book_summary_rows() -> list[dict[str, Any]]:
    """The CSV rows as ``get_book_summary_by_currency`` result objects (NaN -> None)."""
    df = pd.read_csv(BOOK_SUMMARY_CSV, index_col=0).drop(columns=DERIVED_COLUMNS)
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in df.to_dict(orient="records")]


@cache
def ws_channels() -> dict[str, dict[str, Any]]:
    """Channel name -> the last (ticker) or first snapshot (book) data of the recording."""
    out: dict[str, dict[str, Any]] = {}
    for message in read_ws_messages(WS):
        params = message.get("params") if message.get("method") == "subscription" else None
        if not params:
            continue
        channel, data = params["channel"], params["data"]
        if channel.startswith("ticker."):
            out[channel] = data
        elif channel.startswith("book.") and data.get("type") == "snapshot":
            out.setdefault(channel, data)
    return out


def ticker_data(instrument: str) -> dict[str, Any] | None:
    """The recorded ticker of ``instrument`` or None."""
    return ws_channels().get(f"ticker.{instrument}.raw")


def order_book_data(instrument: str, depth: int) -> dict[str, Any] | None:
    """``get_order_book``'s result for ``instrument`` from the recorded snapshot, or None."""
    snapshot = ws_channels().get(f"book.{instrument}.raw")
    if snapshot is None:
        return None
    book = dict(ticker_data(instrument) or {})
    book.update(timestamp=snapshot["timestamp"], instrument_name=instrument, change_id=snapshot["change_id"])
    for side in ("bids", "asks"):
        book[side] = [[price, amount] for _action, price, amount in snapshot[side][:depth]]
    return book


def _ticker(req: Request) -> Reply:
    data = ticker_data(req.param("instrument_name") or "")
    return UNKNOWN_INSTRUMENT if data is None else rpc_result(data)


def _order_book(req: Request) -> Reply:
    book = order_book_data(req.param("instrument_name") or "", req.int_param("depth", 5) or 5)
    return UNKNOWN_INSTRUMENT if book is None else rpc_result(book)


def _book_summary(req: Request) -> Reply:
    if req.param("kind") not in (None, "option"):
        return rpc_result([])  # the sample holds options only
    rows = book_summary_rows() if req.param("currency") == "ETH" else []
    return rpc_result(rows)


def install_deribit(server: ReplayServer) -> None:
    """Serve the public methods above under ``/api/v2`` on ``server``."""
    for entry in read_recorded(INSTRUMENTS):
        server.route(entry.path, json_reply(entry.payload), query=dict(entry.query))
    server.route(f"{PREFIX}/public/get_book_summary_by_currency", _book_summary)
    server.route(f"{PREFIX}/public/ticker", _ticker)
    server.route(f"{PREFIX}/public/get_order_book", _order_book)
