"""Shared fixtures: a throwaway local environment (temp instance folder, storage, kill switch)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*preview.*")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


def settings_under(root: Path):
    """Local settings whose instance home, Parquet storage and kill switch all live under ``root``."""
    from pipelines.environments import settings

    s = settings("local", home=root / "home")
    return type(s)(s.environment, s.home, str(root / "storage"), f"sqlite:///{root / 'ks.db'}")


@pytest.fixture
def local_settings(tmp_path, monkeypatch):
    """Settings of a fresh local environment under ``tmp_path`` (no env overrides leak in)."""
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT", "PERPETUA_KILL_SWITCH_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)
    from pipelines.environments import settings

    return settings("local", home=tmp_path / "home")


@pytest.fixture
def instance():
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst


def run_direct(asset_fn, context, **inputs):
    """Call an audited asset directly: (its frame, its check results), from the events it yields."""
    from dagster import AssetCheckResult, Output

    events = list(asset_fn(context, **inputs))
    frames = [e.value for e in events if isinstance(e, Output)]
    checks = [e for e in events if isinstance(e, AssetCheckResult)]
    assert len(frames) == 1, f"expected one output, got {len(frames)}"
    return frames[0], checks
