"""``perpetua journal`` on the bundled data: seed, run, the one test look, refusals — in a temporary storage root."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines import journal_seed
from pipelines.cli import main
from pipelines.journal_cli import DECLARED_FILE, JOURNAL_DIR
from quant.research import Hypothesis, Thresholds, Window, load

#: A cheap hypothesis on short windows of both bundled windows, with a bar low enough to validate,
#: so the test look happens once and the second one is refused.
QUICK = Hypothesis(
    id="quick-funding", claim="funding harvest over two weeks (test fixture)", strategy="funding_harvest",
    train=Window(datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 8, 15, tzinfo=UTC)),
    validation=Window(datetime(2025, 8, 15, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC)),
    test=Window(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)),
    thresholds=Thresholds(min_apr=-1.0, min_sharpe=-100.0, max_drawdown=1.0, min_trades=1, min_dsr=0.0),
    allow_one_regime=True,
)


@pytest.fixture
def storage(tmp_path, monkeypatch):
    for var in ("PERPETUA_ENV", "PERPETUA_STORAGE_ROOT", "PERPETUA_KILL_SWITCH_URL", "PERPETUA_PARTITIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path / "storage"


def test_bad_input_is_refused_before_any_work(storage, capsys):
    assert main(["journal", "run", "--all"]) == 2
    assert "seed first" in capsys.readouterr().err
    assert main(["journal", "seed"]) == 0
    out = capsys.readouterr().out
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("declared ")] == [
        "ema-cross-sweep", "adx-trend", "breakout-sweep", "rsi-reversion", "funding-harvest"]
    assert main(["journal", "seed"]) == 0  # idempotent
    assert "already declared, unchanged" in capsys.readouterr().out
    assert main(["journal", "run", "no-such-id"]) == 2
    err = capsys.readouterr().err
    assert "no hypothesis 'no-such-id' is declared" in err
    assert "funding-harvest" in err
    assert main(["journal", "run"]) == 2  # neither an id nor --all
    assert main(["journal", "test", "no-such-id"]) == 2
    assert not (storage / JOURNAL_DIR / "journal.jsonl").exists()  # nothing ran, nothing recorded
    assert (storage / JOURNAL_DIR / DECLARED_FILE).exists()  # beside the Parquet tables, in its own folder


@pytest.mark.parametrize(("change", "message"), [
    ({"strategy": "no_such_strategy"}, "no strategy 'no_such_strategy'"),
    ({"grid": {"entry_apr": [0.2, 9.0]}}, "outside its range"),
    ({"test": Window(datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))}, "not inside the data"),
])
def test_a_hypothesis_that_cannot_run_here_is_refused_at_seed(storage, capsys, monkeypatch, change, message):
    bad = Hypothesis(**{**vars(QUICK), "id": "bad-one", **change})
    monkeypatch.setattr(journal_seed, "standard_hypotheses", lambda: [bad])
    assert main(["journal", "seed"]) == 2
    assert message in capsys.readouterr().err
    assert not (storage / JOURNAL_DIR / DECLARED_FILE).exists()


def test_seed_run_and_the_one_test_look_on_the_bundled_data(storage, capsys, monkeypatch):
    monkeypatch.setattr(journal_seed, "standard_hypotheses", lambda: [QUICK])
    assert main(["journal", "seed"]) == 0
    assert main(["journal", "test", "quick-funding"]) == 1  # never run: sealed, refused before reading data
    assert "not validated (never run)" in capsys.readouterr().out

    assert main(["journal", "run", "quick-funding"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] funding_harvest defaults on train" in out
    assert "[2/2] funding_harvest defaults on validation" in out
    assert "#2 RUN quick-funding" in out
    assert "Verdict:     VALIDATED" in out

    assert main(["journal", "test", "quick-funding"]) == 0  # the one look
    first = capsys.readouterr().out
    assert "#3 TEST quick-funding" in first
    assert "test 2026-02-01 00:00 → 2026-02-15 00:00 (the one look)" in first
    assert main(["journal", "test", "quick-funding"]) == 1  # a second look is refused, and recorded
    assert "second look at the test window of 'quick-funding': the first was #3" in capsys.readouterr().out
    assert main(["journal", "run", "quick-funding"]) == 1  # a sealed hypothesis is closed
    assert "had its test look (#3)" in capsys.readouterr().out

    entries = load(storage / JOURNAL_DIR)
    assert [(e.kind, e.verdict.value) for e in entries][:2] == [("test", "REFUSED"), ("run", "VALIDATED")]
    assert [e.verdict.value for e in entries[3:]] == ["REFUSED", "REFUSED"]
    assert entries[1].seen.trades >= 1
    assert entries[-1].trials_total == 1
    assert main(["journal", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("Journal: 5 entries, 1 trial(s) counted")
    assert "quick-funding      funding_harvest   1 config(s)  latest test #3" in listing
    assert "test window sealed by #3" in listing
