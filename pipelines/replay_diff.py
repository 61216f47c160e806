"""Where two versions of an hour's rows first differ: the column, the row and both values.

Equality is exact (bit for bit for floats; NaN equals NaN, as a stored NaN read twice does),
because every asset's bytes are a pure function of its inputs: a replay that is off in the 15th
digit is a difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns that say which row a row is (printed beside a differing row), in this order.
ROW_KEYS = ("layer", "venue", "symbol", "currency", "strategy", "position", "instrument", "leg", "client_order_id")


@dataclass(frozen=True)
class FrameDiff:
    """The first difference between two frames of one (asset, hour).

    ``what``: ``columns`` (column sets or order differ), ``dtype``, ``rows`` (row counts differ and
    the common rows agree), ``value`` (a cell), ``missing`` (one side has no such hour) or ``bytes``
    (the content hashes differ but no value does: a type's width or a signed zero).
    """

    what: str
    column: str | None = None
    row: int | None = None
    stored: object = None
    replayed: object = None
    key: str = ""

    def describe(self) -> str:
        if self.what == "value":
            where = f"row {self.row}" + (f" ({self.key})" if self.key else "")
            return f"column {self.column!r}, {where}: stored {self.stored!r} | replayed {self.replayed!r}"
        if self.what == "rows":
            extra = f"; first row only one side has: {self.row}" + (f" ({self.key})" if self.key else "")
            return f"row count: stored {self.stored} | replayed {self.replayed}{extra}"
        if self.what == "dtype":
            return f"column {self.column!r} type: stored {self.stored} | replayed {self.replayed}"
        if self.what == "columns":
            return f"columns: stored {self.stored} | replayed {self.replayed}"
        if self.what == "missing":
            return f"stored: {self.stored} | replayed: {self.replayed}"
        return "content hashes differ but every value is equal (a column's width or a signed zero)"


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (``2245.29``, not ``np.float64(2245.29)``)."""
    return value.item() if isinstance(value, np.generic) else value


def row_key(frame: pd.DataFrame, row: int) -> str:
    """``venue=binance, symbol=BTC/USDT:USDT``: what identifies ``row`` of ``frame``."""
    if row >= len(frame):
        return ""
    return ", ".join(f"{c}={frame[c].iloc[row]}" for c in ROW_KEYS if c in frame.columns)


def _equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Cell by cell: equal values, or missing on both sides."""
    try:
        same = (a.to_numpy() == b.to_numpy())
        same = np.asarray(same, dtype=bool)
    except (TypeError, ValueError):  # nested values (lists) compare one by one
        same = np.array([bool(np.all(x == y)) if np.shape(x) == np.shape(y) else False
                         for x, y in zip(a, b, strict=True)], dtype=bool)
    return same | (a.isna().to_numpy() & b.isna().to_numpy())


def first_difference(stored: pd.DataFrame, replayed: pd.DataFrame) -> FrameDiff | None:
    """The first difference: columns, then each column's type, then the first differing row (its first
    differing column), then the row counts; None when both hold the same values."""
    if list(stored.columns) != list(replayed.columns):
        only_s = [c for c in stored.columns if c not in replayed.columns]
        only_r = [c for c in replayed.columns if c not in stored.columns]
        if only_s or only_r:
            return FrameDiff("columns", stored=f"only {only_s}", replayed=f"only {only_r}")
        return FrameDiff("columns", stored=list(stored.columns), replayed=list(replayed.columns))
    for c in stored.columns:
        if stored[c].dtype != replayed[c].dtype and not (len(stored) == 0 or len(replayed) == 0):
            return FrameDiff("dtype", column=c, stored=str(stored[c].dtype), replayed=str(replayed[c].dtype))
    n = min(len(stored), len(replayed))
    if n:
        a, b = stored.iloc[:n].reset_index(drop=True), replayed.iloc[:n].reset_index(drop=True)
        same = np.column_stack([_equal(a[c], b[c]) for c in a.columns])
        bad_rows = np.flatnonzero(~same.all(axis=1))
        if len(bad_rows):
            row = int(bad_rows[0])
            col = a.columns[int(np.flatnonzero(~same[row])[0])]
            return FrameDiff("value", column=col, row=row, stored=_plain(a[col].iloc[row]), replayed=_plain(b[col].iloc[row]),
                             key=row_key(a, row))
    if len(stored) != len(replayed):
        longer = stored if len(stored) > len(replayed) else replayed
        return FrameDiff("rows", row=n, stored=len(stored), replayed=len(replayed), key=row_key(longer, n))
    return None
