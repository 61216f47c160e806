"""Column contracts for the frames that cross the exchange edge and the asset graph.

Every exchange implementation returns these exact columns and dtypes, so the assets and the
quality checks never have to guess. Timestamps are ``datetime64[ns, UTC]``; money is USD(T).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

UTC_NS = "datetime64[ns, UTC]"

#: One row per bar. ``ts`` is the bar **open** time; ``volume`` is in base units.
CANDLES: Mapping[str, str] = {
    "ts": UTC_NS,
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
}

#: One row per realised funding settlement, raw exchange timestamp (with its jitter).
#: ``funding_rate`` is per settlement interval; ``interval_hours`` is the interval that ended at
#: this settlement (NaN where the venue did not say and it cannot be inferred).
FUNDING: Mapping[str, str] = {
    "ts": UTC_NS,
    "funding_rate": "float64",
    "interval_hours": "float64",
}

#: One row per hour: open interest in USD at ``ts``.
OPEN_INTEREST: Mapping[str, str] = {"ts": UTC_NS, "oi_usd": "float64"}

#: One row per symbol: a 24h ticker as of ``ts``.
TICKERS: Mapping[str, str] = {
    "symbol": "str",
    "ts": UTC_NS,
    "last": "float64",
    "quote_volume_24h": "float64",
}

#: One row per observation of mark and index price (either may be NaN where not published).
MARK_INDEX: Mapping[str, str] = {"ts": UTC_NS, "mark_price": "float64", "index_price": "float64"}

#: One row per public trade. ``is_buyer_maker`` True means the aggressor sold.
TRADES: Mapping[str, str] = {
    "ts": UTC_NS,
    "trade_id": "int64",
    "price": "float64",
    "qty": "float64",
    "is_buyer_maker": "bool",
}


_EMPTY: dict[tuple[tuple[str, str], ...], pd.DataFrame] = {}


def empty(schema: Mapping[str, str]) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes: the honest answer for "no data".

    Built once per schema (building one costs ~10 ms); each call gets its own copy.
    """
    key = tuple(schema.items())
    if key not in _EMPTY:
        _EMPTY[key] = pd.DataFrame({col: pd.Series(dtype=dtype) for col, dtype in schema.items()})
    return _EMPTY[key].copy()


class SourceFrameError(ValueError):
    """A frame from a source that breaks its column contract: names the source, the column and a bad value."""


def conform(df: pd.DataFrame, schema: Mapping[str, str], *, name: str) -> pd.DataFrame:
    """Return ``df`` restricted to ``schema``'s columns, cast to its dtypes, index reset.

    Timestamps must carry a time zone (converted to UTC): a naive stamp is ambiguous — local time
    read as UTC shifted a whole feed by 9 hours — so it is refused, never assumed to be UTC.

    Raises
    ------
    SourceFrameError
        Naming ``name`` and the missing columns, the naive timestamp column, or the column, row
        and value that cannot be cast.
    """
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise SourceFrameError(f"{name}: missing columns {missing}; got {list(df.columns)}")
    out = df.loc[:, list(schema)].reset_index(drop=True)
    casts = {}
    for col, dtype in schema.items():
        if str(out[col].dtype) == dtype:
            continue  # already right: casting would only copy
        if dtype == UTC_NS:
            out[col] = _utc_stamps(out[col], name, col)
        else:
            casts[col] = dtype
    if not casts:
        return out
    try:
        return out.astype(casts)
    except (TypeError, ValueError) as exc:
        raise _cast_error(out, casts, name) from exc


def _utc_stamps(values: pd.Series, name: str, col: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        raise SourceFrameError(f"{name}: column {col!r} holds numbers ({values.dtype}), expected time-zone-aware "
                               "timestamps (convert epoch milliseconds with unit='ms', utc=True)")
    try:
        parsed = pd.to_datetime(values)
    except (TypeError, ValueError) as exc:  # unparsable, or stamps with different offsets (or some naive)
        parsed = _mixed_stamps(values, name, col, exc)
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        if not parsed.notna().any():  # no stamp at all (every value missing): nothing to misread
            return pd.Series(pd.NaT, index=values.index, dtype=UTC_NS)
        first = parsed.dropna().iloc[0]
        raise SourceFrameError(f"{name}: column {col!r} has no time zone (first value {first}); stamps must be UTC or "
                               "carry their offset: a naive local time would shift the feed")
    return parsed.dt.tz_convert("UTC").astype(UTC_NS)


def _mixed_stamps(values: pd.Series, name: str, col: str, exc: Exception) -> pd.Series:
    """Stamps pandas could not parse as one: each must parse and carry an offset; then all are read as UTC."""
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            continue
        try:
            ts = pd.Timestamp(v)
        except (TypeError, ValueError):
            raise SourceFrameError(f"{name}: column {col!r} row {i} value {v!r} is not a timestamp") from exc
        if ts.tzinfo is None:
            raise SourceFrameError(f"{name}: column {col!r} row {i} value {v!r} has no time zone; stamps must be UTC "
                                   "or carry their offset: a naive local time would shift the feed") from exc
    return pd.to_datetime(values, utc=True)


def _cast_error(out: pd.DataFrame, casts: dict[str, str], name: str) -> SourceFrameError:
    """Which column, row and value broke the cast (the first one)."""
    for col, dtype in casts.items():
        try:
            out[col].astype(dtype)
        except (TypeError, ValueError):
            for i, v in enumerate(out[col]):
                try:
                    pd.Series([v]).astype(dtype)
                except (TypeError, ValueError):
                    return SourceFrameError(f"{name}: column {col!r} row {i} value {v!r} is not {dtype}")
            return SourceFrameError(f"{name}: column {col!r} cannot be cast to {dtype}")
    return SourceFrameError(f"{name}: columns {sorted(casts)} cannot be cast to {casts}")
