"""The trading book over a range of hours: signals -> allocations -> intents -> safeguards -> fills -> ledger.

Hour ``H`` (its bar opens at H and closes at H+1h) is processed as:

1. **fills** — the intents approved at the end of H−1 trade against the bars of H in the one fill
   simulator (``quant.book.hour_fills``);
2. **ledger** — funding settled at H on perp legs held from H−1 (paid on the previous mark), the
   fills, then every open leg marked at H's close (``quant.book.ledger_rows``); P&L is
   attributed to (layer, venue, position);
3. **risk** — equity = bankroll + P&L, its peak, the drawdown ladder (10% / 15% / 20% from the
   PEAK), the 10% daily loss limit from the UTC day's opening equity and the 5% session pause
   from the day's own peak. A halt or a daily-loss breach is written to ``breach`` (a blocking
   check on the ledger turns it into a kill-switch trip);
4. **allocations** — signal strength per layer -> ``quant.book.allocator`` with the risk
   multiplier (0 while paused or halted);
5. **intents** — what each layer wants (``quant.book.wants``), screened by
   ``quant.book.safeguards`` against the positions after this hour's fills; with the kill switch
   active only reduce-only orders pass. The approved ones are the next hour's pending orders.
   The layers are L1 carry, L2 cascade, L3 tail hedge, the ML sleeve (``ml``: the hour's
   ``model_predictions_1h`` rows; none given, the sleeve only manages what it holds) and the
   strategies (``strategies``: the hour's ``strategy_signals_1h`` decisions, ``quant.book.strategy_layer``).

The range is one state machine (:class:`RangeBook`): the inputs are split by hour once
(``quant.book.range_inputs``), the state between hours is plain records (``quant.book.legs``)
and the five tables are built once at the end, so an hour costs its arithmetic, not pandas'
bookkeeping. Everything the next hour needs is in the three tables of hour H (positions, ledger,
intents), so an hour computed alone from the stored H−1 equals the same hour inside a range.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter

import pandas as pd

from quant.book.allocator import allocation_rows
from quant.book.hour_fills import execution_bars, fill_hour, option_specs
from quant.book.intents import hour_intents
from quant.book.ledger_rows import (
    LedgerHour,
    PositionMoney,
    apply_ledger,
    ledger_frame,
    ledger_hour,
    previous_total,
    totals,
)
from quant.book.legs import (
    LEG_FIELDS,
    Leg,
    array_sum,
    frame_of,
    frame_of_values,
    legs_from_frame,
    records_from_frame,
)
from quant.book.orders import LAYERS, ML_LAYER
from quant.book.params import (
    ALLOCATIONS,
    FILLS,
    HOUR,
    INTENTS,
    LEDGER,
    POSITIONS,
    TOTAL,
    BookParams,
    strangle_symbol,
)
from quant.book.range_inputs import RangeInputs
from quant.book.risk_state import hour_risk
from quant.book.strategy_layer import STRATEGY_LAYER, strategy_strength, strategy_wants
from quant.book.venue_fills import venue_map
from quant.book.wants import carry_strength, carry_wants, cascade_wants, hedge_wants, ml_wants
from quant.frames import empty
from quant.ml.predictions import PREDICTION_COLUMNS


@dataclass(frozen=True)
class BookState:
    """The book at the end of ``hour`` (None: a fresh book before its first hour)."""

    hour: pd.Timestamp | None
    positions: pd.DataFrame
    ledger: pd.DataFrame
    pending: pd.DataFrame


@dataclass(frozen=True)
class HourTables:
    """Everything a range produces (each table has an ``hour`` column)."""

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


def no_predictions() -> pd.DataFrame:
    """An hour without ML predictions (the columns of ``model_predictions_1h``, no rows)."""
    return pd.DataFrame(columns=PREDICTION_COLUMNS)


class RangeBook:
    """The book as a state machine over hours: :meth:`step` one hour, :meth:`tables` everything stepped.

    ``venue_fills``: what the venue did with the intents routed live, one row per client order id
    (``quant.book.venue_fills``: state, filled_qty, avg_price, optionally fee); each such intent
    fills as the venue filled it, every other as the simulator fills it. None (the default): every
    fill is simulated, exactly as without the argument.
    """

    def __init__(self, state: BookState, inputs: RangeInputs, params: BookParams,
                 venue_fills: pd.DataFrame | None = None) -> None:
        self.hour = state.hour
        self.legs: list[Leg] = legs_from_frame(state.positions)
        stored = records_from_frame(state.ledger)
        self.money = PositionMoney.from_ledger(stored)
        self.total = previous_total(stored, params.bankroll_usd)
        self.ledger: list[LedgerHour] = []
        self.pending: list[dict] = records_from_frame(state.pending)
        self.inputs = inputs
        self.params = params
        self.venue = venue_map(venue_fills)
        self.out: dict[str, list[dict]] = {name: [] for name in ("allocations", "intents", "fills", "positions", "ledger")}
        self.last: dict[str, list[dict]] = {}

    def step(self, hour: pd.Timestamp, kill_switch_active: bool = False) -> None:
        """Process ``hour`` from the state at ``hour − 1h``."""
        if self.hour is not None and self.hour != hour - HOUR:
            raise ValueError(f"the book's state is of {self.hour}; hour {hour} needs the state of {hour - HOUR} (run the gap first)")
        p, inp, legs = self.params, self.inputs.at(hour), self.legs
        ebars = execution_bars(hour, inp.bars, option_specs(self.pending, legs), p, inp.exec_base, inp.under)
        fills = fill_hour(hour, self.pending, ebars, {leg.key: leg.qty for leg in legs}, p, cancel_entries=kill_switch_active,
                          venue=self.venue)
        before = {leg.key: (leg.realised_usd, leg.fees_usd, leg.funding_usd) for leg in legs}
        all_legs = legs + _new_legs(fills, self.pending, legs, hour)
        apply_ledger(all_legs, fills, ebars, inp.funding, hour)
        money, unrealised = self.money.step(before, all_legs)
        open_legs = [leg for leg in all_legs if leg.qty != 0]
        open_cost = array_sum(leg.qty * leg.avg_entry for leg in open_legs if leg.kind != "perp")
        risk = hour_risk(totals(money, unrealised), self.total, hour, self.hour, p, open_cost)

        under = inp.under
        tail = inp.tail
        tail_ok = tail is not None and tail["status"] == "ok"
        strength = {"L1": carry_strength(inp.carry, open_legs, p), "L2": inp.l2_strength,
                    "L3": 1.0 if any(leg.layer == "L3" for leg in open_legs) or tail_ok else 0.0, ML_LAYER: inp.ml_strength,
                    STRATEGY_LAYER: strategy_strength(inp.decisions, open_legs)}
        alloc = {r["layer"]: r for r in allocation_rows(p.bankroll_usd, strength, p.allocator, risk_multiplier=risk["risk_multiplier"])}
        wants = carry_wants(inp.carry, open_legs, inp.closes, float(alloc["L1"]["budget_usd"]), p)
        wants += cascade_wants(inp.live, open_legs, risk["equity_usd"], float(alloc["L2"]["budget_usd"]), p)
        hw, note = hedge_wants(tail, open_legs, None if under is None else float(under[5]), hour,
                               float(alloc["L3"]["theta_budget_usd"]), float(alloc["L3"]["budget_usd"]), p)
        wants += hw
        reference = {key: float(bar[3]) for key, bar in ebars.items()}
        mw, ml_note = ml_wants(inp.predictions, open_legs, reference, hour, risk["equity_usd"],
                               float(alloc[ML_LAYER]["budget_usd"]), risk["risk_level"], p)
        wants += mw
        sw = strategy_wants(inp.decisions, open_legs, hour, risk["equity_usd"], float(alloc[STRATEGY_LAYER]["budget_usd"]),
                            p.strategies)
        wants += sw
        known = inp.symbols | {leg.symbol for leg in open_legs} | {w.position for w in sw}
        if tail_ok:
            for leg in ("put", "call"):
                reference[("deribit", str(tail[f"{leg}_instrument"]))] = float(tail[f"{leg}_ask_usd"])
            known = known | {strangle_symbol(str(tail["currency"]), pd.Timestamp(tail["expiry"]))}
        intents = hour_intents(wants, hour, reference, open_legs, known, p, kill_switch_active)

        notes = {"L3": note, ML_LAYER: ml_note}
        last = {
            "allocations": [{**alloc[layer], "hour": hour, "equity_usd": risk["equity_usd"], "risk_level": risk["risk_level"],
                             "risk_multiplier": risk["risk_multiplier"], "kill_switch_active": kill_switch_active,
                             "note": notes.get(layer, "")} for layer in LAYERS],
            "intents": intents,
            "fills": fills,
            "positions": [{"hour": hour, "legs": [_LEG_VALUES(leg) for leg in open_legs]}],
        }
        for name, records in last.items():
            self.out[name].extend(records)
        self.ledger.append(ledger_hour(self.money.keys, money, unrealised, risk, hour))
        self.last = last
        self.hour, self.legs, self.total, self.pending = hour, open_legs, risk, intents

    def tables(self) -> HourTables:
        """Every stepped hour's tables, in hour order."""
        return HourTables(*(self._frame(name, self.out[name], self.ledger) for name in _SCHEMAS))

    @staticmethod
    def _frame(name: str, records: list[dict], ledger: list[LedgerHour]) -> pd.DataFrame:
        if name == "ledger":
            return ledger_frame(ledger)
        if name == "positions":  # one record per hour: its legs' values (LEG_FIELDS order)
            return frame_of_values(LEG_FIELDS, [(r["hour"], r["legs"]) for r in records], POSITIONS, name=name)
        return frame_of(records, _SCHEMAS[name], name=name)

    def state(self) -> BookState:
        """The book at the end of the last stepped hour (its three tables)."""
        if not self.last:
            raise ValueError("no hour was stepped")
        return BookState(self.hour, *(self._frame(name, self.last.get(name, []), self.ledger[-1:])
                                      for name in ("positions", "ledger", "intents")))


_LEG_VALUES = attrgetter(*LEG_FIELDS)
_SCHEMAS = {"allocations": ALLOCATIONS, "intents": INTENTS, "fills": FILLS, "positions": POSITIONS, "ledger": LEDGER}


def _new_legs(fills: list[dict], pending: list[dict], legs: list[Leg], hour: pd.Timestamp) -> list[Leg]:
    """Legs opened by this hour's fills (their stop/target/option terms come from the intent)."""
    known = {leg.key for leg in legs}
    meta = None
    out = []
    for f in fills:
        if not f["filled_qty"] > 0:
            continue
        key = (f["layer"], f["venue"], f["symbol"], str(f["leg"]).split(":", 1)[0])
        if key in known:
            continue
        known.add(key)
        meta = meta if meta is not None else {i["client_order_id"]: i for i in pending}
        m = meta[f["client_order_id"]]
        option = m["instrument_kind"] == "option"
        out.append(Leg(
            layer=f["layer"], venue=f["venue"], symbol=m["position"], instrument=f["symbol"], leg=key[3],
            kind=m["instrument_kind"], qty=0.0, avg_entry=0.0, mark=float("nan"), unrealised_usd=0.0, realised_usd=0.0,
            fees_usd=0.0, funding_usd=0.0, opened_hour=hour, stop=m["stop"], target=m["target"], expiry=m["expiry"],
            strike=m["strike"], option_type=m["option_type"], iv=m["iv"], iv_as_of=m["hour"] if option else pd.NaT,
            modelled=bool(f["modelled"]),
        ))
    return out


def step(state: BookState, hour: pd.Timestamp, bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame,
         cascade: pd.DataFrame, tail: pd.DataFrame, params: BookParams, kill_switch_active: bool = False,
         ml: pd.DataFrame | None = None, strategies: pd.DataFrame | None = None) -> tuple[HourTables, BookState]:
    """Process hour ``hour`` from the state at ``hour − 1h`` (:func:`run_book` over one hour).

    Parameters
    ----------
    bars, funding, carry, tail : the hour's rows of ``perp_ohlcv_1h``, ``funding_settlements``,
        ``carry_signals_1h`` and ``tail_hedge_signals_1h``.
    cascade : the hour's ``cascade_signals_1h`` rows, with ``armed`` (``quant.cascade.arming``).
    kill_switch_active : the persistent kill switch is tripped: only reduce-only orders pass.
    ml : the hour's ``model_predictions_1h`` rows (``quant.ml.predictions``); None: no predictions.
    strategies : the hour's ``strategy_signals_1h`` rows (``quant.strategies`` decisions); None: none.

    Raises
    ------
    ValueError
        The state is not of the previous hour; a held leg has no price; funding is NaN on a
        held perp; an intent is malformed (bad quantity or price).
    """
    return run_book(state, pd.DatetimeIndex([hour]), bars, funding, carry, cascade, tail, params,
                    kill_switch_from=hour if kill_switch_active else None, ml=ml, strategies=strategies)


def run_book(state: BookState, hours: pd.DatetimeIndex, bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame,
             cascade: pd.DataFrame, tail: pd.DataFrame, params: BookParams,
             kill_switch_from: pd.Timestamp | None = None, ml: pd.DataFrame | None = None,
             strategies: pd.DataFrame | None = None, venue_fills: pd.DataFrame | None = None) -> tuple[HourTables, BookState]:
    """Step through ``hours`` in order; returns every table and the final state.

    ``kill_switch_from``: the kill switch holds entries from that hour on (a trip caused by hour H's
    data holds hour H and later, not the hours before it); None: not tripped. ``ml``: the
    ``model_predictions_1h`` rows of the range (None: no predictions; the sleeve opens nothing and
    only sells what it holds). ``strategies``: the ``strategy_signals_1h`` rows of the range (only
    ``accepted`` ones trade; None: the strategies layer opens nothing and manages what it holds).
    ``venue_fills``: the venue's outcome of the intents routed live (:class:`RangeBook`); None: all simulated.
    """
    with _no_cycle_collection():
        inputs = range_inputs(bars, funding, carry, cascade, tail, params, ml=ml, strategies=strategies)
        return run_book_on(state, hours, inputs, params, kill_switch_from, venue_fills)


def range_inputs(bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame, cascade: pd.DataFrame,
                 tail: pd.DataFrame, params: BookParams, ml: pd.DataFrame | None = None,
                 strategies: pd.DataFrame | None = None) -> RangeInputs:
    """:func:`run_book`'s inputs split by hour, built apart (a range engine builds them in another process)."""
    return RangeInputs(bars, funding, carry, cascade, tail, no_predictions() if ml is None else ml, params, strategies)


def run_book_on(state: BookState, hours: pd.DatetimeIndex, inputs: RangeInputs, params: BookParams,
                kill_switch_from: pd.Timestamp | None = None,
                venue_fills: pd.DataFrame | None = None) -> tuple[HourTables, BookState]:
    """:func:`run_book` over inputs already built by :func:`range_inputs` (with the same ``params``)."""
    with _no_cycle_collection():
        book = RangeBook(state, inputs, params, venue_fills)
        for hour in hours:
            book.step(hour, kill_switch_from is not None and hour >= kill_switch_from)
        return book.tables(), book.state()


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cyclic garbage collector paused (and restored as it was) while a range runs.

    A long range holds millions of live records (the intents, fills and allocations of every
    hour) and makes next to no reference cycles, yet each full pass of the collector walks every
    record: ~15% of two years × 50 symbols. Reference counting still frees memory as the range
    goes; a cycle made meanwhile is collected once the collector resumes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
