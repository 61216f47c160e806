"""The trading book as hourly assets: allocations, order intents, fills, positions and the ledger.

One ``multi_asset`` computes the five tables because they are one loop: the orders of hour H
depend on the positions after H's fills, which depend on the orders of H−1. Inside a range the
hours are stepped in order (``quant.book.run_book``); the state at the start of the range is the
stored hour before it, so an hour computed alone equals the same hour inside a range. The
dependency on the previous hour's ledger is declared, so Dagster shows it and orders backfills.

The kill switch is read at the start of every run: while it is tripped only reduce-only orders
are approved. Safeguards are applied inside the loop (``quant.book.safeguards.screen``) and re-checked
by the blocking checks of ``checks.book``; a risk breach written to the ledger fails its check,
which trips the kill switch.

In ``live`` (the order router has venues) the book reads the order journal's record of the
intents it fills (``OrderRouter.venue_fills``: the decision hours before each hour of the window)
and passes it as ``venue_fills``: an intent the live path sent fills as the venue filled it, one
it kept back (``order_submissions_1h`` says blocked, not routed or not submitted) does not fill,
and one it never had (a layer on paper, history before going live) stays simulated
(``quant.book.venue_fills`` says why). The journal is read for a range as for one hour, so a
re-run of a live hour reproduces what the venue did instead of overwriting it with the simulator,
(before it reads the journal, the orders whose hour has ended are cancelled and their final state
journalled: ``close_ended_orders``, so a resting order is booked with what it really filled),
and a range equals its hours one by one. Elsewhere (local, paper: no venue) nothing is read and
every fill is simulated. No asset is added to the hourly cycle: the journal is read by this one.
"""

import time

import numpy as np
import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetOut,
    Config,
    Failure,
    MetadataValue,
    Output,
    ResourceParam,
    TimeWindowPartitionMapping,
    multi_asset,
)

from assets.metadata import ByHour, money, pct, per_hour
from checks.book import BOOK_RULES
from checks.engine import audited, partition_key, quality_spec
from quant.book.params import HOUR, BookParams
from quant.book.step import BookState, fresh_state, run_book, state_from_tables
from quant.book.venue_fills import HELD_BACK, VENUE_REASON_PREFIX, late_fills
from quant.market_data.tables import hours_of
from resources.broker.expiry import EXPIRY_UNSETTLED, counts, expire_before
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitch, Trip
from resources.partitions import HOURLY, SINGLE_RUN, starts_a_window, window_containing, window_of
from resources.storage import HourlyParquetIOManager, MissingPartitionError, read_hours, stored_hours

GROUP = "book"
IO = "hourly_parquet"
OUTPUTS = ("ledger_1h", "positions_1h", "order_intents_1h", "fills_1h", "layer_allocations_1h")
#: How the gap message spells an hour for ``perpetua backfill --start/--end``.
ISO_HOUR = "%Y-%m-%dT%H:00Z"
PREVIOUS_HOUR = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
DESCRIPTIONS = {
    "ledger_1h": "Cumulative P&L per (layer, venue, position) and one `total` row per hour: realised, unrealised, "
                 "fees, funding, cash, equity and its peak, drawdown, risk level and any breach.",
    "positions_1h": "Open legs at the end of each hour: quantity, average entry, mark, P&L so far; L2 stops/targets, "
                    "L3 option terms (modelled marks say so).",
    "order_intents_1h": "Orders decided at the end of each hour (they work the next hour), with deterministic client "
                        "ids, the safeguards' verdict and the exposure after each approved order.",
    "fills_1h": "What the intents of the previous hour did in this hour's bars: filled, partial, not triggered, or "
                "rejected for lack of a counterparty at the price. In live, an order the venue has a record of fills as "
                "the venue filled it (its reason starts 'venue <state>:'); the rest are simulated.",
    "layer_allocations_1h": "Per-layer signal strength, weight and USD budget (bankroll x percentages), with the "
                            "drawdown multiplier and whether the kill switch was active.",
}


class BookConfig(Config):
    """``bankroll_usd``: the capital every cap and budget is a percentage of (bump it to grow)."""

    bankroll_usd: float = BookParams().bankroll_usd


@multi_asset(
    outs={name: AssetOut(io_manager_key=IO, description=DESCRIPTIONS[name], kinds={"pandas", "parquet"}) for name in OUTPUTS},
    partitions_def=HOURLY,
    backfill_policy=SINGLE_RUN,
    group_name=GROUP,
    can_subset=False,
    deps=[AssetDep("ledger_1h", partition_mapping=PREVIOUS_HOUR)],
    check_specs=[quality_spec(name, BOOK_RULES[name]) for name in OUTPUTS],
)
@audited({name: BOOK_RULES[name] for name in OUTPUTS})
def trading_book(
    context: AssetExecutionContext,
    config: BookConfig,
    perp_ohlcv_1h: pd.DataFrame,
    funding_settlements: pd.DataFrame,
    carry_signals_1h: pd.DataFrame,
    cascade_signals_1h: pd.DataFrame,
    tail_hedge_signals_1h: pd.DataFrame,
    model_predictions_1h: pd.DataFrame,
    strategy_signals_1h: pd.DataFrame,
    kill_switch: KillSwitch,
    order_router: OrderRouter,
    hourly_parquet: ResourceParam[HourlyParquetIOManager],
):
    """Step the book through the window's hours from the stored state of the hour before."""
    start, end = window_of(context)
    hours = hours_of(start, end)
    params = BookParams(bankroll_usd=config.bankroll_usd)
    state = _previous_state(context, hourly_parquet.root, start)
    venue_fills = live_venue_fills(context, order_router, hours, hourly_parquet.root)
    late = trip_on_late_fills(context, order_router, kill_switch, hours, hourly_parquet.root)
    trips = kill_switch.store().active()
    blocked_from = kill_switch_from(trips)
    if trips:
        since = "every hour" if blocked_from == _ALWAYS else f"{blocked_from:%Y-%m-%d %H:00} on"
        context.log.warning(f"kill switch active ({trips[0].source}: {trips[0].reason}): "
                            f"from {since} only reduce-only orders pass")
    try:
        tables, _ = run_book(state, hours, perp_ohlcv_1h, funding_settlements, carry_signals_1h, cascade_signals_1h,
                             tail_hedge_signals_1h, params, kill_switch_from=blocked_from, ml=model_predictions_1h,
                             strategies=strategy_signals_1h, venue_fills=venue_fills)
    except ValueError as exc:
        raise Failure(description=f"trading book, {start:%Y-%m-%d %H:00}..{end:%Y-%m-%d %H:00}: {exc}") from exc
    outputs = (
        ("ledger_1h", tables.ledger, _ledger_meta),
        ("positions_1h", tables.positions, _positions_meta),
        ("order_intents_1h", tables.intents, _intents_meta),
        ("fills_1h", tables.fills, _fills_meta),
        ("layer_allocations_1h", tables.allocations, _allocations_meta),
    )
    for name, table, summarise in outputs:
        per_hour(context, table, hours, summarise, asset_key=name)
    first = {"started_fresh": MetadataValue.bool(state.hour is None),
             "kill_switch_active": MetadataValue.bool(blocked_from is not None and blocked_from <= hours[0])}
    context.add_asset_metadata(first, asset_key="ledger_1h", partition_key=partition_key(hours[0]))
    if late is not None:
        context.add_asset_metadata({"late_venue_fills": MetadataValue.json(_late_rows(late))}, asset_key="fills_1h",
                                   partition_key=partition_key(hours[0]))
    for name, table, _ in outputs:
        yield Output(table, output_name=name)


def live_venue_fills(context: AssetExecutionContext, router: OrderRouter, hours: pd.DatetimeIndex,
                     root: str) -> pd.DataFrame | None:
    """What the live path did with the orders the window's hours fill (decision hours ``hours[0] − 1h``
    .. ``hours[-1] − 1h``); None where no venue is configured (local, paper: every fill simulated).

    The journal's record of each order it sent, and, for an approved intent it kept back (blocked,
    not routed, not submitted: ``quant.book.venue_fills.HELD_BACK``), the verdict stored in
    ``order_submissions_1h``, so that intent does not fill either. Those hours of
    ``order_submissions_1h`` are read from storage by name, not declared as an input: the asset
    depends on ``order_intents_1h``, an output of this one, and Dagster allows no cycle between
    asset keys; an hour the live job never ran has no row and its intents stay simulated.
    """
    if not router.venues:
        return None
    first, last = hours[0] - HOUR, hours[-1] - HOUR
    close_ended_orders(context, router, hours[-1])
    records = router.venue_fills(first, last)
    held = held_back(root, first, last)
    held = held[~held["client_order_id"].isin(records["client_order_id"])]
    context.log.info(f"live: {len(records)} journalled {router.network} orders and {len(held)} kept back, of decision "
                     f"hours {first:%Y-%m-%d %H:00}..{last:%Y-%m-%d %H:00}, fill as the live path left them")
    return pd.concat([records, held], ignore_index=True) if len(held) else records


#: How far back the book compares the hours it booked with what the journal has heard since.
LATE_LOOKBACK = pd.Timedelta(hours=24)
#: The kill-switch source of a late venue fill.
LATE_FILL_SOURCE = "book:late_venue_fill"


def trip_on_late_fills(context: AssetExecutionContext, router: OrderRouter, kill_switch: KillSwitch,
                       hours: pd.DatetimeIndex, root: str) -> pd.DataFrame | None:
    """Compare the booked hours of the last day with the journal; a difference trips the kill switch.

    A resting order the venue filled after its hour was booked (its cancel failed, or it was
    ``unknown`` then and settled since), or a person's resolution of such an order, leaves that
    hour's ledger and every later one wrong: the book would go on trading a position it does not
    know of. It is not re-booked silently (an hour is booked from its stored predecessor, so the
    fix is to book again from that hour on): the kill switch is tripped from this hour (only
    reduce-only orders pass) with each order, what was booked, what the venue says, and the
    command that re-books the hours. None where no venue is configured; else the late orders
    (empty when every booked hour agrees).
    """
    if not router.venues:
        return None
    booked_hours = stored_hours(root, "fills_1h", hours[0] - LATE_LOOKBACK, hours[0])
    if not len(booked_hours):
        return late_fills(pd.DataFrame(), pd.DataFrame())
    booked = read_hours(root, "fills_1h", booked_hours)
    records = router.venue_fills(booked_hours[0] - HOUR, booked_hours[-1] - HOUR)
    try:
        late = late_fills(booked, records)
    except ValueError as exc:
        raise Failure(description=f"trading book {hours[0]:%Y-%m-%d %H:00}: the journal's record of the booked "
                                  f"hours: {exc}") from exc
    if len(late):
        first = pd.Timestamp(late["exec_hour"].iloc[0])
        shown = "; ".join(
            f"{r.client_order_id} (hour {r.exec_hour:%Y-%m-%d %H:00}): booked {r.booked_qty:.12g}"
            f"{'' if r.booked_qty == 0 else f' @ {r.booked_price:.12g}'}, the venue says {r.venue_state} "
            f"{r.venue_qty:.12g}{'' if r.venue_qty == 0 else f' @ {r.venue_price:.12g}'}"
            for r in late.head(5).itertuples(index=False))
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        reason = (f"{len(late)} order(s) settled on the venue after their hour was booked: {shown}{more}. "
                  f"Book the hours again from the first: perpetua backfill --start {first:{ISO_HOUR}} "
                  f"--end {hours[-1]:{ISO_HOUR}}, then perpetua kill-switch reset --by NAME")
        kill_switch.trip(LATE_FILL_SOURCE, reason, partition=partition_key(hours[0]), run_id=context.run_id)
        context.log.error(f"live: {reason}")
    return late


def _late_rows(late: pd.DataFrame) -> list[dict]:
    return [{"client_order_id": r.client_order_id, "exec_hour": f"{r.exec_hour:%Y-%m-%d %H:00}",
             "booked_qty": r.booked_qty, "venue_state": r.venue_state, "venue_qty": r.venue_qty}
            for r in late.itertuples(index=False)]


#: Seconds the book may spend closing the ended hours' orders before it books them (each call has its own deadline).
CLOSE_BUDGET_S = 120.0


def close_ended_orders(context: AssetExecutionContext, router: OrderRouter, hour: pd.Timestamp) -> None:
    """Cancel the orders whose working hour has ended (decided before ``hour``) before the book reads the journal.

    The journal learns a resting order's fills only when the broker asks the venue: a limit rung
    or a stop of the hour before would otherwise be booked with what the journal last heard (often
    nothing) while the venue may have filled it. ``resources.broker.expiry.expire_before`` cancels
    each one and journals what the venue answers (canceled, or filled), so the book fills what
    traded. Stops are only looked up here (a triggered one is journalled filled), never
    cancelled: ``order_submissions_1h`` cancels them once the next hour's stops are on the venue,
    so a held position is never left without one.
    """
    broker, t0 = router.broker(), time.monotonic()
    try:
        expired = expire_before(broker, hour.to_pydatetime(), keep_stops=True,
                                time_left=lambda: time.monotonic() - t0 <= CLOSE_BUDGET_S)
    finally:
        broker.journal.dispose()
    n = counts(expired)
    if expired:
        context.log.info(f"live: closed the ended hours' orders before booking: {n}")
    if n[EXPIRY_UNSETTLED]:
        context.log.warning(f"live: {n[EXPIRY_UNSETTLED]} order(s) of ended hours are still working or unknown on the "
                            "venue; they are booked as the journal last heard and closed again next hour")


def held_back(root: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The stored ``order_submissions_1h`` rows of decision hours ``first``..``last`` the live path kept back,
    as ``venue_fills`` rows (nothing filled)."""
    hours = stored_hours(root, SUBMISSIONS, first, last + HOUR)
    subs = read_hours(root, SUBMISSIONS, hours) if len(hours) else pd.DataFrame(columns=["client_order_id", "hour", "state"])
    subs = subs[subs["state"].isin(HELD_BACK)]
    return pd.DataFrame({"client_order_id": subs["client_order_id"].astype(str), "hour": subs["hour"],
                         "state": subs["state"].astype(str), "filled_qty": 0.0, "avg_price": np.nan, "fee": np.nan})


#: The live path's record of each hour's approved intents (``assets.orders``).
SUBMISSIONS = "order_submissions_1h"


#: Where a trip names no hour (an operator's), it holds every hour.
_ALWAYS = pd.Timestamp.min.tz_localize("UTC")


def kill_switch_from(trips: list[Trip]) -> pd.Timestamp | None:
    """The first hour the active trips hold: the earliest first hour any trip names (None: not tripped).

    A check trip names the hours whose data failed (``2026-02-05-14:00`` or ``first..last``): entries
    stop from the first of them, so re-running the hours before a bad hour computes what the book
    did then. A trip that names no hour, or one that cannot be read, holds every hour.
    """
    if not trips:
        return None
    firsts = []
    for t in trips:
        try:
            firsts.append(pd.Timestamp(HOURLY.time_window_for_partition_key((t.partition or "").split("..")[0]).start))
        except Exception:  # noqa: BLE001 - an unreadable partition must hold everything, never nothing
            return _ALWAYS
    return min(firsts)


#: The ledger columns each layer's row of the totals table sums.
_LEDGER_SUMS = ["pnl_usd", "fees_usd", "funding_usd"]


def _ledger_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    """Each hour of the ledger: equity, P&L and drawdown (in %, as the CLI prints) and the per-layer totals.

    An hour with no ``total`` row has no figures.
    """
    ledger = h.frame
    is_total = (ledger["layer"] == "total").to_numpy()
    layers = ledger.loc[~is_total, _LEDGER_SUMS].groupby([h.codes[~is_total], ledger.loc[~is_total, "layer"]]).sum()
    lines: list[list[str]] = [[] for _ in range(len(h))]
    for (group, layer), r in zip(layers.index, layers.itertuples(index=False), strict=True):
        lines[group].append(f"| {layer} | {r.pnl_usd:,.2f} | {r.fees_usd:,.2f} | {r.funding_usd:,.2f} |")
    last = h.last(is_total)
    totals = ledger.iloc[last[last >= 0]]
    out: list[dict[str, MetadataValue]] = [{} for _ in range(len(h))]
    for group, t in zip(np.flatnonzero(last >= 0), totals.itertuples(index=False), strict=True):
        table = ["| layer | P&L USD | fees USD | funding USD |", "|---|---:|---:|---:|", *lines[group],
                 f"| total | {t.pnl_usd:,.2f} | {t.fees_usd:,.2f} | {t.funding_usd:,.2f} |"]
        out[group] = {
            "equity_usd": MetadataValue.float(money(t.equity_usd)),
            "pnl_usd": MetadataValue.float(money(t.pnl_usd)),
            "cash_usd": MetadataValue.float(money(t.cash_usd)),
            "drawdown_pct": MetadataValue.float(pct(t.drawdown)),
            "risk_level": MetadataValue.text(str(t.risk_level)),
            "breach": MetadataValue.text(str(t.breach) or "none"),
            "totals": MetadataValue.md("\n".join(table)),
        }
    return out


def _positions_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    return [{"open_legs": MetadataValue.int(int(n))} for n in h.rows]


def _intents_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    approved = h.count(h.frame["approved"].astype(bool))
    return [{"intents": MetadataValue.int(int(n)), "approved": MetadataValue.int(int(a)),
             "rejected": MetadataValue.int(int(n - a))} for n, a in zip(h.rows, approved, strict=True)]


def _fills_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    """Each hour's orders: how many filled, found no counterparty, were modelled, and came from the venue
    (``from_venue``, their reason marks them) or the simulator (``simulated``); no reasons, no venue fills."""
    fills = h.frame
    reasons = fills["reason"] if "reason" in fills.columns else pd.Series("", index=fills.index)
    venue = reasons.astype(str).str.startswith(VENUE_REASON_PREFIX)
    counts = zip(h.rows, h.count(fills["filled_qty"] > 0), h.count(fills["status"] == "no_counterparty"),
                 h.count(fills["modelled"].astype(bool)), h.count(venue), strict=True)
    return [{"orders": MetadataValue.int(int(n)), "filled": MetadataValue.int(int(f)),
             "no_counterparty": MetadataValue.int(int(c)), "modelled": MetadataValue.int(int(m)),
             "from_venue": MetadataValue.int(int(v)), "simulated": MetadataValue.int(int(n - v))}
            for n, f, c, m, v in counts]


def _allocations_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    budgets: list[dict[str, float]] = [{} for _ in range(len(h))]
    for group, layer, budget in zip(h.codes, h.frame["layer"].tolist(), h.frame["budget_usd"].tolist(), strict=True):
        budgets[group][layer] = money(budget)
    return [{"budget_usd": MetadataValue.json(b)} for b in budgets]


def _previous_state(context: AssetExecutionContext, root: str, start: pd.Timestamp) -> BookState:
    """The stored tables of the hour before ``start``; a fresh book only where storage holds no earlier hour.

    Storage is the truth, not the instance's records: after ``perpetua purge-runs``, on a new
    ``DAGSTER_HOME`` or a move to Postgres the book continues from the stored hour before, and a
    gap in the stored book is refused rather than silently restarting it from the bankroll.
    """
    prev = start - pd.Timedelta(hours=1)
    if starts_a_window(start):
        # The months before this hour are "no data" (not part of the partition set): no position can
        # be marked or funded across them, so each data window's book starts from the bankroll.
        context.log.info(f"{start:%Y-%m-%d %H:00} starts a data window after months of no data: a fresh book")
        return fresh_state()
    hour = pd.DatetimeIndex([prev])
    try:
        tables = [read_hours(root, name, hour) for name in ("positions_1h", "ledger_1h", "order_intents_1h")]
    except MissingPartitionError:
        window = window_containing(start)  # an earlier data window's book is another book
        earlier = stored_hours(root, "ledger_1h", window[0] if window else None, prev)
        if len(earlier):
            last = earlier[-1]
            raise Failure(
                description=f"the stored book has hours before {prev:%Y-%m-%d %H:00} UTC but not that hour (its last "
                            f"stored hour before it is {last:%Y-%m-%d %H:00} UTC): materialise the gap first (perpetua "
                            f"backfill --start {last + pd.Timedelta(hours=1):{ISO_HOUR}} --end {start:{ISO_HOUR}}), "
                            "or the ledger would restart from the bankroll with no positions"
            ) from None
        context.log.info(f"no stored book before {start:%Y-%m-%d %H:00}: starting a fresh book")
        return fresh_state()
    positions, ledger, intents = tables
    return state_from_tables(prev, positions, ledger, intents)


BOOK_ASSETS = [trading_book]
