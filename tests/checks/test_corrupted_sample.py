"""Corrupt a copy of the sample and prove each fault is caught by its named rule (inside the asset's
one ``<asset>__quality`` check), in that hour only, blocks the downstream scan in that run, and trips
the persistent kill switch with a readable reason naming the rule."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey

from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from resources.exchange.replay import CANDLES_FILE, FUNDING_FILE
from resources.kill_switch import KillSwitchStore
from resources.market import MarketData
from tests.conftest import SAMPLE_DIR, settings_under

DAY = pd.Timestamp("2025-09-01", tz="UTC")


def _at(hour: int) -> pd.Timestamp:
    return DAY + pd.Timedelta(hours=hour)


def _corrupt(sample: str) -> None:
    c = pd.read_parquet(f"{sample}/{CANDLES_FILE}")

    def row(venue: str, coin: str, hour: int) -> pd.Series:
        return (c["venue"] == venue) & (c["coin"] == coin) & (c["timestamp"] == _at(hour))

    c.loc[row("binance", "BTC", 2), "c"] = np.nan  # NaN close
    c.loc[row("bybit", "ETH", 3), "v"] = -5.0  # negative volume
    c = pd.concat([c, c[row("binance", "SOL", 4)]], ignore_index=True)  # duplicated hour
    c = c[~row("bybit", "DOGE", 5)]  # missing hour
    frozen = (c["venue"] == "binance") & (c["coin"] == "DOGE") & c["timestamp"].between(_at(6), _at(17))
    c.loc[frozen, ["o", "h", "l", "c"]] = 0.2  # price frozen for 12 hours
    c = c[~((c["venue"] == "bybit") & (c["coin"] == "SOL") & c["timestamp"].between(_at(18), _at(19)))]
    c.reset_index(drop=True).to_parquet(f"{sample}/{CANDLES_FILE}")

    f = pd.read_parquet(f"{sample}/{FUNDING_FILE}")
    btc8 = (f["venue"] == "binance") & (f["coin"] == "BTC") & (f["timestamp"].dt.round("h") == _at(8))
    f.loc[btc8, "timestamp"] = _at(3) + pd.Timedelta(minutes=17)  # funding at 03:17
    eth16 = (f["venue"] == "bybit") & (f["coin"] == "ETH") & (f["timestamp"].dt.round("h") == _at(16))
    f.loc[eth16, "funding_rate"] = 0.5  # funding of 0.5 per interval
    f.to_parquet(f"{sample}/{FUNDING_FILE}")


@pytest.fixture(scope="module")
def corrupted_run(tmp_path_factory):
    from dagster import DagsterInstance


    root = tmp_path_factory.mktemp("corrupt")
    sample = root / "sample"
    shutil.copytree(SAMPLE_DIR, sample, ignore=shutil.ignore_patterns("trades", "binance_raw", "deribit"))
    _corrupt(str(sample))
    s = settings_under(root)
    defs = build_definitions(s, overrides={"market_data": MarketData(kind="replay", sample_dir=str(sample))})
    with DagsterInstance.ephemeral() as instance:
        results = run_window(defs, instance, DAY, DAY + pd.Timedelta(days=1), warmup_hours=23, train_folds=False)
        yield results, instance, KillSwitchStore(s.kill_switch_url)


CASES = [
    ("NaN close", "perp_ohlcv_1h__no_nan_or_inf", _at(2), "close is nan"),
    ("negative volume", "perp_ohlcv_1h__volume_non_negative", _at(3), "volume is -5.0 (must be >= 0)"),
    ("duplicated hour", "perp_ohlcv_1h__unique_rows", _at(4), "duplicate row for venue=binance, symbol=SOL/USDT:USDT"),
    ("missing hour", "perp_ohlcv_1h__no_missing_hours", _at(5), "no 1h candle for 2025-09-01 05:00 UTC"),
    ("funding at 03:17", "funding_settlements__on_grid", _at(3), "settlement stamped 03:17:00.000 is not on the"),
    ("funding of 0.5", "funding_settlements__within_bounds", _at(16), "funding rate 0.5 per interval outside"),
    ("price frozen 12h", "perp_ohlcv_1h__not_stale", _at(12), "price unchanged at 0.2 for 6+ hours"),
    ("symbol missing on one venue", "perp_ohlcv_1h__cross_venue_agreement", _at(18), "SOL missing on bybit"),
]


def _evaluations(instance, run_id: str) -> list:
    records = instance.all_logs(run_id)
    return [r.dagster_event.event_specific_data for r in records if r.dagster_event and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.mark.parametrize(("fault", "check", "hour", "message"), CASES, ids=[c[0] for c in CASES])
def test_fault_is_caught_by_its_named_rule(corrupted_run, fault, check, hour, message):
    results, instance, _ = corrupted_run
    main = _failed_run(results)
    asset, rule = check.split("__", 1)
    evals = [e for e in _evaluations(instance, main.run_id) if e.check_name == f"{asset}__quality"]
    key = hour.strftime("%Y-%m-%d-%H:%M")
    per_hour = {e.partition: e for e in evals if e.partition is not None}
    assert len(per_hour) == 24  # every hour of the range has its own evaluation
    assert not per_hour[key].passed, f"{check} passed at {key} despite {fault}"
    assert rule in per_hour[key].metadata["failed_rules"].value
    assert f"{rule}: " in per_hour[key].description
    assert message in per_hour[key].description
    assert f"**{rule}**" in per_hour[key].metadata["violations"].value
    assert per_hour[key].target_materialization_data is not None  # linked to the hour's materialisation
    clean_key = (DAY + pd.Timedelta(hours=23)).strftime("%Y-%m-%d-%H:%M")
    if check != "perp_ohlcv_1h__not_stale":
        assert per_hour[clean_key].passed, f"{check} failed on a clean hour"
    assert main.checks_failed.get(check, 0) >= 1


def _failed_run(results):
    """The hourly run that met the faults (a second run then keeps the hours before the first one)."""
    (main,) = [r for r in results if r.job == "hourly_cycle" and not r.kept_before_failure]
    assert not main.success
    return main


def test_nothing_downstream_materialises_from_the_first_bad_hour_on(corrupted_run):
    results, instance, _ = corrupted_run
    main = _failed_run(results)
    assert main.first_failed_hour == _at(2)  # the NaN close
    # The hours before it are run again; this window's warm-up is too short for the features'
    # 7-day look-back, so only the scan gets that far (test_corrupt_inputs keeps a whole graph).
    kept = results[-1]
    assert kept.kept_before_failure
    assert (kept.start, kept.end) == (partition_key(_at(0)), partition_key(_at(1)))
    scanned = instance.get_materialized_partitions(AssetKey("universe_scan_1h"))
    assert scanned == {partition_key(_at(0)), partition_key(_at(1))}
    produced = instance.get_materialized_partitions(AssetKey("perp_ohlcv_1h"))
    assert DAY.strftime("%Y-%m-%d-%H:%M") in produced  # the checked asset itself was stored


def test_kill_switch_records_every_failed_check(corrupted_run):
    _, _, store = corrupted_run
    active = store.active()
    sources = {t.source for t in active}
    for _, check, _, _ in CASES:
        assert f"check:{check}" in sources
    by_source = {t.source: t for t in active}
    nan = by_source["check:perp_ohlcv_1h__no_nan_or_inf"]
    assert "2025-09-01 02:00 binance BTC/USDT:USDT: close is nan" in nan.reason
    assert store.is_tripped()


def test_clean_window_passes_every_check(local_settings, instance):
    defs = build_definitions(local_settings)
    results = run_window(defs, instance, DAY, DAY + pd.Timedelta(hours=3), train_folds=False)
    assert [(r.job, r.success) for r in results] == [("market_sources", True), ("hourly_cycle", True)]
    evals = _evaluations(instance, results[-1].run_id)
    assert {e.check_name for e in evals if not e.passed} == set()
    # market data + features/regime + carry, cascade and tail-hedge signals + the strategy registry
    # one check per asset: 4 market data, 2 features, 3 signals, the strategies, the ML predictions, 5 book
    assert len({e.check_name for e in evals}) == 16
    rules = sum(e.metadata["rules_checked"].value for e in evals if e.partition == partition_key(DAY))
    assert rules == 27 + 5 + 3 + 3 + 5 + 4 + 3 + 7  # market data, features, L1/L2/L3 signals, strategies, ML, book
    assert not KillSwitchStore(local_settings.kill_switch_url).is_tripped()
    for asset in ("universe_scan_1h", "features_1h", "regime_scores_1h"):
        assert len(instance.get_materialized_partitions(AssetKey(asset))) == 3
    from resources.storage import read_hours

    hours = pd.date_range(DAY, periods=3, freq="h")
    feats = read_hours(local_settings.storage_root, "features_1h", hours)
    assert len(feats) == 3 * 10
    assert feats["vol_7d"].notna().all()  # the 7-day warm-up was materialised first
    regimes = read_hours(local_settings.storage_root, "regime_scores_1h", hours)
    assert set(regimes["regime"]) <= {"crash", "high_vol", "trend", "range", "neutral", "unknown"}
