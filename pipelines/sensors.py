"""Sensor for symbols that settle every 4 hours (Binance moved some symbols from 8h to 4h).

The funding schedule covers 00/08/16 UTC. This sensor walks every new materialisation of
``funding_settlements`` with a storage-id cursor (an ``@asset_sensor`` would skip partitions that
land between ticks), learns from each one's ``four_hour_symbols`` metadata which symbols settle
every 4h, and requests the funding run for each 04/12/20 UTC settlement hour that has passed.
The decision is the pure function :func:`decide_four_hour_runs`.
"""


import json
import os
from dataclasses import dataclass

import pandas as pd
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from checks.engine import partition_key
from pipelines.jobs import funding_job, hourly_job, live_orders_job
from pipelines.schedules import SCHEDULES_ENV

#: Settlement hours only 4h symbols have (the 8h hours are the funding schedule's).
FOUR_HOUR_ONLY_HOURS = (4, 12, 20)
#: A symbol not seen with a 4h interval for this long is assumed back on 8h.
FOUR_HOUR_MEMORY = pd.Timedelta(hours=24)
#: Settlements are collected this long after the settlement time.
SETTLEMENT_DELAY = pd.Timedelta(minutes=2)
#: Materialisation records read per tick.
RECORDS_PER_TICK = 500


@dataclass(frozen=True)
class Observation:
    """One materialisation of ``funding_settlements``."""

    storage_id: int
    partition: str
    four_hour_symbols: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    requests: list[tuple[str, tuple[str, ...]]]  # (partition key, 4h symbols)
    cursor: str


def _hour(partition: str) -> pd.Timestamp:
    return pd.Timestamp(pd.to_datetime(partition, format="%Y-%m-%d-%H:%M"), tz="UTC")


def decide_four_hour_runs(observations: list[Observation], cursor: str | None, now: pd.Timestamp) -> Decision:
    """Which 04/12/20 UTC settlement runs to request, and the next cursor.

    Cursor JSON: ``{"after": last storage id, "symbols": {symbol: last hour seen at 4h},
    "through": last settlement hour requested}``.
    """
    state = json.loads(cursor) if cursor else {"after": 0, "symbols": {}, "through": None}
    symbols: dict[str, str] = dict(state["symbols"])
    latest_seen = None
    for obs in sorted(observations, key=lambda o: o.storage_id):
        hour = _hour(obs.partition)
        latest_seen = hour if latest_seen is None else max(latest_seen, hour)
        for sym in obs.four_hour_symbols:
            if sym not in symbols or pd.Timestamp(symbols[sym]) < hour:
                symbols[sym] = hour.isoformat()
        state["after"] = max(state["after"], obs.storage_id)
    now = pd.Timestamp(now).tz_convert("UTC")
    symbols = {s: h for s, h in symbols.items() if now - pd.Timestamp(h) <= FOUR_HOUR_MEMORY}
    through = pd.Timestamp(state["through"]) if state["through"] else None
    start = (through + pd.Timedelta(hours=1)) if through is not None else (latest_seen or now.floor("h"))
    requests = []
    if symbols:
        for hour in pd.date_range(start.floor("h"), (now - SETTLEMENT_DELAY).floor("h"), freq="h"):
            if hour.hour in FOUR_HOUR_ONLY_HOURS:
                requests.append((partition_key(hour), tuple(sorted(symbols))))
                through = hour
    state.update(symbols=symbols, through=through.isoformat() if through is not None else None)
    return Decision(requests=requests, cursor=json.dumps(state, sort_keys=True))


def _observations(context: SensorEvaluationContext, after: int) -> list[Observation]:
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("funding_settlements"), after_storage_id=after),
        limit=RECORDS_PER_TICK,
        ascending=True,
    )
    out = []
    for rec in result.records:
        mat = rec.asset_materialization
        if mat is None or mat.partition is None:
            continue
        meta = mat.metadata.get("four_hour_symbols")
        syms = tuple(meta.value) if meta is not None else ()
        out.append(Observation(rec.storage_id, mat.partition, syms))
    return out


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@sensor(job=funding_job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING if os.environ.get(SCHEDULES_ENV) == "on" else DefaultSensorStatus.STOPPED)
def four_hour_funding_sensor(context: SensorEvaluationContext) -> SensorResult:
    """Request 04/12/20 UTC funding runs while any symbol settles every 4 hours."""
    after = json.loads(context.cursor)["after"] if context.cursor else 0
    decision = decide_four_hour_runs(_observations(context, after), context.cursor, _now())
    runs = [
        RunRequest(
            run_key=f"funding-4h-{key}",
            partition_key=key,
            tags={"perpetua/trigger": "funding-4h", "perpetua/four_hour_symbols": ",".join(syms)},
        )
        for key, syms in decision.requests
    ]
    return SensorResult(run_requests=runs, cursor=decision.cursor)


#: The live order path runs only in ``live`` and only when the service is on (``perpetua run``).
LIVE_ORDERS_ON = os.environ.get(SCHEDULES_ENV) == "on" and os.environ.get("PERPETUA_ENV") == "live"


def live_orders_request(run) -> RunRequest | None:
    """The ``live_orders`` run for a finished one-hour ``hourly_cycle`` run (a range run: a backfill, none)."""
    key = run.tags.get("dagster/partition")
    if key is None or run.tags.get("dagster/asset_partition_range_start") is not None:
        return None
    return RunRequest(run_key=f"orders-{key}-{run.run_id[:8]}", partition_key=key, tags={"perpetua/after_run": run.run_id})


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[hourly_job], request_job=live_orders_job,
                   default_status=DefaultSensorStatus.RUNNING if LIVE_ORDERS_ON else DefaultSensorStatus.STOPPED)
def live_orders_sensor(context: RunStatusSensorContext):
    """After each scheduled hourly run: send that hour's approved intents (``order_submissions_1h``)."""
    request = live_orders_request(context.dagster_run)
    if request is None:
        return SkipReason(f"run {context.dagster_run.run_id[:8]} is a range run (a backfill): history is never traded")
    return request


SENSORS = [four_hour_funding_sensor, live_orders_sensor]
