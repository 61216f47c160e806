"""Blocking checks of the trading book: the safeguards re-checked, fills that had a counterparty,
ledgers that balance, and the risk limits (a breach trips the kill switch).

These recompute from the stored tables what the book promised, independently of the code that
made them: the intents' exposure columns against the bankroll caps, each ledger row's P&L from
its parts, the total row from the instrument rows.
"""

import numpy as np
import pandas as pd

from checks.engine import Rule, RuleEnv
from checks.market_data import unique_rule
from quant.book.safeguards import (
    HEDGE_LEGS,
    LADDER_LAYER,
    MAX_LADDER_PCT,
    MAX_POSITION_PCT,
    MAX_TOTAL_PCT,
    MIN_POSITION_PCT,
)
from quant.quality import violation_rows

EPS = 1e-6


def _flagged(df: pd.DataFrame, problems: list, label: str) -> pd.DataFrame:
    """Violations of every (mask, what) in ``problems``, each detailed as ``what: <row's label column>``."""
    parts = []
    for mask, what in problems:
        m = np.asarray(mask, dtype=bool)
        if m.any():
            parts.append(violation_rows(df[m], [f"{what}: {v}" for v in df.loc[m, label]]))
    return pd.concat(parts, ignore_index=True) if parts else violation_rows(df.iloc[0:0], [])


def _within_safeguards(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    if df.empty:
        return violation_rows(df, [])
    adds = df["approved"].astype(bool) & ~df["reduce_only"].astype(bool) & ~df["leg"].isin(list(HEDGE_LEGS))
    b = df["bankroll_usd"].astype("float64")
    tol = EPS * b
    problems = [
        (adds & (df["notional_usd"] < MIN_POSITION_PCT * b - tol), "below the 1% minimum position"),
        (adds & (df["position_after_usd"] > MAX_POSITION_PCT * b + tol), "position above 25% of bankroll"),
        (adds & (df["deployed_after_usd"] > MAX_TOTAL_PCT * b + tol), "deployed above 50% of bankroll"),
        (adds & (df["layer"] == LADDER_LAYER) & (df["ladder_after_usd"] > MAX_LADDER_PCT * b + tol), "L2 ladder above 20% of bankroll"),
        (df["approved"].astype(bool) & ~df["reduce_only"].astype(bool) & df["kill_switch_active"].astype(bool),
         "approved while the kill switch was active"),
        (df["approved"].astype(bool) & ~np.isfinite(df["notional_usd"].to_numpy(dtype="float64")), "approved without a price"),
        (~df["approved"].astype(bool) & (df["rejection"] == ""), "rejected without a reason"),
    ]
    return _flagged(df, problems, "client_order_id")


def _had_counterparty(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    if df.empty:
        return violation_rows(df, [])
    filled = df["filled_qty"].to_numpy(dtype="float64")
    price = df["fill_price"].to_numpy(dtype="float64")
    problems = [
        (filled > df["qty"].to_numpy(dtype="float64") * (1 + EPS), "filled more than ordered"),
        ((filled > 0) & ~(np.isfinite(price) & (price > 0)), "a fill without a price"),
        (df["status"].isin(["no_counterparty", "not_triggered", "cancelled"]).to_numpy() & (filled != 0), "a fill where none was possible"),
        (df["fee"].to_numpy(dtype="float64") < 0, "a negative fee"),
    ]
    return _flagged(df, problems, "client_order_id")


def _valid_legs(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    if df.empty:
        return violation_rows(df, [])
    qty = df["qty"].to_numpy(dtype="float64")
    mark = df["mark"].to_numpy(dtype="float64")
    bad = ~np.isfinite(qty) | (qty == 0) | ~(np.isfinite(mark) & (mark > 0)) | df.duplicated(["hour", "layer", "venue", "instrument", "leg"]).to_numpy()
    rows = df[bad]
    return violation_rows(rows, [f"{r.instrument} {r.leg}: qty {r.qty}, mark {r.mark}" for r in rows.itertuples()])


def _balances(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    if df.empty:
        return violation_rows(df, [])
    money = ["realised_usd", "unrealised_usd", "fees_usd", "funding_usd", "pnl_usd"]
    parts = []
    pnl = df["realised_usd"] + df["unrealised_usd"] - df["fees_usd"] + df["funding_usd"]
    off = (pnl - df["pnl_usd"]).abs() > EPS * np.maximum(1.0, df["pnl_usd"].abs())
    if off.any():
        parts.append(violation_rows(df[off], [f"pnl {p} != its parts {q}" for p, q in zip(df.loc[off, "pnl_usd"], pnl[off], strict=True)]))
    total = df[df["layer"] == "total"].set_index("hour")
    counts = df[df["layer"] == "total"].groupby("hour").size().reindex(env.hours, fill_value=0)
    wrong = counts[counts != 1]
    if len(wrong):
        rows = pd.DataFrame({"hour": wrong.index, "venue": "all", "symbol": "all"})
        parts.append(violation_rows(rows, [f"{n} total rows (needs exactly 1)" for n in wrong]))
    else:
        sums = df[df["layer"] != "total"].groupby("hour")[money].sum().reindex(total.index, fill_value=0.0)
        diff = (sums - total[money]).abs().max(axis=1) > EPS * np.maximum(1.0, total[money].abs().max(axis=1))
        if diff.any():
            rows = total[diff].reset_index()
            parts.append(violation_rows(rows, ["the total row is not the sum of the instrument rows"] * len(rows)))
        low = total["peak_equity_usd"] < total["equity_usd"] - EPS
        if low.any():
            rows = total[low].reset_index()
            parts.append(violation_rows(rows, ["peak equity below equity"] * len(rows)))
    return pd.concat(parts, ignore_index=True) if parts else violation_rows(df.iloc[0:0], [])


def _risk_within_limits(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    rows = df[(df["layer"] == "total") & (df["breach"] != "")] if len(df) else df
    return violation_rows(rows, list(rows["breach"]) if len(rows) else [])


def _within_caps(df: pd.DataFrame, env: RuleEnv) -> pd.DataFrame:
    if df.empty:
        return violation_rows(df.assign(venue="", symbol=""), [])
    rows = df.assign(venue="book", symbol=df["layer"])
    bankroll = rows["max_position_usd"] / MAX_POSITION_PCT
    per_hour = rows.groupby("hour")["budget_usd"].transform("sum")
    problems = [
        (rows["budget_usd"] < 0, "negative budget"),
        (rows["budget_usd"] > rows["cap_usd"] + EPS, "budget above its cap"),
        (per_hour > MAX_TOTAL_PCT * bankroll * (1 + EPS), "layer budgets above 50% of bankroll together"),
        ((rows["layer"] == LADDER_LAYER) & (rows["budget_usd"] > MAX_LADDER_PCT * bankroll * (1 + EPS)), "L2 above 20% of bankroll"),
    ]
    return _flagged(rows, problems, "layer")


INTENT_RULES = [
    Rule("within_safeguards", "approved orders keep every bankroll cap; nothing new approved while the kill switch is active",
         "25% / 50% / 20% / min 1% of bankroll", _within_safeguards),
    unique_rule(["hour", "client_order_id"]),
]
FILL_RULES = [Rule("had_counterparty", "no fill without a price and a counterparty, never more than ordered", "0 rows", _had_counterparty)]
POSITION_RULES = [Rule("valid_legs", "every open leg has a non-zero quantity and a positive mark, once", "0 rows", _valid_legs)]
LEDGER_RULES = [
    Rule("balances", "each row's P&L is its parts; one total row per hour equal to the sum; peak ≥ equity", "1e-6 relative", _balances),
    Rule("risk_within_limits", "no drawdown halt (20% from peak) and no daily loss breach (10%): a failure trips the kill switch",
         "20% drawdown, 10% daily loss", _risk_within_limits),
]
ALLOCATION_RULES = [Rule("within_caps", "budgets are non-negative, under their caps, 50% together and 20% for L2", "bankroll caps", _within_caps)]

#: The rules of each asset's one quality check (declared on the asset: ``checks.engine.audited``).
BOOK_RULES = {
    "order_intents_1h": INTENT_RULES,
    "fills_1h": FILL_RULES,
    "positions_1h": POSITION_RULES,
    "ledger_1h": LEDGER_RULES,
    "layer_allocations_1h": ALLOCATION_RULES,
}
