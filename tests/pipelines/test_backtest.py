"""``perpetua backtest`` computes what the audited hours hold: the same chain, one pass, beside the store.

A 36-hour single-run range of the hourly cycle is materialised through Dagster at the start of the
2026 window (where open interest and the strategies' flow inputs exist), then the same hours are
backtested from that storage root; the book's five tables and the strategy signals must equal the
stored hours, and nothing is written into the audited store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from pipelines.backtest import BOOK_TABLES, SIGNAL_TABLES, book_params, out_dir, run_backtest
from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.environments import Settings
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from quant.book.params import BookParams
from resources.storage import read_hours

START = pd.Timestamp("2026-01-15 00:00", tz="UTC")
END = START + pd.Timedelta(hours=36)


def _settings(root: Path) -> Settings:
    return Settings("local", root / "home", str(root / "storage"), f"sqlite:///{root / 'ks.db'}")


def _same(got: pd.DataFrame, stored: pd.DataFrame) -> None:
    got, stored = got.reset_index(drop=True), stored.reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(stored.columns)], stored, check_exact=True, check_dtype=False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_backtest_equals_the_materialised_hours_and_writes_beside_the_store(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    set_event_batching()
    s = _settings(tmp_path)
    with DagsterInstance.from_config(str(home)) as inst:
        results = run_window(build_definitions(s), inst, START, END, chunk_hours=36)
        assert all(r.success for r in results)
    before = sorted(p.relative_to(tmp_path / "storage") for p in (tmp_path / "storage").rglob("*.parquet"))

    result = run_backtest(s.storage_root, START, END, [(START, END)], BookParams(), say=lambda _: None)
    hours = pd.date_range(START, END, freq="h", inclusive="left")
    for name in (*BOOK_TABLES, "strategy_signals_1h", "carry_signals_1h", "cascade_signals_1h"):
        _same(result.tables[name], read_hours(s.storage_root, name, hours))
    # in chunks of 10 h (the last three made by the worker process, each from its own look-back): the same tables
    chunked = run_backtest(s.storage_root, START, END, [(START, END)], BookParams(), say=lambda _: None, chunk_h=10)
    assert chunked.seconds["waiting for the worker"] >= 0
    for name in (*BOOK_TABLES, *SIGNAL_TABLES):
        pd.testing.assert_frame_equal(chunked.tables[name], result.tables[name], check_exact=True, obj=name)
    assert (result.tables["fills_1h"]["filled_qty"] > 0).any()  # the book traded
    assert result.out == out_dir(s.storage_root, START, END)
    assert not str(result.out).startswith(s.storage_root + "/")  # beside the audited store, never in it
    assert (Path(str(result.out)) / "ledger_1h.parquet").exists()
    after = sorted(p.relative_to(tmp_path / "storage") for p in (tmp_path / "storage").rglob("*.parquet"))
    assert after == before


def test_settings_are_set_by_dotted_keys_of_their_own_type():
    p = book_params(["bankroll_usd=50000", "strategies.risk_pct=0.005", "allocator.tilt=0.3", "strategies.max_positions=2"])
    assert (p.bankroll_usd, p.strategies.risk_pct, p.allocator.tilt, p.strategies.max_positions) == (50_000.0, 0.005, 0.3, 2)


@pytest.mark.parametrize(("item", "says"), [
    ("bankroll", "key=value"), ("nonsense=1", "has no setting 'nonsense'"), ("strategies.max_positions=2.5", "is a int"),
    ("bankroll_usd=-5", "bankroll_usd must be a positive amount"), ("strategies.risk_pct=0.5", "risk_pct must be in"),
    ("fills=1", "cannot be set from the command line"), ("risk.halt_dd=nan", "finite number"),
    ("allocator.max_total_pct=0.8", "caps are fixed"),
])
def test_bad_settings_are_refused_before_any_work(item, says):
    with pytest.raises(ValueError, match=says):
        book_params([item])


def test_each_settings_get_their_own_folder_and_a_bucket_root_keeps_them_outside():
    a, b = pd.Timestamp("2026-01-20", tz="UTC"), pd.Timestamp("2026-01-21", tz="UTC")
    plain, other = out_dir("/data/store", a, b), out_dir("/data/store", a, b, ["bankroll_usd=50000"])
    assert str(plain) == "/data/backtests/20260120T00_20260121T00"
    assert other != plain
    assert str(other.parent) == "/data/backtests"
    bucket = out_dir("memory://bucket", a, b)
    assert not str(bucket).startswith("memory://bucket/")


def test_the_cli_refuses_bad_input_before_doing_work(capsys):
    with pytest.raises(SystemExit):
        main(["backtest", "--start", "24/01/2026", "--end", "2026-02-01"])
    assert "ISO-8601" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="has no setting"):
        main(["backtest", "--start", "2026-01-20", "--end", "2026-01-21", "--set", "nonsense=1"])


def test_a_backtest_across_the_two_data_windows_prints_one_book_each(tmp_path, monkeypatch, capsys):
    """Each data window is its own book (afresh at its first hour): the per-layer table is printed for each, and
    the months between are neither hours of the table nor a 'not contiguous' error (which they once were)."""
    monkeypatch.delenv("PERPETUA_ENV", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERPETUA_STORAGE_ROOT", str(tmp_path / "storage"))
    assert main(["backtest", "--start", "2025-09-30T18:00Z", "--end", "2026-01-15T06:00Z"]) == 0
    out = capsys.readouterr().out
    assert "Book 2025-09-30 18:00 .. 2025-09-30 23:00 UTC (6 h):" in out
    assert "Book 2026-01-15 00:00 .. 2026-01-15 05:00 UTC (6 h):" in out
    assert out.count("\ntotal ") == 2
    assert "12 h in " in out
    ledger = pd.read_parquet(tmp_path / "backtests" / "20250930T18_20260115T06" / "ledger_1h.parquet")
    assert sorted(ledger["hour"].unique()) == [*pd.date_range("2025-09-30 18:00", periods=6, freq="h", tz="UTC"),
                                               *pd.date_range("2026-01-15 00:00", periods=6, freq="h", tz="UTC")]
