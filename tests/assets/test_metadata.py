"""Per-hour metadata: inside one range run every hour's materialisation carries its own figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dagster import BackfillPolicy, MetadataValue, asset, build_asset_context, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.metadata import ByHour, money, pct, per_hour
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


def _last_close(h: ByHour) -> list[dict[str, MetadataValue]]:
    return [{"last_close": MetadataValue.float(0.0 if np.isnan(c) else float(c))} for c in h.max(h.frame["close"])]


def test_each_hour_of_a_range_gets_its_own_figures(tmp_path, instance):
    def body(context, df):
        per_hour(context, df, HOURS, _last_close)

    result = _run(tmp_path, instance, body)
    meta = {m.partition: m.metadata for m in result.asset_materializations_for_node("toy_1h")}
    assert {k: v["rows"].value for k, v in meta.items()} == dict(zip(KEYS, [1, 0, 2], strict=True))
    assert [meta[k]["last_close"].value for k in KEYS] == [1.0, 0.0, 3.0]
    assert all(v["root"].value == str(tmp_path / "toy_1h") for v in meta.values())  # the range-wide value


def test_metadata_for_an_hour_outside_the_run_is_refused(tmp_path, instance):
    stray = HOURS.append(pd.DatetimeIndex([START + pd.Timedelta(days=3)]))

    def body(context, df):
        per_hour(context, df.iloc[:0], stray, lambda h: [{}] * len(h))  # no rows: only the run's own range can refuse it

    with pytest.raises(Exception, match="outside this run"):
        _run(tmp_path, instance, body)


def test_an_asset_called_directly_gets_its_hours_summary_as_output_metadata(tmp_path):
    @asset(name="toy_1h", partitions_def=HOURLY)
    def toy(context) -> pd.DataFrame:
        df = _frame().iloc[1:]  # the third hour's two rows
        per_hour(context, df, HOURS[2:], _last_close)
        return df

    with build_asset_context(partition_key=KEYS[2]) as ctx:
        toy(ctx)
        meta = ctx.get_output_metadata("result")
    assert meta == {"rows": 2, "last_close": MetadataValue.float(3.0)}


def _shuffled() -> pd.DataFrame:
    """Hours 0 and 2 interleaved (hour 1 has no rows); each hour's rows in the order its figures must follow."""
    return pd.DataFrame({
        "hour": [HOURS[2], HOURS[0], HOURS[0], HOURS[2], HOURS[0], HOURS[0], HOURS[2]],
        "venue": ["bybit", "okx", "binance", "bybit", "okx", None, "binance"],
        "symbol": ["ETH", "BTC", "BTC", "ETH", "BTC", "BTC", "SOL"],
        "value": [np.nan, 2.0, 5.0, 4.0, np.nan, 1.0, np.nan],
    })


def test_rows_are_grouped_by_hour_keeping_each_hours_own_order():
    h = ByHour.split(_shuffled(), HOURS)
    assert h.rows.tolist() == [4, 0, 3]
    assert h.codes.tolist() == [0, 0, 0, 0, 2, 2, 2]
    np.testing.assert_array_equal(h.frame["value"], [2.0, 5.0, np.nan, 1.0, np.nan, 4.0, np.nan])
    assert h.frame["venue"].tolist()[4:] == ["bybit", "bybit", "binance"]
    assert h.frame.index.tolist() == list(range(7))


def test_every_helper_answers_for_every_hour_and_an_hour_with_no_rows_gets_nothing():
    h = ByHour.split(_shuffled(), HOURS)
    value = h.frame["value"]
    assert h.count(value.notna()).tolist() == [3, 0, 1]
    assert h.last(value.notna()).tolist() == [3, -1, 5]  # positions in h.frame: hour 0's 1.0, hour 2's 4.0
    assert h.last(value > 100).tolist() == [-1, -1, -1]
    assert h.last(h.frame["venue"] == "okx").tolist() == [2, -1, -1]  # never an earlier hour's row
    np.testing.assert_array_equal(h.max(value), [5.0, np.nan, 4.0])
    np.testing.assert_array_equal(h.max(value, h.frame["venue"] == "okx"), [2.0, np.nan, np.nan])
    # most frequent first, ties in order of first appearance, a missing venue not counted
    assert h.value_counts("venue") == [{"okx": 2, "binance": 1}, {}, {"bybit": 2, "binance": 1}]
    assert list(h.value_counts("venue", value.notna())[0]) == ["okx", "binance"]  # a tie: okx came first
    assert list(h.value_counts("venue", value.isna())[2]) == ["bybit", "binance"]  # first in ITS hour
    assert h.value_counts("symbol", value.notna()) == [{"BTC": 3}, {}, {"ETH": 1}]
    assert h.unique("venue") == [["binance", "okx"], [], ["binance", "bybit"]]
    assert h.distinct(["venue", "symbol"]).tolist() == [3, 0, 2]  # (okx, BTC) twice; a missing venue is one


def test_the_whole_frame_is_one_group():
    h = ByHour.whole(_shuffled())
    assert h.rows.tolist() == [7]
    assert h.value_counts("symbol") == [{"BTC": 4, "ETH": 2, "SOL": 1}]
    assert h.last(h.frame["venue"] == "bybit").tolist() == [3]


def test_a_row_outside_the_hours_is_refused():
    with pytest.raises(ValueError, match="lies outside the window"):
        ByHour.split(_shuffled(), HOURS[:2])


def test_rounding_matches_the_cli():
    assert money(98856.45516464628) == 98856.46
    assert pct(0.012345) == 1.23
    assert pct(-0.0450001) == -4.5
