"""Data-quality checks of the market-data assets, one property per check, all blocking.

Row-level rules run through great-expectations (``checks.ge_engine``); time-series rules
(missing hours, funding grid, cross-venue agreement, staleness) through ``quant.quality``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from checks.engine import Rule, RuleEnv, checks_for
from quant import quality as q
from quant.market_data import FUNDING_COLUMNS, OHLCV_COLUMNS, OI_COLUMNS, UNIVERSE_COLUMNS

UTC_NS = "datetime64[ns, UTC]"
OHLCV_DTYPES = {
    "hour": UTC_NS, "venue": "str", "symbol": "str", "ts": UTC_NS, "open": "float64", "high": "float64",
    "low": "float64", "close": "float64", "volume": "float64", "quote_volume": "float64", "flat_hours": "int64",
}
FUNDING_DTYPES = {
    "hour": UTC_NS, "venue": "str", "symbol": "str", "settlement_ts": UTC_NS, "raw_ts": UTC_NS,
    "offset_ms": "float64", "funding_rate": "float64", "interval_hours": "float64", "funding_apr": "float64",
    "on_grid": "bool",
}
OI_DTYPES = {"hour": UTC_NS, "venue": "str", "symbol": "str", "ts": UTC_NS, "oi_usd": "float64"}
UNIVERSE_DTYPES = {
    "hour": UTC_NS, "venue": "str", "symbol": "str", "bars_24h": "int64", "volume_24h_usd": "float64",
    "last_funding_rate": "float64", "last_funding_interval_hours": "float64", "last_funding_apr": "float64",
    "last_settlement_ts": UTC_NS,
}


def schema_rule(columns: list[str], dtypes: Mapping[str, str]) -> Rule:
    """Columns in the declared order (great-expectations) and each column's dtype."""

    def wrong_dtypes(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        wrong = {c: str(df[c].dtype) for c, want in dtypes.items() if c in df and str(df[c].dtype) != want}
        if df.empty or not wrong:
            return q.no_violations()
        rows = df.drop_duplicates(["hour", "venue", "symbol"])
        detail = "; ".join(f"{c} is {got}, expected {dtypes[c]}" for c, got in wrong.items())
        return q._violations(rows, [detail] * len(rows))

    return Rule(
        "schema", "columns and dtypes match the contract", f"columns {columns}",
        evaluate=wrong_dtypes,
        expectations=lambda gx: [gx.ExpectTableColumnsToMatchOrderedList(column_list=columns)],
    )


def not_null_or_inf_rule(columns: list[str]) -> Rule:
    def evaluate(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        return q.non_finite(df, columns)

    return Rule("no_nan_or_inf", f"{', '.join(columns)} are finite numbers", "no NaN, no ±inf", evaluate)


def ge_rule(name: str, description: str, threshold: str, build) -> Rule:
    """A rule expressed as great-expectations expectations (``build(gx) -> list``)."""
    return Rule(name, description, threshold, expectations=build)


def unique_rule(keys: list[str]) -> Rule:
    return ge_rule(
        "unique_rows",
        f"one row per ({', '.join(keys)})",
        "0 duplicates",
        lambda gx: [gx.ExpectCompoundColumnsToBeUnique(column_list=keys)],
    )


def missing_hours_rule(dataset: str, what: str) -> Rule:
    def evaluate(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        return q.missing_rows(df, env.universe.expected_rows(dataset, env.hours), what)

    return Rule("no_missing_hours", f"every expected instrument has its {what} each hour", "0 missing", evaluate)


OHLCV_RULES = [
    schema_rule(OHLCV_COLUMNS, OHLCV_DTYPES),
    not_null_or_inf_rule(["open", "high", "low", "close", "volume"]),
    ge_rule(
        "prices_positive", "open, high, low and close are > 0", "> 0",
        lambda gx: [gx.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True) for c in ("open", "high", "low", "close")],
    ),
    ge_rule(
        "volume_non_negative", "volume is >= 0", ">= 0",
        lambda gx: [gx.ExpectColumnValuesToBeBetween(column="volume", min_value=0)],
    ),
    ge_rule(
        "high_bounds_body", "high >= max(open, close)", "high >= open and high >= close",
        lambda gx: [gx.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B=c, or_equal=True) for c in ("open", "close")],
    ),
    ge_rule(
        "low_bounds_body", "low <= min(open, close)", "open >= low and close >= low",
        lambda gx: [gx.ExpectColumnPairValuesAToBeGreaterThanB(column_A=c, column_B="low", or_equal=True) for c in ("open", "close")],
    ),
    unique_rule(["venue", "symbol", "hour"]),
    missing_hours_rule("candles", "1h candle"),
    Rule(
        "cross_venue_agreement", "each coin's close agrees across venues",
        f"|close_a / close_b - 1| <= {q.MAX_CROSS_VENUE_DIVERGENCE:.0%}",
        lambda df, env: q.cross_venue_divergence(df, env.universe.expected_rows("candles", env.hours)),
    ),
    Rule(
        "not_stale", "the price moved within the last hours", f"flat for < {q.STALE_HOURS} hours",
        lambda df, env: q.stale_prices(df),
    ),
]

FUNDING_RULES = [
    schema_rule(FUNDING_COLUMNS, FUNDING_DTYPES),
    not_null_or_inf_rule(["funding_rate", "interval_hours"]),
    Rule("on_grid", "settlements sit on their interval's grid", "|offset| <= 60 s, hour % interval == 0",
         lambda df, env: q.funding_off_grid(df)),
    Rule("within_bounds", "funding rates are plausible", f"|rate| <= {q.MAX_ABS_FUNDING_RATE} per interval",
         lambda df, env: q.funding_out_of_bounds(df)),
    unique_rule(["venue", "symbol", "settlement_ts"]),
]

OI_RULES = [
    schema_rule(OI_COLUMNS, OI_DTYPES),
    not_null_or_inf_rule(["oi_usd"]),
    ge_rule(
        "oi_positive", "open interest is > 0", "> 0",
        lambda gx: [gx.ExpectColumnValuesToBeBetween(column="oi_usd", min_value=0, strict_min=True)],
    ),
    unique_rule(["venue", "symbol", "hour"]),
    missing_hours_rule("open_interest", "open interest"),
]

UNIVERSE_RULES = [
    schema_rule(UNIVERSE_COLUMNS, UNIVERSE_DTYPES),
    unique_rule(["venue", "symbol", "hour"]),
    ge_rule(
        "volume_non_negative", "24h volume is >= 0 where known", ">= 0",
        lambda gx: [gx.ExpectColumnValuesToBeBetween(column="volume_24h_usd", min_value=0)],
    ),
]

MARKET_DATA_CHECKS = [
    checks_for("perp_ohlcv_1h", OHLCV_RULES),
    checks_for("funding_settlements", FUNDING_RULES),
    checks_for("open_interest_1h", OI_RULES),
    checks_for("universe_scan_1h", UNIVERSE_RULES),
]
