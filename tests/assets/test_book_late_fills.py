"""In live, an order the venue settles after its hour was booked trips the kill switch instead of being lost.

Three sample hours are run locally (the strategies layer shorts binance HYPE at 01:00). The
journal says the short was only acknowledged when the book booked 01:00, so the hour books it
unfilled; then the venue's fill reaches the journal. Booking 02:00, the book compares the hours of
the last day with the journal, names the short (booked 0, the venue filled q), trips the kill
switch from 02:00 with the command that books the hours again, and lists it in ``fills_1h``'s
metadata. Booked again from 01:00, the hours agree with the venue and nothing trips again.
"""

from __future__ import annotations

import math

import pytest

from assets.book import LATE_FILL_SOURCE
from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from resources.broker.journal import OrderJournal
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitchStore
from tests.assets.test_book_live_fills import NETWORK, START, H, _journal, _materialise, _st_orders, _stored


@pytest.mark.slow
def test_a_fill_heard_after_its_hour_was_booked_trips_the_kill_switch_until_the_hours_are_booked_again(
        local_settings, instance, monkeypatch):
    # the journal is the whole story here: no venue to cancel the ended hour's orders on
    monkeypatch.setattr("assets.book.close_ended_orders", lambda *a, **k: None)
    root, url = local_settings.storage_root, local_settings.kill_switch_url
    results = run_window(build_definitions(local_settings), instance, START, START + 3 * H, chunk_hours=1,
                         train_folds=False)
    assert all(r.success for r in results), [r.error for r in results]
    (short,) = _st_orders(root, START).itertuples(index=False)
    q = short.qty
    _journal(url, [short], [("acknowledged", 0.0, math.nan)])

    live = build_definitions(local_settings, {"order_router": OrderRouter(journal_url=url, network=NETWORK,
                                                                          venues={"binance": "binanceusdm"})})
    meta1 = _materialise(live, instance, START + H)
    booked = _stored(root, "fills_1h", START + H).set_index("client_order_id").loc[short.client_order_id]
    assert (booked["filled_qty"], booked["status"]) == (0.0, "not_triggered")  # as the journal heard by then
    assert meta1["late_venue_fills"].value == []
    store = KillSwitchStore(url)
    assert not store.is_tripped()

    p = 20.5  # the venue's fill, heard after 01:00 was booked
    journal = OrderJournal(url)
    try:
        journal.record(short.client_order_id, "filled", "looked up: filled", filled_qty=q, avg_price=p)
    finally:
        journal.dispose()
    meta2 = _materialise(live, instance, START + 2 * H)
    [trip] = store.active()
    assert trip.source == LATE_FILL_SOURCE
    assert trip.partition == "2025-09-24-02:00"
    assert (f"1 order(s) settled on the venue after their hour was booked: {short.client_order_id} "
            f"(hour 2025-09-24 01:00): booked 0, the venue says filled {q:.12g} @ 20.5") in trip.reason
    assert ("perpetua backfill --start 2025-09-24T01:00Z --end 2025-09-24T02:00Z, then perpetua kill-switch "
            "reset --by NAME") in trip.reason
    assert meta2["late_venue_fills"].value == [{"client_order_id": short.client_order_id,
                                                "exec_hour": "2025-09-24 01:00", "booked_qty": 0.0,
                                                "venue_state": "filled", "venue_qty": q}]
    intents2 = _stored(root, "order_intents_1h", START + 2 * H)
    assert not intents2.loc[intents2["approved"], "reduce_only"].eq(False).any()  # only reduce-only orders pass

    # the hours booked again from 01:00, as the reason says: they agree with the venue, nothing trips again
    _materialise(live, instance, START + H)
    rebooked = _stored(root, "fills_1h", START + H).set_index("client_order_id").loc[short.client_order_id]
    assert (rebooked["filled_qty"], rebooked["fill_price"]) == (q, p)
    meta3 = _materialise(live, instance, START + 2 * H)
    assert meta3["late_venue_fills"].value == []
    assert [t.source for t in store.active()] == [LATE_FILL_SOURCE]  # the first trip waits for a person
    store.reset("tester", "re-booked 01:00..02:00")
    assert not store.is_tripped()
    store.dispose()
