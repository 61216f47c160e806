"""Binance USD-M REST responses built from the bundled real sample, for the replay server.

Shapes follow Binance's documented REST API (developers.binance.com, USDⓈ-M futures "Market
Data"), including how ``startTime`` / ``endTime`` / ``limit`` select rows, so client pagination
is exercised for real:

* both bounds: rows in ``[startTime, endTime]``, oldest first, at most ``limit``;
* only ``startTime``: the ``limit`` oldest from it; only ``endTime`` or neither: the newest.

What is real and what is a stand-in (tests assert only on the real parts):

* klines (``/fapi/v1/klines``): real o/h/l/c/v; quote volume and taker fields are derived.
* funding (``/fapi/v1/fundingRate``): real times (with their jitter) and rates; ``markPrice`` is
  the open of the hour's candle.
* open interest (``/futures/data/openInterestHist``): Hyperliquid's real hourly USD open
  interest served in Binance's shape; ``sumOpenInterest`` divides by the coin's last candle close.
* mark / index klines: the Binance candles stand in for mark, the Bybit candles for index.
* 24h tickers: computed from the 24 candles before ``as_of`` (quote volume = v x typical price).
* aggTrades: the real ``@trade`` stream of the hftbacktest recording, one aggregate per trade.
* exchangeInfo: the real recorded USD-M payload (July 2021), plus ``HYPEUSDT`` (listed in 2025)
  cloned from its ``BTCUSDT`` entry so the sample's 4h-funding coin can be served; the spot
  payload is derived from it.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from tests.support.replay_server import (
    ReplayServer,
    Reply,
    Request,
    json_reply,
    read_recorded,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
CANDLES_PARQUET = SAMPLE / "perp_ohlcv_1h" / "binance_bybit_2025.parquet"
FUNDING_PARQUET = SAMPLE / "funding" / "binance_bybit_hyperliquid_2025.parquet"
OI_PARQUET = SAMPLE / "open_interest" / "hyperliquid_oi_1h.parquet"
EXCHANGE_INFO = SAMPLE / "binance_raw" / "BINANCE_FUTURES.0"
TRADES_GZ = SAMPLE / "trades" / "usdm_{coin}usdt_20240808.gz"
HOUR_MS = 3_600_000
INVALID_SYMBOL = json_reply({"code": -1121, "msg": "Invalid symbol."}, 400)


def num(x: float) -> str:
    """A decimal string as Binance sends it, exact to the float (no exponent)."""
    return np.format_float_positional(float(x), trim="-")


def bad_param(name: str) -> Reply:
    """Binance's answer to a parameter it rejects."""
    return json_reply({"code": -1130, "msg": f"Data sent for parameter '{name}' is not valid."}, 400)


@cache
def frame(kind: str, venue: str) -> pd.DataFrame:
    """The sample ``kind`` ("candles", "funding", "oi") of ``venue`` with an int ``ms`` column."""
    path = {"candles": CANDLES_PARQUET, "funding": FUNDING_PARQUET, "oi": OI_PARQUET}[kind]
    df = pd.read_parquet(path)
    df = df[df["venue"] == venue].sort_values(["coin", "timestamp"]).reset_index(drop=True)
    df["ms"] = df["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    return df


@cache
def agg_trades(coin: str) -> pd.DataFrame:
    """The recorded ``@trade`` messages of ``coin`` (columns a, p, q, T, m), in id order."""
    rows = []
    with gzip.open(str(TRADES_GZ).format(coin=coin.lower()), "rt") as fh:
        for line in fh:
            if "@trade" in line:
                d = json.loads(line.split(" ", 1)[1])["data"]
                rows.append((d["t"], d["p"], d["q"], d["T"], d["m"]))
    return pd.DataFrame(rows, columns=["a", "p", "q", "T", "m"]).sort_values("a").reset_index(drop=True)


@cache
def candle_opens() -> dict[tuple[str, int], float]:
    """(coin, hour ms) -> open of the Binance candle."""
    bars = frame("candles", "binance")
    return dict(zip(zip(bars["coin"], bars["ms"], strict=True), bars["o"], strict=True))


def select(ms: np.ndarray, req: Request, *, default: int, maximum: int) -> slice | Reply:
    """Binance's row selection over sorted ``ms`` by startTime / endTime / limit."""
    limit = req.int_param("limit", default) or default
    if not 1 <= limit <= maximum:
        return bad_param("limit")
    start, end = req.int_param("startTime"), req.int_param("endTime")
    lo = 0 if start is None else int(np.searchsorted(ms, start, "left"))
    hi = len(ms) if end is None else int(np.searchsorted(ms, end, "right"))
    if start is None:
        return slice(max(lo, hi - limit), hi)
    return slice(lo, min(hi, lo + limit))


@dataclass
class BinanceFutures:
    """Responders for the Binance USD-M market-data routes, over the bundled sample."""

    quote: str = "USDT"
    ticker_as_of: pd.Timestamp | None = None

    def coin(self, req: Request, param: str = "symbol") -> str | None:
        """``BTCUSDT`` -> ``BTC`` (None for other quotes)."""
        symbol = req.param(param) or ""
        return symbol[: -len(self.quote)] if symbol.endswith(self.quote) else None

    def _bars(self, venue: str, req: Request, param: str = "symbol") -> tuple[pd.DataFrame, slice] | Reply:
        if req.param("interval") != "1h":
            return json_reply({"code": -1120, "msg": "Invalid interval."}, 400)
        rows = frame("candles", venue)
        rows = rows[rows["coin"] == self.coin(req, param)]
        if rows.empty:
            return INVALID_SYMBOL
        picked = select(rows["ms"].to_numpy(), req, default=500, maximum=1500)
        return picked if isinstance(picked, Reply) else (rows, picked)

    def klines(self, req: Request, venue: str = "binance", param: str = "symbol", *, price_only: bool = False) -> Reply:
        """``GET /fapi/v1/klines`` (also mark / index klines with ``price_only``)."""
        got = self._bars(venue, req, param)
        if isinstance(got, Reply):
            return got
        rows, picked = got
        out = []
        for r in rows.iloc[picked].itertuples():
            volume = "0" if price_only else num(r.v)
            quote_volume = "0" if price_only else num(r.v * (r.h + r.l + r.c) / 3)
            out.append([r.ms, num(r.o), num(r.h), num(r.l), num(r.c), volume, r.ms + HOUR_MS - 1,
                        quote_volume, 0, "0", "0", "0"])
        return json_reply(out)

    def funding_rate(self, req: Request) -> Reply:
        """``GET /fapi/v1/fundingRate``: [{symbol, fundingTime, fundingRate, markPrice}]."""
        rows = frame("funding", "binance")
        rows = rows[rows["coin"] == self.coin(req)]
        if req.param("symbol") and rows.empty:
            return INVALID_SYMBOL
        picked = select(rows["ms"].to_numpy(), req, default=100, maximum=1000)
        if isinstance(picked, Reply):
            return picked
        opens = candle_opens()
        return json_reply([
            {"symbol": req.param("symbol"), "fundingTime": r.ms, "fundingRate": num(r.funding_rate),
             "markPrice": num(opens.get((r.coin, r.ms - r.ms % HOUR_MS), float("nan")))}
            for r in rows.iloc[picked].itertuples()
        ])

    def open_interest_hist(self, req: Request) -> Reply:
        """``GET /futures/data/openInterestHist`` (periods of whole hours only)."""
        hours = {"1h": 1, "2h": 2, "4h": 4, "6h": 6, "12h": 12, "1d": 24}.get(req.param("period") or "")
        if hours is None:
            return bad_param("period")
        rows = frame("oi", "hyperliquid")
        rows = rows[(rows["coin"] == self.coin(req)) & (rows["ms"] % (hours * HOUR_MS) == 0)]
        if rows.empty:
            return INVALID_SYMBOL
        picked = select(rows["ms"].to_numpy(), req, default=30, maximum=500)
        if isinstance(picked, Reply):
            return picked
        bars = frame("candles", "binance")
        ref_price = float(bars.loc[bars["coin"] == self.coin(req), "c"].iloc[-1])
        return json_reply([
            {"symbol": req.param("symbol"), "sumOpenInterest": num(r.oi_usd / ref_price),
             "sumOpenInterestValue": num(r.oi_usd), "timestamp": r.ms}
            for r in rows.iloc[picked].itertuples()
        ])

    def ticker_24hr(self, req: Request) -> Reply:
        """``GET /fapi/v1/ticker/24hr``: all symbols, or one object when ``symbol`` is given."""
        if self.ticker_as_of is None:
            raise RuntimeError("set ticker_as_of before serving 24h tickers")
        as_of = int(self.ticker_as_of.value // 1_000_000)
        bars = frame("candles", "binance")
        bars = bars[(bars["ms"] >= as_of - 24 * HOUR_MS) & (bars["ms"] < as_of)]
        out = []
        for coin, day in bars.groupby("coin", sort=True):
            first, last = day.iloc[0], day.iloc[-1]
            quote_volume = float((day["v"] * (day["h"] + day["l"] + day["c"]) / 3).sum())
            out.append({
                "symbol": f"{coin}{self.quote}", "priceChange": num(last.c - first.o),
                "priceChangePercent": num(round(100 * (last.c / first.o - 1), 3)),
                "weightedAvgPrice": num(quote_volume / day["v"].sum()), "lastPrice": num(last.c),
                "lastQty": "0", "openPrice": num(first.o), "highPrice": num(day["h"].max()),
                "lowPrice": num(day["l"].min()), "volume": num(day["v"].sum()),
                "quoteVolume": num(quote_volume), "openTime": as_of - 24 * HOUR_MS,
                "closeTime": as_of - 1, "firstId": 0, "lastId": 0, "count": 0,
            })
        wanted = req.param("symbol")
        if wanted is None:
            return json_reply(out)
        match = [t for t in out if t["symbol"] == wanted]
        return json_reply(match[0]) if match else INVALID_SYMBOL

    def agg_trades(self, req: Request) -> Reply:
        """``GET /fapi/v1/aggTrades`` over the recorded trades (fromId or a <= 1h window)."""
        coin = self.coin(req)
        if coin not in {"BTC", "ETH"}:
            return INVALID_SYMBOL
        trades = agg_trades(coin)
        start, end = req.int_param("startTime"), req.int_param("endTime")
        if start is not None and end is not None and end - start > HOUR_MS:
            return json_reply({"code": -1127, "msg": "More than 1 hours between startTime and endTime."}, 400)
        from_id = req.int_param("fromId")
        if from_id is not None:
            lo = int(np.searchsorted(trades["a"].to_numpy(), from_id, "left"))
            picked: slice | Reply = slice(lo, lo + min(req.int_param("limit", 500) or 500, 1000))
        else:
            picked = select(trades["T"].to_numpy(), req, default=500, maximum=1000)
        if isinstance(picked, Reply):
            return picked
        return json_reply([
            {"a": int(r.a), "p": r.p, "q": r.q, "f": int(r.a), "l": int(r.a), "T": int(r.T), "m": bool(r.m)}
            for r in trades.iloc[picked].itertuples()
        ])


def futures_exchange_info(late_listings: tuple[str, ...] = ("HYPE",)) -> dict:
    """The recorded USD-M ``exchangeInfo`` plus perpetuals listed after the recording."""
    payload = copy.deepcopy(read_recorded(EXCHANGE_INFO)[0].payload)
    template = next(s for s in payload["symbols"] if s["symbol"] == "BTCUSDT")
    for base in late_listings:
        payload["symbols"].append({**template, "symbol": f"{base}USDT", "pair": f"{base}USDT", "baseAsset": base})
    return payload


def spot_exchange_info() -> dict:
    """A spot ``/api/v3/exchangeInfo`` derived from the USD-M one (perpetuals only)."""
    futures = futures_exchange_info()
    symbols = [
        {"symbol": s["symbol"], "status": "TRADING", "baseAsset": s["baseAsset"], "baseAssetPrecision": 8,
         "quoteAsset": s["quoteAsset"], "quotePrecision": 8, "quoteAssetPrecision": 8,
         "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "ocoAllowed": True,
         "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "filters": s["filters"],
         "permissions": [], "permissionSets": [["SPOT"]]}
        for s in futures["symbols"] if s["contractType"] == "PERPETUAL"
    ]
    return {"timezone": "UTC", "serverTime": futures["serverTime"], "rateLimits": futures["rateLimits"],
            "exchangeFilters": [], "symbols": symbols}


def install_binance(server: ReplayServer, api: BinanceFutures | None = None) -> BinanceFutures:
    """Serve the USD-M routes (and spot exchangeInfo / klines) on ``server``."""
    api = api or BinanceFutures()
    server.route("/fapi/v1/exchangeInfo", json_reply(futures_exchange_info()))
    routes: dict[str, Callable[[Request], Reply]] = {
        "/fapi/v1/klines": api.klines,
        "/fapi/v1/markPriceKlines": lambda r: api.klines(r, price_only=True),
        "/fapi/v1/indexPriceKlines": lambda r: api.klines(r, "bybit", "pair", price_only=True),
        "/fapi/v1/fundingRate": api.funding_rate,
        "/futures/data/openInterestHist": api.open_interest_hist,
        "/fapi/v1/ticker/24hr": api.ticker_24hr,
        "/fapi/v1/aggTrades": api.agg_trades,
        "/api/v3/klines": api.klines,
    }
    for path, responder in routes.items():
        server.route(path, responder)
    server.route("/api/v3/exchangeInfo", json_reply(spot_exchange_info()))
    return api
