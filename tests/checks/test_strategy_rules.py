"""Both branches of every rule of ``strategy_signals_1h__quality``, and the WARN rule's severity."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetCheckSeverity

from checks.engine import RuleEnv, _severity
from checks.strategies import STRATEGY_SIGNAL_RULES
from quant.market_data.universe import Universe
from quant.registry_signals import COLUMNS

H = pd.Timestamp("2026-02-09 00:00", tz="UTC")
ENV = RuleEnv(hours=pd.DatetimeIndex([H]), universe=Universe(()))
RULES = {r.name: r for r in STRATEGY_SIGNAL_RULES}


def _row(**kw) -> dict:
    base = {"hour": H, "strategy": "s", "venue": "binance", "symbol": "BTC/USDT:USDT", "seq": 0, "status": "accepted",
            "side": "long", "entry": 100.0, "stop": 95.0, "target": 110.0, "confidence": 0.5, "reason": "r", "rejection": ""}
    return {**base, **kw}


def _frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


GOOD = _frame(_row(), _row(seq=1, side="short", entry=100.0, stop=104.0, target=92.0),
              _row(strategy="t", status="rejected", entry=float("nan"), rejection="prices must be positive"))
BAD = {
    "keys_unique": [_frame(_row(), _row()), _frame(_row(), _row(seq=1))],  # a key twice; the same decision twice
    "accepted_prices_sound": [_frame(_row(stop=101.0)), _frame(_row(target=105.0)), _frame(_row(entry=float("nan"))),
                              _frame(_row(side="short"))],
    "hours_in_partition": [_frame(_row(hour=H + pd.Timedelta(hours=1))), _frame(_row(hour=pd.NaT, status="rejected"))],
    "strategies_ran": [_frame(_row(venue="", symbol="", status="rejected", rejection="raised KeyError: 'close'"))],
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_the_good_table_passes(name):
    assert RULES[name].violations(GOOD, ENV).empty


@pytest.mark.parametrize(("name", "case"), [(n, i) for n, cases in BAD.items() for i in range(len(cases))])
def test_each_bad_table_fails_its_rule(name, case):
    found = RULES[name].violations(BAD[name][case], ENV)
    assert len(found) >= 1
    assert set(found["hour"]) == {H}  # listed under the run's own hour, also when the row's is elsewhere


def test_a_raising_strategy_is_a_warning_and_a_data_rule_an_error():
    found = {r.name: r.violations(BAD["strategies_ran"][0], ENV) for r in STRATEGY_SIGNAL_RULES}
    assert [n for n, v in found.items() if len(v)] == ["strategies_ran"]
    assert found["strategies_ran"]["detail"].tolist() == ["strategy s raised KeyError: 'close'"]
    assert _severity(STRATEGY_SIGNAL_RULES, found) == AssetCheckSeverity.WARN
    found["keys_unique"] = RULES["keys_unique"].violations(BAD["keys_unique"][0], ENV)
    assert _severity(STRATEGY_SIGNAL_RULES, found) == AssetCheckSeverity.ERROR
    clean = {r.name: r.violations(GOOD, ENV) for r in STRATEGY_SIGNAL_RULES}
    assert _severity(STRATEGY_SIGNAL_RULES, clean) == AssetCheckSeverity.ERROR  # a passing result keeps ERROR
