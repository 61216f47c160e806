"""quant.options.tail_range: the array pass over a range gives exactly what ``hedge_row`` gives hour by hour
(recentre the snapshot, select the strangle), for every strike rule and when it must leave an hour to ``hedge_row``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant.options.chain import OptionChain, parse_book_summary
from quant.options.strangle import StrangleConfig
from quant.options.tail_hedge import HedgeUnderlying, _table, hedge_row, tail_hedge_signals, underlying_closes

BOOK_CSV = Path(__file__).resolve().parents[3] / "data" / "sample" / "deribit" / "eth_book_summary_20240108.csv"
H = pd.Timestamp("2025-06-10 12:00", tz="UTC")
ETH = "ETH/USDT:USDT"


@pytest.fixture(scope="module")
def snapshot() -> OptionChain:
    return parse_book_summary(pd.read_csv(BOOK_CSV, index_col=0))


def _ohlcv(n: int) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    hours = pd.date_range(H, periods=n, freq="h", tz="UTC", unit="ns")
    close = 2500.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0.0, 0.02, n)))
    frame = pd.DataFrame({"hour": hours, "venue": "binance", "symbol": ETH, "close": close})
    return frame[frame.index != 3], hours  # hour 3 has no underlying


@pytest.mark.parametrize("config", [
    StrangleConfig(),
    StrangleConfig(strike_by="otm_pct"),
    StrangleConfig(dte_min=0.0, dte_max=400.0, dte_target=200.0, min_open_interest=5000.0),
    StrangleConfig(delta_min=0.24, delta_target=0.245, delta_max=0.25),
    StrangleConfig(min_open_interest=1e9),  # no eligible strike: every hour left to hedge_row
    StrangleConfig(dte_min=300.0, dte_max=301.0, dte_target=300.0),  # no expiry in the window
])
def test_the_range_pass_equals_hedge_row_hour_by_hour(snapshot, config):
    ohlcv, hours = _ohlcv(40)
    underlying = HedgeUnderlying()
    closes = underlying_closes(ohlcv, hours, underlying)
    plain = _table([hedge_row([snapshot], h, float(c), config, underlying) for h, c in zip(hours, closes, strict=True)])
    pd.testing.assert_frame_equal(tail_hedge_signals([snapshot], ohlcv, hours, config), plain, check_exact=True)
