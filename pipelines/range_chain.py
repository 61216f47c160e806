"""The hourly cycle's quant chain over one range, without Dagster: what every asset body computes, once.

``ReplayExchange`` fetches -> ``quant.market_data`` tables -> universe scan, ``quant.features`` ->
``quant.features.regime`` -> the ``quant.carry`` scan, the ``quant.cascade`` scores, the
``quant.options.tail_hedge`` strangles and the strategy registry (``quant.registry_signals``).
Each step reads its declared look-back before the range, as the assets' look-back inputs do
(``resources.partitions.lookback``).
``perpetua backtest`` (``pipelines.backtest``) and the pure benchmark (``benchmarks.pure``) both
run this chain, so what they compute is what the audited assets compute.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd

from assets.market_data import SCAN_LOOKBACK_H
from assets.signals import (
    CASCADE,
    CASCADE_FUNDING_LOOKBACK_H,
    CASCADE_OI_LOOKBACK_H,
    CASCADE_PRICE_LOOKBACK_H,
    HEDGE,
)
from assets.strategies import STRATEGY_FLOW_LOOKBACK_H, STRATEGY_PRICE_LOOKBACK_H
from quant.carry import scan as carry_scan
from quant.cascade.arming import armed_cascade_scores
from quant.features.hourly import FEATURE_LOOKBACK_H, compute_features
from quant.features.regime import calm_market, regime_scores
from quant.market_data import tables as md
from quant.market_data.funding import SNAP_TOLERANCE
from quant.market_data.universe import Universe
from quant.options.chain import parse_book_summary_cached
from quant.options.tail_hedge import tail_hedge_signals
from quant.registry_signals import registry_signals, strategy_input
from resources.exchange.replay import ReplayExchange
from resources.exchange.replay_options import ReplayOptions
from resources.partitions import lookback_start
from resources.storage import read_hours

NONE = pd.Timedelta(0)
HOUR = pd.Timedelta(hours=1)
#: Hours before a window that the universe scan (24h volume, latest funding) and the features read.
SCAN_LOOKBACK = pd.Timedelta(hours=SCAN_LOOKBACK_H - 1)
FEATURE_LOOKBACK = pd.Timedelta(hours=FEATURE_LOOKBACK_H)
#: Hours before a window that the cascade score reads: open interest, candles, funding.
CASCADE_OI_LOOKBACK = pd.Timedelta(hours=CASCADE_OI_LOOKBACK_H)
CASCADE_PRICE_LOOKBACK = pd.Timedelta(hours=CASCADE_PRICE_LOOKBACK_H)
CASCADE_FUNDING_LOOKBACK = pd.Timedelta(hours=CASCADE_FUNDING_LOOKBACK_H)
#: Hours before a window that the strategy registry reads: candles (with their features' week), funding and OI.
STRATEGY_PRICE_LOOKBACK = pd.Timedelta(hours=STRATEGY_PRICE_LOOKBACK_H)
STRATEGY_FLOW_LOOKBACK = pd.Timedelta(hours=STRATEGY_FLOW_LOOKBACK_H)
LOOKBACK = max(SCAN_LOOKBACK, FEATURE_LOOKBACK, CASCADE_OI_LOOKBACK, CASCADE_PRICE_LOOKBACK, CASCADE_FUNDING_LOOKBACK,
               STRATEGY_PRICE_LOOKBACK, STRATEGY_FLOW_LOOKBACK)
SOURCES = ("perp_ohlcv_1h", "funding_settlements", "open_interest_1h")

Tables = dict[str, pd.DataFrame]
#: ``load(asset, look_back)``: the upstream rows of [start - look_back, end), as the IO manager loads them.
Load = Callable[[str, pd.Timedelta], pd.DataFrame]
Fetch = Callable[[str, str, datetime, datetime], pd.DataFrame]

#: Derived assets in dependency order: each body's quant call, fed by ``load`` (the ML predictions
#: need the model store and are made by the caller: ``assets.ml.window_predictions``).
DERIVED: dict[str, Callable[[Load, pd.DatetimeIndex], pd.DataFrame]] = {
    "universe_scan_1h": lambda load, hours: md.universe_scan(
        load("perp_ohlcv_1h", SCAN_LOOKBACK), load("funding_settlements", SCAN_LOOKBACK), hours
    ),
    "features_1h": lambda load, hours: compute_features(load("perp_ohlcv_1h", FEATURE_LOOKBACK), hours),
    "regime_scores_1h": lambda load, hours: regime_scores(load("features_1h", NONE)),
    "carry_signals_1h": lambda load, hours: carry_scan(
        load("universe_scan_1h", NONE), hibernate=calm_market(load("regime_scores_1h", NONE), hours)
    ),
    "cascade_signals_1h": lambda load, hours: armed_cascade_scores(
        load("open_interest_1h", CASCADE_OI_LOOKBACK), load("perp_ohlcv_1h", CASCADE_PRICE_LOOKBACK),
        load("funding_settlements", CASCADE_FUNDING_LOOKBACK), hours, CASCADE,
    ),
    "tail_hedge_signals_1h": lambda load, hours: tail_hedge_signals(
        [parse_book_summary_cached(ReplayOptions().book_summary(HEDGE.currency))], load("perp_ohlcv_1h", NONE), hours,
        underlying=HEDGE,
    ),
    "strategy_signals_1h": lambda load, hours: registry_signals(strategy_input(
        load("perp_ohlcv_1h", STRATEGY_PRICE_LOOKBACK), load("funding_settlements", STRATEGY_FLOW_LOOKBACK),
        load("open_interest_1h", STRATEGY_FLOW_LOOKBACK), hours), hours),
}


def _fetch(fetch: Fetch, pairs: list[tuple[str, str]], start: pd.Timestamp, end: pd.Timestamp) -> list:
    return [(v, s, fetch(v, s, start.to_pydatetime(), end.to_pydatetime())) for v, s in pairs]


def source_tables(ex: ReplayExchange, uni: Universe, start: pd.Timestamp, end: pd.Timestamp) -> Tables:
    """The three exchange-fed tables of [start, end), as the asset bodies compute them."""
    candles = _fetch(ex.candles, uni.pairs("candles"), start - md.OHLCV_WARMUP, end)
    funding = _fetch(ex.funding_history, uni.pairs("funding"), start - SNAP_TOLERANCE, end - SNAP_TOLERANCE)
    oi = _fetch(ex.open_interest_history, uni.pairs("open_interest"), start, end)
    return {
        "perp_ohlcv_1h": md.ohlcv_table(candles, start),
        "funding_settlements": md.funding_table(funding),
        "open_interest_1h": md.open_interest_table(oi),
    }


def lookback_of(ex: ReplayExchange, uni: Universe, start: pd.Timestamp) -> Tables:
    """Source tables of the hours before ``start`` that the chain reads (none at a window's first hour)."""
    first = lookback_start(start, LOOKBACK // HOUR)
    return source_tables(ex, uni, first, start) if first < start else {}


def loader(store: Path | None, before: Tables, now: Tables, start: pd.Timestamp, end: pd.Timestamp) -> Load:
    """``load`` over the range's tables and the look-back ones (or, with ``store``, the Parquet store)."""
    def load(asset: str, look_back: pd.Timedelta) -> pd.DataFrame:
        first = lookback_start(start, look_back // HOUR)  # never across the months with no data
        if store is not None:
            return read_hours(str(store), asset, md.hours_of(first, end))
        if first >= start or asset not in before:
            return now[asset]
        frame = pd.concat([before[asset], now[asset]], ignore_index=True)
        return frame[frame["hour"] >= first]

    return load


def derived_tables(load: Load, hours: pd.DatetimeIndex, tables: Tables,
                   on_step: Callable[[str], object] | None = None) -> Tables:
    """Every :data:`DERIVED` table of ``hours`` added to ``tables`` (in place, in dependency order)."""
    for asset, compute in DERIVED.items():
        tables[asset] = compute(load, hours)
        if on_step is not None:
            on_step(asset)
    return tables
