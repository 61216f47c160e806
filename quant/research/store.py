"""The journal's append-only table: one JSON object per line in ``<root>/journal.jsonl``.

Lines are only ever appended (each flushed and fsynced), never rewritten. Loading checks every line
and the chain between them, and a line that fails is a :class:`JournalCorrupt` naming the file and
the line: a journal that cannot be read whole is not read at all, because a skipped line would be
a forgotten trial. One writer at a time: two processes appending to one journal are not supported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from quant.research.entry import Entry, Verdict
from quant.research.evaluation import metric_values
from quant.research.fmt import finite

FILE_NAME = "journal.jsonl"


class JournalCorrupt(ValueError):
    """A journal line that cannot be read, or that contradicts the lines before it."""


def journal_path(root: str | os.PathLike) -> Path:
    """Where the journal under ``root`` lives."""
    return Path(root) / FILE_NAME


def append(root: str | os.PathLike, entry: Entry) -> None:
    """Append ``entry`` as one line under ``root`` (created if missing), durable before returning."""
    path = journal_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry.to_dict(), allow_nan=False, sort_keys=True, ensure_ascii=False)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _contradiction(entry: Entry, previous_total: int, expected_seq: int) -> str | None:
    """Why ``entry`` cannot follow the entries before it, or None."""
    if entry.seq != expected_seq:
        return f"seq {entry.seq}, expected {expected_seq}"
    if entry.trials_total != previous_total + entry.trials_added or entry.trials_added < 0:
        return f"trials_total {entry.trials_total} is not {previous_total} + trials_added {entry.trials_added}"
    if entry.trials_added != (len(entry.trials) if entry.kind == "run" else 0):
        return f"trials_added {entry.trials_added} does not count the {len(entry.trials)} trial(s) recorded"
    if entry.verdict is Verdict.VALIDATED:
        values = metric_values(entry.seen) if entry.seen is not None else ()
        if entry.reasons or not values or not all(finite(v) for v in values):
            return "VALIDATED with a reason against it or a missing metric"
        if entry.kind == "run" and (entry.dsr is None or not finite(entry.dsr.dsr)):
            return "VALIDATED without a deflated Sharpe ratio"
    elif not entry.reasons:
        return f"{entry.verdict.value} without a reason"
    return None


def load(root: str | os.PathLike) -> list[Entry]:
    """Every entry under ``root`` in order ([] when there is no journal yet).

    Raises
    ------
    JournalCorrupt
        A line that is not JSON (a truncated write included), misses a field, holds a value of the
        wrong kind, or breaks the chain: seq 1, 2, 3…, trial counts that add up, a VALIDATED with a
        missing metric or a reason against it, one hypothesis id with two definitions (a refused
        attempt records what was attempted and defines nothing).
    """
    path = journal_path(root)
    if not path.exists():
        return []
    entries: list[Entry] = []
    definitions: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                entry = Entry.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise JournalCorrupt(f"{path}, line {number}: unreadable entry ({type(err).__name__}: {err})") from err
            problem = _contradiction(entry, entries[-1].trials_total if entries else 0, len(entries) + 1)
            if problem is None and entry.verdict is not Verdict.REFUSED and definitions.setdefault(
                entry.hypothesis.id, entry.hypothesis.fingerprint()) != entry.hypothesis.fingerprint():
                problem = f"hypothesis {entry.hypothesis.id!r} recorded with two definitions"
            if problem is not None:
                raise JournalCorrupt(f"{path}, line {number}: {problem}")
            entries.append(entry)
    return entries
