"""``perpetua orders``: list (unknown first), show, and resolve by hand, on a hand-made journal.

Every refusal exits 2 and leaves the journal exactly as it was; a resolution is an event naming
the person, and a resolved order is never resolved again.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import resources.broker.journal as journal_module
from pipelines.cli import main
from quant.book.orders import OrderIntent
from resources.broker.base import (
    ACKNOWLEDGED,
    CANCELED,
    FILLED,
    JOURNALLED,
    NOT_SENT,
    PARTIALLY_FILLED,
    REJECTED,
    SENT,
    UNKNOWN,
)
from resources.broker.journal import OrderJournal, ResolutionRefused
from tests.resources.broker_helpers import KEY, SECRET, make_broker
from tests.resources.broker_helpers import intent as broker_intent
from tests.support.order_exchange import FAIL_BEFORE_ACCEPT, Fault, OrderExchange

HOUR = pd.Timestamp("2026-03-01 12:00", tz="UTC")
#: The journal's clock: each write one hour after the one before, from here.
T0 = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
PLANTED_SECRET = "PLANTEDsig0c9d8e7f6a5b4c3d"


def _intent(leg: str, qty: float = 0.5, symbol: str = "ETH/USDT:USDT") -> OrderIntent:
    return OrderIntent(HOUR, "binance", symbol, "buy", qty, "market", None, "L1", leg, f"carry entry {leg}")


@pytest.fixture
def clock(monkeypatch):
    ticks = (T0 + timedelta(hours=k) for k in itertools.count())
    monkeypatch.setattr(journal_module, "_now", lambda: next(ticks))


@pytest.fixture
def url(tmp_path, monkeypatch, clock):
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", url)
    return url


def seed(url: str) -> dict[str, str]:
    """Orders in several states, written in this order (so the last one written is the newest)."""
    journal = OrderJournal(url)
    ids = {}

    def opened(name: str, **kwargs) -> str:
        order = _intent(name, **kwargs)
        journal.open(order, venue_client_id=order.client_order_id, network="demo")
        ids[name] = order.client_order_id
        return order.client_order_id

    lost = opened("lost")
    journal.claim(lost)
    journal.record(lost, UNKNOWN, f"no certain answer (read timed out; signature={PLANTED_SECRET}); looking it up")
    done = opened("done")
    journal.claim(done)
    journal.record(done, FILLED, "answered by the venue: closed", filled_qty=0.5, avg_price=2_500.0,
                   exchange_order_id="8389765500001")
    opened("waiting")
    part = opened("part")
    journal.claim(part)
    journal.record(part, PARTIALLY_FILLED, "answered by the venue: open", filled_qty=0.2, avg_price=2_501.0,
                   exchange_order_id="8389765500002")
    acked = opened("acked")
    journal.claim(acked)
    journal.record(acked, ACKNOWLEDGED, "answered by the venue: open", exchange_order_id="8389765500003")
    refused = opened("refused")
    journal.claim(refused)
    journal.record(refused, REJECTED, "rejected: binanceusdm -2019 Margin is insufficient")
    lost2 = opened("lost2", symbol="BTC/USDT:USDT")
    journal.claim(lost2)
    journal.record(lost2, UNKNOWN, "after an unsure create: not found; never resent")
    journal.dispose()
    return ids


def snapshot(url: str) -> tuple:
    """Everything the journal holds, to compare before and after a refusal."""
    journal = OrderJournal(url)
    try:
        entries, _ = journal.entries()
        return tuple((e, tuple(journal.events(e.report.client_order_id))) for e in entries)
    finally:
        journal.dispose()


def listed_ids(out: str, ids: dict[str, str]) -> list[str]:
    names = {cid: name for name, cid in ids.items()}
    return [names[word] for line in out.splitlines() for word in line.split() if word in names]


# -- list ----------------------------------------------------------------------------------------
def test_the_list_shows_unknown_orders_first_flagged_then_the_newest(url, capsys):
    ids = seed(url)
    assert main(["orders"]) == 0
    out = capsys.readouterr().out
    assert "7 order(s) match, 2 unknown" in out
    assert listed_ids(out, ids) == ["lost2", "lost", "refused", "acked", "part", "waiting", "done"]
    rows = {name: next(line for line in out.splitlines() if cid in line) for name, cid in ids.items()}
    assert rows["lost"].startswith("!")
    assert rows["lost2"].startswith("!")
    assert not rows["done"].startswith("!")
    assert rows["done"].split()[:8] == [ids["done"], "demo", "binance", "ETH/USDT:USDT", "buy", "0.5", "filled",
                                        "2026-03-01"]
    assert "answered by the venue: closed" in rows["done"]
    assert "perpetua orders resolve ID --as" in out
    assert PLANTED_SECRET not in out
    assert "signature=***" in rows["lost"]


def test_the_list_filters_by_state_and_time_and_says_what_the_limit_leaves_out(url, capsys):
    ids = seed(url)
    assert main(["orders", "--state", "filled", "--state", "rejected"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out, ids) == ["refused", "done"]
    assert "2 order(s) match, 0 unknown" in out
    # the clock ticks an hour a write: the last events are lost 15:00, done 18:00, waiting 19:00,
    # part 22:00, then (2 March) acked 01:00, refused 04:00, lost2 07:00
    assert main(["orders", "--since", "2026-03-01T22:00Z"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out, ids) == ["lost2", "refused", "acked", "part"]
    assert "4 order(s) match, 1 unknown" in out
    assert main(["orders", "--since", "2026-03-02T08:00Z"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out, ids) == []
    assert "no journalled order matches" in out
    assert main(["orders", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out, ids) == ["lost2", "lost", "refused"]
    assert "(4 more not shown: --limit 7 shows them all)" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--since", "01/03/2026"], "is not an ISO-8601 date"),
    (["--since", "2026-03-01T13:30Z"], "is not on the hour"),
    (["--limit", "0"], "must be a whole number of rows"),
    (["--state", "lost"], "invalid choice: 'lost'"),
])
def test_the_list_refuses_malformed_arguments(url, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["orders", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# -- show ----------------------------------------------------------------------------------------
def test_show_prints_the_order_and_its_whole_history(url, capsys):
    ids = seed(url)
    assert main(["orders", "show", ids["part"]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"order {ids['part']}: partially_filled (not final")
    assert "buy 0.5 market (no limit); layer L1, leg part, decided at 2026-03-01 12:00 UTC" in out
    assert "exchange order id 8389765500002" in out
    assert "filled      0.2 (average price 2501)" in out
    events = out.split("events (3, oldest first):\n")[1].splitlines()
    assert [e.split()[3] for e in events] == [JOURNALLED, SENT, PARTIALLY_FILLED]
    assert events[0].startswith("  2026-03-01 20:00:00 UTC")
    assert events[0].endswith("carry entry part")


def test_show_of_an_id_not_journalled_is_a_clear_error(url, capsys):
    seed(url)
    assert main(["orders", "show", "pp-L1-nope"]) == 2
    assert "pp-L1-nope is not in the order journal" in capsys.readouterr().err


# -- resolve -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "argv", "message"), [
    (None, ["--as", "cancelled", "--by", "alice"], "is not in the order journal"),
    ("done", ["--as", "cancelled", "--by", "alice"], "is already filled, a final state"),
    ("refused", ["--as", "not_sent", "--by", "alice"], "is already rejected, a final state"),
    ("lost", ["--as", "cancelled"], "must name the person settling it (--by)"),
    ("lost", ["--as", "cancelled", "--by", "   "], "must name the person settling it (--by)"),
    ("lost", ["--as", "filled", "--by", "alice"], "without a positive --filled-qty and --price"),
    ("lost", ["--as", "filled", "--by", "alice", "--filled-qty", "0.5"], "without a positive --filled-qty and --price"),
    ("lost", ["--as", "filled", "--by", "alice", "--filled-qty", "0", "--price", "2500"], "without a positive"),
    ("lost", ["--as", "filled", "--by", "alice", "--filled-qty", "0.5", "--price", "-1"], "without a positive"),
    ("lost", ["--as", "filled", "--by", "alice", "--filled-qty", "0.6", "--price", "2500"],
     "cannot have filled 0.6: the order is for 0.5"),
    ("lost", ["--as", "filled", "--by", "alice", "--filled-qty", "inf", "--price", "2500"], "cannot have filled inf"),
    ("lost", ["--as", "cancelled", "--by", "alice", "--price", "2500"], "has --price without --filled-qty"),
    ("lost", ["--as", "cancelled", "--by", "alice", "--filled-qty", "0.1"], "needs a positive --price"),
    ("lost", ["--as", "rejected", "--by", "alice", "--filled-qty", "0.1", "--price", "1"], "cannot be rejected with a fill"),
    ("part", ["--as", "filled", "--by", "alice", "--filled-qty", "0.1", "--price", "2500"],
     "the journal already records 0.2 filled"),
    ("part", ["--as", "rejected", "--by", "alice"], "the journal records 0.2 of it filled"),
    ("acked", ["--as", "not_sent", "--by", "alice"], "the venue acknowledged it (acknowledged, exchange order id"),
    ("waiting", ["--as", "filled", "--by", "alice", "--filled-qty", "0.5", "--price", "2500"],
     "is journalled: nothing of it reached the venue, so it can only be cancelled"),
    ("waiting", ["--as", "not_sent", "--by", "alice"], "can only be cancelled"),
])
def test_each_refusal_exits_2_and_writes_nothing(url, capsys, name, argv, message):
    ids = seed(url)
    before = snapshot(url)
    assert main(["orders", "resolve", ids[name] if name else "pp-L1-nope", *argv]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(url) == before


def test_an_unknown_as_is_refused_by_the_parser(url, capsys):
    ids = seed(url)
    before = snapshot(url)
    with pytest.raises(SystemExit) as exit_info:
        main(["orders", "resolve", ids["lost"], "--as", "lost", "--by", "alice"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'lost'" in capsys.readouterr().err
    assert snapshot(url) == before


def test_resolve_records_the_person_then_show_has_it_and_twice_is_refused(url, capsys):
    ids = seed(url)
    cid = ids["lost"]
    argv = ["orders", "resolve", cid, "--as", "filled", "--by", "alice", "--filled-qty", "0.5", "--price", "2499.5",
            "--note", "binance order history: FILLED 0.5 @ 2499.5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("recorded: resolved by hand by alice as filled (was unknown): 0.5 filled at 2499.5; "
                          "note: binance order history: FILLED 0.5 @ 2499.5")
    assert main(["orders", "show", cid]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"order {cid}: filled (final: never changed again)"
    assert "filled      0.5 (average price 2499.5)" in out
    events = out.split("events (4, oldest first):\n")[1].splitlines()
    assert [e.split()[3] for e in events] == [JOURNALLED, SENT, UNKNOWN, FILLED]
    assert "resolved by hand by alice" in events[-1]
    journal = OrderJournal(url)
    assert [e.by for e in journal.events(cid)] == ["", "", "", "alice"]
    report = journal.get(cid)
    assert (report.state, report.filled_qty, report.avg_price, report.sends) == (FILLED, 0.5, 2499.5, 1)
    journal.dispose()
    before = snapshot(url)
    assert main(argv) == 2
    assert "is already filled, a final state" in capsys.readouterr().err
    assert snapshot(url) == before
    assert main(["orders"]) == 0
    assert "7 order(s) match, 1 unknown" in capsys.readouterr().out


def test_a_not_sent_resolution_gives_the_send_back_and_is_not_resolved_twice(url, capsys):
    ids = seed(url)
    cid = ids["lost2"]
    assert main(["orders", "resolve", cid, "--as", "not_sent", "--by", "bob", "--note", "not in the venue's history"]) == 0
    journal = OrderJournal(url)
    report = journal.get(cid)
    assert (report.state, report.sends) == (NOT_SENT, 0)
    assert "a later submit of the intent sends it once" in report.reason
    before = snapshot(url)
    capsys.readouterr()
    assert main(["orders", "resolve", cid, "--as", "cancelled", "--by", "carol"]) == 2
    assert "was already resolved by hand by bob" in capsys.readouterr().err
    assert snapshot(url) == before
    # once the broker has sent it again and lost the answer again, a person may settle it again
    assert journal.claim(cid)
    journal.record(cid, UNKNOWN, "no certain answer; looking it up")
    assert main(["orders", "resolve", cid, "--as", "cancelled", "--by", "carol"]) == 0
    assert [e.by for e in journal.events(cid)] == ["", "", "", "bob", "", "", "carol"]
    assert journal.get(cid).state == CANCELED
    journal.dispose()


def test_a_cancelled_resolution_keeps_what_traded_before_the_cancel(url):
    ids = seed(url)
    cid = ids["part"]
    assert main(["orders", "resolve", cid, "--as", "cancelled", "--by", "alice", "--filled-qty", "0.3",
                 "--price", "2500.5"]) == 0
    journal = OrderJournal(url)
    report = journal.get(cid)
    assert (report.state, report.filled_qty, report.avg_price) == (CANCELED, 0.3, 2500.5)
    journal.dispose()


def test_only_one_of_concurrent_resolutions_is_recorded(url):
    ids = seed(url)
    cid = ids["lost"]
    journals = [OrderJournal(url) for _ in range(4)]
    outcomes: list[str] = []

    def resolve(journal: OrderJournal, who: str) -> None:
        try:
            journal.resolve(cid, CANCELED, by=who)
            outcomes.append(f"ok {who}")
        except ResolutionRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=resolve, args=(j, f"p{k}")) for k, j in enumerate(journals)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.split()[0] for o in outcomes) == ["ok", "refused", "refused", "refused"]
    winner = next(o.split()[1] for o in outcomes if o.startswith("ok"))
    assert [e.by for e in journals[0].events(cid)] == ["", "", "", winner]
    for j in journals:
        j.dispose()


def test_the_service_starts_again_once_a_person_resolved_the_unknown_order(url, tmp_path, capsys):
    from pipelines.environments import settings
    from pipelines.service import startup_problems
    from tests.assets.test_venue_reconciliation import LoopbackRouter

    s = settings("local")
    assert s.kill_switch_url == url
    with OrderExchange(KEY, SECRET) as venue:
        venue.script(Fault(FAIL_BEFORE_ACCEPT))
        journal = OrderJournal(url)
        order = broker_intent()
        assert make_broker(venue, journal).submit(order).state == UNKNOWN
        journal.dispose()
        router = LoopbackRouter(journal_url=url, venues={"binance": "binanceusdm"}, venue_url=venue.url)
        (problem,) = startup_problems(s, router)
        assert problem.startswith(f"order {order.client_order_id} (binance BTC/USDT:USDT buy 0.01) is unknown on the venue")
        assert main(["orders", "--state", "unknown"]) == 0
        assert f"!  {order.client_order_id}" in capsys.readouterr().out
        assert main(["orders", "resolve", order.client_order_id, "--as", "cancelled", "--by", "alice",
                     "--note", "no such client id in the venue's order history"]) == 0
        venue.clear_requests()
        assert startup_problems(s, router) == []
        assert [r.path for r in venue.requests if "order" in r.path.lower()] == []  # never looked up again
        assert len(venue.creates) == 1


@pytest.mark.postgres
def test_list_resolve_and_show_on_postgres(postgres, monkeypatch, tmp_path, capsys, clock):
    pg = postgres.create_database("order_resolutions")
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", pg.url)
    ids = seed(pg.url)
    assert main(["orders", "--since", "2026-03-01T15:00Z", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out, ids) == ["lost2", "lost"]
    assert "7 order(s) match, 2 unknown" in out
    assert main(["orders", "resolve", ids["lost"], "--as", "cancelled", "--by", "alice", "--note", "checked"]) == 0
    before = snapshot(pg.url)
    assert main(["orders", "resolve", ids["lost"], "--as", "cancelled", "--by", "alice"]) == 2
    assert snapshot(pg.url) == before
    assert main(["orders", "show", ids["lost"]]) == 0
    out = capsys.readouterr().out
    assert "canceled    resolved by hand by alice as canceled (was unknown); note: checked" in out
    journal = OrderJournal(pg.url)
    assert [e.by for e in journal.events(ids["lost"])] == ["", "", "", "alice"]
    assert journal.events(ids["lost"])[-1].at == T0 + timedelta(hours=19)
    journal.dispose()
