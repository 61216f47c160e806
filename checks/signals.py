"""Checks of the signal assets: what a signal claims must really hold (defence in depth)."""

import numpy as np
import pandas as pd

from checks.engine import Rule, RuleEnv
from checks.market_data import unique_rule
from quant import quality as q
from quant.carry import ENTRY_APR, MIN_VOLUME_USD
from quant.cascade.score import STATUS_OK as CASCADE_OK
from quant.options.tail_hedge import STATUS_OK as HEDGE_OK

#: The ``venue`` a tail-hedge violation is listed under (its rows are per currency, not venue).
HEDGE_VIOLATION_VENUE = "tail_hedge"


def _entries_meet_thresholds(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    entries = df[df["entry"]]
    ok = (entries["funding_apr"] > ENTRY_APR) & (entries["volume_24h_usd"] > MIN_VOLUME_USD) & ~entries["hibernating"]
    bad = entries[~ok.to_numpy(dtype=bool)]
    return q._violations(bad, [
        f"entry with APR {a} and 24h volume {v} (needs > {ENTRY_APR:.0%} and > {MIN_VOLUME_USD:,.0f}), hibernating={h}"
        for a, v, h in zip(bad["funding_apr"], bad["volume_24h_usd"], bad["hibernating"], strict=True)
    ])


def _no_entry_and_exit(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    both = df[np.asarray(df["entry"] & df["exit"], dtype=bool)]
    return q._violations(both, ["signals both entry and exit"] * len(both))


CARRY_RULES = [
    Rule("entries_meet_thresholds", "every entry has APR > 20%, volume > $10M and no hibernation",
         f"APR > {ENTRY_APR:.0%}, volume > {MIN_VOLUME_USD:,.0f}", _entries_meet_thresholds),
    Rule("entry_xor_exit", "no row signals entry and exit together", "0 rows", _no_entry_and_exit),
    unique_rule(["venue", "symbol", "hour"]),
]



def _score_in_unit_interval(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    ok = df[df["status"] == CASCADE_OK]
    score = ok["score"].to_numpy(dtype="float64")
    bad = ok[~((score >= 0) & (score <= 1))]
    return q._violations(bad, [f"status ok but score {v}" for v in bad["score"]])


def _score_nan_unless_ok(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    bad = df[(df["status"] != CASCADE_OK) & df["score"].notna()]
    return q._violations(bad, [f"status {st!r} but score {v}" for st, v in zip(bad["status"], bad["score"], strict=True)])


CASCADE_RULES = [
    Rule("score_in_unit_interval", "a scored row's score lies in [0, 1]", "0 <= score <= 1 where status ok",
         _score_in_unit_interval),
    Rule("score_nan_unless_ok", "a row that is not scored has no score (NaN, never 0)", "score NaN where status != ok",
         _score_nan_unless_ok),
    unique_rule(["venue", "symbol", "hour"]),
]


def _hedge_violations(rows: pd.DataFrame, details: list[str]) -> pd.DataFrame:
    """Violations of tail-hedge rows, listed as (hour, "tail_hedge", currency)."""
    framed = pd.DataFrame({"hour": rows["hour"], "venue": HEDGE_VIOLATION_VENUE, "symbol": rows["currency"]})
    return q._violations(framed, details)


def _ok_hedges(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == HEDGE_OK]


def _one_row_per_currency_hour(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    bad = df[df.duplicated(["currency", "hour"], keep=False)]
    return _hedge_violations(bad, ["more than one row for this (currency, hour)"] * len(bad))


def _strikes_straddle_underlying(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    ok = _ok_hedges(df)
    inside = (ok["put_strike"] < ok["underlying_usd"]) & (ok["underlying_usd"] < ok["call_strike"])
    bad = ok[~inside.to_numpy(dtype=bool)]
    return _hedge_violations(bad, [
        f"put strike {p} < underlying {u} < call strike {c} does not hold"
        for p, u, c in zip(bad["put_strike"], bad["underlying_usd"], bad["call_strike"], strict=True)
    ])


def _theta_not_positive(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    ok = _ok_hedges(df)
    bad = ok[~(ok["theta_usd"].to_numpy(dtype="float64") <= 0)]
    return _hedge_violations(bad, [f"a long strangle's theta is {v} USD/day (must be <= 0)" for v in bad["theta_usd"]])


def _premium_positive(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    ok = _ok_hedges(df)
    bad = ok[~(ok["premium_usd"].to_numpy(dtype="float64") > 0)]
    return _hedge_violations(bad, [f"premium is {v} USD (must be > 0)" for v in bad["premium_usd"]])


def _modelled_when_stale(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    ok = _ok_hedges(df)
    bad = ok[(ok["chain_as_of"] < ok["hour"]).to_numpy(dtype=bool) & ~ok["modelled"].to_numpy(dtype=bool)]
    return _hedge_violations(bad, [
        f"chain of {t} used for the hour as a market chain (modelled=False)" for t in bad["chain_as_of"]
    ])


TAIL_HEDGE_RULES = [
    Rule("unique_rows", "one row per (currency, hour)", "0 duplicates", _one_row_per_currency_hour),
    Rule("strikes_straddle_underlying", "the put strike is below and the call strike above the underlying",
         "put_strike < underlying_usd < call_strike where status ok", _strikes_straddle_underlying),
    Rule("theta_not_positive", "a long strangle loses value with time", "theta_usd <= 0 where status ok",
         _theta_not_positive),
    Rule("premium_positive", "buying the strangle costs something", "premium_usd > 0 where status ok",
         _premium_positive),
    Rule("modelled_when_stale", "a chain older than the hour is always flagged modelled",
         "modelled where status ok and chain_as_of < hour", _modelled_when_stale),
]

#: The rules of each asset's one quality check (declared on the asset: ``checks.engine.audited``).
SIGNAL_RULES = {
    "carry_signals_1h": CARRY_RULES,
    "cascade_signals_1h": CASCADE_RULES,
    "tail_hedge_signals_1h": TAIL_HEDGE_RULES,
}
