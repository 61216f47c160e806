"""The journal as text (``quant.research.render``): what ran, what I saw, what's next; NaN reads n/a."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

from quant.research import Verdict, render_entry, render_journal
from quant.research.fmt import num, pct
from tests.quant.research.fakes import FakeEvaluator, hypothesis
from tests.quant.research.test_journal import flat_on_validation, journal


def test_a_validated_run_reads_what_ran_what_i_saw_whats_next(tmp_path: Path) -> None:
    entry = journal(tmp_path).run(hypothesis())
    text = render_entry(entry)
    assert text.splitlines()[0] == "#1 RUN h1 — the fake strategy earns  [2025-08-01 12:00 UTC]"
    assert "What ran:    fake, params {lookback: 24}; code v-test" in text
    assert "train 2025-01-01 00:00 → 2025-02-01 00:00 | validation 2025-02-01 00:00 → 2025-03-01 00:00" in text
    assert "What I saw:" in text
    assert f"{pct(entry.seen.apr):>10}" in text
    assert f"DSR {num(entry.dsr.dsr)} (SR 0.1250/h vs SR0 0.0000/h over 1 trial(s))" in text
    assert "regime: mixed regimes (trend z" in text
    assert "Verdict:     VALIDATED\n" in text
    assert "What's next: one look at the test window 2025-03-01 00:00 → 2025-04-01 00:00" in text


def test_a_nan_metric_reads_n_a_and_never_sits_next_to_validated(tmp_path: Path) -> None:
    entry = journal(tmp_path, FakeEvaluator(flat_on_validation)).run(hypothesis())
    text = render_entry(entry)
    assert "n/a" in text
    assert "VALIDATED" not in text
    assert "nan" not in text.lower().replace("n/a", "")
    assert "Verdict:     REJECTED — " in text
    assert "Sharpe is n/a (a missing number never passes)" in text
    assert "DSR n/a (SR n/a vs SR0 0.0000/h over 1 trial(s), the returns do not vary" in text
    assert "its 1 trial(s) stay counted (1 in the journal)" in text


def test_an_entry_claiming_validated_beside_a_nan_prints_rejected() -> None:
    with tempfile.TemporaryDirectory() as root:
        entry = journal(Path(root)).run(hypothesis())
    forged = dataclasses.replace(entry, seen=dataclasses.replace(entry.seen, apr=math.nan))
    assert forged.verdict is Verdict.VALIDATED  # built by hand: the journal never writes one, load refuses it
    text = render_entry(forged)
    assert "VALIDATED" not in text
    assert "REJECTED (inconsistent entry" in text


def test_refused_attempts_and_test_looks_say_so(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.test(hypothesis())
    j.run(hypothesis())
    j.test(hypothesis())
    text = render_journal(j.entries)
    assert text.startswith("Journal: 3 entries, 1 trial(s) counted")
    assert "What I saw:  nothing — the attempt was refused before anything ran" in text
    assert "#3 TEST h1" in text
    assert "test 2025-03-01 00:00 → 2025-04-01 00:00 (the one look)" in text
    assert "PSR vs 0" in text
    assert "the test window is sealed" in text


def test_a_sweep_shows_its_grid_selection_and_pbo(tmp_path: Path) -> None:
    entry = journal(tmp_path, pbo_blocks=4).run(hypothesis("sweep", grid={"k": [1, 2]}))
    text = render_entry(entry)
    assert "sweep of 2 configurations (k ∈ {1, 2}) over {lookback: 24}" in text
    assert "selected (in-sample best) {k: 1, lookback: 24}" in text
    assert "PBO " in text
    assert "over 6 splits of 4 blocks" in text
