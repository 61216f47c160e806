"""Which database dagster.yaml names, whether its port answers, and whether a run's process lives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.instance_access import Database, configured_databases, error_reason, probe
from pipelines.run_records import process_alive

EXAMPLE = Path(__file__).resolve().parents[2] / "dagster.yaml.postgres.example"


def test_the_postgres_example_names_one_database_through_its_variables(tmp_path, monkeypatch):
    for name, value in {"PERPETUA_PG_HOST": "db.internal", "PERPETUA_PG_PORT": "6543", "PERPETUA_PG_DB": "books"}.items():
        monkeypatch.setenv(name, value)
    assert configured_databases(EXAMPLE) == [Database("db.internal", 6543, "books")]  # three storages, one database


def test_a_postgres_url_and_the_sqlite_default(tmp_path):
    url = tmp_path / "url.yaml"
    url.write_text("storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://u:secret@10.0.0.5/perpetua\n")
    assert configured_databases(url) == [Database("10.0.0.5", 5432, "perpetua")]
    assert "secret" not in str(configured_databases(url)[0])
    sqlite = tmp_path / "sqlite.yaml"
    sqlite.write_text("telemetry:\n  enabled: false\n")
    assert configured_databases(sqlite) == []
    assert configured_databases(tmp_path / "missing.yaml") == []


def test_probe_says_why_a_port_does_not_answer():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert probe(Database("127.0.0.1", port, "x")) is None
    assert probe(Database("127.0.0.1", port, "x")) == "connection refused"


def test_error_reason_is_the_drivers_first_line():
    import sqlalchemy.exc

    driver = OSError('connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running?')
    wrapped = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    outer = RuntimeError("too many retries for DB connection")
    outer.__cause__ = wrapped
    assert error_reason(outer) == 'connection to server at "127.0.0.1", port 1 failed: Connection refused'


def test_process_alive_for_this_process_not_for_a_dead_or_a_reused_pid():
    assert process_alive(os.getpid(), since=time.time())
    done = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    done.wait()
    assert not process_alive(done.pid, since=time.time())
    # a live pid whose process started after the run began belongs to another process
    if Path("/proc/self/stat").exists():
        assert not process_alive(os.getpid(), since=time.time() - 3600 * 24 * 365 * 30)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombie state is read from /proc")
def test_a_killed_child_not_yet_reaped_is_not_alive():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # noqa: S603
    try:
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while "Z" not in Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not process_alive(proc.pid, since=time.time())
    finally:
        proc.wait()
