"""Fills of live orders feed the book: an intent the venue has a record of fills as the venue
filled it (its quantity, its average price), every number below worked out by hand; the money is
accounted as for a simulated fill; bad records are refused naming the order."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from quant.book.orders import client_order_id
from quant.book.params import INTENTS, LEDGER, POSITIONS, BookParams
from quant.book.step import BookState, run_book
from quant.book.venue_fills import LATE_FILL_COLUMNS, VENUE_STATES, is_venue_fill, late_fills
from quant.frames import empty
from resources.broker.base import STATES

T0 = pd.Timestamp("2025-06-10 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
BTC = "BTC/USDT:USDT"
QTY = 0.1
#: L2's book fee rates (``quant.book.params.layer_fill_params``): taker 5 bps, maker 2 bps; 5 bps market slippage.
TAKER, MAKER = 5e-4, 2e-4
BAR0 = (100.0, 102.0, 99.0, 101.0)  # open, high, low, close of T0
BAR1 = (102.0, 104.5, 101.5, 104.0)  # of T0 + 1h


def _bars() -> pd.DataFrame:
    rows = [(T0 + i * H, *b) for i, b in enumerate((BAR0, BAR1))]
    return pd.DataFrame([{"hour": h, "venue": "binance", "symbol": BTC, "ts": h, "open": o, "high": hi, "low": lo,
                          "close": c, "volume": 1e9, "quote_volume": 1e9 * c, "flat_hours": 0} for h, o, hi, lo, c in rows])


NO_FUNDING = pd.DataFrame(columns=["hour", "venue", "symbol", "funding_rate"])
NO_CARRY = pd.DataFrame(columns=["hour", "venue", "symbol", "entry", "exit", "funding_apr"])
NO_CASCADE = pd.DataFrame(columns=["hour", "venue", "symbol", "score", "direction", "close", "rv_24h", "status", "armed"])
NO_TAIL = pd.DataFrame(columns=["hour", "status"])


def intent(side: str = "buy", qty: float = QTY, order_type: str = "market", limit: float = math.nan,
           leg: str = "rung1", reduce_only: bool = False, exec_hour: pd.Timestamp = T0) -> dict:
    """An approved L2 intent decided the hour before ``exec_hour`` (every ``INTENTS`` column)."""
    hour = exec_hour - H
    row = {name: math.nan for name, kind in INTENTS.items() if kind == "float64"}
    row |= {"hour": hour, "exec_hour": exec_hour, "venue": "binance", "symbol": BTC, "side": side, "qty": qty,
            "order_type": order_type, "limit": limit, "layer": "L2", "leg": leg, "reason": "test", "reduce_only": reduce_only,
            "client_order_id": client_order_id(hour, "L2", BTC, leg, "binance"), "instrument_kind": "perp",
            "position": BTC, "stop": 90.0, "target": 120.0, "expiry": pd.NaT, "option_type": "", "approved": True,
            "rejection": "", "bankroll_usd": 100_000.0, "kill_switch_active": False, "reference_price": 100.0,
            "notional_usd": qty * 100.0}
    return row


def pending(*rows: dict) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(INTENTS))
    df["expiry"] = pd.to_datetime(df["expiry"], utc=True)
    return df.astype(INTENTS)


def venue(*records: tuple) -> pd.DataFrame:
    """(client_order_id, state, filled_qty, avg_price[, fee]) rows."""
    return pd.DataFrame([(*r, math.nan)[:5] for r in records],
                        columns=["client_order_id", "state", "filled_qty", "avg_price", "fee"])


def run(state: BookState, hour: pd.Timestamp, venue_fills: pd.DataFrame | None, kill: bool = False):
    return run_book(state, pd.DatetimeIndex([hour]), _bars(), NO_FUNDING, NO_CARRY, NO_CASCADE, NO_TAIL, BookParams(),
                    kill_switch_from=hour if kill else None, venue_fills=venue_fills)


def first_hour(*intents: dict, venue_fills: pd.DataFrame | None, kill: bool = False):
    return run(BookState(None, empty(POSITIONS), empty(LEDGER), pending(*intents)), T0, venue_fills, kill)


def total(tables) -> pd.Series:
    ledger = tables.ledger
    return ledger[ledger["layer"] == "total"].iloc[-1]


def test_a_market_buy_filled_by_the_venue_books_the_venues_price_then_closes_at_the_venues_price():
    buy = intent()
    cid = buy["client_order_id"]
    tables, state = first_hour(buy, venue_fills=venue((cid, "filled", QTY, 100.2)))
    fill = tables.fills.iloc[0]
    # venue: 0.1 at 100.2 -> notional 10.02, fee at the book's taker rate 10.02 × 5 bps = 0.00501
    assert (fill["filled_qty"], fill["fill_price"], fill["status"]) == (QTY, 100.2, "filled")
    assert fill["notional"] == pytest.approx(10.02, rel=1e-12)
    assert fill["fee"] == pytest.approx(0.00501, rel=1e-12)
    assert is_venue_fill(fill["reason"])
    assert not fill["modelled"]
    leg = tables.positions.iloc[0]
    assert (leg["qty"], leg["avg_entry"], leg["mark"]) == (QTY, 100.2, 101.0)
    assert leg["unrealised_usd"] == pytest.approx(0.1 * (101.0 - 100.2), rel=1e-9)  # 0.08
    t = total(tables)
    assert t["fees_usd"] == pytest.approx(0.00501, rel=1e-12)
    assert t["pnl_usd"] == pytest.approx(0.08 - 0.00501, rel=1e-9)  # 0.07499
    assert t["cash_usd"] == pytest.approx(100_000 - 0.00501, rel=1e-12)  # a perp costs no cash; its fee does
    assert t["equity_usd"] == pytest.approx(100_000.07499, rel=1e-12)

    # the simulator would have bought at the open plus 5 bps slippage: 100 × 1.0005 = 100.05
    simulated, _ = first_hour(buy, venue_fills=None)
    assert simulated.fills.iloc[0]["fill_price"] == pytest.approx(100.05, rel=1e-12)
    assert not is_venue_fill(simulated.fills.iloc[0]["reason"])

    # the next hour the venue closes it at 103.0 with its own fee of 0.004 USD
    sell = intent("sell", reduce_only=True, exec_hour=T0 + H)
    after = BookState(state.hour, state.positions, state.ledger, pending(sell))
    tables2, _ = run(after, T0 + H, venue((sell["client_order_id"], "filled", QTY, 103.0, 0.004)))
    assert tables2.fills.iloc[0]["fee"] == 0.004
    assert tables2.positions.empty
    t2 = total(tables2)
    realised = 0.1 * (103.0 - 100.2)  # 0.28
    assert t2["realised_usd"] == pytest.approx(realised, rel=1e-9)
    assert t2["fees_usd"] == pytest.approx(0.00501 + 0.004, rel=1e-12)
    assert t2["pnl_usd"] == pytest.approx(0.28 - 0.00901, rel=1e-9)  # 0.27099
    assert t2["cash_usd"] == pytest.approx(100_000 + 0.28 - 0.00901, rel=1e-12)
    assert t2["unrealised_usd"] == 0.0


def test_a_partial_venue_fill_books_what_filled():
    buy = intent()
    tables, _ = first_hour(buy, venue_fills=venue((buy["client_order_id"], "partially_filled", 0.04, 100.3)))
    fill = tables.fills.iloc[0]
    assert (fill["filled_qty"], fill["fill_price"], fill["status"]) == (0.04, 100.3, "partial")
    assert fill["fee"] == pytest.approx(0.04 * 100.3 * TAKER, rel=1e-12)  # 0.002006
    assert "still working" in fill["reason"]
    leg = tables.positions.iloc[0]
    assert leg["qty"] == 0.04
    assert leg["avg_entry"] == pytest.approx(100.3, rel=1e-12)
    assert total(tables)["pnl_usd"] == pytest.approx(0.04 * (101.0 - 100.3) - 0.002006, rel=1e-9)  # 0.025994


def test_an_order_the_venue_rejected_does_not_fill_where_the_simulator_would_have():
    buy = intent()
    assert first_hour(buy, venue_fills=None)[0].fills.iloc[0]["filled_qty"] == QTY
    tables, _ = first_hour(buy, venue_fills=venue((buy["client_order_id"], "rejected", 0.0, math.nan)))
    fill = tables.fills.iloc[0]
    assert (fill["filled_qty"], fill["fee"], fill["status"]) == (0.0, 0.0, "cancelled")
    assert math.isnan(fill["fill_price"])
    assert fill["reason"].startswith("venue rejected")
    assert tables.positions.empty
    assert (total(tables)["pnl_usd"], total(tables)["cash_usd"]) == (0.0, 100_000.0)


@pytest.mark.parametrize("state", ["blocked", "not_routed", "not_submitted"])
def test_an_intent_the_live_path_kept_back_does_not_fill(state):
    buy = intent()
    tables, _ = first_hour(buy, venue_fills=venue((buy["client_order_id"], state, 0.0, math.nan)))
    fill = tables.fills.iloc[0]
    assert (fill["filled_qty"], fill["fee"], fill["status"]) == (0.0, 0.0, "cancelled")
    assert fill["reason"].startswith(f"venue {state}: nothing filled")
    assert tables.positions.empty


@pytest.mark.parametrize("state", ["canceled", "expired", "acknowledged"])
def test_a_limit_the_venue_did_not_fill_does_not_fill_although_the_bar_traded_through_it(state):
    buy = intent(order_type="limit", limit=100.5)  # the bar's low 99 < 100.5: the simulator fills at the open, 100
    simulated = first_hour(buy, venue_fills=None)[0].fills.iloc[0]
    assert (simulated["filled_qty"], simulated["fill_price"]) == (QTY, 100.0)
    assert simulated["fee"] == pytest.approx(QTY * 100.0 * MAKER, rel=1e-12)
    tables, _ = first_hour(buy, venue_fills=venue((buy["client_order_id"], state, 0.0, math.nan)))
    fill = tables.fills.iloc[0]
    assert (fill["filled_qty"], fill["status"]) == (0.0, "not_triggered")
    assert tables.positions.empty
    assert total(tables)["fees_usd"] == 0.0


def test_a_venue_limit_fill_pays_the_book_maker_rate_on_the_venues_notional():
    buy = intent(order_type="limit", limit=100.5)
    fill = first_hour(buy, venue_fills=venue((buy["client_order_id"], "filled", QTY, 100.4)))[0].fills.iloc[0]
    assert fill["fee"] == pytest.approx(QTY * 100.4 * MAKER, rel=1e-12)  # 0.0020080


def test_an_intent_without_a_venue_record_keeps_the_simulated_fill_beside_a_venue_fill():
    routed, paper = intent(leg="rung1"), intent(leg="rung2")
    tables, _ = first_hour(routed, paper, venue_fills=venue((routed["client_order_id"], "filled", QTY, 100.2)))
    fills = tables.fills.set_index("client_order_id")
    assert fills.loc[routed["client_order_id"], "fill_price"] == 100.2
    assert fills.loc[paper["client_order_id"], "fill_price"] == pytest.approx(100.05, rel=1e-12)
    assert [is_venue_fill(r) for r in fills["reason"]] == [True, False]


def test_the_kill_switch_does_not_cancel_what_the_venue_already_filled():
    routed, paper = intent(leg="rung1"), intent(leg="rung2")
    tables, _ = first_hour(routed, paper, venue_fills=venue((routed["client_order_id"], "filled", QTY, 100.2)), kill=True)
    fills = tables.fills.set_index("client_order_id")
    assert fills.loc[routed["client_order_id"], "filled_qty"] == QTY  # it traded before the trip
    assert fills.loc[paper["client_order_id"], "status"] == "cancelled"


def test_a_reduce_only_venue_fill_is_clamped_to_what_the_leg_holds_and_stays_marked():
    buy = intent()
    _, state = first_hour(buy, venue_fills=venue((buy["client_order_id"], "filled", QTY, 100.2)))
    sell = intent("sell", qty=0.2, reduce_only=True, exec_hour=T0 + H)
    after = BookState(state.hour, state.positions, state.ledger, pending(sell))
    tables, _ = run(after, T0 + H, venue((sell["client_order_id"], "filled", 0.2, 103.0)))
    fill = tables.fills.iloc[0]
    assert (fill["filled_qty"], fill["status"]) == (QTY, "partial")
    assert fill["fee"] == pytest.approx(QTY * 103.0 * TAKER, rel=1e-12)
    assert is_venue_fill(fill["reason"])
    assert "clamped" in fill["reason"]
    assert tables.positions.empty


CID = intent()["client_order_id"]


@pytest.mark.parametrize(("record", "says"), [
    ((CID, "filled", QTY, math.nan), "without a price"),
    ((CID, "partially_filled", 0.05, 0.0), "without a price"),
    ((CID, "filled", 0.2, 100.0), "more than the intent"),
    ((CID, "done", QTY, 100.0), "unknown state 'done'"),
    ((CID, "filled", math.nan, 100.0), "filled_qty nan"),
    ((CID, "canceled", -0.01, 100.0), "filled_qty -0.01"),
    ((CID, "rejected", 0.05, 100.0), "never traded"),
    ((CID, "blocked", 0.05, 100.0), "never traded"),
    ((CID, "filled", 0.0, math.nan), "nothing filled"),
    ((CID, "filled", QTY, 100.0, -1.0), "fee -1.0"),
])
def test_a_bad_venue_record_is_refused_naming_the_order(record, says):
    with pytest.raises(ValueError, match=f"{CID}.*{says}"):
        first_hour(intent(), venue_fills=venue(record))


def test_two_records_of_one_order_or_a_missing_column_are_refused():
    with pytest.raises(ValueError, match=f"two records for {CID}"):
        first_hour(intent(), venue_fills=venue((CID, "filled", QTY, 100.0), (CID, "filled", QTY, 100.0)))
    with pytest.raises(ValueError, match="lacks columns"):
        first_hour(intent(), venue_fills=venue((CID, "filled", QTY, 100.0)).drop(columns="avg_price"))


def test_the_book_knows_every_state_the_broker_journals():
    assert VENUE_STATES == STATES


# -- late fills: the journal heard something else after the hour was booked ---------------------------------------

def _booked(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["client_order_id", "hour", "filled_qty", "fill_price"]).astype(
        {"hour": "datetime64[ns, UTC]"})


def _records(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["client_order_id", "state", "filled_qty", "avg_price"])


def test_late_fills_names_what_the_venue_filled_after_its_hour_was_booked():
    h1, h2 = pd.Timestamp("2026-02-10 13:00", tz="UTC"), pd.Timestamp("2026-02-10 14:00", tz="UTC")
    booked = _booked([
        ("pp-a", h2, 0.0, math.nan),        # a resting rung booked unfilled (its cancel failed) ...
        ("pp-b", h1, 0.5, 60_000.0),        # booked as the venue said: agrees
        ("pp-c", h1, 0.2, 61_000.0),        # booked partially filled; the venue finished it later
        ("pp-d", h1, 0.1, 59_000.0),        # simulated (never journalled): not this comparison's
        ("pp-e", h2, 1.0, 100.0),           # the same quantity at another price (a person's resolution)
        ("pp-f", h2, 3.0, 10.0),            # the venue's lot rounding (1e-12 relative): agrees
    ])
    records = _records([
        ("pp-a", "filled", 0.3, 59_500.0),  # ... which the venue filled
        ("pp-b", "filled", 0.5, 60_000.0),
        ("pp-c", "filled", 0.4, 61_100.0),
        ("pp-e", "filled", 1.0, 100.5),
        ("pp-f", "filled", 3.0 * (1 + 1e-12), 10.0),
        ("pp-g", "filled", 1.0, 5.0),       # an hour not booked yet: not compared
    ])
    late = late_fills(booked, records)
    assert late["client_order_id"].tolist() == ["pp-c", "pp-a", "pp-e"]  # oldest execution hour first
    assert late["exec_hour"].tolist() == [h1, h2, h2]
    c = late.iloc[0]
    assert (c["booked_qty"], c["booked_price"], c["venue_state"], c["venue_qty"], c["venue_price"]) == (
        0.2, 61_000.0, "filled", 0.4, 61_100.0)


def test_late_fills_is_empty_when_the_book_agrees_and_refuses_a_bad_record():
    h = pd.Timestamp("2026-02-10 13:00", tz="UTC")
    assert late_fills(_booked([("pp-a", h, 0.0, math.nan)]), _records([("pp-a", "canceled", 0.0, math.nan)])).empty
    assert list(late_fills(_booked([]), _records([])).columns) == LATE_FILL_COLUMNS
    with pytest.raises(ValueError, match="venue record of pp-a: .*filled without a price"):
        late_fills(_booked([("pp-a", h, 0.0, math.nan)]), _records([("pp-a", "filled", 1.0, math.nan)]))


def test_a_reduce_only_fill_the_book_clamped_is_not_a_late_fill_unless_the_venue_now_says_less():
    buy = intent()
    _, state = first_hour(buy, venue_fills=venue((buy["client_order_id"], "filled", QTY, 100.2)))
    sell = intent("sell", qty=0.2, reduce_only=True, exec_hour=T0 + H)
    after = BookState(state.hour, state.positions, state.ledger, pending(sell))
    record = (sell["client_order_id"], "filled", 0.2, 103.0)
    tables, _ = run(after, T0 + H, venue(record))
    booked = tables.fills  # QTY booked of the venue's 0.2: the leg held only QTY
    assert booked["filled_qty"].tolist() == [QTY]
    assert late_fills(booked, _records([record])).empty  # re-booking would clamp again: nothing to do
    lower = late_fills(booked, _records([(sell["client_order_id"], "filled", QTY / 2, 103.0)]))
    assert lower["venue_qty"].tolist() == [QTY / 2]
