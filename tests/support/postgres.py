"""A throwaway PostgreSQL cluster for tests: ``initdb`` into a temp folder, start, yield, stop, delete.

Usage::

    with throwaway_postgres() as pg:
        engine = sqlalchemy.create_engine(pg.url)   # postgresql+psycopg2://postgres@127.0.0.1:PORT/perpetua_test

The cluster listens on a free loopback port and keeps its Unix socket inside its own temp folder,
so nothing outside that folder is touched. ``initdb``/``postgres`` refuse to run as root; as root
the cluster runs as ``nobody`` (the folder is handed to that user). Teardown — ``pg_ctl stop -m
fast``, then killing the postmaster from ``postmaster.pid``, then deleting the folder — runs
whatever happens inside the ``with`` block, and once more at interpreter exit if it was skipped.

Where no Postgres binaries can be found, :func:`throwaway_postgres` calls ``pytest.skip``.
Binaries are looked up in ``$PERPETUA_PG_BIN``, on ``PATH``, then in the usual Debian / source
install folders (``/usr/lib/postgresql/<version>/bin``, ``/usr/local/pgsql/bin``).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "postgres"
DEFAULT_DB = "perpetua_test"
#: Fast and disposable: no durability, small memory, no background noise.
SERVER_OPTIONS = (
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c shared_buffers=32MB",
    "-c max_connections=100",
)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bin(name: str) -> str | None:
    """Absolute path of the PostgreSQL program ``name`` (``initdb``, ``pg_ctl``, ``postgres``), or None."""
    override = os.environ.get("PERPETUA_PG_BIN")
    candidates = [Path(override) / name] if override else []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))

    def version(folder: str) -> tuple[int, ...]:
        digits = re.findall(r"\d+", Path(folder).parent.name)
        return tuple(int(d) for d in digits)

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += [Path(folder) / name for folder in debian]
    candidates += [Path("/usr/local/pgsql/bin") / name, Path("/usr/pgsql/bin") / name]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster and one database on it."""

    host: str
    port: int
    db: str
    user: str
    base_dir: Path

    @property
    def url(self) -> str:
        """SQLAlchemy URL with the psycopg2 driver spelled out (SQLAlchemy 2.1: bare ``postgresql://`` is psycopg 3)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.db}"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    def create_database(self, name: str) -> PostgresServer:
        """Create database ``name`` (if absent) on this cluster; the same server, pointed at it."""
        if not _IDENT.match(name):
            raise ValueError(f"database name must be a plain lower-case identifier, got {name!r}")
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return dataclasses.replace(self, db=name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Runner:
    """Runs the Postgres programs as an unprivileged user when we are root."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        if self.as_root:
            entry = pwd.getpwnam("nobody")
            self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def run(
        self, argv: list[str], *, cwd: Path, timeout: float, check: bool = True
    ) -> subprocess.CompletedProcess:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        for var in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGOPTIONS"):
            env.pop(var, None)
        kwargs: dict = {}
        if self.as_root:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
            env["HOME"] = str(cwd)
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def give(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)


def _traversable_by_others(path: Path) -> bool:
    """Whether every ancestor of ``path`` lets other users through (``o+x``)."""
    for folder in [path, *path.parents]:
        try:
            if not folder.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _make_base_dir(runner: _Runner) -> Path:
    parents = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
    for parent in parents:
        # The Unix socket path (<base>/sock/.s.PGSQL.<port>) must stay under ~107 bytes.
        if len(str(parent)) > 60 or not parent.is_dir():
            continue
        if not runner.as_root or _traversable_by_others(parent):
            base = Path(tempfile.mkdtemp(prefix="perpetua-pg-", dir=parent))
            base.chmod(0o755)  # mkdtemp makes 0700; the server user must be able to walk in.
            return base
    raise RuntimeError(f"no temp folder that user 'nobody' can reach among {parents}")


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaps (no init in the container) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _stop(pg_ctl: str, runner: _Runner, base: Path) -> None:
    """Stop the cluster under ``base`` (gently, then by force) and delete the folder."""
    data = base / "data"
    pid = _postmaster_pid(data)
    if pid is not None:
        with contextlib.suppress(Exception):
            runner.run(
                [pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "20", "stop"], cwd=base, timeout=30
            )
        for sig in (signal.SIGQUIT, signal.SIGKILL):  # SIGQUIT: immediate shutdown; SIGKILL: last resort
            if _wait_gone(pid, 5):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        _wait_gone(pid, 5)
    shutil.rmtree(base, ignore_errors=True)


def _start(pg_ctl: str, runner: _Runner, base: Path) -> int:
    """Start the initialised cluster on a free port (a few tries: the port can be taken meanwhile)."""
    last_error: Exception | None = None
    for _ in range(3):
        port = _free_port()
        options = " ".join(
            [f"-p {port}", f"-k {base / 'sock'}", "-c listen_addresses=127.0.0.1", *SERVER_OPTIONS]
        )
        argv = [
            pg_ctl,
            "-D",
            str(base / "data"),
            "-l",
            str(base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ]
        try:
            runner.run(argv, cwd=base, timeout=90)
            return port
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log = base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            last_error = RuntimeError(f"{exc}\nserver.log:\n{tail}")
            _kill_leftover(base)
    raise RuntimeError(f"could not start the throwaway PostgreSQL cluster: {last_error}")


def _kill_leftover(base: Path) -> None:
    pid = _postmaster_pid(base / "data")
    if pid is not None and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5)
    with contextlib.suppress(FileNotFoundError):
        (base / "data" / "postmaster.pid").unlink()


@contextlib.contextmanager
def throwaway_postgres(db: str = DEFAULT_DB) -> Iterator[PostgresServer]:
    """Start a fresh PostgreSQL cluster with database ``db``; stop and delete it on exit."""
    initdb, pg_ctl, postgres = (find_pg_bin(n) for n in ("initdb", "pg_ctl", "postgres"))
    if not (initdb and pg_ctl and postgres):
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in $PERPETUA_PG_BIN "
            "or under /usr/lib/postgresql/*/bin; install postgresql to run the postgres tests"
        )
    runner = _Runner()
    base = _make_base_dir(runner)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            _stop(pg_ctl, runner, base)

    atexit.register(stop)  # if the with-block is never left normally (e.g. the process is torn down)
    try:
        for sub in ("data", "sock"):
            (base / sub).mkdir(mode=0o700)
            runner.give(base / sub)
        runner.give(base)
        runner.run(
            [
                initdb,
                "-D",
                str(base / "data"),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=base,
            timeout=120,
        )
        port = _start(pg_ctl, runner, base)
        server = PostgresServer(host="127.0.0.1", port=port, db="postgres", user=SUPERUSER, base_dir=base)
        yield server.create_database(db) if db != "postgres" else server
    finally:
        stop()
        atexit.unregister(stop)
