"""``order_submissions_1h``: the last hop — an hour's approved intents sent through the order path.

Run by its own job (``live_orders``) after each scheduled hourly run, never inside the hourly
cycle or a backfill: history is re-computed, never re-traded. For the decision hour H it reads
``order_intents_1h`` of H as stored, and for every approved intent calls the broker
(``resources.broker``): journalled before it is sent, sent once with its client order id in the
venue's field, looked up (never resent) after a timeout, an error or a restart. Re-running the
hour therefore submits nothing twice: each id is already in the journal and is only looked up.

Once H's intents are out (its stops replace the last hour's first), the orders of earlier decision hours still working on the venue are
cancelled (:mod:`resources.broker.expiry`): the book counts an intent only for its one execution
hour and issues fresh ones (new ids) each hour, so a resting rung or a stop of H-1 left on the
venue would trade against a book that has dropped it, and stops would pile up. Each is journalled
``canceled`` with the reason "expired: its hour ended", or as the venue says when it filled
meanwhile. They are not rows of this table (its grain is H's intents): the materialisation's
metadata counts them (``expired_canceled``, ``expired_filled``, ``expired_settled``,
``expiry_unsettled``: still working after a cancel that failed, tried again next hour) and lists
them (``expired_orders``). A re-run of H cancels nothing twice (a cancelled order is final).

What each row says (``state``): the broker's (acknowledged, filled, partially filled, rejected,
unknown …), or ``blocked`` (the kill switch is tripped: only reduce-only intents go out, closing
exposure), ``not_routed`` (an intent the live path cannot route: a venue without a route, a stop
that is not reduce-only; the book's reduce-only stops are sent to the venues' conditional-order
services, :mod:`resources.broker.triggers`), ``live_off`` (the
network is live and a switch is off: the order stays on paper), ``not_submitted`` (the run's time
budget was spent), ``stale`` (the run came after the intent's execution hour had ended: an old
decision is never sent late — a re-run of an old hour only looks up the orders it already sent).
Where no venue is configured (local, paper) nothing is sent and the hour
records why; the book's own ``fills_1h`` remain the simulated fills either way.
"""

import math
import time

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    Failure,
    MetadataValue,
    Output,
    ResourceParam,
    asset,
)

from quant.book.orders import OrderIntent
from resources.broker.base import OrderRejected
from resources.broker.ccxt_broker import CcxtBroker
from resources.broker.expiry import counts, expire_before
from resources.broker.resource import OrderRouter
from resources.exchange.errors import LiveOrdersDisabled
from resources.kill_switch import KillSwitch
from resources.partitions import HOURLY
from resources.storage import HourlyParquetIOManager, MissingPartitionError, read_hours

SUBMISSION_COLUMNS = ["hour", "client_order_id", "venue", "symbol", "side", "qty", "order_type", "layer", "leg",
                      "reduce_only", "state", "filled_qty", "avg_price", "exchange_order_id", "network", "reason"]
BLOCKED, NOT_ROUTED, LIVE_OFF, NOT_SUBMITTED, STALE = "blocked", "not_routed", "live_off", "not_submitted", "stale"


def utc_now() -> pd.Timestamp:
    """The wall clock the staleness rule reads (one place, so a test can set it)."""
    return pd.Timestamp.now(tz="UTC")


class SubmissionConfig(Config):
    """``budget_s``: the hour's submissions stop after this many seconds (a stuck venue cannot hold the run)."""

    budget_s: float = 300.0


def intent_of(row) -> OrderIntent:
    """The stored intent row as the broker's :class:`OrderIntent`; its id must be the one stored."""
    limit = None if row.limit is None or (isinstance(row.limit, float) and math.isnan(row.limit)) else float(row.limit)
    intent = OrderIntent(pd.Timestamp(row.hour), row.venue, row.symbol, row.side, float(row.qty), row.order_type,
                         limit, row.layer, row.leg, row.reason, bool(row.reduce_only))
    if intent.client_order_id != row.client_order_id:
        raise Failure(description=f"stored intent {row.client_order_id} does not reproduce its client order id "
                                  f"({intent.client_order_id}): the store does not hold what the book decided")
    return intent


def _row(intent: OrderIntent, state: str, reason: str, report=None) -> dict:
    base = {"hour": intent.hour, "client_order_id": intent.client_order_id, "venue": intent.venue, "symbol": intent.symbol,
            "side": intent.side, "qty": intent.qty, "order_type": intent.order_type, "layer": intent.layer,
            "leg": intent.leg, "reduce_only": intent.reduce_only, "state": state, "filled_qty": 0.0,
            "avg_price": math.nan, "exchange_order_id": "", "network": "", "reason": reason}
    if report is not None:
        base.update(state=report.state, filled_qty=report.filled_qty, avg_price=report.avg_price,
                    exchange_order_id=report.exchange_order_id, network=report.network, reason=report.reason or reason)
    return base


def _stale(intent: OrderIntent, broker, now: pd.Timestamp) -> dict:
    """An intent whose execution hour ended before ``now``: looked up if it was sent, never sent late."""
    ended = intent.exec_hour + pd.Timedelta(hours=1)
    why = f"its execution hour ended at {ended:%Y-%m-%d %H:00} UTC (now {now:%Y-%m-%d %H:%M}): never sent late"
    try:
        return _row(intent, "", "", broker.lookup(intent.client_order_id))
    except KeyError:
        return _row(intent, STALE, f"not sent: {why}")


def submissions(intents: pd.DataFrame, router: OrderRouter, kill_switch_tripped: bool, budget_s: float,
                clock=time.monotonic, broker: CcxtBroker | None = None, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per approved intent of ``intents``, as the broker (or the guard before it) left it.

    ``now`` (UTC): an intent whose execution hour has ended by then is not sent (``stale``); one the
    journal already holds is only looked up. None: no staleness rule (the caller decides)."""
    rows = []
    broker = broker or router.broker()
    t0 = clock()
    for row in intents[intents["approved"]].itertuples(index=False):
        intent = intent_of(row)
        if now is not None and now >= intent.exec_hour + pd.Timedelta(hours=1):
            if clock() - t0 > budget_s:
                rows.append(_row(intent, NOT_SUBMITTED, f"the hour's order budget of {budget_s:g} s was spent"))
            else:
                rows.append(_stale(intent, broker, now))
            continue
        if kill_switch_tripped and not intent.reduce_only:
            rows.append(_row(intent, BLOCKED, "the kill switch is tripped: only reduce-only orders go out"))
            continue
        if clock() - t0 > budget_s:
            rows.append(_row(intent, NOT_SUBMITTED, f"the hour's order budget of {budget_s:g} s was spent"))
            continue
        try:
            rows.append(_row(intent, "", "", broker.submit(intent)))
        except OrderRejected as exc:
            rows.append(_row(intent, "rejected", str(exc), exc.report))
        except LiveOrdersDisabled as exc:
            rows.append(_row(intent, LIVE_OFF, str(exc)))
        except ValueError as exc:  # an unknown venue, a stop that is not reduce-only
            rows.append(_row(intent, NOT_ROUTED, str(exc)))
    return pd.DataFrame(rows, columns=SUBMISSION_COLUMNS).astype({"hour": "datetime64[ns, UTC]"})


@asset(
    partitions_def=HOURLY,
    io_manager_key="hourly_parquet",
    group_name="operations",
    kinds={"ccxt"},
    deps=[AssetDep("order_intents_1h")],
    description="The hour's approved intents sent once each through the order path (live only), after the "
                "earlier hours' orders still working on the venue are cancelled (metadata: expired_*); its own "
                "job, after the scheduled hourly run — never in a backfill; once the hour's execution hour "
                "has ended its unsent intents are refused (stale), the sent ones only looked up.",
)
def order_submissions_1h(context: AssetExecutionContext, config: SubmissionConfig, order_router: OrderRouter,
                         kill_switch: KillSwitch, hourly_parquet: ResourceParam[HourlyParquetIOManager]):
    hour = pd.Timestamp(HOURLY.time_window_for_partition_key(context.partition_key).start).tz_convert("UTC")
    if not order_router.venues:
        empty = pd.DataFrame(columns=SUBMISSION_COLUMNS).astype({"hour": "datetime64[ns, UTC]"})
        return Output(empty, metadata={"status": "no venue configured: orders are simulated (the book's fills_1h)"})
    try:
        intents = read_hours(hourly_parquet.root, "order_intents_1h", pd.DatetimeIndex([hour]))
    except MissingPartitionError as exc:
        raise Failure(description=f"order_submissions_1h {hour:%Y-%m-%d %H:00}: {exc}") from exc
    tripped = kill_switch.store().is_tripped()
    broker, t0 = order_router.broker(), time.monotonic()
    # the hour's own orders go out first (its stops replace the last hour's: a held position is never
    # left without one, and a slow cancel cannot spend the budget its stops need); then every order of
    # an ended hour is cancelled, whatever the kill switch says (cancelling only removes exposure)
    df = submissions(intents, order_router, tripped, config.budget_s, broker=broker, now=utc_now())
    expired = expire_before(broker, hour.to_pydatetime(), time_left=lambda: time.monotonic() - t0 <= config.budget_s)
    states = df["state"].value_counts().to_dict()
    return Output(df, metadata={"status": "submitted", "orders": MetadataValue.int(len(df)),
                                "states": MetadataValue.json({k: int(v) for k, v in states.items()}),
                                **{k: MetadataValue.int(v) for k, v in counts(expired).items()},
                                "expired_orders": MetadataValue.json([e.as_row() for e in expired]),
                                "kill_switch_tripped": tripped, "network": order_router.network})
