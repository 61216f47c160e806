"""The signal assets over real hours: L1 carry (HYPE's funding spike is an entry, BTC's baseline
is not), L2 cascade ("no OI" on the sample) and L3 tail hedge (a modelled strangle)."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, build_asset_context

from assets.signals import cascade_signals_1h, tail_hedge_signals_1h
from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from quant.cascade.score import SCORE_COLUMNS
from resources.exchange.errors import TransientExchangeError
from resources.kill_switch import KillSwitch
from resources.market import MarketUniverse, OptionsData
from resources.storage import HourlyParquetIOManager, read_hours
from tests.conftest import run_direct

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


# -- L2 cascade and L3 tail hedge ---------------------------------------------------------------

CASCADE_HOUR = pd.Timestamp("2025-07-15 08:00", tz="UTC")
ETH = "ETH/USDT:USDT"


class FailingOptions(OptionsData):
    """An options edge whose venue is down: every read fails as a retried transient error would."""

    def book_summary(self, currency: str) -> pd.DataFrame:
        raise TransientExchangeError("HTTP 503: 'maintenance'", call="deribit.public/get_book_summary_by_currency",
                                     attempts=3)

#: The quality check runs only inside a real run; a direct call still declares its resources.
AUDIT = {"kill_switch": KillSwitch(url="sqlite://"), "universe": MarketUniverse(),
         "hourly_parquet": HourlyParquetIOManager(root="/nonexistent/never-read")}  # the replay chain needs no store

def _bars(hours: pd.DatetimeIndex, venue: str = "binance", close: float = 2500.0) -> pd.DataFrame:
    return pd.DataFrame({"hour": hours, "ts": hours, "venue": venue, "symbol": ETH, "close": close})


def test_tail_hedge_asset_models_a_2025_hour_from_the_bundled_chain():
    hours = pd.date_range(CASCADE_HOUR, periods=2, freq="h", tz="UTC", unit="ns")
    bars = _bars(hours[1:], venue="bybit", close=3001.0)  # no candle at all in the first hour
    with build_asset_context(partition_key=partition_key(CASCADE_HOUR), resources={"options": OptionsData(), **AUDIT}) as ctx:
        df, _ = run_direct(tail_hedge_signals_1h, ctx, perp_ohlcv_1h=bars)
        meta = ctx.get_output_metadata("result")
    assert df["status"].tolist() == ["no underlying"]  # one-hour window: the bybit bar is the next hour's
    assert meta["status_counts"].data == {"no underlying": 1}
    assert meta["last_strangle"].md_str == "no strangle in this window"
    with build_asset_context(partition_key=partition_key(hours[1]), resources={"options": OptionsData(), **AUDIT}) as ctx:
        row = run_direct(tail_hedge_signals_1h, ctx, perp_ohlcv_1h=bars)[0].iloc[0]
        meta = ctx.get_output_metadata("result")
    assert (row["status"], bool(row["modelled"]), row["underlying_usd"]) == ("ok", True, 3001.0)
    assert row["put_strike"] < 3001.0 < row["call_strike"]
    assert meta["modelled_hours"].value == 1
    assert meta["sources"].md_str == "- modelled: 2024-01-08 Deribit ETH IV surface recentred on the ETH perp close"


def test_an_options_source_failure_holds_l3_naming_the_call_instead_of_failing_the_run():
    # L3's own input: the hedge rows say why there is no strangle; L1, L2 and the book go on.
    with build_asset_context(partition_key=partition_key(CASCADE_HOUR), resources={"options": FailingOptions(), **AUDIT}) as ctx:
        df = run_direct(tail_hedge_signals_1h, ctx, perp_ohlcv_1h=_bars(pd.DatetimeIndex([CASCADE_HOUR])))[0]
    (status,) = df["status"].tolist()
    assert status.startswith("chain unusable: TransientExchangeError: ")
    assert "deribit.public/get_book_summary_by_currency" in status
    assert df["premium_usd"].isna().all()


def test_cascade_asset_without_open_interest_scores_nothing():
    hours = pd.date_range(CASCADE_HOUR - pd.Timedelta(hours=168), CASCADE_HOUR, freq="h", tz="UTC", unit="ns")
    bars = _bars(hours)
    empty_oi = pd.DataFrame({"hour": pd.DatetimeIndex([], tz="UTC"), "ts": pd.DatetimeIndex([], tz="UTC"),
                             "venue": [], "symbol": [], "oi_usd": []})
    empty_funding = pd.DataFrame({"venue": [], "symbol": [], "settlement_ts": pd.DatetimeIndex([], tz="UTC"),
                                  "funding_rate": [], "interval_hours": []})
    with build_asset_context(partition_key=partition_key(CASCADE_HOUR), resources=AUDIT) as ctx:
        df, checks = run_direct(cascade_signals_1h, ctx, open_interest_1h=empty_oi, perp_ohlcv_1h=bars,
                                funding_settlements=empty_funding)
        assert [c.passed for c in checks] == [True]
        meta = ctx.get_output_metadata("result")
    assert list(df.columns) == [*SCORE_COLUMNS, "armed", "triggered"]
    assert df[["venue", "symbol", "status"]].values.tolist() == [["binance", ETH, "no OI"]]
    assert not df["armed"].any()
    assert df["score"].isna().all()
    assert df["close"].iloc[0] == 2500.0
    assert meta["status_counts"].data == {"no OI": 1}
    assert meta["max_score"].text == "none scored"


@pytest.mark.slow
def test_cascade_and_tail_hedge_on_a_real_sample_hour(local_settings, instance):
    defs = build_definitions(local_settings)
    results = run_window(defs, instance, CASCADE_HOUR, CASCADE_HOUR + pd.Timedelta(hours=1))
    assert all(r.success for r in results), [r.error for r in results]
    hours = pd.DatetimeIndex([CASCADE_HOUR])
    for asset in ("cascade_signals_1h", "tail_hedge_signals_1h"):
        assert instance.get_materialized_partitions(AssetKey(asset)) == {"2025-07-15-08:00"}, asset

    # L2: the sample's open interest (hyperliquid, from 2025-12-07) does not reach 2025-07
    cascade = read_hours(local_settings.storage_root, "cascade_signals_1h", hours)
    assert len(cascade) == 10  # BTC ETH SOL DOGE HYPE on binance and bybit
    assert set(cascade["status"]) == {"no OI"}
    assert cascade["score"].isna().all()
    assert cascade["rv_7d"].notna().all()  # the 7-day candle look-back was there

    # L3: the 2024-01-08 Deribit surface recentred on the hour's ETH close
    hedge = read_hours(local_settings.storage_root, "tail_hedge_signals_1h", hours)
    assert len(hedge) == 1
    row = hedge.iloc[0]
    candles = read_hours(local_settings.storage_root, "perp_ohlcv_1h", hours).set_index(["venue", "symbol"])
    close = candles.loc[("binance", ETH), "close"]
    assert (row["status"], bool(row["modelled"]), row["underlying_usd"]) == ("ok", True, close)
    assert row["source"] == "modelled: 2024-01-08 Deribit ETH IV surface recentred on the ETH perp close"
    assert row["put_strike"] < close < row["call_strike"]
    days = (row["expiry"] - CASCADE_HOUR) / pd.Timedelta(days=1)
    assert 14 <= days <= 60
    assert days == pytest.approx(row["dte_days"] + 1 / 24, rel=1e-9)  # decided at the hour's end
    assert row["theta_usd"] < 0 < row["premium_usd"]
