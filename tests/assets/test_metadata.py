"""Per-hour metadata: inside one range run every hour's materialisation carries its own figures."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import BackfillPolicy, MetadataValue, asset, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.metadata import money, pct, per_hour
from resources.partitions import HOURLY
from resources.storage import HourlyParquetIOManager

START = pd.Timestamp("2025-09-01 00:00", tz="UTC")
HOURS = pd.date_range(START, periods=3, freq="h", unit="ns")
KEYS = [f"{h:%Y-%m-%d-%H:%M}" for h in HOURS]


def _frame() -> pd.DataFrame:
    # hour 0: one row, hour 1: none, hour 2: two rows
    hours = [HOURS[0], HOURS[2], HOURS[2]]
    return pd.DataFrame({"hour": hours, "venue": "binance", "symbol": "BTC/USDT:USDT", "close": [1.0, 2.0, 3.0]})


def _run(tmp_path, instance, body):
    @asset(name="toy_1h", partitions_def=HOURLY, io_manager_key="hourly_parquet", backfill_policy=BackfillPolicy.single_run())
    def toy(context) -> pd.DataFrame:
        df = _frame()
        body(context, df)
        return df

    return materialize(
        [toy], instance=instance, resources={"hourly_parquet": HourlyParquetIOManager(root=str(tmp_path))},
        tags={ASSET_PARTITION_RANGE_START_TAG: KEYS[0], ASSET_PARTITION_RANGE_END_TAG: KEYS[-1]},
    )


def test_each_hour_of_a_range_gets_its_own_figures(tmp_path, instance):
    def body(context, df):
        per_hour(context, df, HOURS, lambda rows: {"last_close": MetadataValue.float(float(rows["close"].max()) if len(rows) else 0.0)})

    result = _run(tmp_path, instance, body)
    meta = {m.partition: m.metadata for m in result.asset_materializations_for_node("toy_1h")}
    assert {k: v["rows"].value for k, v in meta.items()} == dict(zip(KEYS, [1, 0, 2], strict=True))
    assert [meta[k]["last_close"].value for k in KEYS] == [1.0, 0.0, 3.0]
    assert all(v["root"].value == str(tmp_path / "toy_1h") for v in meta.values())  # the range-wide value


def test_metadata_for_an_hour_outside_the_run_is_refused(tmp_path, instance):
    stray = HOURS.append(pd.DatetimeIndex([START + pd.Timedelta(days=3)]))

    def body(context, df):
        per_hour(context, df.iloc[:0], stray, lambda rows: {})  # no rows: only the run's own range can refuse it

    with pytest.raises(Exception, match="outside this run"):
        _run(tmp_path, instance, body)


def test_rounding_matches_the_cli():
    assert money(98856.45516464628) == 98856.46
    assert pct(0.012345) == 1.23
    assert pct(-0.0450001) == -4.5
