"""The bundled sample as a strategy sees it: both real windows' bars, features, funding and open interest."""

from __future__ import annotations

import pandas as pd
import pytest

from quant.features.hourly import compute_features
from quant.market_data import tables as md
from quant.strategies.base import StrategyInput
from resources.exchange.replay import SAMPLE_WINDOWS, ReplayExchange


def bundled_window(start: pd.Timestamp, end: pd.Timestamp) -> StrategyInput:
    """[start, end) of the bundled sample through the same table functions the assets call."""
    ex = ReplayExchange()
    lo, hi = start.to_pydatetime(), end.to_pydatetime()
    pairs = [(v, s) for v in ex.venues() for s in ex.symbols(v)]
    bars = md.ohlcv_table([(v, s, ex.candles(v, s, lo, hi)) for v, s in pairs], start)
    funding = md.funding_table([(v, s, ex.funding_history(v, s, lo, hi)) for v, s in pairs])
    oi_pairs = [(v, s) for v, s in pairs if v == "hyperliquid"] or pairs
    oi = md.open_interest_table([(v, s, ex.open_interest_history(v, s, lo, hi)) for v, s in oi_pairs])
    hours = md.hours_of(start, end)
    bars = bars.sort_values(["venue", "symbol", "hour"]).reset_index(drop=True)
    return StrategyInput(bars, compute_features(bars, hours), funding, oi)


@pytest.fixture(scope="session")
def bundled_windows() -> list[StrategyInput]:
    """Each real window of ``data/sample`` as one :class:`StrategyInput` (open interest is Hyperliquid's, only in the 2026 window;
    the bars are Binance and Bybit: match open interest to bars by symbol, not venue)."""
    return [bundled_window(pd.Timestamp(a), pd.Timestamp(b)) for a, b in SAMPLE_WINDOWS]
