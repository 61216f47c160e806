"""Market-data assets: direct invocation with a partition context and fake edges, and one
``materialize`` of the whole group asserting on the stored outputs."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import Failure, build_asset_context, materialize

from assets.market_data import MARKET_DATA_ASSETS, funding_settlements, open_interest_1h, perp_ohlcv_1h
from quant import frames
from resources.exchange.errors import BadSymbol, TransientExchangeError
from resources.kill_switch import KillSwitch
from resources.market import MarketData, MarketUniverse
from resources.storage import HourlyParquetIOManager, read_hours
from tests.conftest import run_direct

HOUR = "2025-09-01-08:00"
#: The quality check runs only inside a real run; a direct call still declares the resource.
UNUSED_KILL_SWITCH = KillSwitch(url="sqlite://")
#: A store with nothing in it: the hour before is not stored, so the source's own warm-up is used.
_EMPTY_STORE = HourlyParquetIOManager(root="/nonexistent/perpetua-empty-store")


def _ctx(partition_key: str = HOUR):
    return build_asset_context(partition_key=partition_key)


def test_perp_ohlcv_one_hour_from_the_replay():
    df, _ = run_direct(perp_ohlcv_1h, _ctx(), market_data=MarketData(), universe=MarketUniverse(), kill_switch=UNUSED_KILL_SWITCH,
                       hourly_parquet=_EMPTY_STORE)
    assert len(df) == 10  # 2 venues x 5 coins
    assert set(df["hour"]) == {pd.Timestamp("2025-09-01 08:00", tz="UTC")}
    btc = df[(df["venue"] == "binance") & (df["symbol"] == "BTC/USDT:USDT")].iloc[0]
    raw = pd.read_parquet("data/sample/perp_ohlcv_1h/binance_bybit_2025.parquet")
    ref = raw[(raw["venue"] == "binance") & (raw["coin"] == "BTC") & (raw["timestamp"] == pd.Timestamp("2025-09-01 08:00", tz="UTC"))].iloc[0]
    assert (btc["open"], btc["high"], btc["low"], btc["close"], btc["volume"]) == (ref["o"], ref["h"], ref["l"], ref["c"], ref["v"])
    assert btc["quote_volume"] == pytest.approx(ref["v"] * ref["c"], rel=1e-12)


def test_funding_settlements_snaps_and_keeps_the_interval():
    df, _ = run_direct(funding_settlements, _ctx(), market_data=MarketData(), universe=MarketUniverse(), kill_switch=UNUSED_KILL_SWITCH)
    assert (df["settlement_ts"] == pd.Timestamp("2025-09-01 08:00", tz="UTC")).all()
    assert df["on_grid"].all()
    by = df.set_index(["venue", "symbol"])
    assert by.loc[("binance", "HYPE/USDT:USDT"), "interval_hours"] == 4.0
    assert by.loc[("binance", "BTC/USDT:USDT"), "interval_hours"] == 8.0
    assert by.loc[("hyperliquid", "BTC/USDC:USDC"), "interval_hours"] == 1.0
    rate = by.loc[("bybit", "ETH/USDT:USDT"), "funding_rate"]
    assert by.loc[("bybit", "ETH/USDT:USDT"), "funding_apr"] == pytest.approx(rate * 3 * 365, rel=1e-12)


def test_open_interest_is_honestly_empty_before_the_source_has_any():
    df, _ = run_direct(open_interest_1h, _ctx(), market_data=MarketData(), universe=MarketUniverse(), kill_switch=UNUSED_KILL_SWITCH)
    assert df.empty
    assert list(df.columns) == ["hour", "venue", "symbol", "ts", "oi_usd", "prev_oi_usd"]
    later, _ = run_direct(open_interest_1h, _ctx("2026-02-05-10:00"), market_data=MarketData(), universe=MarketUniverse(), kill_switch=UNUSED_KILL_SWITCH)
    assert len(later) == 5
    assert (later["oi_usd"] > 0).all()
    assert later["prev_oi_usd"].notna().all()  # 09:00 was fetched as the one-hour warm-up


class _Failing:
    """A hand-written fake edge that fails the way the real clients do."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def candles(self, *args, **kwargs):
        raise self.error


_RAISE: list[Exception] = []


class _FakeMarket(MarketData):
    def client(self):  # type: ignore[override]
        return _Failing(_RAISE[-1])


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TransientExchangeError("HTTP 503", call="binanceusdm.fetch_ohlcv", attempts=4), True),
        (BadSymbol("unknown symbol", call="binanceusdm.fetch_ohlcv"), False),
    ],
)
def test_exchange_errors_fail_the_run_naming_the_call(error, retried):
    _RAISE.append(error)
    with pytest.raises(Failure) as info:
        run_direct(perp_ohlcv_1h, _ctx(), market_data=_FakeMarket(), universe=MarketUniverse(), kill_switch=UNUSED_KILL_SWITCH,
                   hourly_parquet=_EMPTY_STORE)
    assert "binanceusdm.fetch_ohlcv" in info.value.description
    assert ("retried" in info.value.description) is retried or "not retried" in info.value.description
    assert info.value.metadata["retried"].value is retried


def test_materialize_the_group_stores_the_hour_and_checks_it(tmp_path, instance):
    root = str(tmp_path / "store")
    result = materialize(
        MARKET_DATA_ASSETS,
        instance=instance,
        partition_key="2025-03-06-12:00",  # the first partition: look-backs before it don't exist
        resources={"market_data": MarketData(), "universe": MarketUniverse(), "hourly_parquet": HourlyParquetIOManager(root=root),
                   "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}")},
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert sorted(checks) == [f"{a}__quality" for a in sorted(("funding_settlements", "open_interest_1h", "perp_ohlcv_1h", "universe_scan_1h"))]
    assert all(e.passed and e.partition == "2025-03-06-12:00" for e in checks.values())
    assert all(e.target_materialization_data is not None for e in checks.values())  # linked to the hour's materialisation
    hours = pd.DatetimeIndex([pd.Timestamp("2025-03-06 12:00", tz="UTC")])
    ohlcv = read_hours(root, "perp_ohlcv_1h", hours)
    scan = read_hours(root, "universe_scan_1h", hours)
    assert len(ohlcv) == 9
    assert len(scan) == 9
    assert scan["bars_24h"].eq(1).all()
    assert scan["volume_24h_usd"].isna().all()
    funding = read_hours(root, "funding_settlements", hours)
    assert funding.empty
    assert list(funding.columns)[:3] == ["hour", "venue", "symbol"]
    assert set(frames.CANDLES) - {"ts"} <= set(ohlcv.columns)
