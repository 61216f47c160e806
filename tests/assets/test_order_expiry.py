"""``order_submissions_1h`` ends the previous hour's working orders before it sends the hour's own,
on both loopback venues: an unfilled rung and a stop of H-1 are cancelled (the stop at Binance's
algo endpoint, or deactivated on Bybit) once H's own orders are out (a stop is replaced before it is
cancelled, so a held position is never without one), a rung that filled meanwhile is
left filled, the metadata counts and lists them, and a re-run of H cancels and submits nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from assets.orders import order_submissions_1h
from checks.engine import partition_key
from quant.book.orders import client_order_id
from resources.broker.expiry import EXPIRED_REASON
from resources.broker.journal import OrderJournal
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitch
from resources.storage import HourlyParquetIOManager, write_hours
from tests.resources.broker_helpers import KEY, SECRET, make_broker
from tests.support.bybit_order_exchange import BybitOrderExchange
from tests.support.order_exchange import OrderExchange

HOUR = pd.Timestamp("2026-02-10 12:00", tz="UTC")
PREV = HOUR - pd.Timedelta(hours=1)
BTC = "BTC/USDT:USDT"
#: venue id -> (the fake, its ccxt id)
VENUES = {"binance": (OrderExchange, "binanceusdm"), "bybit": (BybitOrderExchange, "bybit")}


class VenueRouter(OrderRouter):
    """The resource with its broker on a loopback venue (``venue_url``)."""

    venue_url: str = ""

    def broker(self):
        class _Venue:  # make_broker needs the venue only for its url
            url = self.venue_url

        return make_broker(_Venue(), OrderJournal(self.journal_url), venues=dict(self.venues))


def _intents(hour: pd.Timestamp, venue: str, rows: list[dict]) -> pd.DataFrame:
    base = {"hour": hour, "exec_hour": hour + pd.Timedelta(hours=1), "venue": venue, "symbol": BTC, "qty": 0.01,
            "layer": "L2", "reason": "test", "reduce_only": False, "approved": True}
    df = pd.DataFrame([base | r for r in rows])
    df["client_order_id"] = [client_order_id(hour, r.layer, r.symbol, r.leg, r.venue) for r in df.itertuples()]
    return df.astype({"hour": "datetime64[ns, UTC]", "exec_hour": "datetime64[ns, UTC]"})


def _ladder(hour: pd.Timestamp, venue: str) -> pd.DataFrame:
    """Two resting buy rungs (below the mark of 60,000) and the held rung's reduce-only stop."""
    return _intents(hour, venue, [
        {"side": "buy", "order_type": "limit", "limit": 50_000.0, "leg": "rung1"},
        {"side": "buy", "order_type": "limit", "limit": 59_000.0, "leg": "rung2"},
        {"side": "sell", "order_type": "stop", "limit": 55_000.0, "leg": "rung0-stop", "reduce_only": True}])


@pytest.fixture(params=sorted(VENUES))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any, dict]]:
    fake, ccxt_id = VENUES[request.param]
    with fake(KEY, SECRET) as venue:
        resources = {
            "order_router": VenueRouter(journal_url=f"sqlite:///{tmp_path / 'orders.db'}",
                                        venues={request.param: ccxt_id}, venue_url=venue.url),
            "kill_switch": KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}"),
            "hourly_parquet": HourlyParquetIOManager(root=str(tmp_path / "storage")),
        }
        yield request.param, venue, resources
        assert venue.errors == []
        assert venue.unmatched == []


def _run(resources: dict, instance: DagsterInstance, hour: pd.Timestamp) -> dict:
    """The live job's run for decision hour ``hour``, on time: half-way through its execution hour."""
    with mock.patch("assets.orders.utc_now", return_value=hour + pd.Timedelta(minutes=90)):
        res = materialize([order_submissions_1h], resources=resources, instance=instance,
                          partition_key=partition_key(hour))
    return {k: v.value for k, v in res.asset_materializations_for_node("order_submissions_1h")[0].metadata.items()}


def _cancels(venue: Any) -> list[int]:
    """Indexes (in arrival order) of the cancel requests: Binance DELETEs, Bybit's /v5/order/cancel."""
    return [i for i, r in enumerate(venue.requests) if r.method == "DELETE" or r.path.endswith("/v5/order/cancel")]


def test_the_previous_hours_working_orders_end_before_the_hours_orders_go_out(world) -> None:
    name, venue, resources = world
    storage = resources["hourly_parquet"].root
    before, now = _ladder(PREV, name), _ladder(HOUR, name)
    write_hours(storage, "order_intents_1h", pd.DatetimeIndex([PREV]), before)
    write_hours(storage, "order_intents_1h", pd.DatetimeIndex([HOUR]), now)
    rung1, rung2, stop = before["client_order_id"].tolist()
    journal = OrderJournal(resources["order_router"].journal_url)
    with DagsterInstance.ephemeral() as instance:
        first = _run(resources, instance, PREV)
        assert first["expired_canceled"] == 0
        venue.fill(rung2, 0.01)  # traded during its hour; the journal has not heard yet
        creates_before = len(venue.creates)
        meta = _run(resources, instance, HOUR)
        assert (meta["expired_canceled"], meta["expired_filled"], meta["expiry_unsettled"]) == (2, 1, 0)
        assert {r["client_order_id"]: r["state"] for r in meta["expired_orders"]} == {
            rung1: "canceled", rung2: "filled", stop: "canceled"}
        assert len(venue.creates) == creates_before + 3
        # the hour's own orders (its stop among them) reached the venue before the first cancel of the last hour's
        last_create = venue.requests.index(venue.creates[-1])
        assert last_create < min(i for i in _cancels(venue) if i > venue.requests.index(venue.creates[creates_before]))
        assert journal.get(rung1).reason.startswith(EXPIRED_REASON)
        assert journal.get(stop).reason.startswith(EXPIRED_REASON)
        assert (journal.get(rung2).state, journal.get(rung2).filled_qty) == ("filled", 0.01)
        assert _venue_state(name, venue, stop) == ("CANCELED" if name == "binance" else "DEACTIVATED")
        assert _venue_state(name, venue, now["client_order_id"].iloc[2]) in ("NEW", "UNTRIGGERED")  # H's own stop
        cancels, creates = len(_cancels(venue)), len(venue.creates)
        again = _run(resources, instance, HOUR)  # the hour re-run
        assert (again["expired_canceled"], again["expired_filled"], again["expired_orders"]) == (0, 0, [])
        assert (len(_cancels(venue)), len(venue.creates)) == (cancels, creates)
    journal.dispose()


def _venue_state(name: str, venue: Any, cid: str) -> str:
    """The venue's own status of ``cid`` (a Binance stop lives in the algo book)."""
    return (venue.book.stops if name == "binance" and cid in venue.book.stops else venue.book.orders)[cid].status
