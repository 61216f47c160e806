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


def _pandas_group_sums(rows: dict) -> dict:
    multi = [k for k in rows if len(rows[k]) > 1]
    labels = np.repeat(np.arange(len(multi)), [len(rows[k]) for k in multi])
    values = np.array([r for k in multi for r in rows[k]], dtype="float64")
    sums = pd.DataFrame(values).groupby(labels, sort=True).sum().to_numpy()
    return {k: sums[i] for i, k in enumerate(multi)}


@pytest.mark.parametrize("special", ["none", "nan", "inf", "nan_and_inf", "signed_zero"])
@pytest.mark.parametrize("seed", range(6))
def test_group_sums_equal_pandas_groupby_bit_for_bit_on_random_tables(special, seed):
    # pandas reduces sorted groups without NaN by np.add.reduceat and with a NaN by its Kahan loop:
    # both paths, groups of 2 to 300 rows (pairwise summation starts past eight), 1 to 4 columns
    rng = np.random.default_rng(seed)
    cols = int(rng.integers(1, 5))
    rows = {}
    for g in range(int(rng.integers(2, 30))):
        n = int(rng.choice([1, 2, 3, 8, 9, 17, 130, 300]))
        v = rng.normal(size=(n, cols)) * 10.0 ** rng.integers(-8, 12, size=(n, cols))
        u = rng.random((n, cols))
        if "nan" in special:
            v[u < 0.1] = math.nan
        if "inf" in special:
            v[u > 0.97] = math.inf
        if special == "signed_zero":
            v[u > 0.8] = -0.0
        rows[("L1", f"g{g}")] = [tuple(r) for r in v.tolist()]
    got = group_sums(rows)
    for key, want in _pandas_group_sums(rows).items():
        assert np.array(got[key]).tobytes() == want.tobytes(), key


def test_one_nan_anywhere_sends_every_group_through_the_kahan_sum():
    # [3, 1e16, -1e16, 1, 1]: reduceat's 3 + (((1e16 + -1e16) + 1) + 1) = 5.0; the Kahan loop ends at 6.0
    a = [(3.0,), (1e16,), (-1e16,), (1.0,), (1.0,)]
    for b, want in (([(1.0,), (2.0,)], 5.0), ([(1.0,), (math.nan,)], 6.0)):
        assert group_sums({"a": a, "b": b})["a"] == [want]
        assert _pandas_group_sums({"a": a, "b": b})["a"].tolist() == [want]
