"""``perpetua replay-hour`` / ``replay-window`` / ``replay-manifest`` on a short backfill of the real sample.

The window is the sample's first four hours (no warm-up to run): the L3 hedge is bought at 12:00
and filled at 13:00, so the book's five tables hold rows. A replay of a stored hour is identical;
a stored input or output rewritten (the file kept valid) is named with its column, row and both
values; the real store is never written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.environments import Settings
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.lineage import content_hash, cycle_assets, reads_before, source_hash
from pipelines.replay_diff import first_difference
from pipelines.runner import run_window
from resources.storage import read_hours

START = pd.Timestamp("2025-03-06 12:00", tz="UTC")
HOURS = 4
HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A backfilled instance and store of [12:00, 16:00) on 2025-03-06: (root, the hourly_cycle run's id)."""
    root = tmp_path_factory.mktemp("replay")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    set_event_batching()
    s = Settings("local", home, str(root / "storage"), f"sqlite:///{home / 'kill_switch.db'}")
    with DagsterInstance.from_config(str(home)) as inst:
        results = run_window(build_definitions(s), inst, START, START + HOURS * HOUR, chunk_hours=HOURS)
    assert all(r.success for r in results)
    cycle = [r for r in results if r.job == "hourly_cycle"]
    assert len(cycle) == 1
    return root, cycle[0].run_id


def _use(monkeypatch, root: Path, storage: Path | None = None) -> Path:
    """Point the CLI at ``root``'s instance (and ``storage``, by default its own); scratch folders go under a fresh temp dir."""
    for var in ("PERPETUA_ENV", "PERPETUA_PARTITIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(root / "home"))
    monkeypatch.setenv("PERPETUA_STORAGE_ROOT", str(storage or root / "storage"))
    monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", f"sqlite:///{root / 'home' / 'kill_switch.db'}")
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=root.parent))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def _files(storage: Path) -> dict[str, bytes]:
    return {str(p.relative_to(storage)): p.read_bytes() for p in sorted(storage.rglob("*")) if p.is_file()}


def _tamper(storage: Path, asset: str, hour: pd.Timestamp, column: str, pick, value: float) -> int:
    """Rewrite one cell of ``asset``'s day file (the row ``pick`` chooses in ``hour``), keeping the file valid; its row in the hour."""
    path = storage / asset / f"{hour:%Y-%m-%d}.parquet"
    table = pq.read_table(path)
    frame = table.to_pandas()
    in_hour = np.flatnonzero(frame["hour"] == hour)
    row = int(in_hour[pick(frame.iloc[in_hour].reset_index(drop=True))])
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.schema.get_field_index(column)
    table = table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))
    pq.write_table(table, path, compression="zstd")  # the schema's metadata (its stored hours) comes along
    return row - int(in_hour[0])


def _copy_storage(stored_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "storage"
    shutil.copytree(stored_root / "storage", copy)
    return copy


@pytest.mark.slow
def test_a_stored_hour_replays_identical_and_the_store_is_only_read(stored, monkeypatch, capsys):
    root, _ = stored
    scratch = _use(monkeypatch, root)
    before = _files(root / "storage")
    assert main(["replay-hour", "--hour", "2025-03-06T13:00Z"]) == 0
    out = capsys.readouterr().out
    assert "identical: 16 assets x 1 hour(s)" in out
    assert "the recorded runs' own" in out  # the backfill tagged its runs with the code it ran
    assert "ledger_1h 1" in out  # the book's previous hour was seeded
    assert "2025-03-03 skipped" in out  # the fold the hour predicts with (too little history)
    assert _files(root / "storage") == before  # nothing written to the real store
    assert list(scratch.iterdir()) == []  # the scratch instance is gone


@pytest.mark.slow
def test_a_tampered_input_is_named_with_its_column_row_and_values(stored, tmp_path, monkeypatch, capsys):
    root, _ = stored
    storage = _copy_storage(root, tmp_path)
    hour = START + HOUR
    original = read_hours(str(storage), "perp_ohlcv_1h", pd.DatetimeIndex([hour]))
    eth = original.index[(original["venue"] == "binance") & (original["symbol"] == "ETH/USDT:USDT")][0]
    close = float(original.loc[eth, "close"])
    row = _tamper(storage, "perp_ohlcv_1h", hour, "close",
                  lambda f: np.flatnonzero((f["venue"] == "binance") & (f["symbol"] == "ETH/USDT:USDT"))[0], close + 1.0)
    assert row == eth
    _use(monkeypatch, root, storage)
    assert main(["replay-hour", "--hour", "2025-03-06T13:00Z"]) == 1
    out = capsys.readouterr().out
    assert "identical" not in out
    assert "DIFFERENT: 1 of 16 asset-hours differ" in out  # the stored outputs were made from the true bar
    assert "perp_ohlcv_1h 2025-03-06 13:00 UTC (partition 2025-03-06-13:00): rows stored 9 | replayed 9" in out
    assert (f"column 'close', row {eth} (venue=binance, symbol=ETH/USDT:USDT): stored {close + 1.0!r} | "
            f"replayed {close!r}") in out


@pytest.mark.slow
def test_a_tampered_look_back_fails_the_replay_and_says_why(stored, tmp_path, monkeypatch, capsys):
    root, _ = stored
    storage = _copy_storage(root, tmp_path)
    _tamper(storage, "perp_ohlcv_1h", START, "close", lambda f: 0, 1.0)  # the hour before the replayed one
    _use(monkeypatch, root, storage)
    assert main(["replay-hour", "--hour", "2025-03-06T13:00Z"]) == 1
    out = capsys.readouterr().out
    assert "replay run FAILED" in out
    assert "the source disagrees with the stored hour before the window" in out
    assert "perp_ohlcv_1h 2025-03-06 13:00 UTC" in out
    assert "not made by the replay" in out


@pytest.mark.slow
def test_a_tampered_output_is_named_in_a_window_with_progress(stored, tmp_path, monkeypatch, capsys):
    root, _ = stored
    storage = _copy_storage(root, tmp_path)
    hour = START + 2 * HOUR
    ledger = read_hours(str(storage), "ledger_1h", pd.DatetimeIndex([hour]))
    total = int(np.flatnonzero(ledger["layer"] == "total")[0])
    equity = float(ledger["equity_usd"].iloc[total])
    _tamper(storage, "ledger_1h", hour, "equity_usd", lambda f: np.flatnonzero(f["layer"] == "total")[0], equity + 0.01)
    _use(monkeypatch, root, storage)
    assert main(["replay-window", "--start", "2025-03-06T13:00Z", "--end", "2025-03-06T16:00Z", "--chunk-hours", "1"]) == 1
    out = capsys.readouterr().out
    assert out.count("ETA") == 3  # a progress line per replay run
    # the next hour's book starts from the replayed (true) ledger: only the tampered hour differs
    assert "DIFFERENT: 1 of 48 asset-hours differ" in out
    assert "ledger_1h 2025-03-06 14:00 UTC" in out
    assert f"column 'equity_usd', row {total} (layer=total, venue=all, symbol=all): stored {equity + 0.01!r} | " \
           f"replayed {equity!r}" in out


@pytest.mark.slow
def test_the_manifest_lists_every_asset_of_the_hour_with_its_run(stored, monkeypatch, capsys):
    root, run_id = stored
    _use(monkeypatch, root)
    assert main(["replay-manifest", "--hour", "2025-03-06T13:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    produced = [ln for ln in out if "2025-03-06-13:00 " in ln and run_id in ln]
    s = Settings("local", root / "home", str(root / "storage"), "sqlite://")
    assets = cycle_assets(build_definitions(s))
    assert [ln.split()[0] for ln in produced] == assets
    fills = read_hours(str(root / "storage"), "fills_1h", pd.DatetimeIndex([START + HOUR]))
    fill_line = next(ln for ln in produced if ln.split()[0] == "fills_1h")
    assert fill_line.split()[2:4] == ["2", content_hash(fills)]  # rows and the hash a replay compares
    consumed = {ln.split()[0]: ln for ln in out if "2025-03-06-12:00..2025-03-06-12:00" in ln}
    assert {"perp_ohlcv_1h", "ledger_1h", "positions_1h", "order_intents_1h", "features_1h"} <= set(consumed)
    assert all(run_id in ln and "1/1" in ln for ln in consumed.values())
    assert any("fold 2025-03-03 (ml_fold_models): skipped" in ln for ln in out)


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "says"), [
    (["replay-hour", "--hour", "2027-01-01T00:00Z"], "2027-01-01 00:00 UTC is not an hour with data"),
    (["replay-hour", "--hour", "2025-11-01T00:00Z"], "is not an hour with data: the data's hours are 2025-03-06 12:00"),
    (["replay-manifest", "--hour", "2024-01-01T00:00Z"], "is not an hour with data"),
    (["replay-window", "--start", "2025-03-06T12:00Z", "--end", "2025-03-06T12:00Z"], "empty window"),
    (["replay-hour", "--hour", "2025-03-06T20:00Z"], "nothing to compare with: perp_ohlcv_1h has no stored hour 2025-03-06 20:00"),
])
def test_bad_input_is_refused_before_any_work(stored, monkeypatch, capsys, argv, says):
    root, _ = stored
    scratch = _use(monkeypatch, root)
    assert main(argv) == 2
    assert says in capsys.readouterr().err
    assert list(scratch.iterdir()) == []  # no scratch instance was made


@pytest.mark.parametrize("hour", ["2025-03-06T13:30Z", "13:00", "06/03/2025"])
def test_an_hour_that_is_not_an_iso_utc_hour_is_refused(hour, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["replay-hour", "--hour", hour])
    assert exc.value.code == 2
    assert "--hour" in capsys.readouterr().err


def test_what_a_run_reads_before_its_first_hour():
    defs = build_definitions(Settings("local", Path("/nonexistent"), "/nonexistent", "sqlite://"))
    # 1,055 hours = 43 days 23 hours before 2025-06-01 13:00 is 2025-04-18 14:00 (the strategies' candles)
    reads = reads_before(defs, pd.Timestamp("2025-06-01 13:00", tz="UTC"))
    assert reads["perp_ohlcv_1h"][0] == pd.Timestamp("2025-04-18 14:00", tz="UTC")
    assert reads["features_1h"][0] == pd.Timestamp("2025-06-01 06:00", tz="UTC")  # the sequence models' 7 hours
    assert reads["ledger_1h"] == (pd.Timestamp("2025-06-01 12:00", tz="UTC"), pd.Timestamp("2025-06-01 13:00", tz="UTC"))
    assert "fills_1h" not in reads  # the book restarts from positions, ledger and intents only
    # never across the months with no data: the 2026 window starts 2026-01-15 00:00
    later = reads_before(defs, pd.Timestamp("2026-01-16 00:00", tz="UTC"))
    assert later["perp_ohlcv_1h"][0] == pd.Timestamp("2026-01-15 00:00", tz="UTC")
    assert reads_before(defs, pd.Timestamp("2026-01-15 00:00", tz="UTC")) == {}


def test_first_difference_names_the_first_row_then_its_column():
    a = pd.DataFrame({"venue": ["x", "y", "z"], "p": [1.0, np.nan, 3.0], "q": [1, 2, 3]})
    assert first_difference(a, a.copy()) is None  # NaN equals NaN
    b = a.copy()
    b.loc[2, "p"], b.loc[1, "q"] = 3.0000000000000004, 5  # one ulp off is a difference
    d = first_difference(a, b)
    assert (d.what, d.row, d.column, d.stored, d.replayed, d.key) == ("value", 1, "q", 2, 5, "venue=y")
    assert first_difference(a, a.iloc[:2]).describe() == "row count: stored 3 | replayed 2; first row only one side has: 2 (venue=z)"
    assert first_difference(a, a.drop(columns="q")).describe() == "columns: stored only ['q'] | replayed only []"
    assert first_difference(a, a.astype({"q": "float64"})).describe() == "column 'q' type: stored int64 | replayed float64"


def test_the_source_hash_follows_every_source_file(tmp_path):
    (tmp_path / "quant" / "sub").mkdir(parents=True)
    (tmp_path / "quant" / "sub" / "m.py").write_text("X = 1\n")
    first = source_hash(tmp_path)
    assert source_hash(tmp_path) == first
    (tmp_path / "quant" / "sub" / "m.py").write_text("X = 2\n")
    assert source_hash(tmp_path) != first
