"""The check of ``strategy_signals_1h``: what the registry's table claims must hold (one check, four rules).

Severity: the three data rules are ERROR, as every data-quality rule of the project is (blocking,
the kill switch tripped, that hour emits no orders): a duplicated decision, an accepted decision
with a NaN price, a stop on the wrong side or under 2:1, or a row of another hour means the table
itself is wrong. ``strategies_ran`` is a WARN: a strategy that raised is one producer's fault, not
bad data — its hours are still honest (every row it should have made is a rejected row saying so)
and the other strategies' decisions stand, so it must show in the UI without stopping the hourly
cycle or tripping the kill switch for the layers that do trade (L1–L3 and the book never read
this table).
"""

import numpy as np
import pandas as pd
from dagster import AssetCheckSeverity

from checks.engine import Rule, RuleEnv
from quant import quality as q
from quant.registry_signals import KEY, STATUS_ACCEPTED, raised
from quant.strategies import MIN_REWARD_RISK
from quant.strategies.base import REWARD_RISK_EPS

#: What a violation of a whole-strategy row is listed under (its venue and symbol are empty).
WHOLE_STRATEGY = "-"
#: The columns two rows must share to be the same decision twice.
DECISION = ["hour", "strategy", "venue", "symbol", "status", "side", "entry", "stop", "target"]


def _listed(rows: pd.DataFrame, details: list[str]) -> pd.DataFrame:
    """Violations of ``rows`` as (hour, venue, symbol, detail); an empty venue/symbol is listed as '-'."""
    framed = rows[["hour", "venue", "symbol"]].replace({"venue": {"": WHOLE_STRATEGY}, "symbol": {"": WHOLE_STRATEGY}})
    return q.violation_rows(framed, details)


def _keys_unique(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    key = df[df.duplicated(KEY, keep=False)]
    same = df[df.duplicated(DECISION, keep=False) & ~df.duplicated(KEY, keep=False)]
    return pd.concat([
        _listed(key, [f"{s}: more than one row for seq {n}" for s, n in zip(key["strategy"], key["seq"], strict=True)]),
        _listed(same, [f"{s}: the same decision twice ({side} {e} / {st} / {t})" for s, side, e, st, t in
                       zip(same["strategy"], same["side"], same["entry"], same["stop"], same["target"], strict=True)]),
    ], ignore_index=True)


def _accepted_prices_sound(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    acc = df[df["status"] == STATUS_ACCEPTED]
    entry, stop, target = (acc[c].to_numpy("float64") for c in ("entry", "stop", "target"))
    sign = np.where(acc["side"] == "long", 1.0, np.where(acc["side"] == "short", -1.0, np.nan))
    risk, reward = (entry - stop) * sign, (target - entry) * sign
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(entry) & np.isfinite(stop) & np.isfinite(target) & (entry > 0) & (stop > 0) & (target > 0)
              & (risk > 0) & (reward >= MIN_REWARD_RISK * risk * (1 - REWARD_RISK_EPS)))
    bad = acc[~ok]
    return _listed(bad, [f"{s} {side}: entry {e}, stop {st}, target {t} (needs finite prices, the stop on the "
                         f"losing side, reward >= {MIN_REWARD_RISK:g} x risk)" for s, side, e, st, t in
                         zip(bad["strategy"], bad["side"], bad["entry"], bad["stop"], bad["target"], strict=True)])


def _hours_in_partition(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    hours = df["hour"]
    bad = df[~hours.isin(env.hours) | hours.isna()]
    if bad.empty or not len(env.hours):
        return q.no_violations()
    # listed under the window's nearest hour, so a range's per-hour results show it too
    nearest = bad["hour"].clip(env.hours[0], env.hours[-1]).fillna(env.hours[0])
    return _listed(bad.assign(hour=nearest), [f"{s}: {st} row for {h}, outside this run's hours"
                                              for s, st, h in zip(bad["strategy"], bad["status"], bad["hour"], strict=True)])


def _strategies_ran(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    bad = df[raised(df)]
    return _listed(bad, [f"strategy {s} {r}" for s, r in zip(bad["strategy"], bad["rejection"], strict=True)])


STRATEGY_SIGNAL_RULES = [
    Rule("keys_unique", "one row per (hour, strategy, venue, symbol, seq), no decision twice", "0 duplicates",
         _keys_unique),
    Rule("accepted_prices_sound", "accepted rows: finite positive prices, stop on the losing side, >= 2:1",
         f"risk > 0, reward >= {MIN_REWARD_RISK:g} x risk where accepted", _accepted_prices_sound),
    Rule("hours_in_partition", "every row is for an hour of the partition", "0 rows outside", _hours_in_partition),
    Rule("strategies_ran", "no strategy raised (a raising strategy is a warning: it blocks nothing)",
         "0 strategies raised", _strategies_ran, severity=AssetCheckSeverity.WARN),
]

STRATEGY_RULES = {"strategy_signals_1h": STRATEGY_SIGNAL_RULES}
