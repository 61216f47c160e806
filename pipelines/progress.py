"""The lines ``perpetua backfill`` prints: one per run with the hours done, the rate and an ETA, and
what was finished when the instance's database went away in the middle."""

from __future__ import annotations

import pandas as pd


def hours_between(first_key: str, last_key: str) -> int:
    """Partitions from ``first_key`` to ``last_key``, both included."""
    from dagster import PartitionKeyRange

    from resources.partitions import HOURLY

    return len(HOURLY.get_partition_keys_in_range(PartitionKeyRange(first_key, last_key)))


#: The first half of a halved hourly cycle (``pipelines.jobs``): its hours are done once the decisions' are.
INPUTS_JOB = "hourly_inputs"
HOUR = pd.Timedelta(hours=1)


class Progress:
    """One line per run with the hours done, the rate and an ETA for the rest.

    The ETA prices each run still planned at the seconds per hour its job has taken so far (a fold's
    run at the mean fold run), so the inputs' quick half of a halved cycle does not make the
    decisions' half look quick.
    """

    def __init__(self, warmup_job: str, *other_jobs: str) -> None:
        # the warm-up's hours are look-backs and a fold's training run covers a week it does not
        # compute: neither counts as hours of the cycle; nor do the inputs of a halved cycle (the
        # decisions that follow complete those hours)
        self.not_cycle = {warmup_job, *other_jobs, INPUTS_JOB}
        self.fold_jobs = set(other_jobs)
        self.total_hours = 0
        self.done_hours = 0
        self.seconds = 0.0
        self.done = []  # the ChunkResults reported so far, in order
        self.todo: list[tuple[str, float]] = []  # (job, hours) of the planned runs not reported yet
        self.spent: dict[str, list[float]] = {}  # job -> [seconds, hours] of its runs so far

    def plan(self, plan) -> None:
        self.todo = [(job, (b - a) / HOUR) for job, a, b in plan]
        self.total_hours = sum(int(h) for job, h in self.todo if job not in self.not_cycle)
        print(f"  {len(plan)} run(s), {self.total_hours} hours of the hourly cycle", flush=True)

    def _left(self) -> float:
        """Seconds the planned runs not reported yet should take (nan before any run finished)."""
        total_s = sum(v[0] for v in self.spent.values())
        total_h = sum(v[1] for job, v in self.spent.items() if job not in self.fold_jobs)
        if not total_s:
            return float("nan")
        left = 0.0
        for job, hours in self.todo:
            s, h = self.spent.get(job, (0.0, 0.0))
            if job in self.fold_jobs:
                runs = sum(1 for c in self.done if c.job == job)
                left += s / runs if runs else 0.0
            else:
                left += hours * (s / h if h else total_s / max(total_h, 1.0))
        return left

    def chunk(self, c) -> None:
        self.done.append(c)
        self.seconds += c.seconds
        hours = 0 if c.job in self.fold_jobs else hours_between(c.start, c.end)
        if c.job not in self.not_cycle and c.success:  # a failed run's hours are not done; its kept re-run's are
            self.done_hours += hours
        spent = self.spent.setdefault(c.job, [0.0, 0.0])
        spent[0] += c.seconds
        spent[1] += hours
        if not c.kept_before_failure and self.todo and self.todo[0][0] == c.job:
            self.todo.pop(0)
        if not c.success:  # the runner stops (or, after failed inputs, runs the decisions before the hour)
            self.todo = [(job, h) for job, h in self.todo if job not in self.not_cycle or job in self.fold_jobs]
        left = self._left()
        status = "ok" if c.success else "FAILED"
        bad = ", ".join(f"{k} x{v}h" for k, v in sorted(c.checks_failed.items()))
        # a failed run may have stopped before its checks: "all checks passed" would be untrue
        checks = bad or ("all checks passed" if c.success else "no check failed before the run did")
        eta = f"ETA {left:4.0f}s" if left == left else "ETA   ?"
        span = f"fold of the week {c.start[:10]:22s}" if c.job in self.fold_jobs else f"{c.start} .. {c.end}"
        print(f"  {c.job:22s} {span}  {status:6s} {c.seconds:6.1f}s  {c.events:6d} events  "
              f"{self.done_hours:5d}/{self.total_hours}h  {eta}  {checks}", flush=True)
        if c.error:
            print(f"    error: {c.error}", flush=True)
        if c.first_failed_hour is not None:
            print(f"    stopped at {c.first_failed_hour:%Y-%m-%d %H:00} UTC: the first hour whose data failed a check",
                  flush=True)
        if c.kept_before_failure:
            kept = "kept" if c.success else "could not keep"
            print(f"    {kept} the hours before the failure ({c.start} .. {c.end})", flush=True)

    def before_outage(self) -> str:
        """What was finished when the database went away, and what to do about the rest."""
        ok = [c for c in self.done if c.success and c.job not in self.fold_jobs]
        if not ok:
            head = "no chunk finished before the outage"
        else:
            head = (f"{len(ok)} chunk(s) done before the outage: {ok[0].start} .. {ok[-1].end} "
                    f"({self.done_hours}/{self.total_hours} hours of the hourly cycle)")
        return (f"{head}; re-run the same command once the database is back: finished hours are rewritten "
                "with the same bytes, the rest are run")
