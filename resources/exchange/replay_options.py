"""``ReplayOptions``: the ``OptionsVenue`` protocol over the bundled Deribit recordings.

* ``book_summary("ETH")`` — the 684-option ETH chain of 2024-01-08 11:19 UTC
  (``deribit/eth_book_summary_20240108.csv``), in Deribit's REST shape;
* ``instruments("BTC" | "ETH")`` — the recorded ``public/get_instruments`` answers (2021-07-22);
* ``ticker`` / ``order_book`` — the last recorded websocket ticker / book of an instrument.

A currency or instrument the recordings do not hold is a ``BadSymbol``, never an empty answer
that could be mistaken for "no options listed".
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pandas as pd

from resources.exchange.errors import BadSymbol
from resources.exchange.replay import DEFAULT_SAMPLE_DIR, require_files

CHAIN_FILE = "deribit/eth_book_summary_20240108.csv"
HTTP_FILE = "deribit/DERIBIT.0"
WS_FILE = "deribit/DERIBIT.ws.1.0"


class ReplayOptions:
    """Recorded Deribit data as an options venue (the bundled sample, or a folder laid out like it).

    A missing folder fails here; a missing recording fails the call that reads it, naming the file.
    """

    def __init__(self, sample_dir: str | Path | None = None) -> None:
        self.sample_dir = Path(sample_dir) if sample_dir else DEFAULT_SAMPLE_DIR
        require_files(self.sample_dir, ())

    def book_summary(self, currency: str, kind: str = "option") -> pd.DataFrame:
        if currency != "ETH" or kind != "option":
            raise BadSymbol(f"the bundled sample has a book summary for ETH options only, not {currency} {kind}", call="replay.deribit")
        path = _recording(self.sample_dir, CHAIN_FILE)
        book = pd.read_csv(path, index_col=0)
        if "creation_timestamp" not in book.columns:
            raise ValueError(f"{path} is not a Deribit book summary: no creation_timestamp column "
                             f"(columns {list(book.columns)})")
        book["ts"] = pd.to_datetime(book["creation_timestamp"], unit="ms", utc=True)
        return book

    def instruments(self, currency: str, *, expired: bool = False) -> list[dict[str, Any]]:
        recorded = _http_payloads(_recording(self.sample_dir, HTTP_FILE))
        key = f"public/get_instruments?currency={currency}&expired={str(expired).lower()}"
        if key not in recorded:
            raise BadSymbol(f"no recorded instruments for {currency} (expired={expired})", call="replay.deribit")
        return list(recorded[key])

    def ticker(self, instrument_name: str) -> dict[str, Any]:
        return self._last_ws("ticker", instrument_name)

    def order_book(self, instrument_name: str, depth: int = 10) -> dict[str, Any]:
        book = dict(self._last_ws("book", instrument_name))
        for side in ("bids", "asks"):
            if side in book:
                book[side] = book[side][:depth]
        return book

    def _last_ws(self, stream: str, instrument_name: str) -> dict[str, Any]:
        messages = _ws_messages(_recording(self.sample_dir, WS_FILE))
        hits = [m["data"] for ch, m in messages if ch.split(".")[:2] == [stream, instrument_name]]
        if not hits:
            raise BadSymbol(f"no recorded {stream} for {instrument_name}", call="replay.deribit")
        return hits[-1]


def _recording(root: Path, relative: str) -> str:
    require_files(root, (relative,))
    return str(root / relative)


@functools.lru_cache(maxsize=2)
def _http_payloads(path: str) -> dict[str, Any]:
    """``<url> -> <ts>: <json>`` lines, keyed by the path after ``/api/v2/``."""
    out = {}
    for line in Path(path).read_text().splitlines():
        url, _, rest = line.partition(" -> ")
        _, _, body = rest.partition(": ")
        if body:
            out[url.split("/api/v2/", 1)[-1]] = json.loads(body)["result"]
    return out


@functools.lru_cache(maxsize=2)
def _ws_messages(path: str) -> list[tuple[str, dict[str, Any]]]:
    """Subscription notifications of the websocket recording as (channel, params)."""
    out = []
    for line in Path(path).read_text().splitlines():
        _, sep, body = line.partition(": ")
        if not sep or not body.startswith("{"):
            continue
        msg = json.loads(body)
        params = msg.get("params")
        if msg.get("method") == "subscription" and params:
            out.append((params["channel"], params))
    return out
