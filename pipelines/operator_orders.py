"""``perpetua orders``: the order journal for an operator — list, show one, settle one by hand.

* ``perpetua orders [--state STATE] [--since HOUR] [--limit N]`` lists the journalled orders
  (``resources.broker.journal``, every network): ``unknown`` ones first and flagged ``!``, then the
  latest change first, one line each (client order id, network, venue, symbol, side, qty, state,
  last event, last reason).
* ``perpetua orders show ID`` prints one order and every event of it, oldest first.
* ``perpetua orders resolve ID --as STATE --by NAME [--filled-qty Q --price P] [--note TEXT]``:
  a person who checked the venue settles an order the broker cannot (an ``unknown`` one is looked
  up but never resent, so it stays ``unknown`` until the venue shows it, and ``perpetua run``
  refuses to start meanwhile). The journal records an event naming the person, the time and the
  note, and moves the state, in one compare-and-set; nothing is ever deleted. ``filled`` needs the
  quantity and average price the venue shows; ``cancelled`` may carry what traded before the
  cancel; ``not_sent`` says the venue never had it, so a later submit of the same intent sends it
  once; an order that never left (``journalled``, ``not_sent``) can only be cancelled. Refused (exit code 2, nothing written): an id not in the journal, an order already final
  (filled, canceled, expired, rejected) or already resolved by hand, no ``--by``, a fill that is
  not positive or exceeds the order, an ``--as`` not listed.

The journal is the kill switch's database (``Settings.kill_switch_url``); its URL is printed with
the password hidden, and every reason is printed redacted.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.cli_input import ACCEPTED_FORM, positive_count, utc_hour
from pipelines.environments import Settings
from resources.broker.base import CANCELED, FILLED, FINAL, NOT_SENT, REJECTED, SENDABLE, STATES, UNKNOWN
from resources.broker.journal import Entry, Event, OrderJournal
from resources.redaction import redact

#: Orders ``perpetua orders`` lists unless ``--limit`` says otherwise.
DEFAULT_LIMIT = 50
#: Characters of an order's last reason in the listing (``show`` prints it whole).
REASON_WIDTH = 80
#: ``--as`` on the command line -> the journal's state (both spellings of cancelled).
AS_STATES = {"filled": FILLED, "cancelled": CANCELED, "canceled": CANCELED, "rejected": REJECTED, "not_sent": NOT_SENT}
FLAG_UNKNOWN = "!"
RESOLVE_HINT = "perpetua orders resolve ID --as filled|cancelled|rejected|not_sent --by NAME"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@contextmanager
def _journal(s: Settings) -> Iterator[OrderJournal]:
    journal = OrderJournal(s.kill_switch_url)
    try:
        yield journal
    finally:
        journal.dispose()


def _qty(value: float) -> str:
    return f"{value:.12g}"


def _short(text: str, width: int = REASON_WIDTH) -> str:
    text = " ".join(redact(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def what_now(state: str) -> str:
    """What a state means for the operator, in words."""
    if state in FINAL:
        return "final: never changed again"
    if state == UNKNOWN:
        return f"the answer to its create was lost; it is looked up, never resent: check the venue, then {RESOLVE_HINT}"
    if state in SENDABLE:
        return "nothing of it reached the venue: a submit of its intent sends it, once"
    return "not final: the broker's reconcile looks it up on the venue"


def format_listing(entries: list[Entry], total: int, unknown: int, where: str) -> str:
    """The printed listing: a header with the counts, one line per order, and what the limit left out."""
    lines = [f"order journal at {where}: {total} order(s) match, {unknown} unknown"]
    if not entries:
        return "\n".join([*lines, "no journalled order matches"])
    if unknown:
        lines.append(f"{FLAG_UNKNOWN} = unknown: {what_now(UNKNOWN)}")
    rows = [(FLAG_UNKNOWN if e.report.state == UNKNOWN else " ", e.report.client_order_id, e.report.network,
             e.report.venue, e.report.symbol, e.report.side, _qty(e.report.qty), e.report.state,
             f"{e.last_event_at:{TIME_FORMAT}}", _short(e.report.reason)) for e in entries]
    head = ("", "client order id", "network", "venue", "symbol", "side", "qty", "state", "last event (UTC)", "reason")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        lines.append("  ".join(f"{c:<{w}}" for c, w in zip(r[:-1], widths, strict=True)) + f"  {r[-1]}")
    if total > len(entries):
        lines.append(f"({total - len(entries)} more not shown: --limit {total} shows them all)")
    return "\n".join(lines)


def format_order(entry: Entry, events: list[Event]) -> str:
    """One order, field by field, then each of its events, oldest first (a person's names them)."""
    r = entry.report
    limit = "no limit" if entry.limit_price is None else f"limit {_qty(entry.limit_price)}"
    avg = "none" if r.filled_qty <= 0 else _qty(r.avg_price)
    lines = [
        f"order {r.client_order_id}: {r.state} ({what_now(r.state)})",
        f"  where       {r.venue} {r.symbol} on {r.network}",
        f"  intent      {r.side} {_qty(r.qty)} {entry.order_type} ({limit}{', reduce only' if entry.reduce_only else ''}); "
        f"layer {entry.layer}, leg {entry.leg}, decided at {entry.hour:%Y-%m-%d %H:00} UTC",
        f"  ids         sent as {r.venue_client_id}; exchange order id {r.exchange_order_id or 'none'}",
        f"  filled      {_qty(r.filled_qty)} (average price {avg}); create requests that may have reached the venue: {r.sends}",
        f"  times       journalled {entry.created_at:{TIME_FORMAT}} UTC, last event {entry.last_event_at:{TIME_FORMAT}} UTC",
        f"  reason      {redact(r.reason)}",
        f"events ({len(events)}, oldest first):",
    ]
    width = max((len(e.state) for e in events), default=0)
    lines += [f"  {e.at:{TIME_FORMAT}} UTC  {e.state:<{width}}  {redact(e.detail)}" for e in events]
    return "\n".join(lines)


def cmd_orders(args: argparse.Namespace, s: Settings) -> int:
    """List the journalled orders, unknown first."""
    states = frozenset(args.state) if args.state else None
    since = None if args.since is None else args.since.to_pydatetime()
    with _journal(s) as journal:
        entries, total = journal.entries(states=states, since=since, limit=args.limit)
        unknown_only = frozenset({UNKNOWN}) if states is None else states & {UNKNOWN}
        _, unknown = journal.entries(states=unknown_only, since=since, limit=0)
        print(format_listing(entries, total, unknown, journal.where()))
    return 0


def _order_id(args: argparse.Namespace) -> str:
    cid = args.client_order_id.strip()
    if not cid:
        raise ValueError("perpetua orders needs a client order id (the first column of perpetua orders)")
    return cid


def cmd_show(args: argparse.Namespace, s: Settings) -> int:
    """One order and its whole event history."""
    cid = _order_id(args)
    with _journal(s) as journal:
        try:
            entry = journal.entry(cid)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        print(format_order(entry, journal.events(cid)))
    return 0


def cmd_resolve(args: argparse.Namespace, s: Settings) -> int:
    """A person settles a non-final order after checking the venue (refusals: ``ValueError``, exit code 2)."""
    cid = _order_id(args)
    if not args.by.strip():  # refused before the journal is touched
        raise ValueError(f"resolving {cid} must name the person settling it (--by)")
    with _journal(s) as journal:
        report = journal.resolve(cid, AS_STATES[args.as_state], by=args.by, note=args.note,
                                 filled_qty=args.filled_qty, avg_price=args.price)
        print(f"recorded: {redact(report.reason)}")
        print(format_order(journal.entry(cid), journal.events(cid)))
    return 0


def add_orders_parser(sub) -> None:
    """Register ``perpetua orders`` (list) and its ``show`` and ``resolve`` subcommands on the CLI's subparsers."""
    o = sub.add_parser("orders", help="the order journal: list orders (unknown first), show one, resolve one by hand",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("--state", action="append", choices=STATES, help="only orders in this state (repeatable)")
    o.add_argument("--since", type=utc_hour, default=None,
                   help=f"only orders whose last event is at or after this hour, {ACCEPTED_FORM}")
    o.add_argument("--limit", type=positive_count, default=DEFAULT_LIMIT, help=f"rows printed (default {DEFAULT_LIMIT})")
    o.set_defaults(fn=cmd_orders)
    osub = o.add_subparsers(dest="orders_command", metavar="{show,resolve}")
    sh = osub.add_parser("show", help="one order and its whole event history")
    sh.add_argument("client_order_id", help="a client order id, as perpetua orders lists it")
    sh.set_defaults(fn=cmd_show)
    r = osub.add_parser("resolve", help="settle a non-final order by hand after checking the venue (never deletes)")
    r.add_argument("client_order_id", help="a client order id, as perpetua orders lists it")
    r.add_argument("--as", dest="as_state", required=True, choices=list(AS_STATES),
                   help="what the venue shows: filled, cancelled, rejected, or not_sent (it never had the order)")
    r.add_argument("--by", default="", help="the person settling it (required)")
    r.add_argument("--filled-qty", type=float, default=None,
                   help="base units filled, as the venue shows (required with --as filled; at most the order's qty)")
    r.add_argument("--price", type=float, default=None, help="average fill price (quote currency; with --filled-qty)")
    r.add_argument("--note", default="", help="what was checked, e.g. the venue's order history")
    r.set_defaults(fn=cmd_resolve)
