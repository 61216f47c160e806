"""``perpetua replay-manifest --hour H``: what an hour consumed and produced, from the store and the instance.

Produced: every asset of the hourly cycle at H — rows, content hash (``pipelines.lineage.content_hash``,
the hash a replay compares), Dagster's data version and the run that wrote it. Consumed: the stored
hours before H that its run reads (look-backs, the book's previous hour: ``pipelines.lineage.reads_before``),
each as a range with its hours, one content hash over them, the data version of its last hour and
the runs that wrote them; the fold model it predicts with; the same hour's inputs are the produced
rows (one run makes the hour's whole chain).
"""

from __future__ import annotations

import pandas as pd
from dagster import DagsterInstance

from checks.engine import partition_key
from pipelines.environments import Settings
from pipelines.lineage import HOUR, content_hash, cycle_assets, reads_before, recorded
from pipelines.replay_seed import fold_keys
from resources.model_store import MlModelStore, ml_root
from resources.storage import read_hours, split_by_hour, stored_hours


def _runs(instance: DagsterInstance, run_ids: set[str]) -> dict[str, str]:
    """run id -> its job's name (``?`` for a run the instance no longer holds)."""
    out = {}
    for run_id in sorted(run_ids):
        run = instance.get_run_by_id(run_id)
        out[run_id] = run.job_name if run is not None else "?"
    return out


def produced(instance: DagsterInstance, s: Settings, hour: pd.Timestamp) -> list[dict]:
    """One row per cycle asset at ``hour``: rows, content hash, data version, run id and job."""
    from pipelines.definitions import build_definitions

    index = pd.DatetimeIndex([hour])
    key = partition_key(hour)
    rows = []
    for asset in cycle_assets(build_definitions(s)):
        have = stored_hours(s.storage_root, asset, hour, hour + HOUR)
        frame = read_hours(s.storage_root, asset, index) if len(have) else None
        rec = recorded(instance, asset, index).get(key)
        rows.append({"asset": asset, "partition": key, "rows": None if frame is None else len(frame),
                     "hash": None if frame is None else content_hash(frame),
                     "data_version": rec.data_version if rec else None, "run_id": rec.run_id if rec else None})
    return rows


def consumed(instance: DagsterInstance, s: Settings, hour: pd.Timestamp) -> list[dict]:
    """One row per stored asset the hour's run reads before ``hour``: its hours, a hash over them, their runs."""
    from pipelines.definitions import build_definitions

    rows = []
    for asset, (first, end) in reads_before(build_definitions(s), hour).items():
        have = stored_hours(s.storage_root, asset, first, end)
        want = int((end - first) / HOUR)
        recs = recorded(instance, asset, have)
        last = recs.get(partition_key(have[-1])) if len(have) else None
        frame = read_hours(s.storage_root, asset, have) if len(have) else None
        per_hour = [content_hash(f) for _, f in split_by_hour(frame, have)] if frame is not None else []
        rows.append({"asset": asset, "partition": f"{partition_key(first)}..{partition_key(end - HOUR)}",
                     "hours": f"{len(have)}/{want}", "hash": content_hash(pd.DataFrame({"h": per_hour})) if per_hour else None,
                     "data_version": last.data_version if last else None,
                     "run_ids": sorted({r.run_id for r in recs.values()})})
    return rows


def manifest(instance: DagsterInstance, s: Settings, hour: pd.Timestamp) -> str:
    """The text ``perpetua replay-manifest`` prints."""
    made, read = produced(instance, s, hour), consumed(instance, s, hour)
    jobs = _runs(instance, {r["run_id"] for r in made if r["run_id"]} | {i for r in read for i in r["run_ids"]})
    lines = [f"hour {hour:%Y-%m-%d %H:00} UTC (partition {partition_key(hour)}), storage {s.storage_root}", "",
             f"produced ({len(made)} assets of the hourly cycle):",
             f"  {'asset':22s} {'partition':17s} {'rows':>6s}  {'content hash':16s}  {'data version':16s}  run id (job)"]
    for r in made:
        rows = "-" if r["rows"] is None else str(r["rows"])
        run = f"{r['run_id']} ({jobs.get(r['run_id'], '?')})" if r["run_id"] else "no run record"
        lines.append(f"  {r['asset']:22s} {r['partition']:17s} {rows:>6s}  {r['hash'] or 'not stored':16s}  "
                     f"{(r['data_version'] or '-')[:16]:16s}  {run}")
    lines += ["", "consumed (stored hours before it; the same hour's inputs are the rows above):",
              f"  {'asset':22s} {'partitions':34s} {'hours':>9s}  {'content hash':16s}  {'data version':16s}  run ids"]
    for r in read:
        runs = ", ".join(f"{i} ({jobs.get(i, '?')})" for i in r["run_ids"]) or "no run record"
        lines.append(f"  {r['asset']:22s} {r['partition']:34s} {r['hours']:>9s}  {r['hash'] or 'none stored':16s}  "
                     f"{(r['data_version'] or '-')[:16]:16s}  {runs}")
    store = MlModelStore(root=ml_root(s.storage_root))
    for key in fold_keys(pd.DatetimeIndex([hour])):
        if not store.has_manifest(key):
            lines.append(f"  fold {key}: never trained (no manifest under {store.root})")
            continue
        m = store.manifest(key)
        what = (f"trained, artifact {m.get('key')} sha256 {str(m.get('sha256', ''))[:16]}" if m.get("status") == "trained"
                else f"{m.get('status')}: {m.get('reason', '')}")
        lines.append(f"  fold {key} (ml_fold_models): {what}")
    return "\n".join(lines)
