"""The CLI when the instance's database is away, and after a run was killed mid-way.

* Postgres unreachable at start: one clear line naming the database, a non-zero exit, no traceback.
* Postgres gone in the middle of a backfill: a clear line and the chunks done so far.
* A run left STARTED by a killed process is marked FAILURE (with the reason) by the next start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from pipelines.cli import main
from pipelines.environments import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "dagster.yaml.postgres.example"
#: The sample's first hours: no warm-up run is needed before them.
H12, H13, H15 = "2025-03-06T12:00Z", "2025-03-06T13:00Z", "2025-03-06T15:00Z"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def _postgres_home(home: Path, port: int, db: str) -> dict[str, str]:
    """``home`` with the Postgres example as its dagster.yaml; the variables the example reads."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE, home / "dagster.yaml")
    return {"DAGSTER_HOME": str(home), "PERPETUA_PG_HOST": "127.0.0.1", "PERPETUA_PG_PORT": str(port),
            "PERPETUA_PG_USER": "postgres", "PERPETUA_PG_PASSWORD": "", "PERPETUA_PG_DB": db}


def _clean_env(monkeypatch) -> None:
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT", "PERPETUA_KILL_SWITCH_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("argv", [["status"], ["report"], ["backfill", "--start", H12, "--end", H13], ["purge-runs"]])
def test_an_unreachable_postgres_at_start_is_one_clear_line(tmp_path, monkeypatch, capsys, argv):
    _clean_env(monkeypatch)
    port = _closed_port()
    for name, value in _postgres_home(tmp_path / "home", port, "perpetua_prod").items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 3
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert f"PostgreSQL database 'perpetua_prod' at 127.0.0.1:{port}" in line
    assert "is unreachable" in line
    assert str(tmp_path / "home" / "dagster.yaml") in line  # where it is configured
    assert "start the database" in line  # what to do
    assert "Traceback" not in err
    assert "hourly_cycle" not in out  # nothing ran
    assert not (tmp_path / "storage").exists()


def _subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERPETUA_", "DAGSTER_"))}
    return env | {"DAGSTER_DISABLE_TELEMETRY": "1"} | extra


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("inside_a_run", [False, True], ids=["between-runs", "inside-a-run"])
def test_postgres_gone_mid_backfill_prints_the_chunks_done(tmp_path, inside_a_run):
    from tests.support.postgres import throwaway_postgres

    with throwaway_postgres(db="outage") as pg:
        env = _subprocess_env(_postgres_home(tmp_path / "home", pg.port, pg.db))
        argv = [sys.executable, "-m", "pipelines.cli", "backfill", "--start", H12, "--end", H15, "--chunk-hours", "1"]
        proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,  # noqa: S603
                                stderr=subprocess.PIPE, text=True)
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.lstrip().startswith("hourly_cycle"):  # the first chunk is done: stop the database
                if inside_a_run:  # once the next run has started a step (a fixed sleep raced a fast run)
                    _wait_for_a_step_of_the_second_run(pg.url)
                postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
                os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown: every connection drops
                break
        rest, err = proc.communicate(timeout=240)
    out = "".join(seen) + rest
    assert proc.returncode == 3, out + err
    assert "Traceback" not in out + err
    assert f"PostgreSQL database 'outage' at 127.0.0.1:{pg.port}" in err
    assert "became unreachable during the backfill" in err
    assert "1 chunk(s) done before the outage: 2025-03-06-12:00 .. 2025-03-06-12:00" in out
    assert "re-run the same command once the database is back" in out


def _wait_for_a_step_of_the_second_run(url: str, timeout_s: float = 120.0) -> None:
    import sqlalchemy

    query = sqlalchemy.text(
        "SELECT count(DISTINCT run_id) FROM event_logs WHERE dagster_event_type = 'STEP_START'")
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(query).scalar_one() >= 2:
                    return
            time.sleep(0.02)
        raise AssertionError("the backfill's second run never started a step")
    finally:
        engine.dispose()


#: A run killed in the middle of its step, as SIGKILL, an OOM kill or a power cut leaves it.
KILLED_RUN = textwrap.dedent("""
    import os, signal
    from dagster import DagsterInstance, job, op

    @op
    def works_then_dies():
        os.kill(os.getpid(), signal.SIGKILL)

    @job
    def killed_job():
        works_then_dies()

    killed_job.execute_in_process(instance=DagsterInstance.get(), raise_on_error=False)
""")


@pytest.mark.slow
def test_the_next_backfill_marks_a_killed_run_failed(tmp_path, monkeypatch, capsys):
    _clean_env(monkeypatch)
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    main(["status"])  # writes the project's dagster.yaml into the new home
    capsys.readouterr()
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN], cwd=PROJECT_ROOT, check=False,  # noqa: S603
                            env=_subprocess_env({"DAGSTER_HOME": str(home)}), capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.STARTED  # stays so: nothing else would ever end it
        # a run whose process is alive (this one) must be left alone
        live = instance.create_run_for_job(_tiny_job(), status=DagsterRunStatus.STARTED)
        instance.report_engine_event("a live run of this process", live)

    assert main(["backfill", "--start", H12, "--end", H13]) == 0
    out = capsys.readouterr().out
    assert "marked 1 orphaned run(s) FAILURE" in out
    assert f"killed_job {run.run_id[:8]}" in out
    with DagsterInstance.from_config(str(home)) as instance:
        after = instance.get_run_by_id(run.run_id)
        assert after.status == DagsterRunStatus.FAILURE
        assert "process" in after.tags["perpetua/orphaned"]
        failure = [e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_run_failure]
        assert failure
        assert "is gone" in failure[-1].dagster_event.message
        assert instance.get_run_by_id(live.run_id).status == DagsterRunStatus.STARTED
    assert main(["backfill", "--start", H13, "--end", "2025-03-06T14:00Z"]) == 0
    assert "orphaned" not in capsys.readouterr().out  # marked once, not again


def _tiny_job():
    from dagster import job, op

    @op
    def nothing():
        return None

    @job
    def live_job():
        nothing()

    return live_job
