"""The trading book: one hour at a time, signals -> allocations -> intents -> safeguards -> fills -> ledger.

Hour ``H`` (its bar opens at H and closes at H+1h) is processed as:

1. **fills** — the intents approved at the end of H−1 trade against the bars of H in the one fill
   simulator (``quant.book.hour_fills``);
2. **ledger** — funding settled at H on perp legs held from H−1 (paid on the previous mark), the
   fills, then every open leg marked at H's close, all in the one ledger core
   (``quant.book.ledger.run_ledger``); P&L is attributed to (layer, venue, position);
3. **risk** — equity = bankroll + P&L, its peak, the drawdown ladder (10% / 15% / 20% from the
   PEAK), the 10% daily loss limit from the UTC day's opening equity and the 5% session pause
   from the day's own peak. A halt or a daily-loss breach is written to ``breach`` (a blocking
   check on the ledger turns it into a kill-switch trip);
4. **allocations** — signal strength per layer -> ``quant.book.allocator.allocate`` with the risk
   multiplier (0 while paused or halted);
5. **intents** — what each layer wants (``quant.book.wants``), screened by
   ``quant.book.safeguards`` against the positions after this hour's fills; with the kill switch
   active only reduce-only orders pass. The approved ones are the next hour's pending orders.
   The layers are L1 carry, L2 cascade, L3 tail hedge and the ML sleeve (``ml``: the hour's
   ``model_predictions_1h`` rows; none given, the sleeve only manages what it holds).

Everything the next hour needs is in the three tables of hour H (positions, ledger, intents),
so an hour computed alone from the stored H−1 equals the same hour inside a range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.book.allocator import allocate
from quant.book.hour_fills import execution_bars, fill_hour, underlying_bar
from quant.book.intents import hour_intents
from quant.book.ledger_rows import apply_ledger, ledger_frame, ledger_rows, previous_total
from quant.book.orders import LAYERS, ML_LAYER
from quant.book.params import (
    ALLOCATIONS,
    FILLS,
    HOUR,
    INTENTS,
    LEDGER,
    LEG_KEY,
    MONEY,
    POSITIONS,
    TOTAL,
    BookParams,
    strangle_symbol,
)
from quant.book.risk import THRESHOLD_EPS, drawdown_ladder
from quant.book.wants import (
    carry_strength,
    carry_wants,
    cascade_wants,
    hedge_wants,
    live_cascades,
    ml_wants,
)
from quant.frames import conform, empty
from quant.ml.predictions import PREDICTION_COLUMNS
from quant.ml.sizing import ml_strength


@dataclass(frozen=True)
class BookState:
    """The book at the end of ``hour`` (None: a fresh book before its first hour)."""

    hour: pd.Timestamp | None
    positions: pd.DataFrame
    ledger: pd.DataFrame
    pending: pd.DataFrame


@dataclass(frozen=True)
class HourTables:
    """Everything one hour produces (each table has an ``hour`` column)."""

    allocations: pd.DataFrame
    intents: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    ledger: pd.DataFrame


def fresh_state() -> BookState:
    """A book that holds nothing and has never traded."""
    return BookState(None, empty(POSITIONS), empty(LEDGER), empty(INTENTS))


def state_from_tables(hour: pd.Timestamp, positions: pd.DataFrame, ledger: pd.DataFrame, intents: pd.DataFrame) -> BookState:
    """The state stored for ``hour`` (the previous partition's three tables)."""
    total = ledger[ledger["layer"] == TOTAL]
    if len(total) != 1:
        raise ValueError(f"the ledger of {hour} must have exactly one total row, has {len(total)}")
    for name, df in (("positions", positions), ("ledger", ledger), ("intents", intents)):
        if len(df) and not (pd.to_datetime(df["hour"], utc=True) == hour).all():
            raise ValueError(f"stored {name} rows are not all of {hour}")
    return BookState(hour, positions, ledger, intents)


# -- 1 + 2: fills and the ledger --------------------------------------------------------------


def _option_specs(pending: pd.DataFrame, legs: pd.DataFrame) -> pd.DataFrame:
    cols = ["instrument", "strike", "expiry", "option_type", "iv"]
    parts = []
    if len(legs):  # a held leg's own terms first
        parts.append(legs.loc[legs["kind"] == "option", cols])
    if len(pending):
        opt = pending[pending["instrument_kind"] == "option"]
        parts.append(opt.rename(columns={"symbol": "instrument"})[cols].dropna(subset=["strike", "iv"]))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True).drop_duplicates("instrument") if parts else pd.DataFrame(columns=cols)


def _new_legs(fills: pd.DataFrame, pending: pd.DataFrame, legs: pd.DataFrame, hour: pd.Timestamp) -> pd.DataFrame:
    """Legs opened by this hour's fills (their stop/target/option terms come from the intent)."""
    got = fills[fills["filled_qty"] > 0]
    if got.empty:
        return legs.iloc[0:0]
    meta = pending.set_index("client_order_id")
    rows = []
    known = set(map(tuple, legs[LEG_KEY].to_numpy())) if len(legs) else set()
    for f in got.itertuples(index=False):
        leg = str(f.leg).split(":", 1)[0]
        key = (f.layer, f.venue, f.symbol, leg)
        if key in known:
            continue
        known.add(key)
        m = meta.loc[f.client_order_id]
        rows.append({
            "layer": f.layer, "venue": f.venue, "symbol": m["position"], "instrument": f.symbol, "leg": leg,
            "kind": m["instrument_kind"], "qty": 0.0, "avg_entry": 0.0, "mark": np.nan, "unrealised_usd": 0.0,
            "realised_usd": 0.0, "fees_usd": 0.0, "funding_usd": 0.0, "opened_hour": hour, "stop": m["stop"],
            "target": m["target"], "expiry": m["expiry"], "strike": m["strike"], "option_type": m["option_type"],
            "iv": m["iv"], "iv_as_of": m["hour"] if m["instrument_kind"] == "option" else pd.NaT, "modelled": bool(f.modelled),
        })
    return pd.DataFrame(rows)


# -- 3: risk -----------------------------------------------------------------------------------


def _risk(rows: pd.DataFrame, prev: dict, hour: pd.Timestamp, state_hour: pd.Timestamp | None,
          params: BookParams, open_cost: float) -> dict:
    totals = {c: float(rows[c].sum()) if len(rows) else 0.0 for c in MONEY}
    pnl = totals["realised_usd"] + totals["unrealised_usd"] - totals["fees_usd"] + totals["funding_usd"]
    equity = params.bankroll_usd + pnl
    new_day = state_hour is not None and hour.hour == 0
    day_open = float(prev["equity_usd"]) if new_day else float(prev["day_open_equity_usd"])
    day_peak = max(float(prev["equity_usd"]) if new_day else float(prev["day_peak_equity_usd"]), equity)
    paused = (False if new_day else bool(prev["session_paused"])) or (1 - equity / day_peak >= params.risk.session_dd_pause - THRESHOLD_EPS)
    day_loss = 1 - equity / day_open
    halted_today = (False if new_day else bool(prev["daily_loss_halt"])) or day_loss >= params.risk.daily_loss_limit - THRESHOLD_EPS
    ladder = drawdown_ladder(pd.Series([equity], index=[hour]), params.risk, peak_before=float(prev["peak_equity_usd"])).iloc[0]
    breach = []
    if ladder["level"] == "halt":
        breach.append(f"drawdown {ladder['drawdown']:.1%} from the peak {ladder['peak']:,.0f} USD reached the {params.risk.halt_dd:.0%} halt")
    if halted_today:
        breach.append(f"daily loss {day_loss:.1%} from the day's opening equity {day_open:,.0f} USD; limit {params.risk.daily_loss_limit:.0%}")
    multiplier = 0.0 if (paused or halted_today) else float(ladder["multiplier"])
    return {
        **totals, "pnl_usd": pnl, "cash_usd": params.bankroll_usd + totals["realised_usd"] - totals["fees_usd"] + totals["funding_usd"] - open_cost,
        "equity_usd": equity, "peak_equity_usd": float(ladder["peak"]), "drawdown": float(ladder["drawdown"]),
        "day_open_equity_usd": day_open, "day_peak_equity_usd": day_peak, "risk_level": str(ladder["level"]),
        "risk_multiplier": multiplier, "session_paused": paused, "daily_loss_halt": halted_today, "breach": "; ".join(breach),
    }


def no_predictions() -> pd.DataFrame:
    """An hour without ML predictions (the columns of ``model_predictions_1h``, no rows)."""
    return pd.DataFrame(columns=PREDICTION_COLUMNS)


# -- the hour ---------------------------------------------------------------------------------


def step(state: BookState, hour: pd.Timestamp, bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame,
         cascade: pd.DataFrame, tail: pd.DataFrame, params: BookParams, kill_switch_active: bool = False,
         ml: pd.DataFrame | None = None) -> tuple[HourTables, BookState]:
    """Process hour ``hour`` from the state at ``hour − 1h``.

    Parameters
    ----------
    bars, funding, carry, tail : the hour's rows of ``perp_ohlcv_1h``, ``funding_settlements``,
        ``carry_signals_1h`` and ``tail_hedge_signals_1h``.
    cascade : the hour's ``cascade_signals_1h`` rows, with ``armed`` (``quant.cascade.arming``).
    kill_switch_active : the persistent kill switch is tripped: only reduce-only orders pass.
    ml : the hour's ``model_predictions_1h`` rows (``quant.ml.predictions``); None: no predictions.

    Raises
    ------
    ValueError
        The state is not of the previous hour; a held leg has no price; funding is NaN on a
        held perp; an intent is malformed (bad quantity or price).
    """
    if state.hour is not None and state.hour != hour - HOUR:
        raise ValueError(f"the book's state is of {state.hour}; hour {hour} needs the state of {hour - HOUR} (run the gap first)")
    legs = state.positions.drop(columns=["hour"], errors="ignore").reset_index(drop=True)
    ebars = execution_bars(hour, bars, _option_specs(state.pending, legs), params)
    held = {tuple(k): q for k, q in zip(legs[LEG_KEY].to_numpy(), legs["qty"], strict=True)} if len(legs) else {}
    fills = fill_hour(state.pending, ebars, held, params, cancel_entries=kill_switch_active)
    new = _new_legs(fills, state.pending, legs, hour)
    all_legs = pd.concat([x for x in (legs, new) if len(x)], ignore_index=True) if len(new) else legs
    after = apply_ledger(all_legs, fills, ebars, funding, hour)
    prev = previous_total(state, params)
    rows = ledger_rows(state.ledger, legs, after)
    open_legs = after[after["qty"] != 0].reset_index(drop=True) if len(after) else after
    paid = open_legs[open_legs["kind"] != "perp"] if len(open_legs) else open_legs
    open_cost = float((paid["qty"] * paid["avg_entry"]).sum()) if len(paid) else 0.0
    risk = _risk(rows, prev, hour, state.hour, params, open_cost)

    armed = cascade
    under = underlying_bar(bars)
    tail_row = tail.iloc[0] if len(tail) else None
    l3_strength = 1.0 if ((open_legs["layer"] == "L3").any() if len(open_legs) else False) or (tail_row is not None and tail_row["status"] == "ok") else 0.0
    live = live_cascades(armed)
    preds = no_predictions() if ml is None else ml
    strength = {"L1": carry_strength(carry, open_legs, params), "L2": float(live["score"].max()) if len(live) else 0.0, "L3": l3_strength,
                ML_LAYER: ml_strength(preds, params.ml)}
    alloc = allocate(params.bankroll_usd, strength, params.allocator, risk_multiplier=risk["risk_multiplier"]).set_index("layer")

    closes = bars.set_index(["venue", "symbol"])["close"] if len(bars) else pd.Series(dtype="float64")
    wants = carry_wants(carry, open_legs, closes, float(alloc.at["L1", "budget_usd"]), params)
    wants += cascade_wants(armed, open_legs, risk["equity_usd"], float(alloc.at["L2", "budget_usd"]), params)
    hw, note = hedge_wants(tail_row, open_legs, None if under is None else float(under["close"]), hour,
                           float(alloc.at["L3", "theta_budget_usd"]), float(alloc.at["L3", "budget_usd"]), params)
    wants += hw
    reference = {(v, s): float(c) for (v, s), c in ebars.set_index(["venue", "symbol"])["close"].items()}
    mw, ml_note = ml_wants(preds, open_legs, reference, hour, risk["equity_usd"], float(alloc.at[ML_LAYER, "budget_usd"]),
                           risk["risk_level"], params)
    wants += mw
    if tail_row is not None and tail_row["status"] == "ok":
        for leg in ("put", "call"):
            reference[("deribit", str(tail_row[f"{leg}_instrument"]))] = float(tail_row[f"{leg}_ask_usd"])
    known = set(bars["symbol"]) | set(open_legs["symbol"] if len(open_legs) else [])
    if tail_row is not None and tail_row["status"] == "ok":
        known.add(strangle_symbol(str(tail_row["currency"]), pd.Timestamp(tail_row["expiry"])))
    intents = hour_intents(wants, hour, reference, open_legs, known, params, kill_switch_active)

    positions = conform(open_legs.assign(hour=hour), POSITIONS, name="positions") if len(open_legs) else empty(POSITIONS)
    ledger = conform(ledger_frame(rows, risk, hour), LEDGER, name="ledger")
    intents = conform(intents, INTENTS, name="intents")
    allocations = alloc.reset_index().assign(hour=hour, equity_usd=risk["equity_usd"], risk_level=risk["risk_level"],
                                             risk_multiplier=risk["risk_multiplier"], kill_switch_active=kill_switch_active,
                                             note=[{"L3": note, ML_LAYER: ml_note}.get(layer, "") for layer in LAYERS])
    fills = conform(fills, FILLS, name="fills") if len(fills) else empty(FILLS)
    out = HourTables(conform(allocations, ALLOCATIONS, name="allocations"), intents, fills, positions, ledger)
    return out, BookState(hour, positions, ledger, intents)


def run_book(state: BookState, hours: pd.DatetimeIndex, bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame,
             cascade: pd.DataFrame, tail: pd.DataFrame, params: BookParams,
             kill_switch_from: pd.Timestamp | None = None, ml: pd.DataFrame | None = None) -> tuple[HourTables, BookState]:
    """Step through ``hours`` in order; returns every table concatenated and the final state.

    ``kill_switch_from``: the kill switch holds entries from that hour on (a trip caused by hour H's
    data holds hour H and later, not the hours before it); None: not tripped. ``ml``: the
    ``model_predictions_1h`` rows of the range (None: no predictions; the sleeve opens nothing and
    only sells what it holds).
    """
    def by_hour(df: pd.DataFrame) -> dict:
        return dict(tuple(df.groupby("hour", sort=False))) if len(df) else {}

    inputs = (bars, funding, carry, cascade, tail, no_predictions() if ml is None else ml)
    groups = [by_hour(df) for df in inputs]
    empties = [df.iloc[0:0] for df in inputs]
    parts: list[HourTables] = []
    for hour in hours:
        b, f, c, a, t, m = (g.get(hour, e) for g, e in zip(groups, empties, strict=True))
        blocked = kill_switch_from is not None and hour >= kill_switch_from
        out, state = step(state, hour, b, f, c, a, t, params, blocked, ml=m)
        parts.append(out)
    return HourTables(*(pd.concat([getattr(p, name) for p in parts], ignore_index=True)
                        for name in ("allocations", "intents", "fills", "positions", "ledger"))), state
