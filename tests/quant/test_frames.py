"""Column contracts (``quant.frames.conform``): naive stamps refused, bad cells named, nothing silently cast."""

from __future__ import annotations

import pandas as pd
import pytest

from quant import frames

SCHEMA = {"ts": frames.UTC_NS, "close": "float64"}


def test_stamps_with_an_offset_are_converted_to_utc() -> None:
    df = pd.DataFrame({"ts": pd.to_datetime(["2026-02-01 09:00+09:00"]), "close": ["101.5"]})
    got = frames.conform(df, SCHEMA, name="t")
    assert got["ts"].tolist() == [pd.Timestamp("2026-02-01 00:00", tz="UTC")]
    assert got["close"].tolist() == [101.5]
    assert str(got["ts"].dtype) == frames.UTC_NS


def test_naive_stamps_are_refused_not_assumed_utc() -> None:
    df = pd.DataFrame({"ts": pd.to_datetime(["2026-02-01 09:00"]), "close": [1.0]})
    with pytest.raises(frames.SourceFrameError, match="replay.candles: column 'ts' has no time zone"):
        frames.conform(df, SCHEMA, name="replay.candles")


def test_epoch_numbers_are_refused_as_stamps() -> None:
    with pytest.raises(frames.SourceFrameError, match="holds numbers"):
        frames.conform(pd.DataFrame({"ts": [1_700_000_000_000], "close": [1.0]}), SCHEMA, name="t")


def test_an_unparsable_stamp_and_a_non_numeric_cell_are_named_with_row_and_value() -> None:
    stamps = pd.DataFrame({"ts": ["2026-02-01T00:00Z", "soon"], "close": [1.0, 2.0]})
    with pytest.raises(frames.SourceFrameError, match="column 'ts' row 1 value 'soon' is not a timestamp"):
        frames.conform(stamps, SCHEMA, name="t")
    cells = pd.DataFrame({"ts": pd.to_datetime(["2026-02-01", "2026-02-02"], utc=True), "close": ["1.0", "n/a"]})
    with pytest.raises(frames.SourceFrameError, match="column 'close' row 1 value 'n/a' is not float64"):
        frames.conform(cells, SCHEMA, name="t")


def test_a_column_without_any_stamp_is_an_empty_utc_column() -> None:
    got = frames.conform(pd.DataFrame({"ts": [None, None], "close": [1.0, 2.0]}), SCHEMA, name="t")
    assert got["ts"].isna().all()
    assert str(got["ts"].dtype) == frames.UTC_NS


def test_missing_columns_are_named() -> None:
    with pytest.raises(frames.SourceFrameError, match=r"missing columns \['close'\]"):
        frames.conform(pd.DataFrame({"ts": pd.to_datetime(["2026-02-01"], utc=True)}), SCHEMA, name="t")


def test_stamps_with_different_offsets_are_all_read_as_utc() -> None:
    df = pd.DataFrame({"ts": ["2026-02-01T09:00+09:00", "2026-02-01T01:00Z"], "close": [1.0, 2.0]})
    got = frames.conform(df, SCHEMA, name="t")
    assert got["ts"].tolist() == [pd.Timestamp("2026-02-01 00:00", tz="UTC"), pd.Timestamp("2026-02-01 01:00", tz="UTC")]


def test_one_naive_stamp_among_aware_ones_is_named() -> None:
    df = pd.DataFrame({"ts": ["2026-02-01T00:00Z", "2026-02-01 01:00"], "close": [1.0, 2.0]})
    with pytest.raises(frames.SourceFrameError, match="column 'ts' row 1 value '2026-02-01 01:00' has no time zone"):
        frames.conform(df, SCHEMA, name="t")
