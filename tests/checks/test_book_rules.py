"""The book's check rules on both sides: clean book tables pass, each broken one fails naming why."""

from __future__ import annotations

import pandas as pd

from checks.book import (
    _balances,
    _had_counterparty,
    _risk_within_limits,
    _valid_legs,
    _within_caps,
    _within_safeguards,
)
from checks.engine import RuleEnv
from quant.book.params import BookParams
from quant.book.step import fresh_state, run_book
from tests.quant.book.test_step import NO_CASCADE, NO_TAIL, T0, l1_market

ENV = RuleEnv(hours=pd.date_range(T0, periods=4, freq="h"), universe=None)


def tables():
    b, c, f = l1_market()
    out, _ = run_book(fresh_state(), ENV.hours, b, f, c, NO_CASCADE, NO_TAIL, BookParams())
    return out


def test_clean_book_tables_pass_every_rule():
    out = tables()
    assert _within_safeguards(out.intents, ENV).empty
    assert _had_counterparty(out.fills, ENV).empty
    assert _valid_legs(out.positions, ENV).empty
    assert _balances(out.ledger, ENV).empty
    assert _risk_within_limits(out.ledger, ENV).empty
    assert _within_caps(out.allocations, ENV).empty


def test_an_oversized_approved_order_and_a_kill_switch_approval_fail():
    i = tables().intents.copy()
    i.loc[0, "position_after_usd"] = 0.30 * i.loc[0, "bankroll_usd"]
    i.loc[1, "kill_switch_active"] = True
    details = _within_safeguards(i, ENV)["detail"].tolist()
    assert any(d.startswith("position above 25% of bankroll") for d in details)
    assert any(d.startswith("approved while the kill switch was active") for d in details)


def test_a_fill_without_counterparty_fails():
    f = tables().fills.copy()
    f.loc[0, "status"] = "no_counterparty"
    assert _had_counterparty(f, ENV)["detail"].iloc[0].startswith("a fill where none was possible")


def test_a_zero_leg_and_an_unbalanced_ledger_fail():
    out = tables()
    p = out.positions.copy()
    p.loc[p.index[0], "qty"] = 0.0
    assert len(_valid_legs(p, ENV)) == 1
    led = out.ledger.copy()
    led.loc[(led["layer"] == "total").to_numpy().nonzero()[0][-1], "fees_usd"] += 1.0
    assert "the total row is not the sum" in " ".join(_balances(led, ENV)["detail"])


def test_a_risk_breach_fails_with_its_reason():
    led = tables().ledger.copy()
    led.loc[led["layer"] == "total", "breach"] = "drawdown 21.0% from the peak reached the 20% halt"
    assert _risk_within_limits(led, ENV)["detail"].iloc[0].startswith("drawdown 21.0%")


def test_budgets_above_their_caps_fail():
    a = tables().allocations.copy()
    a.loc[a["layer"] == "L2", "budget_usd"] = 30_000.0
    assert "L2 above 20% of bankroll" in " ".join(_within_caps(a, ENV)["detail"])
