"""In live, the book closes the ended hour's working orders before it books them.

A resting rung that traded during its hour is known to the journal only once the broker asks the
venue; the book of hour H first cancels the orders decided before H (``assets.book.close_ended_orders``)
and so books the rung as filled at the venue's price and the unfilled rung as cancelled —
on both loopback venues. Its stops are only looked up: they stay on the venue until the next hour's
replacement is out (``order_submissions_1h`` cancels them then)."""

from __future__ import annotations

import pandas as pd
from dagster import DagsterInstance, build_asset_context

from assets.book import live_venue_fills
from resources.broker.expiry import EXPIRED_REASON
from resources.broker.journal import OrderJournal
from resources.storage import write_hours
from tests.assets.test_order_expiry import HOUR, PREV, _cancels, _ladder, _run, _venue_state, world  # noqa: F401 - world is a fixture


def test_the_live_book_books_a_rung_that_filled_during_its_hour(world) -> None:  # noqa: F811
    name, venue, resources = world
    router, storage = resources["order_router"], resources["hourly_parquet"].root
    ladder = _ladder(PREV, name)
    write_hours(storage, "order_intents_1h", pd.DatetimeIndex([PREV]), ladder)
    rung1, rung2, stop = ladder["client_order_id"].tolist()
    journal = OrderJournal(router.journal_url)
    with DagsterInstance.ephemeral() as instance:
        _run(resources, instance, PREV)  # the live job sent PREV's orders; they rest on the venue
    assert {journal.get(c).state for c in (rung1, rung2, stop)} == {"acknowledged"}
    venue.fill(rung2, 0.01, 58_990.0)  # traded during its hour; the journal has not heard

    fills = live_venue_fills(build_asset_context(), router, pd.DatetimeIndex([HOUR]), storage).set_index("client_order_id")

    assert (fills.loc[rung2, "state"], fills.loc[rung2, "filled_qty"], fills.loc[rung2, "avg_price"]) == ("filled", 0.01, 58_990.0)
    assert (fills.loc[rung1, "state"], fills.loc[rung1, "filled_qty"]) == ("canceled", 0.0)
    # the stop is looked up, not cancelled: the held rung keeps it until the next hour's stop is on the venue
    assert (fills.loc[stop, "state"], fills.loc[stop, "filled_qty"]) == ("acknowledged", 0.0)
    assert len(_cancels(venue)) == 2  # the two rungs (the filled one's cancel refused, then looked up), not the stop
    assert _venue_state(name, venue, stop) in ("NEW", "UNTRIGGERED")  # still on the venue
    assert journal.get(rung1).reason.startswith(EXPIRED_REASON)
    cancels = len(_cancels(venue))
    again = live_venue_fills(build_asset_context(), router, pd.DatetimeIndex([HOUR]), storage)  # the hour re-run
    assert len(_cancels(venue)) == cancels  # nothing left to close: final orders are not asked again
    pd.testing.assert_frame_equal(again.set_index("client_order_id"), fills)
    journal.dispose()
