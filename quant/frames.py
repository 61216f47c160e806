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


def conform(df: pd.DataFrame, schema: Mapping[str, str], *, name: str) -> pd.DataFrame:
    """Return ``df`` restricted to ``schema``'s columns, cast to its dtypes, index reset.

    Raises
    ------
    ValueError
        Naming ``name`` and the missing columns, if any column is absent.
    """
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; got {list(df.columns)}")
    out = df.loc[:, list(schema)].reset_index(drop=True)
    casts = {}
    for col, dtype in schema.items():
        if str(out[col].dtype) == dtype:
            continue  # already right: casting would only copy
        if dtype == UTC_NS:
            out[col] = pd.to_datetime(out[col], utc=True).astype(UTC_NS)
        else:
            casts[col] = dtype
    return out.astype(casts) if casts else out
