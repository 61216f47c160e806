"""Storage is the truth for the book: purging run records, or a new ``DAGSTER_HOME`` over the same
Parquet store, neither restarts the book nor hides it from ``status``.

The same eight hours are run twice: in one go, and in three pieces — three hours, ``purge-runs``
of every run, three more hours, then two on a brand-new instance folder pointed at the same store.
The book's tables must be the same bytes; ``status`` on the new instance shows the whole stored book.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import main
from resources.storage import MissingPartitionError, read_hours

BOOK = ("ledger_1h", "positions_1h", "order_intents_1h", "fills_1h", "layer_allocations_1h")
#: The sample's first hours: no warm-up is needed, and the book holds open legs from 13:00 on.
H12, H15, H18, H20 = "2025-03-06T12:00Z", "2025-03-06T15:00Z", "2025-03-06T18:00Z", "2025-03-06T20:00Z"


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT", "PERPETUA_KILL_SWITCH_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _use(monkeypatch, home: Path, storage: Path) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PERPETUA_STORAGE_ROOT", str(storage))
    monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", f"sqlite:///{storage.parent / 'kill_switch.db'}")


def _book_bytes(storage: Path) -> dict[str, bytes]:
    return {f"{name}/{p.name}": p.read_bytes() for name in BOOK for p in sorted((storage / name).glob("*.parquet"))}


def _backfill(start: str, end: str, capsys) -> str:
    code = main(["backfill", "--start", start, "--end", end])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


@pytest.mark.slow
def test_the_book_continues_from_storage_after_purge_and_on_a_new_instance(tmp_path, clean_env, capsys):
    one_go = tmp_path / "one_go"
    _use(clean_env, one_go / "home", one_go / "storage")
    _backfill(H12, H20, capsys)

    pieces = tmp_path / "pieces"
    _use(clean_env, pieces / "home", pieces / "storage")
    _backfill(H12, H15, capsys)
    assert main(["purge-runs", "--older-than-days", "0", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "would delete 3 run(s)" in dry  # the week's fold, the hours, the fold's scoring
    assert "events" in dry
    assert "2025-03-06 12:00 .. 2025-03-06 14:00" in dry  # the hours those runs covered
    assert "stay, and the book stays: 2025-03-06 14:00 UTC" in dry  # Parquet outputs and the book
    assert "2 open legs" in dry
    assert "nothing was deleted" in dry
    assert main(["purge-runs", "--older-than-days", "0"]) == 0
    done = capsys.readouterr().out
    assert "deleted 3 run(s)" in done
    assert "the book stays" in done
    _backfill(H15, H18, capsys)

    _use(clean_env, pieces / "new_home", pieces / "storage")  # a new instance over the same store
    _backfill(H18, H20, capsys)
    assert _book_bytes(pieces / "storage") == _book_bytes(one_go / "storage")

    assert main(["status"]) == 0
    status = capsys.readouterr().out
    ledger = next(ln for ln in status.splitlines() if ln.startswith("ledger_1h"))
    assert ledger.split()[1:4] == ["8", "2025-03-06-12:00", "2025-03-06-19:00"]
    assert "book: 2025-03-06 19:00 UTC" in status
    assert "open legs" in status

    assert main(["report"]) == 0  # the report is of the whole stored book, not of this instance's runs
    report = capsys.readouterr().out
    assert "Perpetua book 2025-03-06 12:00 .. 2025-03-06 19:00 UTC" in report
    assert "the stored book runs" not in report


@pytest.mark.slow
def test_a_gap_after_purge_is_refused_not_restarted(tmp_path, clean_env, capsys):
    _use(clean_env, tmp_path / "home", tmp_path / "storage")
    _backfill(H12, H15, capsys)
    assert main(["purge-runs", "--older-than-days", "0"]) == 0
    capsys.readouterr()
    # 15:00 and 16:00 never stored: the book must not restart from the bankroll at 17:00
    assert main(["backfill", "--start", "2025-03-06T17:00Z", "--end", H18]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "has hours before 2025-03-06 16:00 UTC but not that hour" in out
    with pytest.raises(MissingPartitionError):
        read_hours(str(tmp_path / "storage"), "ledger_1h", pd.DatetimeIndex([pd.Timestamp(H18) - pd.Timedelta(hours=1)]))
