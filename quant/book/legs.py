"""The book's state as plain records: held legs, working intents and ledger rows, with their table forms.

The book steps hour after hour; building pandas frames inside every hour cost ~130 ms of
overhead per hour for a handful of numbers. Inside a range the state is therefore plain Python
records (a :class:`Leg` per held leg, a dict per intent, fill and ledger row) and tables are built
once per range (:func:`frame_of`), in the schemas of ``quant.book.params``.

Sums are taken exactly as the tables' pandas code took them, so a range computed here equals the
hour-by-hour tables bit for bit: :func:`array_sum` is numpy's reduction (pairwise past eight
terms; what ``Series.sum`` does) and :func:`group_sums` pandas' own ``groupby().sum()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter

import numpy as np
import pandas as pd
from numba import njit

from quant.book.params import POSITIONS
from quant.frames import conform, empty

#: Fields of a held leg: the positions table's columns without ``hour``.
LEG_FIELDS = tuple(c for c in POSITIONS if c != "hour")
_NAT = pd.NaT


class Leg:
    """One held leg (a row of ``positions_1h`` without its hour); money in USD, quantities signed."""

    __slots__ = LEG_FIELDS

    def __init__(self, **values: object) -> None:
        for name in LEG_FIELDS:
            setattr(self, name, values[name])

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(layer, venue, instrument, leg): ``quant.book.params.LEG_KEY``."""
        return (self.layer, self.venue, self.instrument, self.leg)

    def copy(self) -> Leg:
        return Leg(**{name: getattr(self, name) for name in LEG_FIELDS})


def legs_from_frame(df: pd.DataFrame) -> list[Leg]:
    """Legs from a positions table (its ``hour`` column ignored), in row order."""
    if df.empty:
        return []
    return [Leg(**dict(zip(LEG_FIELDS, row, strict=True))) for row in zip(*(column_values(df[name]) for name in LEG_FIELDS), strict=True)]


def records_from_frame(df: pd.DataFrame) -> list[dict]:
    """Rows of ``df`` as dicts of Python scalars (timestamps as ``pd.Timestamp``, missing ones ``NaT``)."""
    if df.empty:
        return []
    names = list(df.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*(column_values(df[name]) for name in names), strict=True)]


def column_values(s: pd.Series) -> list:
    """A column's values as Python scalars (timestamps as ``pd.Timestamp``, missing ones ``NaT``)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return [_NAT if pd.isna(v) else pd.Timestamp(v) for v in s.tolist()]
    if isinstance(s.dtype, pd.StringDtype):
        return string_values(s)
    return s.tolist()


def string_values(s: pd.Series) -> list:
    """``s.tolist()`` of a string column, through its distinct values: an Arrow-backed ``str``
    column's own ``tolist`` boxes one element at a time (~4 µs each)."""
    codes, uniques = pd.factorize(s)
    lookup = np.array([*uniques.tolist(), s.dtype.na_value], dtype=object)  # code −1 (missing) -> the last
    return lookup[codes].tolist()


def frame_of(rows: list[Mapping], schema: Mapping[str, str], *, name: str) -> pd.DataFrame:
    """Rows (dicts with at least the schema's columns) as a table conformed to ``schema``."""
    if not rows:
        return empty(schema)
    columns = zip(*map(itemgetter(*schema), rows), strict=True) if len(schema) > 1 else ([r[c] for r in rows] for c in schema)
    data = {c: list(values) for c, values in zip(schema, columns, strict=True)}
    return conform(pd.DataFrame(data), schema, name=name)


def frame_of_values(fields: Sequence[str], hours: list[tuple[pd.Timestamp, list[tuple]]], schema: Mapping[str, str], *,
                    name: str) -> pd.DataFrame:
    """Rows given as value tuples (``fields`` order) per hour as a table conformed to ``schema`` (its ``hour`` the hour's):
    :func:`frame_of` of the same rows as dicts, without a dict per row."""
    rows = [row for _, values in hours for row in values]
    if not rows:
        return empty(schema)
    data = {f: list(col) for f, col in zip(fields, zip(*rows, strict=True), strict=True)}
    data["hour"] = [h for h, values in hours for _ in values]
    return conform(pd.DataFrame(data), schema, name=name)


def array_sum(values: Iterable[float]) -> float:
    """numpy's sum of ``values`` in order (what ``Series.sum`` / ``ndarray.sum`` return); 0.0 when empty."""
    arr = np.fromiter(values, dtype="float64")
    return float(arr.sum()) if len(arr) else 0.0


def group_sums(groups: Mapping[object, list[Sequence[float]]]) -> dict[object, list[float]]:
    """pandas' ``groupby().sum()`` of each group's rows (each row a tuple of columns), column by column.

    What ``pd.DataFrame(rows).groupby(labels, sort=True).sum()`` returns for the groups of several
    rows (labels sorted, as here), without building a frame each call: pandas (3.x) reduces
    sorted groups with ``np.add.reduceat`` over its (columns × rows) block when no value is NaN,
    and otherwise with its Cython Kahan loop that skips NaN (:func:`_kahan_group_sums`). A group
    of one row is that row (``0.0 + x``: the sum's start; a NaN counts as nothing, as pandas
    skips it). ``tests/quant/book/test_legs.py`` holds this to pandas itself on random tables.
    """
    out: dict[object, list[float]] = {}
    multi = []
    for key, rows in groups.items():
        if len(rows) == 1:
            out[key] = [0.0 + x if x == x else 0.0 for x in rows[0]]
        else:
            multi.append(key)
    if multi:
        sizes = [len(groups[k]) for k in multi]
        values = np.array([row for k in multi for row in groups[k]], dtype="float64")
        starts = np.zeros(len(multi), dtype=np.intp)
        np.cumsum(sizes[:-1], out=starts[1:])
        if np.isnan(values).any():
            sums = _kahan_group_sums(values, starts, np.asarray(sizes, dtype=np.intp))
        else:  # pandas' block is (columns × rows), C-ordered, reduced along the rows
            sums = np.add.reduceat(np.ascontiguousarray(values.T), starts, axis=1).T
        out.update({key: sums[i].tolist() for i, key in enumerate(multi)})
    return out


@njit(cache=True)
def _kahan_group_sums(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """pandas' Cython ``group_sum``: a Kahan sum per (group, column) in row order, NaN skipped,
    the compensation reset where an infinity made it NaN (pandas GH#53606)."""
    out = np.zeros((starts.shape[0], values.shape[1]))
    for g in range(starts.shape[0]):
        for j in range(values.shape[1]):
            total = 0.0
            comp = 0.0
            for i in range(starts[g], starts[g] + sizes[g]):
                val = values[i, j]
                if val == val:
                    y = val - comp
                    t = total + y
                    comp = t - total - y
                    if comp != comp:
                        comp = 0.0
                    total = t
            out[g, j] = total
    return out


def is_missing(value: object) -> bool:
    """None, NaN or NaT."""
    return value is None or value is _NAT or (isinstance(value, float) and math.isnan(value)) or (
        not isinstance(value, str | bool | int | float) and pd.isna(value))
