"""Per-strategy data health on constructed inputs (hours counted by hand)."""

from __future__ import annotations

import pandas as pd

from quant.strategies.base import Strategy, StrategyInput
from quant.strategy_health import DEGRADED, HEALTHY, STARVED, WARMING, health_counts, strategy_health

T0 = pd.Timestamp("2026-02-01 00:00", tz="UTC")


def _bars(hours: int, instruments: list[str], missing: tuple[str, pd.Timestamp] | None = None) -> pd.DataFrame:
    rows = [{"hour": T0 + pd.Timedelta(hours=i), "venue": "binance", "symbol": s, "close": 100.0}
            for i in range(hours) for s in instruments]
    df = pd.DataFrame(rows)
    if missing:
        df = df[~((df["symbol"] == missing[0]) & (df["hour"] == missing[1]))]
    return df.reset_index(drop=True)


def _s(name: str, lookback: int) -> Strategy:
    return Strategy(name, lambda data, params: None, lookback_h=lookback)


def test_each_status_with_its_reason():
    last = T0 + pd.Timedelta(hours=99)
    bars = _bars(100, ["BTC/USDT:USDT", "ETH/USDT:USDT"], missing=("ETH/USDT:USDT", last))
    oi = pd.DataFrame({"hour": [T0 + pd.Timedelta(hours=10)], "venue": ["hyperliquid"], "symbol": ["BTC"]})
    strategies = {"short": _s("short", 24), "long": _s("long", 240), "oi_flow": _s("oi_flow", 24),
                  "quantflow": _s("quantflow", 192)}
    data = StrategyInput(bars, open_interest=oi)
    h = strategy_health(data, pd.DatetimeIndex([T0 + pd.Timedelta(hours=50), last]), strategies)
    mid = h[T0 + pd.Timedelta(hours=50)]
    assert mid["short"] == (HEALTHY, "every input it reads is there")
    assert mid["long"] == (WARMING, "51 h of the 240 h of history it reads")  # hours 0..50
    assert mid["oi_flow"] == (STARVED, "no open interest in its 24 h window")  # OI only at hour 10 < 50 - 24
    assert mid["quantflow"] == (WARMING, "51 h of the 192 h of history it reads")  # its window holds hour 10's OI
    end = h[last]
    assert end["short"] == (DEGRADED, "1 of 2 instruments have no bar at this hour")
    assert health_counts(end) == {HEALTHY: 0, WARMING: 2, DEGRADED: 1, STARVED: 1}


def test_an_hour_without_a_bar_starves_every_strategy():
    bars = _bars(5, ["BTC/USDT:USDT"])
    h = strategy_health(StrategyInput(bars), pd.DatetimeIndex([T0 + pd.Timedelta(hours=7)]), {"short": _s("short", 2)})
    assert h[T0 + pd.Timedelta(hours=7)]["short"] == (STARVED, "no closed bar at this hour")
    empty = strategy_health(StrategyInput(pd.DataFrame()), pd.DatetimeIndex([T0]), {"short": _s("short", 2)})
    assert empty[T0]["short"][0] == STARVED
