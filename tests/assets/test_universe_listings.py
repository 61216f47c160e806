"""Universes as real exchanges have them, through the real runner: a coin one venue lists, and a
universe that collects no open interest, materialise and pass their checks.

The one-venue coin is HYPE in a copy of the sample that keeps Binance's HYPE only (its real rows,
from its 2025-05-30 10:00 listing; Bybit's and Hyperliquid's HYPE are left out), so every other
venue answers "does not list HYPE", as a real venue does for a coin it never listed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.market_data import open_interest_1h
from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from resources.exchange.errors import BadSymbol
from resources.exchange.replay import CANDLES_FILES, FUNDING_FILES, OI_FILE, ReplayExchange
from resources.kill_switch import KillSwitch, KillSwitchStore
from resources.market import DATA_ROOT_ENV, MarketData, MarketUniverse
from resources.storage import HourlyParquetIOManager, read_hours
from tests.conftest import SAMPLE_DIR, settings_under

LISTED = pd.Timestamp("2025-05-30 10:00", tz="UTC")
START, END = LISTED - pd.Timedelta(hours=2), LISTED + pd.Timedelta(hours=2)
HYPE = "HYPE/USDT:USDT"


def _binance_hype_only(sample: Path) -> None:
    for f in (*CANDLES_FILES, *FUNDING_FILES, OI_FILE):
        df = pd.read_parquet(sample / f)
        df[~((df["coin"] == "HYPE") & (df["venue"] != "binance"))].reset_index(drop=True).to_parquet(sample / f)


@pytest.fixture(scope="module")
def one_venue_run(tmp_path_factory):

    root = tmp_path_factory.mktemp("one_venue")
    sample = root / "sample"
    shutil.copytree(SAMPLE_DIR, sample, ignore=shutil.ignore_patterns("trades", "binance_raw", "deribit"))
    _binance_hype_only(sample)
    s = settings_under(root)
    universe = MarketUniverse(listings={"HYPE": {"binance": LISTED.isoformat()}})
    defs = build_definitions(s, overrides={"market_data": MarketData(kind="replay", sample_dir=str(sample)), "universe": universe})
    with DagsterInstance.ephemeral() as instance:
        yield run_window(defs, instance, START, END), instance, s, sample


def test_the_copy_lists_hype_on_binance_only(one_venue_run):
    *_, sample = one_venue_run
    ex = ReplayExchange(sample)
    assert len(ex.candles("binance", HYPE, LISTED.to_pydatetime(), END.to_pydatetime())) == 2
    with pytest.raises(BadSymbol, match="bybit does not list 'HYPE/USDT:USDT'"):
        ex.candles("bybit", HYPE, START.to_pydatetime(), END.to_pydatetime())


def test_a_coin_one_venue_lists_materialises_with_every_check_passing(one_venue_run):
    results, instance, s, _ = one_venue_run
    assert [(r.job, r.success, r.checks_failed, r.error) for r in results] == [
        ("market_sources", True, {}, None), ("ml_walk_forward", True, {}, None), ("hourly_cycle", True, {}, None),
        ("ml_fold_evaluation_job", True, {}, None)]  # the week's fold: too little history, no model
    hourly = next(r for r in results if r.job == "hourly_cycle")
    failed = [r.dagster_event.event_specific_data for r in instance.all_logs(hourly.run_id)
              if r.dagster_event and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
              and not r.dagster_event.event_specific_data.passed]
    assert failed == []  # cross-venue agreement included: HYPE is not demanded on bybit
    assert not KillSwitchStore(s.kill_switch_url).is_tripped()
    assert len(instance.get_materialized_partitions(AssetKey("universe_scan_1h"))) >= 4


def test_the_coin_is_stored_where_and_when_it_is_listed(one_venue_run):
    _, _, s, _ = one_venue_run
    hours = pd.date_range(START, END, freq="h", inclusive="left")
    ohlcv = read_hours(s.storage_root, "perp_ohlcv_1h", hours)
    hype = ohlcv[ohlcv["symbol"] == HYPE]
    assert set(hype["venue"]) == {"binance"}
    assert hype["hour"].tolist() == [LISTED, LISTED + pd.Timedelta(hours=1)]  # nothing before its listing
    others = ohlcv[ohlcv["symbol"] != HYPE]
    assert len(others) == 2 * 4 * len(hours)  # BTC, ETH, SOL, DOGE on both venues every hour
    funding = read_hours(s.storage_root, "funding_settlements", hours)
    assert not ((funding["symbol"].str.startswith("HYPE/")) & (funding["venue"] != "binance")).any()


def test_a_universe_without_open_interest_passes_its_checks(tmp_path, instance, monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    result = materialize(
        [open_interest_1h],
        instance=instance,
        partition_key="2026-02-05-10:00",  # an hour the sample has open interest for, when collected
        resources={"market_data": MarketData(), "universe": MarketUniverse(oi_venues=[]),
                   "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "store")),
                   "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}")},
        raise_on_error=False,
    )
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "open_interest_1h__quality"
    assert check.passed, check.description
    assert check.metadata["rules_failed"].value == 0
    assert result.success
    oi = read_hours(str(tmp_path / "store"), "open_interest_1h", pd.DatetimeIndex([pd.Timestamp("2026-02-05 10:00", tz="UTC")]))
    assert oi.empty
    assert list(oi.columns) == ["hour", "venue", "symbol", "ts", "oi_usd", "prev_oi_usd"]
