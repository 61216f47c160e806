"""Schedules: the hourly cycle, the funding settlements at 00/08/16 UTC and the daily report.

They start STOPPED: in the local environment the replay sample ends in 2026-03, so a schedule
firing "now" would only record missing data. Turn them on in the UI for paper/live, or start the
service with ``perpetua run`` (``PERPETUA_SCHEDULES=on``: all of them RUNNING).
"""


import os
from datetime import datetime

import pandas as pd
from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    build_schedule_from_partitioned_job,
    schedule,
)

from checks.engine import partition_key
from pipelines.housekeeping import purge_old_runs_job
from pipelines.jobs import (
    funding_job,
    hourly_job,
    ml_evaluation_job,
    ml_fold_job,
    options_chain_job,
    reconciliation_job,
    report_job,
)
from resources.partitions import FOLDS

#: ``PERPETUA_SCHEDULES=on`` (set by ``perpetua run``): every schedule starts RUNNING; otherwise STOPPED.
SCHEDULES_ENV = "PERPETUA_SCHEDULES"
SCHEDULE_STATUS = DefaultScheduleStatus.RUNNING if os.environ.get(SCHEDULES_ENV) == "on" else DefaultScheduleStatus.STOPPED

#: Minutes after the hour: bars and settlements of the finished hour are published by then.
HOURLY_MINUTE = 5
#: The 8h settlement hours every venue shares.
FUNDING_HOURS_UTC = (0, 8, 16)
FUNDING_CRON = f"2 {','.join(map(str, FUNDING_HOURS_UTC))} * * *"

hourly_schedule = build_schedule_from_partitioned_job(
    hourly_job, minute_of_hour=HOURLY_MINUTE, default_status=SCHEDULE_STATUS
)


def funding_partition_for(scheduled: datetime) -> str:
    """The hour partition holding the settlement that a run scheduled at ``scheduled`` collects."""
    return partition_key(pd.Timestamp(scheduled).tz_convert("UTC").floor("h"))


@schedule(
    cron_schedule=FUNDING_CRON,
    job=funding_job,
    execution_timezone="UTC",
    default_status=SCHEDULE_STATUS,
)
def funding_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Collect the 00/08/16 UTC settlements two minutes after they happen."""
    key = funding_partition_for(context.scheduled_execution_time)
    return RunRequest(run_key=f"funding-{key}", partition_key=key, tags={"perpetua/trigger": "funding-8h"})


#: The performance report once a day, after the 00:00 cycle has run.
report_schedule = schedule(cron_schedule="30 0 * * *", job=report_job, execution_timezone="UTC",
                           default_status=SCHEDULE_STATUS, name="daily_performance_report")(
    lambda context: RunRequest(run_key=f"report-{context.scheduled_execution_time:%Y-%m-%d}")
)

def fold_for(scheduled: datetime, weeks_back: int = 0) -> str:
    """The fold (a Monday's key) that starts at the week of ``scheduled`` (``weeks_back`` weeks earlier)."""
    monday = pd.Timestamp(scheduled).tz_convert("UTC").normalize()
    monday -= pd.Timedelta(days=monday.weekday() + 7 * weeks_back)
    return f"{monday:%Y-%m-%d}"


@schedule(cron_schedule="30 0 * * 1", job=ml_fold_job, execution_timezone="UTC", default_status=SCHEDULE_STATUS)
def ml_fold_schedule(context: ScheduleEvaluationContext):
    """Train the week's fold on Monday 00:30 UTC, before the 01:05 run of its first hour.

    It learns from the stored hours up to Sunday 16:00 (purge + embargo); until it has run, the
    week's predictions say "never trained" and the sleeve holds.
    """
    key = fold_for(context.scheduled_execution_time)
    if not FOLDS.has_partition_key(key):
        return []
    return RunRequest(run_key=f"ml-fold-{key}", partition_key=key, tags={"perpetua/trigger": "ml-weekly"})


@schedule(cron_schedule="30 5 * * 1", job=ml_evaluation_job, execution_timezone="UTC",
          default_status=SCHEDULE_STATUS)
def ml_evaluation_schedule(context: ScheduleEvaluationContext):
    """Score last week's fold on Monday 05:30 UTC: its last hour's label needs the bars to 04:00."""
    key = fold_for(context.scheduled_execution_time, weeks_back=1)
    if not FOLDS.has_partition_key(key):
        return []
    return RunRequest(run_key=f"ml-evaluation-{key}", partition_key=key, tags={"perpetua/trigger": "ml-weekly"})


#: Minutes after the hour the book is compared with the venues: the hourly run (at :05) is done by then.
RECONCILIATION_MINUTE = 50
reconciliation_schedule = schedule(
    cron_schedule=f"{RECONCILIATION_MINUTE} * * * *", job=reconciliation_job, execution_timezone="UTC",
    default_status=SCHEDULE_STATUS, name="venue_reconciliation_schedule",
)(lambda context: RunRequest(run_key=f"reconcile-{context.scheduled_execution_time:%Y-%m-%d-%H}"))

#: Run records older than 30 days forgotten daily (``pipelines.housekeeping``); the outputs stay.
purge_schedule = schedule(cron_schedule="15 3 * * *", job=purge_old_runs_job, execution_timezone="UTC",
                          default_status=SCHEDULE_STATUS, name="purge_old_runs_schedule")(
    lambda context: RunRequest(run_key=f"purge-{context.scheduled_execution_time:%Y-%m-%d}")
)

#: Minutes into the hour its Deribit chain is recorded: inside the hour, before it ends.
OPTIONS_CHAIN_MINUTE = 50


@schedule(cron_schedule=f"{OPTIONS_CHAIN_MINUTE} * * * *", job=options_chain_job, execution_timezone="UTC",
          default_status=SCHEDULE_STATUS)
def options_chain_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Record hour H's chain at H:50 (the partition is the hour the tick falls in, not the one before)."""
    key = partition_key(pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").floor("h"))
    return RunRequest(run_key=f"options-chain-{key}", partition_key=key)


SCHEDULES = [hourly_schedule, funding_schedule, report_schedule, ml_fold_schedule, ml_evaluation_schedule,
             reconciliation_schedule, purge_schedule, options_chain_schedule]
