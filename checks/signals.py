"""Checks of the signal assets: an entry must really meet the thresholds (defence in depth)."""

import numpy as np
import pandas as pd

from checks.engine import Rule, RuleEnv, checks_for
from checks.market_data import unique_rule
from quant import quality as q
from quant.carry import ENTRY_APR, MIN_VOLUME_USD


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

SIGNAL_CHECKS = [checks_for("carry_signals_1h", CARRY_RULES)]
