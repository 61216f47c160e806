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

import numpy as np
import pandas as pd

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
    return [Leg(**dict(zip(LEG_FIELDS, row, strict=True))) for row in zip(*(_values(df[name]) for name in LEG_FIELDS), strict=True)]


def records_from_frame(df: pd.DataFrame) -> list[dict]:
    """Rows of ``df`` as dicts of Python scalars (timestamps as ``pd.Timestamp``, missing ones ``NaT``)."""
    if df.empty:
        return []
    names = list(df.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*(_values(df[name]) for name in names), strict=True)]


def _values(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return [_NAT if pd.isna(v) else pd.Timestamp(v) for v in s.tolist()]
    return s.tolist()


def frame_of(rows: list[Mapping], schema: Mapping[str, str], *, name: str) -> pd.DataFrame:
    """Rows (dicts with at least the schema's columns) as a table conformed to ``schema``."""
    if not rows:
        return empty(schema)
    data = {c: [r[c] for r in rows] for c in schema}
    return conform(pd.DataFrame(data), schema, name=name)


def array_sum(values: Iterable[float]) -> float:
    """numpy's sum of ``values`` in order (what ``Series.sum`` / ``ndarray.sum`` return); 0.0 when empty."""
    arr = np.fromiter(values, dtype="float64")
    return float(arr.sum()) if len(arr) else 0.0


def group_sums(groups: Mapping[object, list[Sequence[float]]]) -> dict[object, list[float]]:
    """pandas' ``groupby().sum()`` of each group's rows (each row a tuple of columns), column by column.

    pandas' grouped float sum is compensated in its own way (no plain or Kahan loop here
    reproduces it bit for bit), so a group of several rows is summed by pandas itself — all such
    groups of a call in one ``groupby`` — and a group of one row is that row (``0.0 + x``: the
    sum's start; a NaN counts as nothing, as pandas skips it).
    """
    out: dict[object, list[float]] = {}
    multi = []
    for key, rows in groups.items():
        if len(rows) == 1:
            out[key] = [0.0 + x if x == x else 0.0 for x in rows[0]]
        else:
            multi.append(key)
    if multi:
        labels = np.repeat(np.arange(len(multi)), [len(groups[k]) for k in multi])
        values = np.array([row for k in multi for row in groups[k]], dtype="float64")
        sums = pd.DataFrame(values).groupby(labels, sort=True).sum().to_numpy()
        out.update({key: sums[i].tolist() for i, key in enumerate(multi)})
    return out


def is_missing(value: object) -> bool:
    """None, NaN or NaT."""
    return value is None or value is _NAT or (isinstance(value, float) and math.isnan(value)) or (
        not isinstance(value, str | bool | int | float) and pd.isna(value))
