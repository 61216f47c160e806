"""In live, the book's stored fills and ledger are what the venue did.

Three sample hours are run locally (the strategies layer shorts binance HYPE at 01:00 and works a
stop and a target for it at 02:00, all simulated). The journal then holds the venue's outcome of
those orders: the short filled 1% below the simulator's price, the target filled at its limit
(the simulator found no counterparty there), the stop cancelled with it. Materialised again with
a live order router, the hours book the venue's fills and the ledger accounts for them; the
orders the journal does not hold (the L3 options) stay simulated, and without a venue nothing
changes although the journal is there. Once ``order_submissions_1h`` says the live path kept the
options back (no route to Deribit), they do not fill either.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from dagster import AssetKey

from assets.book import OUTPUTS
from assets.orders import BLOCKED, NOT_ROUTED, NOT_SUBMITTED, SUBMISSION_COLUMNS, intent_of
from checks.engine import partition_key
from pipelines.definitions import build_definitions
from pipelines.runner import HOURLY_CYCLE_JOB, run_window
from quant.book.params import BookParams
from quant.book.venue_fills import HELD_BACK, is_venue_fill
from resources.broker.journal import OrderJournal
from resources.broker.resource import OrderRouter
from resources.storage import read_hours, write_hours

START = pd.Timestamp("2025-09-24 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
NETWORK = "demo"
#: The venue sold 1% below the simulator's price.
WORSE = 0.01
ST_MAKER = BookParams().fills["ST"].maker_fee_bps * 1e-4


def _materialise(defs, instance, hour: pd.Timestamp) -> dict:
    """The book's five tables of ``hour`` materialised; the fills' metadata of that hour."""
    res = defs.resolve_job_def(HOURLY_CYCLE_JOB).execute_in_process(
        instance=instance, partition_key=partition_key(hour), raise_on_error=False,
        asset_selection=[AssetKey(name) for name in OUTPUTS])
    assert res.success, [e.message for e in res.all_events if e.event_type_value == "STEP_FAILURE"]
    mats = [e.event_specific_data.materialization for e in res.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    return next(m.metadata for m in mats if m.asset_key == AssetKey("fills_1h"))


def _stored(root: str, name: str, hour: pd.Timestamp) -> pd.DataFrame:
    return read_hours(root, name, pd.DatetimeIndex([hour]))


def _st_orders(root: str, hour: pd.Timestamp) -> pd.DataFrame:
    intents = _stored(root, "order_intents_1h", hour)
    return intents[intents["approved"] & (intents["layer"] == "ST") & (intents["venue"] == "binance")]


def _journal(url: str, rows: list[tuple], outcomes: list[tuple[str, float, float]]) -> None:
    journal = OrderJournal(url)
    try:
        for i, (row, (state, qty, price)) in enumerate(zip(rows, outcomes, strict=True)):
            journal.open(intent_of(row), venue_client_id=row.client_order_id, network=NETWORK)
            journal.record(row.client_order_id, state, f"venue said {state}", filled_qty=qty,
                           avg_price=price, exchange_order_id=f"x{i}")
    finally:
        journal.dispose()


@pytest.mark.slow
def test_the_live_book_stores_the_venues_fills_and_accounts_for_them(local_settings, instance):
    root, url = local_settings.storage_root, local_settings.kill_switch_url
    defs = build_definitions(local_settings)
    results = run_window(defs, instance, START, START + 3 * H, chunk_hours=1, train_folds=False)
    assert all(r.success for r in results), [r.error for r in results]
    sim1, sim_ledger1 = _stored(root, "fills_1h", START + H), _stored(root, "ledger_1h", START + H)

    (short,) = _st_orders(root, START).itertuples(index=False)  # the ST short decided at 00:00, filled at 01:00
    exits = {r.order_type: r for r in _st_orders(root, START + H).itertuples(index=False)}  # its stop and target
    stop, target = exits["stop"], exits["limit"]
    q = short.qty
    sim_short = sim1.set_index("client_order_id").loc[short.client_order_id]
    assert (short.side, sim_short["filled_qty"]) == ("sell", q)
    p_venue = sim_short["fill_price"] * (1 - WORSE)
    _journal(url, [short, stop, target], [("filled", q, p_venue), ("canceled", 0.0, math.nan),
                                          ("filled", target.qty, target.limit)])

    # local: the journal is there but no venue is configured, so the hour is the simulator's, unchanged
    _materialise(defs, instance, START + H)
    pd.testing.assert_frame_equal(_stored(root, "fills_1h", START + H), sim1)
    pd.testing.assert_frame_equal(_stored(root, "ledger_1h", START + H), sim_ledger1)

    live = build_definitions(local_settings, {"order_router": OrderRouter(journal_url=url, network=NETWORK,
                                                                          venues={"binance": "binanceusdm"})})
    meta1 = _materialise(live, instance, START + H)
    fills1 = _stored(root, "fills_1h", START + H)
    f = fills1.set_index("client_order_id").loc[short.client_order_id]
    assert f["reason"].startswith("venue filled")
    assert (f["filled_qty"], f["status"]) == (q, "filled")
    assert f["fill_price"] == pytest.approx(p_venue, rel=1e-12)
    fee1 = sim_short["fee"] * (1 - WORSE)  # the book's taker rate on the venue's (1% smaller) notional
    assert f["fee"] == pytest.approx(fee1, rel=1e-9)
    others = fills1[fills1["client_order_id"] != short.client_order_id].reset_index(drop=True)
    assert len(others) == 2  # the L3 strangle: never journalled, simulated as before
    assert not others["reason"].map(is_venue_fill).any()
    pd.testing.assert_frame_equal(others, sim1[sim1["client_order_id"] != short.client_order_id].reset_index(drop=True))
    assert (meta1["from_venue"].value, meta1["simulated"].value) == (1, 2)
    legs = _stored(root, "positions_1h", START + H)
    leg = legs[legs["layer"] == "ST"].iloc[0]
    assert leg["qty"] == -q
    assert leg["avg_entry"] == pytest.approx(p_venue, rel=1e-12)
    assert leg["unrealised_usd"] == pytest.approx(-q * (leg["mark"] - p_venue), rel=1e-9)

    meta2 = _materialise(live, instance, START + 2 * H)
    fills2 = _stored(root, "fills_1h", START + 2 * H).set_index("client_order_id")
    assert fills2.loc[stop.client_order_id, "status"] == "not_triggered"  # cancelled with its target
    t = fills2.loc[target.client_order_id]
    assert (t["status"], t["filled_qty"], t["fill_price"]) == ("filled", q, target.limit)
    fee2 = q * target.limit * ST_MAKER
    assert t["fee"] == pytest.approx(fee2, rel=1e-9)
    assert (meta2["from_venue"].value, meta2["simulated"].value) == (2, 0)
    legs2 = _stored(root, "positions_1h", START + 2 * H)
    assert (legs2["layer"] == "ST").sum() == 0  # closed on the venue, closed in the book
    ledger2 = _stored(root, "ledger_1h", START + 2 * H)
    row = ledger2[(ledger2["layer"] == "ST") & (ledger2["symbol"] == short.position)].iloc[0]
    realised = q * (p_venue - target.limit)  # sold at the venue's price, bought back at the target
    assert row["realised_usd"] == pytest.approx(realised, rel=1e-9)
    assert row["fees_usd"] == pytest.approx(fee1 + fee2, rel=1e-9)
    assert row["unrealised_usd"] == 0.0
    assert row["pnl_usd"] == pytest.approx(realised - fee1 - fee2 + row["funding_usd"], rel=1e-9)

    # the live job's record of 00:00 says the strangle was not routed (no live route to Deribit): it fills nothing
    intents0 = _stored(root, "order_intents_1h", START)
    approved = intents0[intents0["approved"]]
    subs = pd.DataFrame({c: approved[c] for c in SUBMISSION_COLUMNS if c in approved.columns})
    subs["state"] = [("filled" if cid == short.client_order_id else NOT_ROUTED) for cid in approved["client_order_id"]]
    subs = subs.assign(filled_qty=0.0, avg_price=math.nan, exchange_order_id="", network=NETWORK, reason="")
    write_hours(root, "order_submissions_1h", pd.DatetimeIndex([START]), subs[SUBMISSION_COLUMNS].reset_index(drop=True))
    meta3 = _materialise(live, instance, START + H)
    fills3 = _stored(root, "fills_1h", START + H).set_index("client_order_id")
    options = fills3[fills3["layer"] == "L3"]
    assert len(options) == 2
    assert (options["filled_qty"] == 0.0).all()
    assert (options["status"] == "cancelled").all()
    assert options["reason"].str.startswith("venue not_routed: nothing filled").all()
    assert fills3.loc[short.client_order_id, "fill_price"] == pytest.approx(p_venue, rel=1e-12)  # the journal, not the row
    assert (meta3["from_venue"].value, meta3["simulated"].value) == (3, 0)
    legs3 = _stored(root, "positions_1h", START + H)
    assert set(legs3["layer"]) == {"ST"}


def test_the_book_knows_every_verdict_the_live_path_keeps_an_intent_back_with():
    assert set(HELD_BACK) == {BLOCKED, NOT_ROUTED, NOT_SUBMITTED}
