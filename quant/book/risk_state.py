"""The book's risk state at an hour's close: equity, its peak and drawdown ladder, the daily loss limit and the session pause."""

from __future__ import annotations

import math

import pandas as pd

from quant.book.params import BookParams
from quant.book.risk import LEVEL_MULTIPLIER, THRESHOLD_EPS, ladder_level


def hour_risk(money: dict[str, float], prev: dict, hour: pd.Timestamp, state_hour: pd.Timestamp | None,
              params: BookParams, open_cost: float) -> dict:
    """The ledger's total-row figures for ``hour`` from the summed money and the previous hour's total row.

    Equity = bankroll + realised + unrealised − fees + funding; the peak and the ladder run from
    the PEAK (never the bankroll); the day's opening equity and session peak reset at 00:00 UTC.

    Raises
    ------
    ValueError
        Equity that is not a positive number (a book that lost more than it had).
    """
    pnl = money["realised_usd"] + money["unrealised_usd"] - money["fees_usd"] + money["funding_usd"]
    equity = params.bankroll_usd + pnl
    if not (math.isfinite(equity) and equity > 0):
        raise ValueError(f"equity must be finite and > 0; got {equity} at {hour}")
    new_day = state_hour is not None and hour.hour == 0
    day_open = float(prev["equity_usd"]) if new_day else float(prev["day_open_equity_usd"])
    day_peak = max(float(prev["equity_usd"]) if new_day else float(prev["day_peak_equity_usd"]), equity)
    r = params.risk
    paused = (False if new_day else bool(prev["session_paused"])) or (1 - equity / day_peak >= r.session_dd_pause - THRESHOLD_EPS)
    day_loss = 1 - equity / day_open
    halted_today = (False if new_day else bool(prev["daily_loss_halt"])) or day_loss >= r.daily_loss_limit - THRESHOLD_EPS
    peak = max(equity, float(prev["peak_equity_usd"]))
    drawdown = 1.0 - equity / peak
    level = ladder_level(drawdown, r)
    breach = []
    if level == "halt":
        breach.append(f"drawdown {drawdown:.1%} from the peak {peak:,.0f} USD reached the {r.halt_dd:.0%} halt")
    if halted_today:
        breach.append(f"daily loss {day_loss:.1%} from the day's opening equity {day_open:,.0f} USD; limit {r.daily_loss_limit:.0%}")
    multiplier = 0.0 if (paused or halted_today) else LEVEL_MULTIPLIER[level]
    return {
        **money, "pnl_usd": pnl,
        "cash_usd": params.bankroll_usd + money["realised_usd"] - money["fees_usd"] + money["funding_usd"] - open_cost,
        "equity_usd": equity, "peak_equity_usd": peak, "drawdown": drawdown,
        "day_open_equity_usd": day_open, "day_peak_equity_usd": day_peak, "risk_level": level,
        "risk_multiplier": multiplier, "session_paused": paused, "daily_loss_halt": halted_today, "breach": "; ".join(breach),
    }
