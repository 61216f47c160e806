"""The ``perpetua`` command line on a temporary project-local instance."""

from __future__ import annotations

import pytest

from pipelines.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT", "PERPETUA_KILL_SWITCH_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_kill_switch_needs_a_person_to_reset(home, capsys):
    assert main(["kill-switch", "status"]) == 0
    assert "clear" in capsys.readouterr().out
    assert main(["kill-switch", "trip", "--by", "alice", "--note", "exchange incident"]) == 0
    assert main(["kill-switch", "status"]) == 2
    out = capsys.readouterr().out
    assert "TRIPPED" in out
    assert "exchange incident" in out
    assert "operator:alice" in out
    assert main(["kill-switch", "reset"]) == 2  # no --by: refused
    assert "must name the person" in capsys.readouterr().err
    assert main(["kill-switch", "status"]) == 2
    assert main(["kill-switch", "reset", "--by", "bob", "--note", "checked"]) == 0
    assert "1 trip(s) cleared" in capsys.readouterr().out
    assert main(["kill-switch", "status"]) == 0


@pytest.mark.slow
def test_backfill_then_status_on_a_persistent_instance(home, capsys):
    code = main(["backfill", "--start", "2025-03-06T13:00Z", "--end", "2025-03-06T15:00Z"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "market_sources" in out
    assert "hourly_cycle" in out
    assert "all checks passed" in out
    assert (home / "dagster.yaml").exists()
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    line = next(ln for ln in status.splitlines() if ln.startswith("universe_scan_1h"))
    assert line.split()[1:4] == ["2", "2025-03-06-13:00", "2025-03-06-14:00"]
    assert "kill switch: clear" in status
    stored = sorted(p.name for p in (home.parent / "storage" / "universe_scan_1h").iterdir() if not p.name.startswith("."))
    assert stored == ["2025-03-06.parquet"]  # one file a day
    # the next window's look-back hours are already stored: no warm-up run this time
    assert main(["backfill", "--start", "2025-03-06T15:00Z", "--end", "2025-03-06T16:00Z"]) == 0
    out = capsys.readouterr().out
    assert "market_sources" not in out
    assert "hourly_cycle" in out
    # the report of the book so far: the per-layer table with rows L1, L2, L3, ML and total
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split()[0] for ln in out.splitlines() if ln.split() and ln.split()[0] in ("L1", "L2", "L3", "ML", "total")]
    assert rows[:5] == ["L1", "L2", "L3", "ML", "total"]  # then the ML section ("ML sleeve (book)", ...)
    assert "2025-03-06 13:00 .. 2025-03-06 15:00" in out
    assert (home.parent / "storage" / "reports" / "equity.png").read_bytes()[:4] == b"\x89PNG"
    # retention: run records go, the stored outputs stay
    assert main(["purge-runs", "--older-than-days", "1"]) == 0
    assert "deleted 0 run(s)" in capsys.readouterr().out
    assert main(["purge-runs", "--older-than-days", "0"]) == 0
    # 2 backfills (warm-up, the week's fold, the hours, its scoring; then the hours and the scoring) + the report
    assert "deleted 7 run(s)" in capsys.readouterr().out
    assert (home.parent / "storage" / "universe_scan_1h" / "2025-03-06.parquet").exists()


def test_bad_window_is_a_clear_error(home, capsys):
    assert main(["backfill", "--start", "2025-09-02T00:00Z", "--end", "2025-09-01T00:00Z"]) == 2
    assert "empty window" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start", "yesterday", "--end", "2025-09-01T00:00Z"], "is not an ISO-8601 date"),
        (["--start", "2025-09-01T00:30Z", "--end", "2025-09-02T00:00Z"], "is not on the hour"),
        (["--start", "2025-09-01T00:00Z", "--end", "2025-09-02T00:00Z", "--chunk-hours", "0"], "must be a positive"),
        (["--start", "2025-09-01T00:00Z", "--end", "2025-09-02T00:00Z", "--chunk-hours", "-3"], "must be a positive"),
        (["--start", "2025-09-01T00:00Z", "--end", "2025-09-02T00:00Z", "--chunk-hours", "1.5"], "must be a positive"),
        (["--start", "2025-09-24T00:00Z", "--end", "2025-09-24T00:30"], "'2025-09-24T00:30' is not on the hour"),
    ],
)
def test_backfill_refuses_malformed_arguments(home, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["backfill", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (home / "history").exists()  # no instance was opened


@pytest.mark.parametrize("day", ["24/09/2025", "01/02/2025"])
@pytest.mark.parametrize("command", ["backfill", "demo"])
def test_a_date_not_in_iso_form_shows_the_accepted_form_and_the_data(home, capsys, command, day):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--start", day])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{day!r} is not an ISO-8601 date or time" in err
    assert "YYYY-MM-DD" in err  # the accepted form
    assert DATA in err  # and the data's range
    assert not home.exists()


#: The bundled data's windows, as every refusal names them.
DATA = "2025-03-06 12:00 .. 2025-09-30 23:00, 2026-01-15 00:00 .. 2026-03-05 09:00 UTC"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start", "2026-03-01T00:00Z", "--end", "2026-04-01T00:00Z"], "is past the data: its last hour is 2026-03-05 09:00 UTC"),
        (["--start", "2025-11-01T00:00Z", "--end", "2025-12-01T00:00Z"], "has no data: the data's windows are 2025-03-06 12:00"),
        (["--start", "2025-01-01T00:00Z", "--end", "2025-04-01T00:00Z"], "before the first partition"),
        (["--start", "2024-01-01", "--end", "2024-02-01"], "before the first partition"),
        (["--start", "2030-01-01", "--end", "2030-02-01"], "is past the data"),
        (["--start", "2030-01-01"], "empty window"),  # --end defaults to the data's end
    ],
)
@pytest.mark.parametrize("command", ["backfill", "demo"])
def test_backfill_refuses_windows_without_data_up_front(home, capsys, command, argv, message):
    assert main([command, *argv]) == 2
    out, err = capsys.readouterr()
    assert message in err
    assert DATA in err  # every refusal names the data's dates
    assert "all checks passed" not in out
    assert "CheckError" not in err
    assert not (home / "history").exists()  # refused before any work


def test_a_future_window_is_refused_up_front_where_partitions_run_to_now(home, capsys, monkeypatch):
    monkeypatch.setenv("PERPETUA_ENV", "paper")  # main sets it from --env; undone after the test
    assert main(["--env", "paper", "backfill", "--start", "2030-01-01", "--end", "2030-01-02"]) == 2
    out, err = capsys.readouterr()
    assert "2030-01-02 00:00 UTC is in the future" in err
    assert "the partitions run from 2025-03-06 12:00 UTC to the last complete hour" in err
    assert out == ""  # no warm-up, no run: nothing reached the network
    assert not (home / "history").exists()


def test_kill_switch_trip_needs_a_person_too(home, capsys):
    assert main(["kill-switch", "trip", "--note", "exchange incident"]) == 2
    assert "a kill-switch trip must name the person tripping it (--by)" in capsys.readouterr().err
    assert main(["kill-switch", "trip", "--by", "  "]) == 2
    assert main(["kill-switch", "status"]) == 0  # nothing was recorded
    assert "clear" in capsys.readouterr().out
