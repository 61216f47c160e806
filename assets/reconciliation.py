"""``venue_reconciliation``: what the book holds against what the venues hold, every hour at :50.

The latest stored hour of ``positions_1h`` (its perpetual legs, net per venue and instrument) is
compared with each configured venue's positions through the order path's broker
(``resources.broker``, read-only calls), classified by ``quant.reconcile`` (phantom, orphan, side
mismatch, size mismatch). Alert-only by default: the asset check ``venue_reconciliation__agrees``
(severity WARN, so nothing downstream is blocked) fails naming each difference, the alert hook is
told, and nothing in the book or on the venue is ever changed. Drift found by
:data:`TRIP_AFTER` reconciliations in a row trips the kill switch (a person resets it).

Where no venue is configured (the local and paper environments, whose orders are simulated) the
asset records "no venue to reconcile" and the check passes. Unpartitioned and run by its own
schedule (stopped by default), so it adds no events to the hourly cycle.
"""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
)

from quant.reconcile import describe, position_drift, repeated_drift
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitch
from resources.storage import HourlyParquetIOManager, read_hours, stored_hours

ASSET = "venue_reconciliation"
CHECK = f"{ASSET}__agrees"
#: Consecutive reconciliations with drift that trip the kill switch.
TRIP_AFTER = 3


def book_perp_legs(root: str) -> tuple[pd.Timestamp | None, pd.DataFrame]:
    """The latest stored ``positions_1h`` hour and its perpetual legs as (venue, symbol, qty)."""
    hours = stored_hours(root, "positions_1h")
    if not len(hours):
        return None, pd.DataFrame({"venue": [], "symbol": [], "qty": []})
    last = hours[-1]
    legs = read_hours(root, "positions_1h", pd.DatetimeIndex([last]))
    perps = legs[legs["kind"] == "perp"]
    return last, pd.DataFrame({"venue": perps["venue"].astype(str), "symbol": perps["instrument"].astype(str),
                               "qty": perps["qty"].astype("float64")})


def venue_drift(root: str, broker, venues: list[str]) -> tuple[pd.Timestamp | None, pd.DataFrame]:
    """The latest stored hour and how its perpetual legs differ from ``broker``'s positions on ``venues``
    (``quant.reconcile.position_drift``; read-only calls)."""
    hour, book = book_perp_legs(root)
    held = [p for v in venues for p in broker.positions(v)]
    venue = pd.DataFrame({"venue": [p.venue for p in held], "symbol": [p.symbol for p in held],
                          "qty": [p.qty for p in held]})
    return hour, position_drift(book, venue)


def _drift_history(context: AssetExecutionContext, limit: int) -> list[int]:
    """Drift counts of the last ``limit`` materialisations, oldest first."""
    records = context.instance.fetch_materializations(AssetKey(ASSET), limit=limit).records
    counts = []
    for r in reversed(records):
        value = r.asset_materialization.metadata.get("drift_count") if r.asset_materialization else None
        counts.append(int(value.value) if value is not None else 0)
    return counts


@asset(
    group_name="operations",
    check_specs=[AssetCheckSpec(CHECK, asset=ASSET, description="the book's perpetual positions equal the venues'")],
    description="The book's latest positions against each venue's (alert-only; repeated drift trips the kill switch).",
)
def venue_reconciliation(context: AssetExecutionContext, order_router: OrderRouter, kill_switch: KillSwitch,
                         hourly_parquet: ResourceParam[HourlyParquetIOManager]):
    venues = sorted(order_router.venues)
    if not venues:
        yield MaterializeResult(metadata={"status": "no venue to reconcile (orders are simulated here)", "drift_count": 0})
        yield AssetCheckResult(check_name=CHECK, asset_key=AssetKey(ASSET), passed=True,
                               description="no venue configured: nothing to reconcile")
        return
    hour, drift = venue_drift(hourly_parquet.root, order_router.broker(), venues)
    history = [*_drift_history(context, TRIP_AFTER - 1), len(drift)]
    text = describe(drift)
    if len(drift):
        context.log.warning(f"reconciliation: {text}")
        if kill_switch.alerts is not None:
            kill_switch.alerts.send("Perpetua: book and venue disagree", text, source="reconciliation")
    if repeated_drift(history, TRIP_AFTER):
        kill_switch.trip("reconciliation", f"{TRIP_AFTER} reconciliations in a row found drift: {text}",
                         run_id=context.run_id)
    table = drift.to_markdown(index=False, floatfmt="g") if len(drift) else "agree"
    yield MaterializeResult(metadata={
        "status": "agree" if drift.empty else "drift",
        "drift_count": MetadataValue.int(len(drift)),
        "book_hour": "none stored" if hour is None else f"{hour:%Y-%m-%d %H:00} UTC",
        "venues": ", ".join(venues),
        "differences": MetadataValue.md(table),
    })
    yield AssetCheckResult(check_name=CHECK, asset_key=AssetKey(ASSET), passed=drift.empty,
                           severity=AssetCheckSeverity.WARN, description=text)
