"""The bundled sample as a strategy sees it: both real windows' bars, features, funding and open interest."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.journal_data import window_tables
from quant.strategies.base import StrategyInput
from resources.exchange.replay import SAMPLE_WINDOWS


def bundled_window(start: pd.Timestamp, end: pd.Timestamp) -> StrategyInput:
    """[start, end) of the bundled sample through the same table functions the assets call (``pipelines.journal_data``)."""
    return StrategyInput(*window_tables(None, start, end))


@pytest.fixture(scope="session")
def bundled_windows() -> list[StrategyInput]:
    """Each real window of ``data/sample`` as one :class:`StrategyInput` (open interest is Hyperliquid's, only in the 2026 window;
    the bars are Binance and Bybit: match open interest to bars by symbol, not venue)."""
    return [bundled_window(pd.Timestamp(a), pd.Timestamp(b)) for a, b in SAMPLE_WINDOWS]
