"""A deterministic synthetic universe of N coins × H hours, block-bootstrapped from the bundled real data.

Recipe (what ``synthetic_sources(n_coins, hours)`` builds, the same bits on every run):

* **Coins.** Coin ``i`` is ``SAMPLE_COINS[i]`` for i < 5 (BTC, ETH, SOL, DOGE, HYPE: the features'
  BTC benchmark and the tail hedge's ETH perp exist) and ``X{i:02d}`` beyond; its *source* is the
  real coin ``SAMPLE_COINS[i % 5]``.
* **Source pool.** The source's real 1h bars (``ReplayExchange``, both sample windows) at the hours
  where Binance AND Bybit both have a bar. A return across a hole (the withheld months, HYPE's
  Binance listing) is set to 0.
* **Bars.** A stationary block bootstrap of that pool: blocks of :data:`BLOCK_H` consecutive pool
  rows, starts drawn uniformly by ``numpy.random.default_rng(SEED + i)``. The Binance close is
  ``level_i · exp(cumsum(r))`` with ``r`` the drawn Binance log returns and
  ``level_i = first real close × LEVEL_STEP ** (i // 5)`` (a distinct price level per synthetic
  coin); Bybit's close is that close × the drawn hour's real Bybit/Binance close ratio (the real
  basis). Open, high and low keep the drawn bar's ratios to its close; volume is rescaled so the
  quote volume (volume × close, USD) is the real one. Two perp venues, Binance and Bybit, USDT.
* **Funding.** Every 8h (00, 08, 16 UTC) on both venues: the real venue's latest settlement at or
  before the drawn hour, restated per 8h (a 4h rate × 2), ``interval_hours = 8``, stamped with a
  0-40 ms jitter (the real feeds' jitter is milliseconds; the table snaps it to the grid).
* **Open interest.** Hyperliquid (``X/USDC:USDC``), hourly, like the real data (the only venue with
  it; the cascade score borrows a coin's open interest for its Binance and Bybit perps):
  ``real median OI × exp(cumsum(d))`` with ``d`` block-bootstrapped from the source's real hourly
  log changes of open interest (``default_rng(SEED + 1000 + i)``), no holes.

The tables are built by the ``quant.market_data.tables`` functions from per-instrument frames in
the exchange schemas (``quant.frames``), so columns and dtypes are those of the asset bodies.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from quant.market_data import tables as md
from quant.market_data.universe import SAMPLE_COINS, Universe, unified
from resources.exchange.replay import ReplayExchange

SEED = 20_240_611
#: Consecutive hours per bootstrap block (a week keeps the intraday and weekly structure).
BLOCK_H = 168
#: Price level of coin i relative to its source: LEVEL_STEP ** (i // 5).
LEVEL_STEP = 1.37
PERP_VENUES = ("binance", "bybit")
OI_VENUE = "hyperliquid"
FUNDING_INTERVAL_H = 8
MAX_JITTER_MS = 40
SAMPLE_START, SAMPLE_END = pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2026-03-08", tz="UTC")
HOUR = pd.Timedelta(hours=1)
Parts = list[tuple[str, str, pd.DataFrame]]


def coin_name(i: int) -> str:
    return SAMPLE_COINS[i] if i < len(SAMPLE_COINS) else f"X{i:02d}"


def universe(n_coins: int) -> Universe:
    """The synthetic universe: N coins on Binance and Bybit (candles, funding), Hyperliquid open interest."""
    return Universe(perp_venues=PERP_VENUES, funding_venues=PERP_VENUES, oi_venues=(OI_VENUE,),
                    coins=tuple(coin_name(i) for i in range(n_coins)))


@cache
def _pool(coin: str) -> dict[str, np.ndarray]:
    """The source coin's aligned real bars (both venues present), funding per 8h and OI log changes."""
    ex = ReplayExchange()
    bars = {}
    for v in PERP_VENUES:
        c = ex.candles(v, unified(coin, "USDT"), SAMPLE_START, SAMPLE_END).set_index("ts")
        bars[v] = c[~c.index.duplicated(keep="last")]
    both = bars["binance"].index.intersection(bars["bybit"].index).sort_values()
    b, y = bars["binance"].loc[both], bars["bybit"].loc[both]
    r = np.diff(np.log(b["close"].to_numpy()), prepend=np.nan)
    r[np.r_[True, np.diff(both.asi8) != HOUR.value]] = 0.0
    out = {"ts": both.asi8, "r": r, "close": b["close"].to_numpy(), "basis": (y["close"] / b["close"]).to_numpy()}
    for v, frame in bars.items():
        for f in ("open", "high", "low"):
            out[f"{v}_{f}"] = (frame[f] / frame["close"]).to_numpy()
        out[f"{v}_quote"] = (frame["volume"] * frame["close"]).to_numpy()
        fund = ex.funding_history(v, unified(coin, "USDT"), SAMPLE_START, SAMPLE_END)
        rate_8h = (fund["funding_rate"] * FUNDING_INTERVAL_H / fund["interval_hours"]).to_numpy()
        at = np.searchsorted(pd.DatetimeIndex(fund["ts"]).asi8, both.asi8, side="right") - 1
        out[f"{v}_funding"] = np.where(at >= 0, rate_8h[np.maximum(at, 0)], np.nan)
    oi = ex.open_interest_history(OI_VENUE, unified(coin, "USDC"), SAMPLE_START, SAMPLE_END)
    ts, v = oi["ts"].astype("int64").to_numpy(), oi["oi_usd"].to_numpy()
    step = np.diff(ts) == HOUR.value
    out["oi_d"] = np.diff(np.log(v))[step]
    out["oi_level"] = np.array([np.median(v)])
    return out


def _draw(n_pool: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Pool positions of ``n`` hours: consecutive blocks of BLOCK_H from uniformly drawn starts."""
    starts = rng.integers(0, n_pool - BLOCK_H + 1, size=-(-n // BLOCK_H))
    return (starts[:, None] + np.arange(BLOCK_H)[None, :]).ravel()[:n]


def _coin(i: int, grid: pd.DatetimeIndex) -> tuple[Parts, Parts, Parts]:
    coin, src = coin_name(i), _pool(SAMPLE_COINS[i % len(SAMPLE_COINS)])
    n = len(grid)
    idx = _draw(len(src["r"]), n, np.random.default_rng(SEED + i))
    r = src["r"][idx].copy()
    r[0] = 0.0
    close = src["close"][0] * LEVEL_STEP ** (i // len(SAMPLE_COINS)) * np.exp(np.cumsum(r))
    symbol = unified(coin, "USDT")
    on_grid = (grid.asi8 // HOUR.value) % FUNDING_INTERVAL_H == 0
    jitter = np.random.default_rng(SEED + 2000 + i).integers(0, MAX_JITTER_MS + 1, size=(len(PERP_VENUES), int(on_grid.sum())))
    candles, funding = [], []
    for k, v in enumerate(PERP_VENUES):
        c = close * (src["basis"][idx] if v == "bybit" else 1.0)
        frame = pd.DataFrame({"ts": grid, **{f: c * src[f"{v}_{f}"][idx] for f in ("open", "high", "low")},
                              "close": c, "volume": src[f"{v}_quote"][idx] / c})
        candles.append((v, symbol, frame))
        stamps = grid[on_grid] + pd.to_timedelta(jitter[k], unit="ms")
        rate = src[f"{v}_funding"][idx][on_grid]
        keep = np.isfinite(rate)
        funding.append((v, symbol, pd.DataFrame({"ts": stamps[keep], "funding_rate": rate[keep],
                                                 "interval_hours": float(FUNDING_INTERVAL_H)})))
    d = src["oi_d"][_draw(len(src["oi_d"]), n, np.random.default_rng(SEED + 1000 + i))].copy()
    d[0] = 0.0
    oi = pd.DataFrame({"ts": grid, "oi_usd": src["oi_level"][0] * np.exp(np.cumsum(d))})
    return candles, funding, [(OI_VENUE, unified(coin, "USDC"), oi)]


def raw_parts(n_coins: int, first: pd.Timestamp, end: pd.Timestamp) -> tuple[Parts, Parts, Parts]:
    """Per-instrument exchange frames (candles, funding, open interest) of [first - OHLCV_WARMUP, end)."""
    grid = md.hours_of(first - md.OHLCV_WARMUP, end)
    out: tuple[Parts, Parts, Parts] = ([], [], [])
    for i in range(n_coins):
        for acc, part in zip(out, _coin(i, grid), strict=True):
            acc += part
    return out


def source_tables(parts: tuple[Parts, Parts, Parts], first: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """``perp_ohlcv_1h``, ``funding_settlements`` and ``open_interest_1h`` from ``first`` on, as the asset bodies build them.

    The candles reach ``OHLCV_WARMUP`` before ``first`` so that the look-back columns of the first hour are exact.
    """
    candles, funding, oi = parts
    return {
        "perp_ohlcv_1h": md.ohlcv_table(candles, first),
        "funding_settlements": md.funding_table([(v, s, f[f["ts"] >= first - md.SNAP_TOLERANCE]) for v, s, f in funding]),
        "open_interest_1h": md.open_interest_table([(v, s, o[o["ts"] >= first - md.OI_WARMUP]) for v, s, o in oi], first),
    }
