"""The book's record helpers sum exactly as the pandas book did: numpy's reduction and pandas' Kahan group sum."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.book.legs import array_sum, group_sums


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 40, 257])
def test_sums_equal_pandas_bit_for_bit(n):
    rng = np.random.default_rng(n)
    values = (rng.normal(size=n) * 10.0 ** rng.integers(-6, 9, size=n)).tolist()
    frame = pd.DataFrame({"k": 0, "v": values})
    assert array_sum(values) == pd.Series(values).sum()  # pairwise past eight terms, as Series.sum
    assert group_sums({"a": [(v,) for v in values]})["a"] == [frame.groupby("k")["v"].sum().iloc[0]]


def test_the_two_sums_differ_where_compensation_matters():
    values = [1.0, 1e16, -1e16]
    assert array_sum(values) == 0.0  # the 1.0 is lost, as in numpy
    assert group_sums({"a": [(v,) for v in values]})["a"] == [1.0]  # kept, as in pandas' groupby
    assert sum(values) == 0.0


def test_empty_and_nan():
    assert array_sum([]) == 0.0
    assert group_sums({}) == {}
    assert group_sums({"a": [(1.0,), (math.nan,), (2.0,)], "b": [(math.nan,)], "c": [(-0.0,)]}) == {"a": [3.0], "b": [0.0], "c": [0.0]}
    assert math.isnan(array_sum([1.0, math.nan]))  # numpy's does not


def test_several_groups_and_columns_sum_each_apart():
    rows = {"x": [(1.0, 10.0), (2.0, 20.0)], "y": [(5.0, 50.0)], "z": [(0.1, 1.0), (0.2, 2.0), (0.3, 3.0)]}
    frame = pd.DataFrame([(k, *r) for k, rs in rows.items() for r in rs], columns=["k", "a", "b"])
    want = frame.groupby("k")[["a", "b"]].sum()
    assert group_sums(rows) == {k: want.loc[k].tolist() for k in rows}
