"""Shared fixtures: a throwaway local environment (temp instance folder, storage, kill switch)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*preview.*")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


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
