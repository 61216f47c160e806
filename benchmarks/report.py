"""What a benchmark run records besides timings (machine, versions, data) and how it prints them."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"


@dataclass(frozen=True)
class Row:
    """One line of the results table; ``wall`` is None for a pure-only line."""

    measurement: str
    instance: str
    window: str
    hours: int
    wall: float | None
    pure: float | None
    pure_io: float | None
    events: int | None

    @property
    def dagster_share(self) -> float | None:
        return 1.0 - self.pure / self.wall if self.wall and self.pure is not None else None

    @property
    def events_per_s(self) -> float | None:
        return self.events / self.wall if self.wall and self.events else None

    @property
    def hours_per_s(self) -> float | None:
        seconds = self.wall if self.wall is not None else self.pure
        return self.hours / seconds if seconds else None

    def as_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "dagster_share": self.dagster_share,
            "events_per_s": self.events_per_s,
            "hours_per_s": self.hours_per_s,
        }


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    head = PROJECT_ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (PROJECT_ROOT / ".git" / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return "unknown"


def machine() -> dict[str, object]:
    """nproc, CPU model, RAM, load, Python and library versions, and the commit measured."""
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "ram_gib": round(int(mem_kb) / 1024**2, 1) if mem_kb.isdigit() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dagster": _version("dagster"),
        "pandas": _version("pandas"),
        "pyarrow": _version("pyarrow"),
        "great_expectations": _version("great-expectations"),
        "git_commit": _git_commit(),
    }


def load() -> list[float]:
    """1, 5 and 15 minute load averages (other work on the machine shows here)."""
    return [round(x, 2) for x in os.getloadavg()]


def sample_data() -> dict[str, object]:
    files = sorted(p for p in SAMPLE_DIR.rglob("*") if p.is_file())
    return {
        "dir": str(SAMPLE_DIR.relative_to(PROJECT_ROOT)),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }


def _fmt(value: float | int | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(rows: list[Row]) -> str:
    """The results table (seconds; share = 1 − pure / wall)."""
    head = (
        "| measurement | Dagster instance | window (UTC) | hours | wall s | pure s | pure + Parquet s "
        "| Dagster share | events | events/s | hours/s |\n"
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    )
    lines = [head]
    for r in rows:
        share = r.dagster_share
        lines.append(
            f"| {r.measurement} | {r.instance} | {r.window} | {r.hours:,} | {_fmt(r.wall, '.2f')} "
            f"| {_fmt(r.pure, '.2f')} | {_fmt(r.pure_io, '.2f')} "
            f"| {'–' if share is None else f'{share:.0%}'} | {_fmt(r.events, ',')} "
            f"| {_fmt(r.events_per_s, '.0f')} | {_fmt(r.hours_per_s, '.2f')} |"
        )
    return "\n".join(lines)
