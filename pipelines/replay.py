"""``perpetua replay-hour`` / ``replay-window``: re-make stored hours in a scratch instance and diff them.

The hours run as the hourly schedule runs them (``hourly_cycle``), in a scratch ``DAGSTER_HOME``
and a scratch storage root seeded with what they read (``pipelines.replay_seed``: the look-back
hours and the book's previous hour, the fold models they predict with, the kill switch as it stood
when they were recorded), with the op config of the recorded runs. Then every asset's rows of every
hour are compared with the stored ones: row counts and content hashes, and for the first that
differs, the column and row with both values. The real store and instance are only read.

Every asset's bytes are a pure function of its inputs (``tests/pipelines/test_backfill_equals_hourly``):
an hour that does not come out the same was stored from other inputs, other code or another config.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance

from checks.engine import partition_key
from pipelines.environments import Settings
from pipelines.lineage import (
    CODE_VERSION_TAG,
    CYCLE_JOB,
    HOUR,
    code_version,
    code_version_tags,
    content_hash,
    cycle_assets,
    source_hash,
)
from pipelines.replay_diff import FrameDiff, first_difference
from pipelines.replay_seed import first_unstored, recorded_runs, seed_kill_switch, seed_models, seed_storage
from resources.storage import MissingPartitionError, read_hours, split_by_hour

#: Hours per replay run of a window (one run each; progress and an ETA after each).
DEFAULT_REPLAY_CHUNK_H = 24
#: The tag a replay run carries: the runs it replays.
REPLAY_OF_TAG = "perpetua/replay_of"
#: The replay's report names a failed step and why; the console shows nothing else of the scratch runs.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class HourDiff:
    """One (asset, hour) whose replay differs from what is stored."""

    asset: str
    hour: pd.Timestamp
    rows: tuple[int | None, int | None]
    hashes: tuple[str | None, str | None]
    diff: FrameDiff

    def describe(self) -> str:
        rows, hashes = (["-" if v is None else v for v in pair] for pair in (self.rows, self.hashes))
        return (f"{self.asset} {self.hour:%Y-%m-%d %H:00} UTC (partition {partition_key(self.hour)}): rows stored "
                f"{rows[0]} | replayed {rows[1]}, content hash stored {hashes[0]} | replayed {hashes[1]}\n"
                f"  {self.diff.describe()}")


@dataclass
class ReplayReport:
    start: pd.Timestamp
    end: pd.Timestamp
    assets: list[str]
    compared: int = 0
    diffs: list[HourDiff] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.diffs and not self.failures and self.compared > 0

    def verdict(self) -> str:
        if self.identical:
            return f"identical: {len(self.assets)} assets x {self.compared // len(self.assets)} hour(s), rows and content hashes equal"
        out = [f"replay run FAILED: {f}" for f in self.failures]
        if self.diffs:
            out.append(f"DIFFERENT: {len(self.diffs)} of {self.compared} asset-hours differ; the first:")
            out.append("  " + self.diffs[0].describe())
            more = ", ".join(f"{d.asset}@{partition_key(d.hour)}" for d in self.diffs[1:11])
            if more:
                out.append(f"  also: {more}" + (" ..." if len(self.diffs) > 11 else ""))
        return "\n".join(out)


def _frames(root: str, asset: str, hours: pd.DatetimeIndex) -> dict[pd.Timestamp, pd.DataFrame | None]:
    """Each hour's stored rows of ``asset`` under ``root`` (None for an hour not stored)."""
    try:
        return dict(split_by_hour(read_hours(root, asset, hours), hours))
    except MissingPartitionError:
        out: dict[pd.Timestamp, pd.DataFrame | None] = {}
        for h in hours:
            try:
                out[h] = read_hours(root, asset, pd.DatetimeIndex([h]))
            except MissingPartitionError:
                out[h] = None
        return out


def compare(real_root: str, scratch_root: str, assets: list[str], hours: pd.DatetimeIndex) -> list[HourDiff]:
    """Every (asset, hour) of ``hours`` whose replayed rows differ from the stored ones, earliest hour first."""
    found = []
    for asset in assets:
        stored, replayed = _frames(real_root, asset, hours), _frames(scratch_root, asset, hours)
        for h in hours:
            a, b = stored[h], replayed[h]
            if b is None:
                found.append(HourDiff(asset, h, (len(a), None), (content_hash(a), None),
                                      FrameDiff("missing", stored=f"{len(a)} rows", replayed="not made by the replay")))
                continue
            ha, hb = content_hash(a), content_hash(b)
            if ha != hb:
                found.append(HourDiff(asset, h, (len(a), len(b)), (ha, hb), first_difference(a, b) or FrameDiff("bytes")))
    order = {a: i for i, a in enumerate(assets)}
    return sorted(found, key=lambda d: (d.hour, order[d.asset]))


def _code_line(recorded: set[str | None]) -> str:
    now = code_version()
    known = sorted(v for v in recorded if v)
    if not known:
        return f"code: the recorded runs carry no {CODE_VERSION_TAG} tag; replaying with {now}"
    if known == [source_hash()] and None not in recorded:
        return f"code: {now}, the recorded runs' own"
    return f"code: recorded {', '.join(known)}{' and untagged runs' if None in recorded else ''}; replaying with {now} " \
           "(a difference may be the code's)"


def _chunks(parts, hours: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    out = []
    for a, b in parts:
        while a < b:
            out.append((a, min(b, a + pd.Timedelta(hours=hours))))
            a = out[-1][1]
    return out


def replay(instance: DagsterInstance, s: Settings, parts: list[tuple[pd.Timestamp, pd.Timestamp]], *,
           chunk_hours: int = DEFAULT_REPLAY_CHUNK_H, say: Callable[[str], object] = print, keep: bool = False,
           scratch_dir: str | None = None) -> ReplayReport:
    """Replay the hours of ``parts`` (data windows' [a, b) cuts, ``pipelines.cli_input.window_with_data``) and diff them.

    Raises ``ValueError`` before any work when some asset of the cycle has no stored hour to compare with.
    """
    from pipelines.definitions import build_definitions
    from pipelines.instance import instance_yaml

    assets = cycle_assets(build_definitions(s))
    hours = pd.DatetimeIndex([]).append([pd.date_range(a, b, freq="h", inclusive="left") for a, b in parts])
    if (gap := first_unstored(s.storage_root, assets, hours)) is not None:
        raise ValueError(f"nothing to compare with: {gap[0]} has no stored hour {gap[1]:%Y-%m-%d %H:00} UTC under "
                         f"{s.storage_root} (materialise it first: perpetua backfill)")
    rec = recorded_runs(instance, assets, hours)
    ops = rec.ops_config()
    report = ReplayReport(hours[0], hours[-1] + HOUR, assets)
    scratch = Path(tempfile.mkdtemp(prefix="perpetua-replay-", dir=scratch_dir))
    try:
        home = scratch / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_yaml(home))
        ss = Settings(s.environment, home, str(scratch / "storage"), f"sqlite:///{scratch / 'kill_switch.db'}")
        defs = build_definitions(ss)
        _describe(say, report, rec, ops, scratch)
        seeded = {}
        for a, _ in parts:
            seeded.update(seed_storage(defs, s.storage_root, ss.storage_root, a))
        folds = seed_models(s.storage_root, ss.storage_root, hours)
        trips = seed_kill_switch(s.kill_switch_url, ss.kill_switch_url, rec.first_start())
        say(f"  seeded: {sum(seeded.values())} stored hours of {len(seeded)} assets "
            f"({', '.join(f'{k} {v}' for k, v in seeded.items())}); folds: "
            + "; ".join(f"{k} {v}" for k, v in folds.items()) + f"; {trips} kill-switch trip(s) active then")
        with DagsterInstance.from_config(str(home)) as scratch_instance:
            _run(defs, scratch_instance, s, ss, report, parts, chunk_hours, ops, rec, say)
    finally:
        if keep:
            say(f"  scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    say(report.verdict())
    return report


def _describe(say, report: ReplayReport, rec, ops: dict, scratch: Path) -> None:
    n = int((report.end - report.start) / HOUR)
    say(f"replay {report.start:%Y-%m-%d %H:00} .. {report.end - HOUR:%Y-%m-%d %H:00} UTC ({n} h, {len(report.assets)} assets, "
        f"{CYCLE_JOB}) in a scratch instance {scratch}")
    for run_id, run in rec.runs.items():
        first, last = (run.tags.get(f"dagster/asset_partition_range_{x}") or run.tags.get("dagster/partition") for x in ("start", "end"))
        say(f"  recorded by {run.job_name} {run_id} ({first or '?'} .. {last or first or '?'})")
    if rec.missing():
        say(f"  {rec.missing()} asset-hour(s) have no run record in this instance (purged?): replayed with the default config")
    say(f"  config: {ops if ops else 'the defaults (the recorded runs set none)'}")
    say("  " + _code_line(rec.code_versions()))


def _run(defs, scratch_instance, s: Settings, ss: Settings, report: ReplayReport, parts, chunk_hours: int,
         ops: dict, rec, say) -> None:
    from pipelines.runner import failure_text, planned_subsets

    job = defs.resolve_job_def(CYCLE_JOB)
    run_config = {**QUIET, **({"ops": ops} if ops else {})}
    tags = {**code_version_tags(), REPLAY_OF_TAG: ",".join(r[:8] for r in rec.runs)[:255]}
    todo = _chunks(parts, chunk_hours)
    total = sum((b - a) / HOUR for a, b in todo)
    done, t0 = 0.0, time.perf_counter()
    for a, b in todo:
        hours = pd.date_range(a, b, freq="h", inclusive="left")
        if b - a == HOUR:  # one hour: as the hourly schedule runs it
            res = job.execute_in_process(instance=scratch_instance, partition_key=partition_key(a), run_config=run_config,
                                         tags=tags, raise_on_error=False)
        else:
            range_tags = {"dagster/asset_partition_range_start": partition_key(a),
                          "dagster/asset_partition_range_end": partition_key(b - HOUR)}
            with planned_subsets(True):
                res = job.execute_in_process(instance=scratch_instance, run_config=run_config, tags={**tags, **range_tags},
                                             raise_on_error=False)
        if not res.success:
            failed = [ev for ev in res.all_events if ev.event_type_value == "STEP_FAILURE"]
            report.failures.append(f"{a:%Y-%m-%d %H:00} .. {b - HOUR:%Y-%m-%d %H:00}: " + (
                "; ".join(f"{ev.step_key}: {failure_text(ev.event_specific_data)}" for ev in failed) or "run failed"))
        report.diffs += compare(s.storage_root, ss.storage_root, report.assets, hours)
        report.compared += len(hours) * len(report.assets)
        done += len(hours)
        spent = time.perf_counter() - t0
        if len(todo) > 1:
            say(f"  replayed {a:%Y-%m-%d %H:00} .. {b - HOUR:%Y-%m-%d %H:00}: {done:.0f}/{total:.0f} h, {spent:.0f}s, "
                f"ETA {spent / done * (total - done):.0f}s, {len(report.diffs)} asset-hour(s) differ so far")
        if not res.success:
            break  # later hours would read what this run failed to make
