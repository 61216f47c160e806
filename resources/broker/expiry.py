"""Working orders end with their hour: what the book no longer counts is cancelled on the venue.

The book's intents of decision hour D are working orders for its execution hour D + 1h only, and
it issues fresh ones (new hour-stamped client ids) every hour. An order of an earlier hour left
resting on the venue would trade against a book that treats it as gone, and the hourly stops would
pile up. So once hour H's intents are out (and, closing hour H in the book, before it), :func:`expire_before` takes every journalled order of
the broker's network decided before H that may still work on the venue
(:meth:`~resources.broker.journal.OrderJournal.working_before`: sent, unknown, acknowledged,
partially filled) and sends one cancel by its client id (a stop through the venue's
conditional-order endpoint). The venue decides what is recorded, never an assumption:

* cancelled (part filled or not): ``canceled``, with :data:`EXPIRED_REASON` in the journal;
* it filled (or ended) meanwhile: the cancel is refused, the lookup that follows records ``filled``;
* the cancel failed or got no answer: one lookup; if the venue still shows it working, it stays
  as it was (counted ``unsettled``) and the next hour's run cancels it;
* a sent/unknown order the venue cannot show stays ``unknown`` (``reconcile`` looks again).

A re-run of hour H cancels nothing twice: a cancelled or filled order is final and leaves the
working set; only an order still unsettled is tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from resources.broker.base import CANCELED, FILLED, FINAL, OrderReport
from resources.broker.ccxt_broker import CcxtBroker
from resources.exchange.errors import ExchangeError

log = logging.getLogger(__name__)

#: The journal's reason for an order cancelled because its hour ended.
EXPIRED_REASON = "expired: its hour ended"
#: What one expiry did (``Expiry.outcome``).
EXPIRED_CANCELED, EXPIRED_FILLED, EXPIRED_SETTLED, EXPIRY_UNSETTLED = (
    "expired_canceled", "expired_filled", "expired_settled", "expiry_unsettled")


@dataclass(frozen=True)
class Expiry:
    """One order of an ended hour: where it stood in the journal, and where the venue left it."""

    was: str
    report: OrderReport
    outcome: str

    def as_row(self) -> dict[str, object]:
        r = self.report
        return {"client_order_id": r.client_order_id, "venue": r.venue, "symbol": r.symbol, "order_type": r.order_type,
                "was": self.was, "state": r.state, "filled_qty": r.filled_qty, "outcome": self.outcome}


def _outcome(report: OrderReport) -> str:
    if report.state == CANCELED:
        return EXPIRED_CANCELED
    if report.state == FILLED:
        return EXPIRED_FILLED
    return EXPIRED_SETTLED if report.state in FINAL else EXPIRY_UNSETTLED


def expire_before(broker: CcxtBroker, hour: datetime, *, time_left: Callable[[], bool] = lambda: True,
                  keep_stops: bool = False) -> list[Expiry]:
    """Cancel every order of ``broker``'s network decided before ``hour`` that may still work (module docstring).

    ``time_left``: asked before each order; once it says no, the rest wait for the next run
    (they stay in the working set). An order whose venue is not configured, or whose venue cannot
    be reached, or whose expiry fails in any other way, stays as it is, counted ``unsettled``.
    ``keep_stops``: stops are only looked up (their fills journalled), not cancelled — the book
    closing its hour must not leave a held position without a stop before the next hour's
    replacement is on the venue; ``order_submissions_1h`` cancels them after sending that one.
    """
    out = []
    for report in broker.journal.working_before(broker.network, hour):
        if not time_left():
            out.append(Expiry(report.state, report, EXPIRY_UNSETTLED))
            continue
        try:
            if keep_stops and report.order_type == "stop":
                after = broker.lookup(report.client_order_id)
            else:
                after = broker.cancel(report.client_order_id, reason=EXPIRED_REASON)
        except (ValueError, ExchangeError) as exc:
            after = broker.journal.record(report.client_order_id, report.state,
                                          f"{EXPIRED_REASON}; not cancelled: {exc}; the next run tries again")
        except Exception as exc:  # noqa: BLE001 - one order's failure must not fail the hour's booking or orders
            out.append(Expiry(report.state, report, EXPIRY_UNSETTLED))
            log.warning("%s: expiry failed (%s: %s); the next run tries again", report.client_order_id,
                        type(exc).__name__, exc)
            continue
        out.append(Expiry(report.state, after, _outcome(after)))
    return out


def counts(expiries: list[Expiry]) -> dict[str, int]:
    """How many orders ended each way (every outcome named, zeros included)."""
    names = (EXPIRED_CANCELED, EXPIRED_FILLED, EXPIRED_SETTLED, EXPIRY_UNSETTLED)
    return {name: sum(e.outcome == name for e in expiries) for name in names}


__all__ = ["EXPIRED_CANCELED", "EXPIRED_FILLED", "EXPIRED_REASON", "EXPIRED_SETTLED", "EXPIRY_UNSETTLED", "Expiry",
           "counts", "expire_before"]
