"""``PERPETUA_DATA_ROOT``: both replays read another folder laid out like data/sample.

The variable is read when a run starts the resource (or asks it for a client), never when the
modules are imported or the definitions built; a missing folder or file fails naming the path.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import materialize

from assets.market_data import perp_ohlcv_1h
from pipelines.environments import resources_for
from resources.exchange.replay import CANDLES_FILE, OI_FILE, ReplayExchange
from resources.exchange.replay_options import CHAIN_FILE, HTTP_FILE, ReplayOptions
from resources.kill_switch import KillSwitch
from resources.market import DATA_ROOT_ENV, MarketData, MarketUniverse, OptionsData, replay_root
from resources.storage import HourlyParquetIOManager, read_hours
from tests.conftest import SAMPLE_DIR

HOUR = pd.Timestamp("2025-09-01 08:00", tz="UTC")


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A copy of the sample whose binance BTC 08:00 close is its bar's mid-range, and whose option chain has one row."""
    root = tmp_path / "my_data"
    for folder in ("perp_ohlcv_1h", "funding", "open_interest", "deribit"):
        shutil.copytree(SAMPLE_DIR / folder, root / folder)
    c = pd.read_parquet(root / CANDLES_FILE)
    at = (c["venue"] == "binance") & (c["coin"] == "BTC") & (c["timestamp"] == HOUR)
    assert at.sum() == 1
    c.loc[at, "c"] = (c.loc[at, "h"] + c.loc[at, "l"]) / 2 + 0.125  # a plausible close the real bar lacks
    assert c.loc[at, "c"].iloc[0] != pd.read_parquet(SAMPLE_DIR / CANDLES_FILE).loc[at, "c"].iloc[0]
    c.to_parquet(root / CANDLES_FILE)
    chain = pd.read_csv(root / CHAIN_FILE, index_col=0)
    chain.head(1).to_csv(root / CHAIN_FILE)
    return root


def test_the_resources_replay_the_folder_the_variable_names(data_root, monkeypatch):
    market, options = MarketData(), OptionsData()  # built before the variable is set: read later
    monkeypatch.setenv(DATA_ROOT_ENV, str(data_root))
    bars = market.client().candles("binance", "BTC/USDT:USDT", HOUR.to_pydatetime(), (HOUR + pd.Timedelta(hours=1)).to_pydatetime())
    assert bars["close"].tolist() == [_marked(data_root)]
    assert len(options.book_summary("ETH")) == 1


def test_an_asset_run_reads_the_variable_when_it_starts(data_root, tmp_path, instance, monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    resources = resources_for(_local(tmp_path))  # the environment's resources, as the definitions build them
    monkeypatch.setenv(DATA_ROOT_ENV, str(data_root))
    result = materialize(
        [perp_ohlcv_1h], instance=instance, partition_key=HOUR.strftime("%Y-%m-%d-%H:%M"),
        resources={k: resources[k] for k in ("market_data", "universe", "hourly_parquet", "kill_switch")},
        raise_on_error=False,
    )
    assert result.success
    df = read_hours(resources["hourly_parquet"].root, "perp_ohlcv_1h", pd.DatetimeIndex([HOUR]))
    assert df.loc[(df["venue"] == "binance") & (df["symbol"] == "BTC/USDT:USDT"), "close"].tolist() == [_marked(data_root)]


def test_a_resource_sample_dir_wins_over_the_variable(data_root, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(data_root / "nowhere"))
    assert replay_root(str(data_root)) == data_root
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert replay_root(None) == SAMPLE_DIR.resolve()


def test_a_missing_folder_fails_naming_it(tmp_path, instance, monkeypatch):
    gone = tmp_path / "no_such_folder"
    monkeypatch.setenv(DATA_ROOT_ENV, str(gone))
    for make in (MarketData().client, OptionsData().client):
        with pytest.raises(FileNotFoundError, match=f"replay data folder not found: {re.escape(str(gone))}.*{DATA_ROOT_ENV}"):
            make()
    result = materialize(  # and a run fails when it starts the resource, before any asset body
        [perp_ohlcv_1h], instance=instance, partition_key=HOUR.strftime("%Y-%m-%d-%H:%M"),
        resources={"market_data": MarketData(), "universe": MarketUniverse(), "kill_switch": KillSwitch(url="sqlite://"),
                   "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "store"))},
        raise_on_error=False,
    )
    assert not result.success
    errors = [e.event_specific_data.error.message for e in result.all_events if e.event_type_value in ("STEP_FAILURE", "RESOURCE_INIT_FAILURE")]
    assert any(str(gone) in m for m in errors), errors


@pytest.mark.parametrize("missing", [CANDLES_FILE, OI_FILE])
def test_a_folder_without_a_required_file_fails_naming_the_file(data_root, missing):
    (data_root / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"replay data folder {re.escape(str(data_root))} lacks {re.escape(missing)}"):
        ReplayExchange(data_root)


def test_the_options_replay_names_the_recording_it_lacks(data_root):
    (data_root / HTTP_FILE).unlink()
    venue = ReplayOptions(data_root)
    assert len(venue.book_summary("ETH")) == 1  # what it has still answers
    with pytest.raises(FileNotFoundError, match=f"replay data folder {re.escape(str(data_root))} lacks {re.escape(HTTP_FILE)}"):
        venue.instruments("ETH")


def _marked(root: Path) -> float:
    c = pd.read_parquet(root / CANDLES_FILE)
    return float(c.loc[(c["venue"] == "binance") & (c["coin"] == "BTC") & (c["timestamp"] == HOUR), "c"].iloc[0])


def _local(tmp_path: Path):
    from tests.conftest import settings_under

    return settings_under(tmp_path)
