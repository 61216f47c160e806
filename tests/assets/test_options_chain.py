"""The live tail hedge's chain: recorded inside its hour from Deribit (loopback, the recorded ETH
book summary re-stamped), refused when stamped outside it, and read back by the tail hedge so a
paper/live hour finds its chain instead of "no chain for this hour"."""

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from assets.options_chain import chain_rows, options_chain_1h, stored_chains
from checks.engine import partition_key
from quant.options.tail_hedge import STATUS_NO_CHAIN, HedgeUnderlying, tail_hedge_signals
from resources.market import OptionsData
from resources.storage import HourlyParquetIOManager
from tests.support.deribit_shapes import PREFIX, book_summary_rows, install_deribit, rpc_result
from tests.support.replay_server import ReplayServer

HOUR = pd.Timestamp("2026-02-10 12:00", tz="UTC")


def _stamped(ms: int):
    return lambda req: rpc_result([r | {"creation_timestamp": ms} for r in book_summary_rows()])


@pytest.fixture
def deribit():
    with ReplayServer() as server:
        install_deribit(server)
        yield server


def _record(server, tmp_path, stamp: pd.Timestamp):
    server.route(f"{PREFIX}/public/get_book_summary_by_currency", _stamped(int(stamp.value // 10**6)))
    resources = {"options": OptionsData(kind="deribit", base_url=server.url + PREFIX),
                 "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage"))}
    with DagsterInstance.ephemeral() as instance:
        return materialize([options_chain_1h], resources=resources, instance=instance, partition_key=partition_key(HOUR),
                           raise_on_error=False)


def test_a_chain_recorded_inside_its_hour_is_what_the_tail_hedge_reads(deribit, tmp_path):
    res = _record(deribit, tmp_path, HOUR + pd.Timedelta(minutes=50))
    assert res.success
    chains = stored_chains(str(tmp_path / "storage"), pd.DatetimeIndex([HOUR, HOUR + pd.Timedelta(hours=1)]))
    assert len(chains) == 1  # the next hour has none
    assert chains[0].as_of == HOUR + pd.Timedelta(minutes=50)
    bars = pd.DataFrame({"hour": pd.Series([HOUR], dtype="datetime64[ns, UTC]"), "venue": ["binance"],
                         "symbol": ["ETH/USDT:USDT"], "close": [2241.65]})
    row = tail_hedge_signals(chains, bars, pd.DatetimeIndex([HOUR]), underlying=HedgeUnderlying()).iloc[0]
    assert row["status"] != STATUS_NO_CHAIN
    assert not row["modelled"]  # seen inside the hour: used as it is, not recentred
    # without the recorded chain, the same hour has none (what the scheduled run used to find)
    assert tail_hedge_signals([], bars, pd.DatetimeIndex([HOUR]), underlying=HedgeUnderlying()).iloc[0]["status"] == STATUS_NO_CHAIN


def test_a_chain_stamped_outside_its_hour_is_refused(deribit, tmp_path):
    res = _record(deribit, tmp_path, HOUR + pd.Timedelta(hours=1, minutes=5))  # the scheduled run's time: too late
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.user_failure_data.description
    assert "stamped outside 2026-02-10 12:00–13:00 UTC (first 2026-02-10 13:05:00): a chain can only be recorded live" in text
    with pytest.raises(ValueError, match="empty ETH book summary"):
        chain_rows(pd.DataFrame({"ts": []}), HOUR)


def test_the_replay_options_record_nothing(tmp_path):
    resources = {"options": OptionsData(kind="replay"), "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "s"))}
    with DagsterInstance.ephemeral() as instance:
        res = materialize([options_chain_1h], resources=resources, instance=instance, partition_key=partition_key(HOUR))
    assert res.success
    assert stored_chains(str(tmp_path / "s"), pd.DatetimeIndex([HOUR])) == []


def test_the_live_tail_hedge_asset_reads_the_recorded_chain_and_calls_no_venue(deribit, tmp_path):
    from dagster import build_asset_context

    from assets.signals import tail_hedge_signals_1h
    from resources.kill_switch import KillSwitch
    from resources.market import MarketUniverse
    from tests.conftest import run_direct

    assert _record(deribit, tmp_path, HOUR + pd.Timedelta(minutes=50)).success
    calls = len(deribit.requests)
    bars = pd.DataFrame({"hour": pd.Series([HOUR], dtype="datetime64[ns, UTC]"), "ts": pd.Series([HOUR], dtype="datetime64[ns, UTC]"),
                         "venue": ["binance"], "symbol": ["ETH/USDT:USDT"], "close": [2241.65]})
    resources = {"options": OptionsData(kind="deribit", base_url=deribit.url + PREFIX), "kill_switch": KillSwitch(url="sqlite://"),
                 "universe": MarketUniverse(), "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage"))}
    with build_asset_context(partition_key=partition_key(HOUR), resources=resources) as ctx:
        row = run_direct(tail_hedge_signals_1h, ctx, perp_ohlcv_1h=bars)[0].iloc[0]
    assert row["status"] != STATUS_NO_CHAIN
    assert not row["modelled"]
    assert len(deribit.requests) == calls  # the chain came from the store, not from the venue
