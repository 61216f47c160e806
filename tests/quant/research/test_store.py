"""The append-only table (``quant.research.store``): a line that cannot be trusted stops the load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from quant.research import JournalCorrupt, Verdict, load
from quant.research.store import journal_path
from tests.quant.research.fakes import FakeEvaluator, hypothesis
from tests.quant.research.test_journal import flat_on_validation, journal


def _two_entries(root: Path) -> list[dict]:
    j = journal(root)
    j.run(hypothesis())
    journal(root, FakeEvaluator(flat_on_validation)).run(hypothesis("flat"))
    return [json.loads(line) for line in journal_path(root).read_text().splitlines()]


def _rewrite(root: Path, lines: list[dict]) -> None:
    journal_path(root).write_text("".join(json.dumps(d) + "\n" for d in lines))


def test_nan_is_stored_as_a_string_and_read_back_as_nan(tmp_path: Path) -> None:
    lines = _two_entries(tmp_path)
    assert lines[1]["seen"]["sharpe"] == "NaN"
    assert "NaN," not in journal_path(tmp_path).read_text()
    entries = load(tmp_path)
    assert math.isnan(entries[1].seen.sharpe)
    assert entries[1].verdict is Verdict.REJECTED
    assert entries[0].seen.sharpe == pytest.approx(lines[0]["seen"]["sharpe"], rel=1e-15)


def test_no_journal_yet_is_an_empty_one(tmp_path: Path) -> None:
    assert load(tmp_path / "nowhere") == []


@pytest.mark.parametrize(("damage", "message"), [
    (lambda text: text + "not json\n", "line 3: unreadable"),
    (lambda text: text + text.splitlines()[0][:40], "line 3: unreadable"),  # a write cut short
    (lambda text: text.replace('"verdict": "VALIDATED"', '"verdict": "MAYBE"', 1), "line 1: unreadable"),
])
def test_a_damaged_line_is_an_error_never_skipped(tmp_path: Path, damage, message: str) -> None:
    _rewrite(tmp_path, _two_entries(tmp_path))
    path = journal_path(tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(JournalCorrupt, match=message):
        load(tmp_path)


def _tamper_total(lines: list[dict]) -> None:
    lines[1]["trials_total"] = 1


def _drop_line(lines: list[dict]) -> None:
    del lines[0]


def _validate_the_nan(lines: list[dict]) -> None:
    lines[1].update(verdict="VALIDATED", reasons=[])


def _unreasoned_rejection(lines: list[dict]) -> None:
    lines[1]["reasons"] = []


def _redefine(lines: list[dict]) -> None:
    lines[1]["hypothesis"] = dict(lines[0]["hypothesis"], claim="something else")


def _hide_a_trial(lines: list[dict]) -> None:
    lines[1]["trials"] = []


@pytest.mark.parametrize(("tamper", "message"), [
    (_tamper_total, "line 2: trials_total 1 is not 1 \\+ trials_added 1"),
    (_drop_line, "line 1: seq 2, expected 1"),
    (_validate_the_nan, "line 2: VALIDATED with a reason against it or a missing metric"),
    (_unreasoned_rejection, "line 2: REJECTED without a reason"),
    (_redefine, "line 2: hypothesis 'h1' recorded with two definitions"),
    (_hide_a_trial, "line 2: trials_added 1 does not count the 0 trial"),
])
def test_a_line_that_contradicts_the_log_is_an_error(tmp_path: Path, tamper, message: str) -> None:
    lines = _two_entries(tmp_path)
    tamper(lines)
    _rewrite(tmp_path, lines)
    with pytest.raises(JournalCorrupt, match=message):
        load(tmp_path)
    with pytest.raises(JournalCorrupt):
        journal(tmp_path)  # a journal that cannot be read whole is not opened


def test_appending_never_rewrites_what_is_there(tmp_path: Path) -> None:
    _two_entries(tmp_path)
    before = journal_path(tmp_path).read_text()
    journal(tmp_path).run(hypothesis("third"))
    after = journal_path(tmp_path).read_text()
    assert after.startswith(before)
    assert after.count("\n") == 3
