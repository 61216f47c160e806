"""Data-quality rules of the market-data assets, one property each, all blocking.

Every rule is computed in pandas/numpy (``quant.quality``). The row-level rules also carry their
great-expectations formulation (``expectations``): the tests validate those with
great-expectations as an independent second computation and require the same violating rows.
At run time GE would cost ~2.7 s a run against ~0.3 s for the same rules in pandas, so it serves
as the reference, not the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from checks.engine import Rule, RuleEnv
from quant import quality as q
from quant.market_data import continuity
from quant.market_data.tables import FUNDING_COLUMNS, OHLCV_COLUMNS, OI_COLUMNS, UNIVERSE_COLUMNS

UTC_NS = "datetime64[ns, UTC]"
OHLCV_DTYPES = {
    "hour": UTC_NS, "venue": "str", "symbol": "str", "ts": UTC_NS, "open": "float64", "high": "float64",
    "low": "float64", "close": "float64", "volume": "float64", "quote_volume": "float64", "flat_hours": "int64",
    "prev_close": "float64", "sigma_1h": "float64",
}
FUNDING_DTYPES = {
    "hour": UTC_NS, "venue": "str", "symbol": "str", "settlement_ts": UTC_NS, "raw_ts": UTC_NS,
    "offset_ms": "float64", "funding_rate": "float64", "interval_hours": "float64", "funding_apr": "float64",
    "on_grid": "bool",
}
OI_DTYPES = {"hour": UTC_NS, "venue": "str", "symbol": "str", "ts": UTC_NS, "oi_usd": "float64", "prev_oi_usd": "float64"}
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

    def evaluate(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        if df.empty and list(df.columns) != list(columns):  # no rows to name: every hour fails
            rows = pd.DataFrame({"hour": env.hours, "venue": "-", "symbol": "-"})
            return q.violation_rows(rows, [f"columns are {list(df.columns)}, expected {list(columns)}"] * len(rows))
        return q.concat_violations([q.wrong_columns(df, columns), wrong_dtypes(df, env)])

    return Rule(
        "schema", "columns and dtypes match the contract", f"columns {columns}",
        evaluate=evaluate,
        expectations=lambda gx: [gx.ExpectTableColumnsToMatchOrderedList(column_list=columns)],
    )


def not_null_or_inf_rule(columns: list[str]) -> Rule:
    def evaluate(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        return q.non_finite(df, columns)

    return Rule("no_nan_or_inf", f"{', '.join(columns)} are finite numbers", "no NaN, no ±inf", evaluate)


def ge_rule(name: str, description: str, threshold: str, evaluate, build) -> Rule:
    """A row rule computed in pandas (``evaluate``) with its great-expectations reference (``build(gx)``)."""
    return Rule(name, description, threshold, evaluate=evaluate, expectations=build)


def positive_rule(name: str, description: str, columns: tuple[str, ...], *, strict: bool) -> Rule:
    """Every known value of ``columns`` is > 0 (``strict``) or >= 0."""
    return ge_rule(
        name, description, "> 0" if strict else ">= 0",
        lambda df, env: q.concat_violations([q.outside(df, c, 0, strict_min=strict) for c in columns]),
        lambda gx: [gx.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=strict) for c in columns],
    )


def at_least_rule(name: str, description: str, threshold: str, pairs: tuple[tuple[str, str], ...]) -> Rule:
    """``a >= b`` for every pair, row by row."""
    return ge_rule(
        name, description, threshold,
        lambda df, env: q.concat_violations([q.not_at_least(df, a, b) for a, b in pairs]),
        lambda gx: [gx.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=True) for a, b in pairs],
    )


def unique_rule(keys: list[str]) -> Rule:
    return ge_rule(
        "unique_rows",
        f"one row per ({', '.join(keys)})",
        "0 duplicates",
        lambda df, env: q.duplicate_keys(df, keys),
        lambda gx: [gx.ExpectCompoundColumnsToBeUnique(column_list=keys)],
    )


def missing_hours_rule(dataset: str, what: str) -> Rule:
    def evaluate(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
        return q.missing_rows(df, env.universe.expected_rows(dataset, env.hours), what)

    return Rule("no_missing_hours", f"every expected instrument has its {what} each hour", "0 missing", evaluate)


OHLCV_RULES = [
    schema_rule(OHLCV_COLUMNS, OHLCV_DTYPES),
    not_null_or_inf_rule(["open", "high", "low", "close", "volume"]),
    positive_rule("prices_positive", "open, high, low and close are > 0", ("open", "high", "low", "close"), strict=True),
    positive_rule("volume_non_negative", "volume is >= 0", ("volume",), strict=False),
    at_least_rule("high_bounds_body", "high >= max(open, close)", "high >= open and high >= close",
                  (("high", "open"), ("high", "close"))),
    at_least_rule("low_bounds_body", "low <= min(open, close)", "open >= low and close >= low",
                  (("open", "low"), ("close", "low"))),
    unique_rule(["venue", "symbol", "hour"]),
    missing_hours_rule("candles", "1h candle"),
    Rule(
        "bar_on_hour", "each bar opens on its hour", "ts == hour (minute 0)",
        lambda df, env: q.off_hour_bars(df),
    ),
    Rule(
        "volume_when_moving", "a bar whose price moved traded some volume", "volume > 0 where high > low",
        lambda df, env: q.moved_without_volume(df),
    ),
    Rule(
        "cross_venue_agreement", "each coin's close agrees across venues",
        f"|close_a / close_b - 1| <= max({q.MAX_CROSS_VENUE_DIVERGENCE:.0%}, "
        f"{q.CROSS_VENUE_RANGE_SHARE:g} x the calmer venue's bar range high/low - 1)",
        lambda df, env: q.cross_venue_divergence(df, env.universe.expected_rows("candles", env.hours)),
    ),
    Rule(
        "continuity", "each bar continues the previous hour's close, in the coin's own volatility",
        f"|ln(open/prev_close)| <= max({continuity.GAP_FLOOR:.0%}, {continuity.GAP_SIGMAS:g}σ); "
        f"|ln(close/prev_close)| <= max({continuity.JUMP_FLOOR:.0%}, {continuity.JUMP_SIGMAS:g}σ); "
        f"σ of the last {continuity.SIGMA_WINDOW_H} hourly returns",
        lambda df, env: continuity.discontinuities(df),
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
    positive_rule("oi_positive", "open interest is > 0", ("oi_usd",), strict=True),
    unique_rule(["venue", "symbol", "hour"]),
    missing_hours_rule("open_interest", "open interest"),
    Rule("no_jump", "open interest does not double or halve in an hour",
         f"|ln(oi / previous hour's oi)| <= ln {q.MAX_OI_HOURLY_RATIO:g}", lambda df, env: q.oi_jumps(df)),
]

UNIVERSE_RULES = [
    schema_rule(UNIVERSE_COLUMNS, UNIVERSE_DTYPES),
    unique_rule(["venue", "symbol", "hour"]),
    positive_rule("volume_non_negative", "24h volume is >= 0 where known", ("volume_24h_usd",), strict=False),
]

#: The rules of each asset's one quality check (declared on the asset: ``checks.engine.audited``).
MARKET_DATA_RULES = {
    "perp_ohlcv_1h": OHLCV_RULES,
    "funding_settlements": FUNDING_RULES,
    "open_interest_1h": OI_RULES,
    "universe_scan_1h": UNIVERSE_RULES,
}
