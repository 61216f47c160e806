"""The L1 carry signal asset over real hours: HYPE's funding spike is an entry, BTC's baseline is not."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey

from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from resources.storage import read_hours

HOUR = pd.Timestamp("2025-06-10 12:00", tz="UTC")  # binance HYPE settles 0.0418% per 4h = 91.5% APR


@pytest.mark.slow
def test_carry_signals_on_a_real_funding_spike(local_settings, instance):
    defs = build_definitions(local_settings)
    results = run_window(defs, instance, HOUR, HOUR + pd.Timedelta(hours=1))
    assert all(r.success for r in results), [r.error for r in results]
    assert instance.get_materialized_partitions(AssetKey("carry_signals_1h")) == {"2025-06-10-12:00"}
    sig = read_hours(local_settings.storage_root, "carry_signals_1h", pd.DatetimeIndex([HOUR])).set_index(["venue", "symbol"])
    hype = sig.loc[("binance", "HYPE/USDT:USDT")]
    assert hype["funding_apr"] == pytest.approx(0.000418 * 6 * 365, rel=1e-2)
    assert bool(hype["eligible"])
    assert bool(hype["entry"]) != bool(hype["hibernating"])
    assert hype["vpin_gate"] == "no data"  # no tick recording covers 2025
    btc = sig.loc[("binance", "BTC/USDT:USDT")]
    assert not bool(btc["eligible"])
    assert "apr" in btc["reason"]
    # hyperliquid has funding but no candles in the sample: volume unknown, so never eligible
    hl = sig.loc[("hyperliquid", "HYPE/USDC:USDC")]
    assert pd.isna(hl["volume_24h_usd"])
    assert not bool(hl["eligible"])
