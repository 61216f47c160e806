"""``perpetua scan`` prints what ``carry_signals_1h`` stores for the hour.

The reference is Dagster's own: the hourly inputs of a real bundled hour (2025-09-22 05:00, two
carry entries, holds and exits) are materialised with their warm-up, then ``carry_signals_1h`` alone,
and the stored rows must equal the scan's, bit for bit. The paper path (ccxt against the loopback
venues serving the same sample) must give the same rows as the replay. Bad input is refused before
any fetch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.environments import Settings, resources_for
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.jobs import CYCLE_DECISIONS_JOB, CYCLE_INPUTS_JOB
from pipelines.operator import carry_rows, format_scan, ranked
from pipelines.runner import run_window
from resources.exchange.ccxt_exchange import CcxtExchange
from resources.exchange.replay import ReplayExchange
from resources.market import MarketUniverse
from resources.storage import PARTITION_KEY_FORMAT, read_hours
from tests.support.binance_shapes import install_binance
from tests.support.bybit_shapes import install_bybit
from tests.support.replay_server import ReplayServer

HOUR = pd.Timestamp("2025-09-22 05:00", tz="UTC")
ARG = "2025-09-22T05:00Z"


def _settings(root: Path) -> Settings:
    return Settings("local", root / "home", str(root / "storage"), f"sqlite:///{root / 'ks.db'}")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """``carry_signals_1h`` of :data:`HOUR` as Dagster materialises and stores it."""
    root = tmp_path_factory.mktemp("scan")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    set_event_batching()
    s = _settings(root)
    defs = build_definitions(s)
    with DagsterInstance.from_config(str(home)) as inst:
        inputs = run_window(defs, inst, HOUR, HOUR + pd.Timedelta(hours=1), job_name=CYCLE_INPUTS_JOB, chunk_hours=1,
                            train_folds=False)
        assert inputs
        assert all(r.success for r in inputs)
        carry = defs.resolve_job_def(CYCLE_DECISIONS_JOB).execute_in_process(
            partition_key=f"{HOUR:{PARTITION_KEY_FORMAT}}", instance=inst, asset_selection=[AssetKey("carry_signals_1h")])
        assert carry.success
    return read_hours(s.storage_root, "carry_signals_1h", pd.DatetimeIndex([HOUR]))


@pytest.mark.slow
def test_the_scan_equals_the_stored_carry_signals_of_the_hour(stored: pd.DataFrame) -> None:
    got = carry_rows(ReplayExchange(), MarketUniverse().get(), HOUR)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), stored[list(got.columns)].reset_index(drop=True),
                                  check_exact=True, check_dtype=False)
    assert stored["entry"].sum() == 2
    assert stored["exit"].sum() > 0
    assert (~stored["entry"] & ~stored["exit"]).any()


@pytest.mark.slow
def test_the_cli_prints_the_stored_rows_entries_first(stored: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "local", "scan", "--hour", ARG, "--top", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"carry scan of 2025-09-22 05:00 UTC from the bundled replay data (local): {len(stored)} instrument(s), "
                      f"2 entry, {(~stored['entry'] & ~stored['exit']).sum()} hold, {stored['exit'].sum()} exit")
    rows = [line.split() for line in out[2:]]
    expect = ranked(stored)
    assert [(r[0], r[1]) for r in rows] == list(zip(expect["venue"], expect["symbol"], strict=True))
    assert [r[4] for r in rows[:2]] == ["entry", "entry"]
    assert "entry" not in [r[4] for r in rows[2:]]
    top = expect.iloc[0]
    assert out[2].split()[2:4] == [f"{top.funding_apr * 100:.2f}%", f"${top.volume_24h_usd / 1e6:,.1f}M"]
    assert out[2].endswith(top.reason)


def test_top_cuts_the_table_and_says_how_many_are_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "local", "scan", "--hour", ARG, "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 3 + 1
    assert out[-1] == "(44 more row(s) not shown: --top 47 shows them all)"
    assert [line.split()[4] for line in out[2:4]] == ["entry", "entry"]


def test_an_unknown_funding_rate_or_volume_reads_unknown_never_zero() -> None:
    rows = carry_rows(ReplayExchange(), MarketUniverse().get(), HOUR)
    text = format_scan(rows, HOUR, "local", 100)
    unknown = rows[rows["volume_24h_usd"].isna()]
    assert len(unknown) > 0
    for r in unknown.itertuples():
        line = next(line for line in text.splitlines() if line.split()[:2] == [r.venue, r.symbol])
        assert line.split()[3] == "unknown"


@pytest.fixture
def venues() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        install_binance(server)
        install_bybit(server)
        yield server
        assert server.errors == []


def test_paper_reads_the_venues_through_ccxt_and_computes_the_same_rows(venues: ReplayServer) -> None:
    """The paper universe (Binance and Bybit through ccxt) over the loopback venues serving the sample
    gives the rows the replay gives for the same universe."""
    paper = resources_for(Settings("paper", Path("home"), "storage", "sqlite://"))
    universe = paper["universe"].get()
    live = CcxtExchange(urls_override=venues.url, enable_rate_limit=False, sleep=lambda _s: None)
    got = carry_rows(live, universe, HOUR)
    want = carry_rows(ReplayExchange(), universe, HOUR)
    assert set(got["venue"]) == {"binance", "bybit"}
    assert got["entry"].sum() == 2
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(("argv", "says"), [
    (["scan", "--hour", "2025-11-01"], "2025-11-01 00:00 UTC is not an hour with data: the data's hours are 2025-03-06 12:00"),
    (["scan", "--hour", "2026-03-05T10:00Z"], "is not an hour with data"),
    (["scan", "--hour", "2025-09-22T05:30Z"], "is not on the hour"),
    (["scan", "--hour", "22/09/2025"], "is not an ISO-8601 date or time"),
    (["scan", "--top", "0"], "0 must be a whole number of rows, 1 or more"),
    (["scan", "--top", "ten"], "'ten' must be a whole number of rows, 1 or more"),
])
def test_bad_input_is_refused_before_any_fetch(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["--env", "local", *argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    assert says in capsys.readouterr().err


def test_a_missing_data_folder_fails_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PERPETUA_DATA_ROOT", str(tmp_path / "nowhere"))
    assert main(["--env", "local", "scan", "--hour", ARG]) == 1
    assert f"perpetua scan: replay data folder not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_live_scans_public_data_without_handing_the_unresolved_keys_to_ccxt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a run the live resource's keys are ``EnvVar`` names; the scan's client gets none, and an
    hour with no rows says so."""
    from pipelines import operator
    from quant.carry import SCAN_COLUMNS

    seen: list[CcxtExchange] = []

    def rows(exchange, universe, hour):
        seen.append(exchange)
        return pd.DataFrame(columns=SCAN_COLUMNS)

    monkeypatch.setenv("PERPETUA_API_KEY", "PLANTEDkey")
    monkeypatch.setattr(operator, "carry_rows", rows)
    text = operator.scan(Settings("live", Path("home"), "storage", "sqlite://"), HOUR, 5)
    assert isinstance(seen[0], CcxtExchange)
    assert seen[0]._api_key is None
    assert text.splitlines()[1] == "no instrument of the universe has candles or funding in the 24 hours to this hour"
    assert "from the live venues' public data (ccxt) (live): 0 instrument(s), 0 entry, 0 hold, 0 exit" in text
