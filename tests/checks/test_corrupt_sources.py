"""Corrupt sources: files, stamps and columns that cannot be read as the contract says.

Each class fails the asset that reads that source (and only it), with a summary line naming the
file, the column and the value; a market-data source failure trips the kill switch
(``source:<asset>``); an options problem holds L3 only (its rows say why) while L1 and L2 go on.
Row-level classes are in ``test_corrupt_inputs.py`` and ``test_corrupted_sample.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, build_asset_context

from assets.signals import tail_hedge_signals_1h
from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from quant.options.chain import MAX_PLAUSIBLE_IV, parse_book_summary
from quant.options.strangle import select_strangle
from resources.exchange.replay import CANDLES_FILES, FUNDING_FILES, OI_FILE
from resources.exchange.replay_options import CHAIN_FILE
from resources.kill_switch import KillSwitch, KillSwitchStore
from resources.market import MarketData, MarketUniverse, OptionsData
from resources.storage import HourlyParquetIOManager, day_path
from tests.conftest import SAMPLE_DIR, run_direct, settings_under

HOUR = pd.Timestamp("2026-02-10 12:00", tz="UTC")

CLASSES = [
    "naive local-time candle stamps",
    "non-numeric cell in the candles file",
    "candles file without its volume column",
    "truncated candles file",
    "non-numeric funding rate file (candles and open interest go on)",
    "truncated open-interest file (candles and funding go on)",
    "zero-byte stored day file",
    "truncated stored day file",
    "conflicting duplicate settlement across two files",
    "source revised an hour already stored",
    "options chain with only expired options",
    "options chain with an implausible implied vol",
    "options chain file unreadable",
]


def _copy(tmp_path: Path) -> Path:
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, sample, ignore=shutil.ignore_patterns("trades", "binance_raw"))
    return sample


def _run(tmp_path: Path, sample: Path, start: pd.Timestamp = HOUR, hours: int = 1, job: str = "hourly_cycle"):
    s = settings_under(tmp_path)
    defs = build_definitions(s, overrides={"market_data": MarketData(kind="replay", sample_dir=str(sample))})
    instance = DagsterInstance.ephemeral()
    results = run_window(defs, instance, start, start + pd.Timedelta(hours=hours), job_name=job, warmup_hours=0, train_folds=False)
    return results, instance, KillSwitchStore(s.kill_switch_url), s.storage_root


def _source_failed(tmp_path: Path, sample: Path, asset: str, *words: str):
    results, instance, store, _ = _run(tmp_path, sample)
    (run,) = results
    assert not run.success
    assert f"{asset}: {asset} could not read its source for {partition_key(HOUR)}" in run.error
    for w in words:
        assert w in run.error, run.error
    assert "Error occurred while executing" not in run.error
    assert f"source:{asset}" in {t.source for t in store.active()}
    return instance


def _rewrite(path: Path, fn) -> None:
    df = pd.read_parquet(path)
    fn(df).to_parquet(path)


def test_naive_local_time_stamps_are_refused_naming_the_column(tmp_path):
    sample = _copy(tmp_path)
    for f in CANDLES_FILES:  # Tokyo wall-clock times written without their zone
        _rewrite(sample / f, lambda d: d.assign(timestamp=d["timestamp"].dt.tz_convert("Asia/Tokyo").dt.tz_localize(None)))
    _source_failed(tmp_path, sample, "perp_ohlcv_1h", CANDLES_FILES[1], "column 'ts' has no time zone",
                   "a naive local time would shift the feed")


def test_a_non_numeric_cell_is_named_with_its_column_and_value(tmp_path):
    sample = _copy(tmp_path)
    for f in CANDLES_FILES:
        def text(d):
            c = d["c"].astype(str)
            c.iloc[5] = "n/a"
            return d.assign(c=c)
        _rewrite(sample / f, text)
    _source_failed(tmp_path, sample, "perp_ohlcv_1h", f"{CANDLES_FILES[0]}: column 'c' must hold numbers", "row 5 is 'n/a'")


def test_a_missing_column_is_named(tmp_path):
    sample = _copy(tmp_path)
    for f in CANDLES_FILES:
        _rewrite(sample / f, lambda d: d.drop(columns=["v"]))
    _source_failed(tmp_path, sample, "perp_ohlcv_1h", f"candles in {CANDLES_FILES[0]}", "missing columns ['volume']")


def test_a_truncated_candles_file_is_named_and_only_candles_fail(tmp_path):
    sample = _copy(tmp_path)
    path = sample / CANDLES_FILES[1]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    instance = _source_failed(tmp_path, sample, "perp_ohlcv_1h", str(path), "is not a readable Parquet file")
    # one bad candles file fails the candles only: funding and open interest were read and stored
    for other in ("funding_settlements", "open_interest_1h"):
        assert partition_key(HOUR) in instance.get_materialized_partitions(AssetKey(other)), other


def test_a_non_numeric_funding_file_fails_funding_only(tmp_path):
    sample = _copy(tmp_path)
    for f in FUNDING_FILES:
        _rewrite(sample / f, lambda d: d.assign(funding_rate=d["funding_rate"].map(lambda r: f"{r:.6%}")))
    instance = _source_failed(tmp_path, sample, "funding_settlements", f"{FUNDING_FILES[0]}: column 'funding_rate' must hold "
                              "numbers", "row 0 is '")
    for other in ("perp_ohlcv_1h", "open_interest_1h"):
        assert partition_key(HOUR) in instance.get_materialized_partitions(AssetKey(other)), other


def test_a_truncated_open_interest_file_fails_open_interest_only(tmp_path):
    sample = _copy(tmp_path)
    path = sample / OI_FILE
    path.write_bytes(path.read_bytes()[:1000])
    instance = _source_failed(tmp_path, sample, "open_interest_1h", str(path))
    for other in ("perp_ohlcv_1h", "funding_settlements"):
        assert partition_key(HOUR) in instance.get_materialized_partitions(AssetKey(other)), other


@pytest.mark.parametrize("damage", ["zero-byte", "truncated"])
def test_a_damaged_stored_day_file_is_named_and_fails_the_asset(tmp_path, damage):
    sample = _copy(tmp_path)
    first, _, _, storage = _run(tmp_path, sample, start=HOUR - pd.Timedelta(hours=1), job="market_sources")
    assert first[-1].success
    path = Path(day_path(storage, "perp_ohlcv_1h", HOUR))
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "zero-byte" else data[: len(data) // 2])
    results, _, store, _ = _run(tmp_path, sample)
    (run,) = results
    assert not run.success
    assert str(path) in run.error
    assert "source:perp_ohlcv_1h" in {t.source for t in store.active()}


def test_a_source_that_revised_a_stored_hour_stops_the_run(tmp_path):
    sample = _copy(tmp_path)
    first, _, _, _ = _run(tmp_path, sample, start=HOUR - pd.Timedelta(hours=1), job="market_sources")
    assert first[-1].success
    edited = tmp_path / "edited"
    shutil.copytree(sample, edited)
    bar = lambda d: (d["venue"] == "binance") & (d["coin"] == "ETH") & (d["timestamp"] == HOUR - pd.Timedelta(hours=1))  # noqa: E731
    _rewrite(edited / CANDLES_FILES[1], lambda d: d.assign(c=d["c"].where(~bar(d), d["c"] * 1.01)))
    _source_failed(tmp_path, edited, "perp_ohlcv_1h", "the source disagrees with the stored hour before the window (1 bar(s))",
                   "binance ETH/USDT:USDT: the source's 2026-02-10 11:00 UTC close is", "re-materialise 2026-02-10 11:00")


def test_a_conflicting_settlement_across_files_fails_unique_rows_not_file_order(tmp_path):
    sample = _copy(tmp_path)
    later = pd.read_parquet(sample / FUNDING_FILES[1])
    settle = (later["venue"] == "hyperliquid") & (later["coin"] == "BTC") & (later["timestamp"].dt.floor("h") == HOUR)
    conflict = later[settle].assign(funding_rate=later.loc[settle, "funding_rate"] * 3)
    earlier = pd.read_parquet(sample / FUNDING_FILES[0])
    pd.concat([earlier, conflict], ignore_index=True).to_parquet(sample / FUNDING_FILES[0])  # the 3x copy in the other file
    results, instance, store, _ = _run(tmp_path, sample)
    (run,) = results
    # (the copy also sits off its file's inferred grid; what matters is that it is not dropped)
    assert run.checks_failed.get("funding_settlements__unique_rows") == 1
    assert "check:funding_settlements__unique_rows" in {t.source for t in store.active()}


# -- the options chain: L3 holds, the other layers go on ------------------------------------------------


def _hedge_row(sample: Path) -> pd.Series:
    hours = pd.DatetimeIndex([HOUR])
    bars = pd.DataFrame({"hour": hours, "ts": hours, "venue": "binance", "symbol": "ETH/USDT:USDT", "close": 2500.0})
    audit = {"kill_switch": KillSwitch(url="sqlite://"), "universe": MarketUniverse(),
             "options": OptionsData(sample_dir=str(sample)), "hourly_parquet": HourlyParquetIOManager(root=str(sample / "none"))}
    with build_asset_context(partition_key=partition_key(HOUR), resources=audit) as ctx:
        return run_direct(tail_hedge_signals_1h, ctx, perp_ohlcv_1h=bars)[0].iloc[0]


def test_a_chain_of_expired_options_holds_l3_saying_why(tmp_path):
    sample = _copy(tmp_path)
    book = pd.read_csv(sample / CHAIN_FILE, index_col=0)
    book["creation_timestamp"] = int(pd.Timestamp("2025-01-01", tz="UTC").value // 1_000_000)  # after every expiry
    book.to_csv(sample / CHAIN_FILE)
    row = _hedge_row(sample)
    assert row["status"] == "chain unusable: the ETH chain of 2025-01-01 00:00:00+00:00 has no live expiry with a forward price"
    assert np.isnan(row["premium_usd"])


def test_an_unreadable_chain_file_holds_l3_naming_the_file(tmp_path):
    sample = _copy(tmp_path)
    (sample / CHAIN_FILE).write_text("instrument_name\n")
    row = _hedge_row(sample)
    assert row["status"].startswith(f"chain unusable: ValueError: {sample / CHAIN_FILE} is not a Deribit book summary")


def test_an_implausible_implied_vol_is_never_a_strangle_leg():
    book = pd.read_csv(SAMPLE_DIR / CHAIN_FILE, index_col=0)
    chosen = select_strangle(parse_book_summary(book))
    bad = book.copy()
    leg = bad["instrument_name"] == chosen.put.instrument
    bad.loc[leg, ["mark_price", "bid_price", "ask_price"]] = [0.9, 0.89, 0.91]  # 0.9 ETH for a far OTM put
    parsed = parse_book_summary(bad).quotes.set_index("instrument")
    assert np.isnan(parsed.loc[chosen.put.instrument, "iv"])  # > MAX_PLAUSIBLE_IV: no market, a bad quote
    assert MAX_PLAUSIBLE_IV == 5.0
    assert select_strangle(parse_book_summary(bad)).put.instrument != chosen.put.instrument
