"""Housekeeping: a daily job that forgets run records older than N days (Dagster keeps them forever).

``purge_old_runs_job`` runs :func:`pipelines.run_records.plan_purge` / ``delete_runs`` — what
``perpetua purge-runs`` does — from the daemon, at 03:15 UTC by its schedule (stopped by default,
on with ``perpetua run``). It never deletes its own run or a run that has not finished, and refuses
a retention under one day. The Parquet outputs, and so the book, stay: the next run continues from
storage.
"""


from datetime import UTC, datetime, timedelta

import pandas as pd
from dagster import Config, DagsterRunStatus, MetadataValue, OpExecutionContext, Output, job, op

from pipelines.run_records import PurgePlan, delete_runs, describe_purge, plan_purge

#: Finished runs only: a run still queued or going keeps its records.
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


class PurgeConfig(Config):
    """``older_than_days``: run records created more than this many days ago are deleted (at least 1)."""

    older_than_days: int = 30


@op(description="Delete the records (and events) of finished runs older than the retention; Parquet outputs stay.")
def purge_old_runs(context: OpExecutionContext, config: PurgeConfig) -> Output[int]:
    if config.older_than_days < 1:
        raise ValueError(f"older_than_days must be at least 1 for the scheduled purge, got {config.older_than_days} "
                         "(perpetua purge-runs --older-than-days 0 purges everything by hand)")
    cutoff = pd.Timestamp(datetime.now(UTC) - timedelta(days=config.older_than_days))
    plan = plan_purge(context.instance, cutoff)
    finished = {r.run_id for r in context.instance.get_runs() if r.status in FINISHED}
    keep = [r for r in plan.run_ids if r == context.run_id or r not in finished]
    plan = PurgePlan(plan.cutoff, [r for r in plan.run_ids if r not in keep], plan.events, plan.created, plan.hours)
    delete_runs(context.instance, plan)
    text = describe_purge(plan, "deleted")
    context.log.info(text + (f"; kept {len(keep)} unfinished run(s)" if keep else ""))
    return Output(len(plan.run_ids), metadata={"runs_deleted": len(plan.run_ids), "summary": MetadataValue.text(text)})


@job(description="Forget run records older than the retention (daily).")
def purge_old_runs_job():
    purge_old_runs()
