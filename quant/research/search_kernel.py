"""The book's strategies layer for ONE strategy on ONE instrument, as one compiled pass over a range.

Parameter search needs thousands of backtests of a strategy; ``quant.book.step.run_book`` costs
~0.1–0.5 ms an hour in Python. With the other layers idle (no carry, cascade, tail or ML rows)
and one strategy on one instrument, the book's hour reduces to the arithmetic below, which this
module runs as a numba loop (the hour-to-hour state is inherent). The rules, each the book's own:

* **fills** (``quant.book.hour_fills.fill_intent`` on the ``ST`` fill costs): the market entry at
  the open ± ``entry_slippage_bps``, taker fee; the reduce-only stop at ``min/max(stop, open)`` ∓
  ``stop_slippage_bps``, taker fee; the target limit only when the bar trades strictly through it,
  at ``max/min(target, open)``, maker fee; the time-stop exit at market; every fill capped at
  ``max_volume_share`` of the bar's volume, none without volume or a bar. Stop before target in
  one bar, the target clamped to what the stop left (``_clamp_reduce_only``: fee scaled by the share).
* **ledger** (``quant.book.ledger_rows.apply_ledger`` / ``position_money``): funding settled at the
  hour's start on the leg held from the previous hour, paid on the previous mark; the fills in
  order (``quant.book.ledger._apply_fill``); the mark at the close; the position's cumulative
  money is the previous row plus the leg's increments, so the sums are taken in the book's order.
* **risk** (``quant.book.risk_state.hour_risk``): equity = bankroll + P&L, its peak and drawdown
  ladder, the UTC day's opening equity and the daily loss limit, the session peak and its pause.
* **entries** (``quant.book.strategy_layer.strategy_wants``, ``quant.book.safeguards``): a decision
  of hour H, none held, becomes a market order for ``min(equity × risk_pct / |entry − stop|,
  budget / entry)``, where the budget is the allocator's ST row for the hour's risk multiplier
  (0 while paused or halted: no entry); under the reward-to-risk floor, or a notional (at H's
  close) under the minimum position, it is never placed. A held leg gets its stop and target every
  hour, or a market exit once ``max_hold_h`` hours have passed since its decision.

What it does not see: other layers' positions and budgets (it assumes none: with them idle the
allocator gives ST the same budget for every positive strength), several strategies or instruments
competing for the three slots (one strategy on one instrument holds at most one position), and the
kill switch (a backtest from a fresh book has none). ``tests/quant/research/test_search.py`` runs
the same decisions through ``run_book`` and demands the same hourly equity and fills.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from quant.book.allocator import allocation_rows
from quant.book.fills import ORDER_KIND_CODES, fill_one
from quant.book.ledger import _apply_fill
from quant.book.params import BookParams
from quant.book.risk import LEVEL_MULTIPLIER, THRESHOLD_EPS
from quant.book.safeguards import RiskLimits
from quant.book.strategy_layer import STRATEGY_LAYER

#: Fill kinds recorded by the kernel.
ENTRY, STOP, TARGET, EXIT = 0, 1, 2, 3
KIND_NAMES = ("entry", "stop", "target", "exit")
#: Budget codes: the ladder's levels in order, then "paused or halted today" (multiplier 0).
LEVELS = ("normal", "reduce_risk", "reduce_exposure", "halt")
PAUSED = len(LEVELS)
#: The strategies layer's reward-to-risk slack (``quant.book.strategy_layer.strategy_wants``).
LAYER_RR_EPS = 1e-9
#: ``quant.book.fills.ORDER_KIND_CODES`` of the orders the layer places.
MARKET_ORDER, LIMIT_ORDER, STOP_ORDER = ORDER_KIND_CODES["market"], ORDER_KIND_CODES["limit"], ORDER_KIND_CODES["stop"]
#: Kernel status codes.
OK, BAD_FUNDING, BAD_MARK, BAD_EQUITY = 0, 1, 2, 3
STATUS_TEXT = {BAD_FUNDING: "funding is not a number while the position is open",
               BAD_MARK: "no valid mark price while the position is open",
               BAD_EQUITY: "equity is not a positive number"}
#: Layout of the kernel's configuration vector.
CFG = ("bankroll", "risk_pct", "min_rr", "max_hold_h", "max_positions", "maker_fee", "taker_fee", "entry_slip",
       "stop_slip", "volume_share", "reduce_risk_dd", "reduce_exposure_dd", "halt_dd", "daily_loss", "session_pause",
       "min_position_usd", "max_position_usd", "max_total_usd", "cap_eps_usd")


@dataclass(frozen=True)
class KernelConfig:
    """The book's numbers the kernel reads (``cfg`` in :data:`CFG` order) and the ST budget per code."""

    cfg: np.ndarray
    budgets: np.ndarray


def kernel_config(params: BookParams) -> KernelConfig:
    """The ST layer's rules, costs, risk thresholds, safeguards and allocator budgets of ``params``.

    The budgets come from ``quant.book.allocator.allocation_rows`` itself with ST the only layer
    with a signal (its strength cancels: ``w = base × (1 + tilt × (s − mean s))`` with mean s = s).
    """
    st, f, r = params.strategies, params.fills[STRATEGY_LAYER], params.risk
    limits = RiskLimits(params.bankroll_usd)
    values = {
        "bankroll": params.bankroll_usd, "risk_pct": st.risk_pct, "min_rr": st.min_reward_risk, "max_hold_h": st.max_hold_h,
        "max_positions": st.max_positions, "maker_fee": f.maker_fee_bps, "taker_fee": f.taker_fee_bps,
        "entry_slip": f.entry_slippage_bps, "stop_slip": f.stop_slippage_bps, "volume_share": f.max_volume_share,
        "reduce_risk_dd": r.reduce_risk_dd, "reduce_exposure_dd": r.reduce_exposure_dd, "halt_dd": r.halt_dd,
        "daily_loss": r.daily_loss_limit, "session_pause": r.session_dd_pause,
        "min_position_usd": limits.usd(limits.min_position_pct), "max_position_usd": limits.usd(limits.max_position_pct),
        "max_total_usd": limits.usd(limits.max_total_pct), "cap_eps_usd": 1e-9 * limits.bankroll_usd,
    }
    budgets = [_st_budget(params, LEVEL_MULTIPLIER[level]) for level in LEVELS] + [_st_budget(params, 0.0)]
    return KernelConfig(np.array([float(values[k]) for k in CFG]), np.array(budgets, dtype="float64"))


def _st_budget(params: BookParams, multiplier: float) -> float:
    rows = allocation_rows(params.bankroll_usd, {STRATEGY_LAYER: 1.0}, params.allocator, risk_multiplier=multiplier)
    return float(next(r["budget_usd"] for r in rows if r["layer"] == STRATEGY_LAYER))


@njit(cache=True)
def _fill(buy, kind, qty, limit, o, h, lo, vol, c):
    """The one fill simulator's rules (``quant.book.fills.fill_one``) with the ST layer's costs: (qty, price, fee)."""
    filled, px, _, fee, _, _ = fill_one(buy, kind, qty, limit, o, h, lo, vol, c[5], c[6], c[7], c[8], c[9])
    return filled, px, fee


@njit(cache=True)
def _bracket_fills(q, o, h, lo, vol, stop, target, c, fk, fq, fp, ff):
    """The stop (first) and target of a leg holding ``q``; returns how many of the two filled (written to f*).

    The target is clamped to what the stop left, its fee scaled with it (``hour_fills._clamp_reduce_only``).
    """
    qty = abs(q)
    buy = q < 0.0
    n = 0
    left = qty
    for kind, order_kind, limit in ((STOP, STOP_ORDER, stop), (TARGET, LIMIT_ORDER, target)):
        want, px, fee = _fill(buy, order_kind, qty, limit, o, h, lo, vol, c)
        if want > 0.0:
            take = min(want, left)
            if take < want:
                fee = fee * (take / want)
            if take > 0.0:
                fk[n], fq[n], fp[n], ff[n] = kind, take if buy else -take, px, fee
                n += 1
                left -= take
    return n


@njit(cache=True)
def _risk_code(equity, peak, paused, halted, c):
    """The ladder's budget code for a drawdown from ``peak`` (``quant.book.risk_state.ladder_level``)."""
    if paused or halted:
        return PAUSED
    dd = 1.0 - equity / peak
    if dd >= c[12] - THRESHOLD_EPS:
        return 3
    if dd >= c[11] - THRESHOLD_EPS:
        return 2
    if dd >= c[10] - THRESHOLD_EPS:
        return 1
    return 0


@njit(cache=True)
def _entry_qty(sign, entry, stop, target, close, equity, budget, c):
    """The entry's quantity, or 0 where the layer or the safeguards would not place it."""
    if not budget > 0.0 or c[4] < 1.0:
        return 0.0
    risk = sign * (entry - stop)
    if not (risk > 0.0 and sign * (target - entry) / risk >= c[2] * (1.0 - LAYER_RR_EPS)):
        return 0.0
    qty = min(equity * c[1] / abs(entry - stop), budget / entry)
    notional = qty * close
    if not (np.isfinite(notional) and notional > 0.0) or notional < c[15] - c[18]:
        return 0.0
    if notional > c[16] + c[18] or notional > c[17] + c[18]:
        return 0.0
    return qty


@njit(cache=True)
def run_kernel(o, h, lo, cl, vol, settles, rate, new_day, d_sign, d_entry, d_stop, d_target, c, budgets):  # noqa: C901
    """One strategy's decisions on one instrument over ``len(o)`` consecutive hours from a fresh book.

    Bars are NaN where the hour has none; ``d_sign`` is +1 long / −1 short / 0 no decision.
    Returns (status, hour of the fault, equity per hour, fills as hour, kind, signed qty, price, fee).
    """
    n_h = o.shape[0]
    equity_out = np.full(n_h, np.nan)
    f_hour = np.empty(2 * n_h + 2, np.int64)
    f_kind = np.empty(2 * n_h + 2, np.int64)
    f_qty = np.empty(2 * n_h + 2)
    f_px = np.empty(2 * n_h + 2)
    f_fee = np.empty(2 * n_h + 2)
    fk, fq, fp, ff = np.empty(2, np.int64), np.empty(2), np.empty(2), np.empty(2)
    nf = 0
    bankroll = c[0]
    q = avg = l_real = l_fees = l_fund = 0.0
    mark = l_stop = l_target = np.nan
    l_exp = 0
    held = False
    p_real = p_fees = p_fund = 0.0
    pend = -1
    p_qty = p_stop = p_target = 0.0
    p_buy = False
    p_exp = 0
    prev_eq = prev_peak = prev_open = prev_dpeak = bankroll
    prev_paused = prev_halted = False
    for t in range(n_h):
        bo, bh, bl, bc, bv = o[t], h[t], lo[t], cl[t], vol[t]
        n = 0
        if pend in (ENTRY, EXIT):
            buy = p_buy
            got, px, fee = _fill(buy, MARKET_ORDER, p_qty, np.nan, bo, bh, bl, bv, c)
            if got > 0.0:
                fk[0], fq[0], fp[0], ff[0] = pend, got if buy else -got, px, fee
                n = 1
        elif pend == STOP:
            n = _bracket_fills(q, bo, bh, bl, bv, l_stop, l_target, c, fk, fq, fp, ff)
        opened = n > 0 and pend == ENTRY
        present = held or opened
        b_real, b_fees, b_fund = (l_real, l_fees, l_fund) if held else (0.0, 0.0, 0.0)
        if opened:
            q = avg = l_real = l_fees = l_fund = 0.0
            mark = np.nan
            l_stop, l_target, l_exp = p_stop, p_target, p_exp
        if held and settles[t]:
            if not (np.isfinite(rate[t]) and np.isfinite(mark) and mark > 0.0):
                return BAD_FUNDING, t, equity_out, f_hour[:nf], f_kind[:nf], f_qty[:nf], f_px[:nf], f_fee[:nf]
            l_fund -= q * mark * rate[t]
        for i in range(n):
            q, avg, realised = _apply_fill(q, avg, fq[i], fp[i])
            l_real += realised
            l_fees += ff[i]
            f_hour[nf], f_kind[nf], f_qty[nf], f_px[nf], f_fee[nf] = t, fk[i], fq[i], fp[i], ff[i]
            nf += 1
        unreal = 0.0
        if present:
            if q != 0.0 and not (np.isfinite(bc) and bc > 0.0):
                return BAD_MARK, t, equity_out, f_hour[:nf], f_kind[:nf], f_qty[:nf], f_px[:nf], f_fee[:nf]
            unreal = q * (bc - avg) if q != 0.0 else 0.0
            mark = bc
            p_real = p_real + (l_real - b_real)
            p_fees = p_fees + (l_fees - b_fees)
            p_fund = p_fund + (l_fund - b_fund)
        equity = bankroll + (p_real + unreal - p_fees + p_fund)
        if not (np.isfinite(equity) and equity > 0.0):
            return BAD_EQUITY, t, equity_out, f_hour[:nf], f_kind[:nf], f_qty[:nf], f_px[:nf], f_fee[:nf]
        equity_out[t] = equity
        day = new_day[t] and t > 0
        day_open = prev_eq if day else prev_open
        day_peak = max(prev_eq if day else prev_dpeak, equity)
        paused = (False if day else prev_paused) or (1.0 - equity / day_peak >= c[14] - THRESHOLD_EPS)
        halted = (False if day else prev_halted) or (1.0 - equity / day_open >= c[13] - THRESHOLD_EPS)
        peak = max(equity, prev_peak)
        code = _risk_code(equity, peak, paused, halted, c)
        prev_eq, prev_peak, prev_open, prev_dpeak, prev_paused, prev_halted = equity, peak, day_open, day_peak, paused, halted
        held = q != 0.0
        pend = -1
        if held:
            pend, p_qty, p_buy = (EXIT if t >= l_exp else STOP), abs(q), q < 0.0
        elif d_sign[t] != 0.0:
            qty = _entry_qty(d_sign[t], d_entry[t], d_stop[t], d_target[t], bc, equity, budgets[code], c)
            if qty > 0.0:
                pend, p_qty, p_buy = ENTRY, qty, d_sign[t] > 0.0
                p_stop, p_target, p_exp = d_stop[t], d_target[t], t + int(c[3])
    return OK, -1, equity_out, f_hour[:nf], f_kind[:nf], f_qty[:nf], f_px[:nf], f_fee[:nf]
