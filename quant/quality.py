"""Data-quality rules as pure functions: each returns the violating rows, one per problem.

A violation frame has columns ``hour, venue, symbol, detail``: the hour partition it belongs to,
the instrument, and a sentence a person understands. An empty frame means the rule passed.
Row-level rules that great-expectations expresses well (nulls, bounds, pair comparisons,
uniqueness) live in ``checks/``; the time-series rules it does not express live here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VIOLATION_COLUMNS = ["hour", "venue", "symbol", "detail"]
#: Hours a price may stay exactly flat (max(high) == min(low)) before it is called stale.
STALE_HOURS = 6
#: Smallest limit of |close_a / close_b − 1| between two venues' perps in the same hour (a calm hour).
MAX_CROSS_VENUE_DIVERGENCE = 0.02
#: In a violent hour the limit widens to this share of the calmer venue's own bar range
#: (high / low − 1): closes a few seconds apart in a bar that ranged 100% can differ by several
#: percent without either being wrong. The calmer venue's range, so one venue's bad high or low
#: cannot widen the limit by itself.
CROSS_VENUE_RANGE_SHARE = 0.25
#: Largest plausible hourly ratio of open interest (USD) either way: the bundled hyperliquid hours
#: move at most 47% (|ln| 0.38, a price move included); ×2 or ÷2 in an hour is a unit or feed error.
MAX_OI_HOURLY_RATIO = 2.0
#: Largest plausible |funding rate| per settlement interval (venue caps are 0.3%–3%).
MAX_ABS_FUNDING_RATE = 0.03


_NO_VIOLATIONS = pd.DataFrame(
    {
        "hour": pd.Series(dtype="datetime64[ns, UTC]"),
        "venue": pd.Series(dtype="str"),
        "symbol": pd.Series(dtype="str"),
        "detail": pd.Series(dtype="str"),
    }
)


def no_violations() -> pd.DataFrame:
    """An empty violations frame (a copy: callers may add to it)."""
    return _NO_VIOLATIONS.copy()


def violation_rows(rows: pd.DataFrame, details: pd.Series | list[str]) -> pd.DataFrame:
    """The violations frame of a rule: ``rows``' hour, venue and symbol with one ``detail`` each."""
    if rows.empty:
        return no_violations()
    out = rows[["hour", "venue", "symbol"]].reset_index(drop=True).copy()
    out["detail"] = list(details)
    return out.astype({"venue": "str", "symbol": "str", "detail": "str"})


def concat_violations(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One violations frame from several (empty ones skipped)."""
    found = [p for p in parts if len(p)]
    if not found:
        return no_violations()
    return pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]


_violations = violation_rows  # the name the first checks were written against


def non_finite(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows where any of ``columns`` is NaN or ±inf."""
    parts = []
    for col in columns:
        values = df[col].to_numpy(dtype="float64")
        bad = ~np.isfinite(values)
        if bad.any():
            rows = df.loc[bad]
            parts.append(_violations(rows, [f"{col} is {v} (must be a finite number)" for v in values[bad]]))
    return pd.concat(parts, ignore_index=True) if parts else no_violations()


def missing_rows(df: pd.DataFrame, expected: pd.DataFrame, what: str) -> pd.DataFrame:
    """Expected (venue, symbol, hour) rows that ``df`` lacks; nothing expected, nothing missing.

    Keys are compared as text and UTC hours, whatever dtypes an empty frame was built with.
    """
    if expected.empty:
        return no_violations()
    keys = {"venue": "str", "symbol": "str", "hour": "datetime64[ns, UTC]"}
    have = df[list(keys)].astype(keys).drop_duplicates()
    merged = expected[list(keys)].astype(keys).merge(have, on=list(keys), how="left", indicator=True)
    gone = merged[merged["_merge"] == "left_only"]
    return _violations(gone, [f"no {what} for {h:%Y-%m-%d %H:00} UTC" for h in gone["hour"]])


def duplicate_keys(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every row whose ``keys`` repeat another row's."""
    dup = df[df.duplicated(keys, keep=False)]
    details = [
        "duplicate row for " + ", ".join(f"{k}={row[k]}" for k in keys)
        for _, row in dup[keys].iterrows()
    ]
    return _violations(dup, details)


def cross_venue_divergence(
    ohlcv: pd.DataFrame, expected: pd.DataFrame, min_limit: float = MAX_CROSS_VENUE_DIVERGENCE,
    range_share: float = CROSS_VENUE_RANGE_SHARE,
) -> pd.DataFrame:
    """Closes of one coin on two venues in the same hour that disagree beyond the hour's limit, or cannot be compared.

    The limit is ``max(min_limit, range_share × min over venues of (high / low − 1))``: 2% in an
    ordinary hour, wider in a crash hour whose bars ranged widely on every venue (a real dislocation
    is not corrupt data). Perps on different venues quote different symbols (USDT vs USDC) of the
    same coin; they are compared by coin. A coin the universe expects on several venues but that
    one venue lacks in an hour is a violation too ("missing on bybit"): a one-sided market cannot be
    cross-checked.
    """
    if expected.empty:
        return no_violations()
    exp = expected.assign(coin=expected["symbol"].str.split("/").str[0])
    venues_per = exp.groupby(["coin", "hour"])["venue"].transform("nunique")
    exp = exp[venues_per >= 2]
    cols = ["venue", "symbol", "coin", "hour", "close", "high", "low"]
    have = ohlcv.assign(coin=ohlcv["symbol"].str.split("/").str[0])[cols]
    merged = exp.merge(have, on=["venue", "symbol", "coin", "hour"], how="left")
    missing = merged[merged["close"].isna()]
    miss_v = _violations(missing, [f"{c} missing on {v}: cannot cross-check venues" for c, v in zip(missing["coin"], missing["venue"], strict=True)])
    present = merged.dropna(subset=["close"]).assign(bar_range=lambda d: d["high"] / d["low"] - 1.0)
    stats = present.groupby(["coin", "hour"]).agg(
        min=("close", "min"), max=("close", "max"), count=("close", "count"), calm=("bar_range", "min"))
    stats = stats[stats["count"] >= 2]
    spread = stats["max"] / stats["min"] - 1.0
    limit = np.maximum(min_limit, range_share * stats["calm"].fillna(0.0).clip(lower=0.0))
    bad = ~(spread <= limit)
    if not bad.any():
        return miss_v
    rows = present.set_index(["coin", "hour"]).loc[stats.index[bad]].reset_index()
    rows = rows.drop_duplicates(["coin", "hour"])
    details = [
        f"{c} closes differ by {spread.loc[(c, h)]:.2%} across venues (limit {limit.loc[(c, h)]:.2%}: "
        f"max({min_limit:.0%}, {range_share:g} x calmer bar range {stats['calm'].loc[(c, h)]:.2%}))"
        for c, h in zip(rows["coin"], rows["hour"], strict=True)
    ]
    return pd.concat([miss_v, _violations(rows, details)], ignore_index=True)


def oi_jumps(oi: pd.DataFrame, max_ratio: float = MAX_OI_HOURLY_RATIO) -> pd.DataFrame:
    """Hours whose open interest is more than ``max_ratio`` times (or less than 1/``max_ratio`` of) the hour before."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = oi["oi_usd"].to_numpy(dtype="float64") / oi["prev_oi_usd"].to_numpy(dtype="float64")
        bad = (ratio > max_ratio) | (ratio < 1 / max_ratio)
    rows = oi.loc[bad]
    return _violations(rows, [f"open interest {o:,.0f} USD after {p:,.0f} an hour before (x{r:.3g}, limit x{max_ratio:g} "
                              "either way)" for o, p, r in zip(rows["oi_usd"], rows["prev_oi_usd"], ratio[bad], strict=True)])


def off_hour_bars(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """Bars whose open time ``ts`` is not exactly their ``hour``: a bar stamped 00:30 is not the 00:00 bar."""
    bad = ohlcv[ohlcv["ts"] != ohlcv["hour"]]
    return _violations(bad, [f"bar stamped {t:%Y-%m-%d %H:%M:%S} UTC is not on its hour {h:%H:00}"
                             for t, h in zip(bad["ts"], bad["hour"], strict=True)])


def moved_without_volume(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """Bars whose price ranged (high > low) with zero volume: no trade, yet prices moved."""
    with np.errstate(invalid="ignore"):
        bad = ohlcv[(ohlcv["volume"] == 0) & (ohlcv["high"] > ohlcv["low"])]
    return _violations(bad, [f"volume 0 while the price ranged {lo:.8g}..{hi:.8g}"
                             for lo, hi in zip(bad["low"], bad["high"], strict=True)])


def flat_hours(ohlcv: pd.DataFrame, cap: int = STALE_HOURS) -> pd.Series:
    """Consecutive bars, ending at each row, over which the price never moved, capped at ``cap``.

    A bar is flat against the previous one when its high and low both equal the previous
    close (no trade at any other price). Input must be ONE instrument's bars sorted by ``ts``
    with no gaps; a single moving bar gives 0. The cap makes the value depend only on the last
    ``cap + 1`` bars, so an hour computes the same alone or inside a long backfill.
    """
    high, low, close = (ohlcv[c].to_numpy("float64", na_value=np.nan) for c in ("high", "low", "close"))
    flat = np.zeros(len(close), dtype=bool)
    flat[1:] = (high[1:] == low[1:]) & (low[1:] == close[:-1])
    rows = np.arange(len(close))
    last_move = np.maximum.accumulate(np.where(flat, -1, rows)) if len(rows) else rows  # the row each run starts after
    return pd.Series(np.minimum(rows - last_move, cap).astype("int64"), index=ohlcv.index)


def stale_prices(ohlcv: pd.DataFrame, max_flat_hours: int = STALE_HOURS) -> pd.DataFrame:
    """Rows whose ``flat_hours`` reached ``max_flat_hours``: a feed that stopped updating."""
    bad = ohlcv[ohlcv["flat_hours"] >= max_flat_hours]
    return _violations(
        bad, [f"price unchanged at {c} for {n}+ hours (limit {max_flat_hours})" for c, n in zip(bad["close"], bad["flat_hours"], strict=True)]
    )


def funding_off_grid(funding: pd.DataFrame) -> pd.DataFrame:
    """Settlements whose timestamp is not on their interval's grid (see ``quant.market_data.funding``)."""
    bad = funding[~funding["on_grid"].astype(bool)]
    details = [
        f"settlement stamped {r:%H:%M:%S.%f}"[:-3]
        + (f" is not on the {i:g}h grid" if np.isfinite(i) else " has no known settlement interval")
        + f" (offset {o / 1000:.3f}s)"
        for r, i, o in zip(bad["raw_ts"], bad["interval_hours"], bad["offset_ms"], strict=True)
    ]
    return _violations(bad, details)


def funding_out_of_bounds(funding: pd.DataFrame, max_abs: float = MAX_ABS_FUNDING_RATE) -> pd.DataFrame:
    """Settlements whose |rate| exceeds ``max_abs`` per interval, or is not a number."""
    rate = funding["funding_rate"]
    bad = funding[~(rate.abs() <= max_abs)]
    return _violations(bad, [f"funding rate {r} per interval outside ±{max_abs}" for r in bad["funding_rate"]])


def by_hour(violations: pd.DataFrame, hours: pd.DatetimeIndex) -> dict[pd.Timestamp, pd.DataFrame]:
    """Split violations into one frame per hour of ``hours`` (empty frames for clean hours)."""
    groups = dict(tuple(violations.groupby("hour", sort=True))) if not violations.empty else {}
    empty = no_violations()
    return {h: groups.get(h, empty) for h in hours}


def wrong_columns(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Every (hour, venue, symbol) of ``df`` when its columns are not exactly ``columns`` in order."""
    if list(df.columns) == list(columns) or df.empty:
        return no_violations()
    rows = df.drop_duplicates(["hour", "venue", "symbol"])
    return violation_rows(rows, [f"columns are {list(df.columns)}, expected {list(columns)}"] * len(rows))


def outside(
    df: pd.DataFrame, column: str, min_value: float | None = None, max_value: float | None = None, *, strict_min: bool = False
) -> pd.DataFrame:
    """Rows whose known ``column`` lies outside [min_value, max_value] (``strict_min``: must exceed min).

    NaN is not judged here: whether a value may be unknown is the asset's own ``no_nan`` rule, as in
    great-expectations' ``ExpectColumnValuesToBeBetween``, which these rules are cross-checked against.
    """
    values = df[column].to_numpy(dtype="float64")
    bad = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if min_value is not None:
            bad |= (values <= min_value) if strict_min else (values < min_value)
        if max_value is not None:
            bad |= values > max_value
    lo = "" if min_value is None else (f"> {min_value}" if strict_min else f">= {min_value}")
    hi = "" if max_value is None else f"<= {max_value}"
    bound = " and ".join(b for b in (lo, hi) if b)
    return violation_rows(df.loc[bad], [f"{column} is {v} (must be {bound})" for v in values[bad]])


def not_in_set(df: pd.DataFrame, column: str, allowed: list[str]) -> pd.DataFrame:
    """Rows whose ``column`` is not one of ``allowed`` (missing values included)."""
    bad = ~df[column].isin(allowed).to_numpy()
    return violation_rows(df.loc[bad], [f"{column} is {v!r}, not one of {allowed}" for v in df[column][bad]])


def not_at_least(df: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Rows where ``a < b`` (both known); NaN is another rule's."""
    va, vb = df[a].to_numpy(dtype="float64"), df[b].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = va < vb
    rows = df.loc[bad]
    return violation_rows(rows, [f"{a} {x} < {b} {y}" for x, y in zip(va[bad], vb[bad], strict=True)])
