"""The journal's rules (``quant.research.journal``), each both ways, with a fake evaluator and market."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from quant.research import Journal, Thresholds, Verdict, Window
from tests.quant.research.fakes import (
    APR,
    BAR,
    FEB,
    JAN,
    JUL,
    JUN,
    MAR,
    MAY,
    TEST,
    TRAIN,
    VALIDATION,
    FakeEvaluator,
    always_good,
    bull_market,
    good,
    hours,
    hypothesis,
    mixed_market,
    noise,
)

NOW = datetime(2025, 8, 1, 12, tzinfo=UTC)


def journal(root: Path, evaluator: FakeEvaluator | None = None, **kwargs) -> Journal:
    kwargs = {"market": mixed_market, "code_version": "v-test", "clock": lambda: NOW} | kwargs
    return Journal(root, evaluator or FakeEvaluator(always_good), **kwargs)


def flat_on_validation(strategy: str, params: Mapping, window: Window) -> pd.Series:
    """Good on train; never moves on validation (no Sharpe there)."""
    return good(window) if window == TRAIN else pd.Series(0.0, index=hours(window))


def test_a_good_strategy_on_a_mixed_window_validates(tmp_path: Path) -> None:
    evaluator = FakeEvaluator(always_good)
    entry = journal(tmp_path, evaluator).run(hypothesis())
    assert entry.verdict is Verdict.VALIDATED
    assert entry.reasons == ()
    assert evaluator.calls == [("fake", {"lookback": 24}, TRAIN), ("fake", {"lookback": 24}, VALIDATION)]
    assert (entry.trials_added, entry.trials_total, entry.dsr.n_trials, entry.dsr.sr0) == (1, 1, 1, 0.0)
    assert entry.regime.one_regime is False
    assert entry.code_version == "v-test"


def test_a_strategy_with_no_sharpe_on_validation_is_rejected(tmp_path: Path) -> None:
    entry = journal(tmp_path, FakeEvaluator(flat_on_validation)).run(hypothesis())
    assert entry.verdict is Verdict.REJECTED
    assert any("Sharpe is n/a" in r for r in entry.reasons)
    assert any("DSR is n/a" in r for r in entry.reasons)


def test_a_nan_return_on_validation_is_rejected(tmp_path: Path) -> None:
    def one_nan(strategy: str, params: Mapping, window: Window) -> pd.Series:
        r = good(window)
        return r.where(r.index != r.index[5], float("nan")) if window == VALIDATION else r

    entry = journal(tmp_path, FakeEvaluator(one_nan)).run(hypothesis())
    assert entry.verdict is Verdict.REJECTED
    assert "1 non-finite hourly return(s)" in entry.reasons


@pytest.mark.parametrize(("trades", "verdict"), [(9, Verdict.REJECTED), (10, Verdict.VALIDATED)])
def test_too_few_trades_never_validate(tmp_path: Path, trades: int, verdict: Verdict) -> None:
    entry = journal(tmp_path, FakeEvaluator(always_good, trades=trades)).run(hypothesis())
    assert entry.verdict is verdict
    assert (f"{trades} trade(s) < 10: too few to judge" in entry.reasons) is (verdict is Verdict.REJECTED)


def test_the_test_window_is_looked_at_once_and_the_second_look_is_recorded(tmp_path: Path) -> None:
    evaluator = FakeEvaluator(always_good)
    j = journal(tmp_path, evaluator)
    j.run(hypothesis())
    first = j.test(hypothesis())
    assert first.kind == "test"
    assert first.verdict is Verdict.VALIDATED
    assert evaluator.calls[-1] == ("fake", {"lookback": 24}, TEST)
    assert first.dsr.n_trials == 1
    assert first.dsr.sr0 == 0.0
    calls = len(evaluator.calls)
    second = j.test(hypothesis())
    assert second.verdict is Verdict.REFUSED
    assert "second look" in second.reasons[0]
    assert len(evaluator.calls) == calls  # nothing evaluated
    assert [e.verdict for e in journal(tmp_path).entries] == [Verdict.VALIDATED, Verdict.VALIDATED, Verdict.REFUSED]
    assert j.trial_count == 1


def test_the_test_window_stays_sealed_until_a_run_validates(tmp_path: Path) -> None:
    j = journal(tmp_path, FakeEvaluator(flat_on_validation))
    never = j.test(hypothesis())
    assert never.verdict is Verdict.REFUSED
    assert "never run" in never.reasons[0]
    j.run(hypothesis())
    rejected = j.test(hypothesis())
    assert rejected.verdict is Verdict.REFUSED
    assert "was REJECTED" in rejected.reasons[0]
    assert j.sealed_tests() == {}
    assert len(j.entries) == 3


def test_a_failed_test_look_seals_the_window_too(tmp_path: Path) -> None:
    def loses_on_test(strategy: str, params: Mapping, window: Window) -> pd.Series:
        return -good(window) if window == TEST else good(window)

    j = journal(tmp_path, FakeEvaluator(loses_on_test))
    j.run(hypothesis())
    look = j.test(hypothesis())
    assert look.verdict is Verdict.REJECTED
    assert any(r.startswith("APR") for r in look.reasons)
    assert set(j.sealed_tests()) == {"h1"}
    rerun = j.run(hypothesis())
    assert rerun.verdict is Verdict.REFUSED
    assert "closed" in rerun.reasons[0]


def test_a_run_overlapping_a_sealed_test_window_is_refused(tmp_path: Path) -> None:
    j = journal(tmp_path)
    on_march = hypothesis("h2", train=Window(MAR, APR), validation=Window(APR, MAY), test=Window(MAY, JUN))
    assert j.run(on_march).verdict is Verdict.VALIDATED  # March is not sealed yet
    j.run(hypothesis())
    j.test(hypothesis())  # seals March
    again = hypothesis("h3", train=Window(MAR, APR), validation=Window(APR, MAY), test=Window(MAY, JUN))
    refused = j.run(again)
    assert refused.verdict is Verdict.REFUSED
    assert refused.trials_added == 0
    assert "train window" in refused.reasons[0]
    assert "'h1'" in refused.reasons[0]
    validation_on_march = hypothesis("h4", train=TRAIN, validation=Window(MAR, APR), test=Window(APR, MAY))
    assert "validation window" in j.run(validation_on_march).reasons[0]
    after = hypothesis("h5", train=Window(APR, MAY), validation=Window(MAY, JUN), test=Window(JUN, JUL))
    assert j.run(after).verdict is Verdict.VALIDATED


def test_a_one_regime_validation_window_is_flagged(tmp_path: Path) -> None:
    flagged = journal(tmp_path / "bull", market=bull_market).run(hypothesis())
    assert flagged.verdict is Verdict.REJECTED
    assert flagged.regime.one_regime is True
    assert any("one regime (bull trend" in r for r in flagged.reasons)
    declared = journal(tmp_path / "declared", market=bull_market).run(hypothesis(allow_one_regime=True))
    assert declared.verdict is Verdict.VALIDATED
    assert declared.regime.one_regime is True
    mixed = journal(tmp_path / "mixed", market=mixed_market).run(hypothesis())
    assert mixed.verdict is Verdict.VALIDATED
    assert mixed.regime.one_regime is False
    blind = journal(tmp_path / "blind", market=None).run(hypothesis())
    assert blind.verdict is Verdict.REJECTED
    assert "regime unknown" in blind.reasons[0]
    assert blind.regime is None


def test_the_trial_count_counts_sweeps_and_survives_a_reload(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.run(hypothesis())
    sweep = j.run(hypothesis("sweep", grid={"k": [1, 2, 3], "z": [0.5, 1.0]}))
    assert (sweep.trials_added, sweep.trials_total, sweep.dsr.n_trials) == (6, 7, 7)
    j.test(hypothesis("never-run"))  # refused: recorded, no trial
    assert j.trial_count == 7
    assert len(j.entries) == 3
    reloaded = journal(tmp_path)
    assert reloaded.trial_count == 7
    assert [e.to_dict() for e in reloaded.entries] == [e.to_dict() for e in j.entries]
    assert reloaded.run(hypothesis("h9")).trials_total == 8


def _mirror(strategy: str, params: Mapping, window: Window) -> pd.Series:
    """Train returns ± one base series (trial Sharpes exactly ±s); validation the same good month."""
    return params["sign"] * noise(window, 0.0002, 0.004, 1) if window == TRAIN else good(window)


def test_the_deflated_sharpe_shrinks_as_the_trial_count_grows(tmp_path: Path) -> None:
    # Each run adds two trials with training Sharpes +s and −s: with N = 2k the variance is
    # 2k/(2k−1)·s², and SR0 = √V·((1−γ)Φ⁻¹(1−1/N) + γΦ⁻¹(1−1/(Ne))) grows with k (0.73 s, 1.21 s,
    # 1.42 s, …), while the validation month (and so SR) is the same every time.
    j = journal(tmp_path, FakeEvaluator(_mirror))
    runs = [j.run(hypothesis(f"mirror-{k}", grid={"sign": [1, -1]})) for k in range(1, 5)]
    assert [e.dsr.n_trials for e in runs] == [2, 4, 6, 8]
    assert len({e.dsr.sr for e in runs}) == 1
    sr0 = [e.dsr.sr0 for e in runs]
    dsr = [e.dsr.dsr for e in runs]
    assert sr0 == sorted(sr0)
    assert len(set(sr0)) == 4
    assert dsr == sorted(dsr, reverse=True)
    assert len(set(dsr)) == 4
    assert all(e.selected == {"lookback": 24, "sign": 1} for e in runs)  # the in-sample best


def test_a_sweep_reports_its_pbo_and_validates_only_its_in_sample_best(tmp_path: Path) -> None:
    def k_is_edge(strategy: str, params: Mapping, window: Window) -> pd.Series:
        return noise(window, 0.0002 * params["k"], 0.004, params["k"])

    evaluator = FakeEvaluator(k_is_edge)
    entry = journal(tmp_path, evaluator, pbo_blocks=8).run(hypothesis("edge", grid={"k": [0, 1, 5]}))
    assert entry.pbo.n_splits == 70
    assert entry.pbo.n_strategies == 3
    assert entry.pbo.pbo < 0.5
    assert entry.selected == {"lookback": 24, "k": 5}
    assert [c[2] for c in evaluator.calls] == [TRAIN, TRAIN, TRAIN, VALIDATION]


def test_a_sweep_without_enough_hours_for_its_blocks_never_validates(tmp_path: Path) -> None:
    def short(strategy: str, params: Mapping, window: Window) -> pd.Series:
        return good(window).iloc[:10] if window == TRAIN else good(window)

    entry = journal(tmp_path, FakeEvaluator(short)).run(hypothesis("short", grid={"k": [1, 2]}))
    assert entry.verdict is Verdict.REJECTED
    assert "PBO n/a: 10 training hour(s) cannot fill 16 blocks" in entry.reasons


def test_one_id_keeps_one_definition(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.run(hypothesis())
    moved = j.run(hypothesis(thresholds=Thresholds(0.0, 0.0, 1.0, 1)))
    assert moved.verdict is Verdict.REFUSED
    assert "another definition" in moved.reasons[0]
    assert j.run(hypothesis()).verdict is Verdict.VALIDATED  # the same definition runs again
    assert journal(tmp_path).trial_count == 2


def test_an_evaluator_that_raises_leaves_no_entry(tmp_path: Path) -> None:
    def broken(strategy: str, params: Mapping, window: Window) -> pd.Series:
        raise RuntimeError("engine down")

    j = journal(tmp_path, FakeEvaluator(broken))
    with pytest.raises(RuntimeError, match="engine down"):
        j.run(hypothesis())
    assert j.entries == ()
    assert journal(tmp_path).entries == ()


def test_a_journal_needs_a_code_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="code_version"):
        journal(tmp_path, code_version="")


def test_windows_of_the_fakes_are_what_the_tests_say() -> None:
    assert (Window(JAN, FEB), Window(FEB, MAR), Window(MAR, APR)) == (TRAIN, VALIDATION, TEST)
    assert BAR.min_trades == 10
