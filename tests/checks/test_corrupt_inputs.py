"""Corrupt market input, class by class, on a copy of the real 2026 sample (the cascade weeks, with
open interest): each class is caught by its named rule in its hour, with a message a person can
act on, no order is approved from that hour, the kill switch records the rule, and the hours
before the first bad hour are still materialised through the whole graph (the backfill keeps them).

The spine's eight classes live in ``test_corrupted_sample.py``; source-level classes (files, stamps,
columns) in ``test_corrupt_sources.py``. Together they cover the classes listed in the README.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from resources.exchange.replay import CANDLES_FILES, FUNDING_FILES, OI_FILE
from resources.kill_switch import KillSwitchStore
from resources.market import MarketData
from resources.storage import MissingPartitionError, read_hours
from tests.conftest import SAMPLE_DIR, settings_under

DAY = pd.Timestamp("2026-02-05", tz="UTC")
HOURS = 48
FIRST_BAD = 6


def _at(hour: int) -> pd.Timestamp:
    return DAY + pd.Timedelta(hours=hour)


def _corrupt_candles(path: str) -> None:
    c = pd.read_parquet(path)

    def row(venue: str | None, coin: str, hour: int) -> pd.Series:
        sel = (c["coin"] == coin) & (c["timestamp"] == _at(hour))
        return sel if venue is None else sel & (c["venue"] == venue)

    c.loc[row("binance", "BTC", 6), "c"] = np.nan
    c.loc[row("bybit", "ETH", 7), "h"] = np.inf
    c.loc[row("bybit", "DOGE", 9), "l"] = 0.0
    c.loc[row("binance", "HYPE", 10), "o"] = -25.0
    bar = row("bybit", "BTC", 11)
    c.loc[bar, "h"] = c.loc[bar, "c"] * 0.999  # high below the close
    bar = row("binance", "ETH", 12)
    c.loc[bar, "l"] = c.loc[bar, "o"] * 1.001  # low above the open
    c = pd.concat([c, c[row("bybit", "SOL", 13)]], ignore_index=True)  # the same bar twice
    twin = c[row("binance", "DOGE", 14)].copy()
    twin["c"] *= 1.005
    c = pd.concat([c, twin], ignore_index=True)  # two different bars for one hour
    c = c[~((c["venue"] == "bybit") & (c["timestamp"] == _at(15)))]  # a whole venue missing for an hour
    bar = row("binance", "BTC", 16)
    c.loc[bar, "c"] *= 1.10  # one venue 10% off in a calm hour
    c.loc[bar, "h"] = np.maximum(c.loc[bar, "h"], c.loc[bar, "c"])
    c.loc[row(None, "ETH", 18), ["o", "h", "l", "c"]] *= 100  # a coherent bad price on both venues
    spike = row(None, "SOL", 20)
    c.loc[spike, ["h", "c"]] *= 100  # a close-only spike on both venues
    c.loc[row("binance", "DOGE", 22), "timestamp"] = _at(22) + pd.Timedelta(minutes=30)  # stamped at :30
    c.loc[row("bybit", "HYPE", 23), "v"] = 0.0  # the price moved, nothing traded
    c.loc[row("bybit", "ETH", 25), "v"] = np.nan
    bar = row("binance", "SOL", 26)
    c.loc[bar, ["h", "l"]] = c.loc[bar, ["l", "h"]].to_numpy()  # an inverted bar: high < low
    c.loc[row("binance", "HYPE", 27), "v"] = -3.0
    bar = row(None, "DOGE", 28)
    c.loc[bar, ["h", "c"]] *= 1.6  # a close x1.6 on both venues: inside the old x1.65 floor
    c.reset_index(drop=True).to_parquet(path)


def _corrupt_funding(path: str) -> None:
    f = pd.read_parquet(path)

    def hl(coin: str, hour: int) -> pd.Series:
        return (f["venue"] == "hyperliquid") & (f["coin"] == coin) & (f["timestamp"].dt.floor("h") == _at(hour))

    f.loc[hl("BTC", 33), "timestamp"] = _at(33) + pd.Timedelta(minutes=17)  # off the hourly grid
    f.loc[hl("ETH", 34), "funding_rate"] = 0.5
    f.loc[hl("SOL", 35), "funding_rate"] = np.nan
    twin = f[hl("DOGE", 36)].copy()
    twin["funding_rate"] *= 3
    f = pd.concat([f, twin], ignore_index=True)  # a conflicting second settlement
    f = pd.concat([f, f[hl("HYPE", 37)]], ignore_index=True)  # the same settlement twice
    f.reset_index(drop=True).to_parquet(path)


def _corrupt_oi(path: str) -> None:
    o = pd.read_parquet(path)

    def row(coin: str, hour: int) -> pd.Series:
        return (o["coin"] == coin) & (o["timestamp"] == _at(hour))

    o.loc[row("BTC", 38), "oi_usd"] = -1.0e9
    o.loc[row("ETH", 39), "oi_usd"] = 0.0
    o.loc[row("SOL", 40), "oi_usd"] = np.nan
    o = o[~row("DOGE", 41)]
    o = pd.concat([o, o[row("HYPE", 42)]], ignore_index=True)
    o.loc[row("BTC", 44), "oi_usd"] *= 50  # a unit error: ×50 in an hour
    o.reset_index(drop=True).to_parquet(path)


#: (class, rule, hour, words of the message)
CASES = [
    ("NaN close", "perp_ohlcv_1h__no_nan_or_inf", 6, "binance BTC/USDT:USDT: close is nan"),
    ("infinite high", "perp_ohlcv_1h__no_nan_or_inf", 7, "high is inf"),
    ("zero low", "perp_ohlcv_1h__prices_positive", 9, "low is 0.0 (must be > 0)"),
    ("negative open", "perp_ohlcv_1h__prices_positive", 10, "open is -25.0 (must be > 0)"),
    ("high below the close", "perp_ohlcv_1h__high_bounds_body", 11, "bybit BTC/USDT:USDT: high"),
    ("low above the open", "perp_ohlcv_1h__low_bounds_body", 12, "binance ETH/USDT:USDT: open"),
    ("the same bar twice", "perp_ohlcv_1h__unique_rows", 13, "duplicate row for venue=bybit, symbol=SOL/USDT:USDT"),
    ("two different bars for one hour", "perp_ohlcv_1h__unique_rows", 14, "venue=binance, symbol=DOGE/USDT:USDT"),
    ("a venue missing for an hour", "perp_ohlcv_1h__no_missing_hours", 15, "no 1h candle for 2026-02-05 15:00 UTC"),
    ("one venue 10% off", "perp_ohlcv_1h__cross_venue_agreement", 16, "BTC closes differ by 9.99% across venues (limit 2.00%"),
    ("coherent x100 price on both venues", "perp_ohlcv_1h__continuity", 18, "gap +9900.00%"),
    ("close-only x100 spike on both venues", "perp_ohlcv_1h__continuity", 20, "closes at 7877 after 81.63: jump +9549.64%"),
    ("bar stamped at minute 30", "perp_ohlcv_1h__bar_on_hour", 22, "bar stamped 2026-02-05 22:30:00 UTC is not on its hour"),
    ("zero volume while the price moves", "perp_ohlcv_1h__volume_when_moving", 23, "volume 0 while the price ranged"),
    ("NaN volume", "perp_ohlcv_1h__no_nan_or_inf", 25, "volume is nan"),
    ("inverted bar (high < low)", "perp_ohlcv_1h__high_bounds_body", 26, "binance SOL/USDT:USDT: high"),
    ("negative volume (2026)", "perp_ohlcv_1h__volume_non_negative", 27, "volume is -3.0 (must be >= 0)"),
    ("coherent close x1.6 on both venues", "perp_ohlcv_1h__continuity", 28, "DOGE/USDT:USDT: closes at"),
    ("funding off the hourly grid", "funding_settlements__on_grid", 33, "is not on the 1h grid"),
    ("funding of 0.5 per interval", "funding_settlements__within_bounds", 34, "funding rate 0.5 per interval"),
    ("NaN funding rate", "funding_settlements__no_nan_or_inf", 35, "funding_rate is nan"),
    ("conflicting duplicate settlement (3x)", "funding_settlements__unique_rows", 36, "symbol=DOGE/USDC:USDC"),
    ("the same settlement twice", "funding_settlements__unique_rows", 37, "symbol=HYPE/USDC:USDC"),
    ("negative open interest", "open_interest_1h__oi_positive", 38, "oi_usd is -1000000000.0 (must be > 0)"),
    ("zero open interest", "open_interest_1h__oi_positive", 39, "oi_usd is 0.0 (must be > 0)"),
    ("NaN open interest", "open_interest_1h__no_nan_or_inf", 40, "oi_usd is nan"),
    ("open interest missing for an hour", "open_interest_1h__no_missing_hours", 41, "no open interest for 2026-02-06 17:00 UTC"),
    ("open interest twice for an hour", "open_interest_1h__unique_rows", 42, "symbol=HYPE/USDC:USDC"),
    ("open interest x50 in an hour", "open_interest_1h__no_jump", 44, "limit x2 either way"),
]


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory):
    from dagster import DagsterInstance


    root = tmp_path_factory.mktemp("corrupt2026")
    sample = root / "sample"
    shutil.copytree(SAMPLE_DIR, sample, ignore=shutil.ignore_patterns("trades", "binance_raw", "deribit"))
    _corrupt_candles(str(sample / CANDLES_FILES[1]))
    _corrupt_funding(str(sample / FUNDING_FILES[1]))
    _corrupt_oi(str(sample / OI_FILE))
    s = settings_under(root)
    defs = build_definitions(s, overrides={"market_data": MarketData(kind="replay", sample_dir=str(sample))})
    with DagsterInstance.ephemeral() as instance:
        results = run_window(defs, instance, DAY, _at(HOURS), chunk_hours=HOURS, train_folds=False)
        yield results, instance, KillSwitchStore(s.kill_switch_url), s.storage_root


def _per_hour(instance, run_id: str, asset: str) -> dict[str, object]:
    out = {}
    for r in instance.all_logs(run_id):
        ev = r.dagster_event
        if ev and ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if data.check_name == f"{asset}__quality" and data.partition is not None:
                out[data.partition] = data
    return out


def test_at_least_forty_classes_are_covered_with_the_spine_and_source_suites() -> None:
    from tests.checks import test_corrupt_sources, test_corrupted_sample

    classes = {c[0] for c in CASES} | {c[0] for c in test_corrupted_sample.CASES} | set(test_corrupt_sources.CLASSES)
    assert len(classes) >= 40, sorted(classes)


@pytest.mark.parametrize(("fault", "check", "hour", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_class_is_caught_by_its_rule_in_its_hour(corrupted, fault, check, hour, message):
    results, instance, store, storage = corrupted
    failed = next(r for r in results if r.job == "hourly_cycle" and not r.success and not r.kept_before_failure)
    asset, rule = check.split("__", 1)
    evals = _per_hour(instance, failed.run_id, asset)
    key = _at(hour).strftime("%Y-%m-%d-%H:%M")
    assert len(evals) == HOURS
    got = evals[key]
    assert not got.passed, f"{check} passed at {key} despite {fault}"
    assert rule in got.metadata["failed_rules"].value
    assert message in got.metadata["violations"].value, got.metadata["violations"].value
    assert f"check:{check}" in {t.source for t in store.active()}
    # no order from that hour: the book never ran on it (nor on any hour after the first bad one),
    # while the hours before the first bad one were kept through the book (next test)
    with pytest.raises(MissingPartitionError):
        read_hours(storage, "order_intents_1h", pd.DatetimeIndex([_at(hour)]))


def test_the_hours_before_the_first_bad_hour_are_kept_through_the_whole_graph(corrupted):
    results, _, store, storage = corrupted
    jobs = [(r.job, r.success, r.kept_before_failure) for r in results]
    assert jobs == [("market_sources", True, False), ("hourly_cycle", False, False), ("hourly_cycle", True, True)]
    failed, kept = results[1], results[2]
    assert failed.first_failed_hour == _at(FIRST_BAD)  # the summary names the hour that stopped the run
    assert (kept.start, kept.end) == (DAY.strftime("%Y-%m-%d-%H:%M"), _at(FIRST_BAD - 1).strftime("%Y-%m-%d-%H:%M"))
    ledger = read_hours(storage, "ledger_1h", pd.date_range(DAY, _at(FIRST_BAD - 1), freq="h"))
    assert set(ledger["hour"]) == set(pd.date_range(DAY, _at(FIRST_BAD - 1), freq="h"))
    with pytest.raises(MissingPartitionError):
        read_hours(storage, "ledger_1h", pd.DatetimeIndex([_at(FIRST_BAD)]))
    assert store.is_tripped()


def test_a_clean_hour_of_the_corrupted_window_passes(corrupted):
    results, instance, _, _ = corrupted
    failed = results[1]
    clean = _at(47).strftime("%Y-%m-%d-%H:%M")
    for asset in ("perp_ohlcv_1h", "funding_settlements", "open_interest_1h"):
        assert _per_hour(instance, failed.run_id, asset)[clean].passed, asset
