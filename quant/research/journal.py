"""The experiment journal: hypotheses run through an evaluator, verdicts that cannot fool themselves.

A run of a :class:`~quant.research.hypothesis.Hypothesis` evaluates every configuration (one, or
the grid's product) on the train window, carries the in-sample best (highest per-observation
Sharpe; the first on a tie) to the validation window, and judges it there. Rules no caller can
bypass, each recorded with its reason:

* NaN, infinite or missing metrics never validate; fewer trades than the bar never validate.
* **Trial count** — journal-wide: every configuration of every run of every hypothesis adds one
  trial (a sweep of 12 adds 12). A per-family count would let a new family name reset it, so
  there is one count; it is the sum over the append-only log and can only grow.
* **Deflated Sharpe** — of the selected configuration's validation returns, with SR0 the expected
  maximum of that many trials (Bailey & López de Prado 2014; ``quant.report.deflated``) from the
  variance of every trial's per-observation *training* Sharpe ratio in the journal.
* **PBO** — sweeps only: CSCV over the T × N matrix of the configurations' training returns
  (Bailey, Borwein, López de Prado & Zhu 2017; :mod:`quant.research.pbo`); hours one configuration
  lacks and another has count as flat (0).
* **Regime** — the validation window must not be inside one market regime
  (:mod:`quant.research.regime_window`); an unknown regime counts as one. A hypothesis can declare
  ``allow_one_regime`` (a regime-specific claim): the flag is then recorded, not a reason.
* **Sealed tests** — the test window is looked at once per hypothesis, and only after its latest
  run VALIDATED; the look seals it. A second look is refused; so is a re-run of a sealed
  hypothesis, and any run whose train or validation window overlaps a sealed test window.
* Refused attempts are recorded too (no trials are added: nothing was evaluated). An evaluator
  that raises leaves no entry (nothing was seen), and the exception propagates.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from quant.report.deflated import deflated_sharpe
from quant.research import store
from quant.research.entry import Entry, Kind, Trial, Verdict
from quant.research.evaluation import Evaluator, WindowMetrics, check_result, judge, window_metrics
from quant.research.hypothesis import Hypothesis, Params, Window
from quant.research.pbo import DEFAULT_BLOCKS, PBOResult, cscv_pbo
from quant.research.regime_window import Market, RegimeFlag, regime_flag


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """An append-only journal under ``root``, evaluating through ``evaluator``.

    Parameters
    ----------
    root : path
        Directory of the journal's table (``journal.jsonl``); an existing journal is loaded whole.
    evaluator : Evaluator
        (strategy, params, window) → hourly returns and trade count.
    code_version : str
        What ran (a git describe, a package version), recorded on every entry.
    market : Market, optional
        Window → benchmark closes and regime labels, for the regime flag. Without it the regime is
        unknown and validates only hypotheses that declare ``allow_one_regime``.
    pbo_blocks : int
        S of the sweeps' CSCV.
    clock : callable
        The UTC time stamped on each entry.
    """

    def __init__(
        self, root: str | os.PathLike, evaluator: Evaluator, *, code_version: str,
        market: Market | None = None, pbo_blocks: int = DEFAULT_BLOCKS, clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not code_version:
            raise ValueError("code_version must say what code ran")
        self.root, self.evaluator, self.code_version = root, evaluator, code_version
        self.market, self.pbo_blocks, self.clock = market, pbo_blocks, clock
        self._entries = store.load(root)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    @property
    def trial_count(self) -> int:
        """Configurations evaluated over the whole journal (refused attempts add none)."""
        return self._entries[-1].trials_total if self._entries else 0

    def sealed_tests(self) -> dict[str, Entry]:
        """Hypothesis id → the entry of its test look (the look happened: refused ones do not count)."""
        return {e.hypothesis.id: e for e in self._entries if e.kind == "test" and e.verdict is not Verdict.REFUSED}

    # ----------------------------------------------------------------------------------------- runs

    def run(self, h: Hypothesis) -> Entry:
        """Evaluate ``h`` on train (every configuration) and validation (the selected one); record it."""
        refusal = self._definition_refusal(h) or self._run_refusal(h)
        if refusal:
            return self._record("run", h, Verdict.REFUSED, [refusal])
        configs = h.configurations()
        trials, train_returns = [], []
        for params in configs:
            returns, metrics = self._evaluate(h.strategy, params, h.train)
            trials.append(Trial(params, metrics))
            train_returns.append(returns)
        best = int(np.argmax([np.nan_to_num(t.train.sharpe_per_obs, nan=-np.inf) for t in trials]))
        returns, seen = self._evaluate(h.strategy, configs[best], h.validation)
        all_sharpes = [t.train.sharpe_per_obs for e in self._entries for t in e.trials]
        all_sharpes += [t.train.sharpe_per_obs for t in trials]
        clean = returns.to_numpy(dtype="float64") if not seen.nonfinite else np.array([])
        dsr = deflated_sharpe(clean, self.trial_count + len(trials), all_sharpes)
        pbo, pbo_reason = self._sweep_pbo(trials, train_returns) if h.is_sweep else (None, None)
        regime = regime_flag(self.market(h.validation)) if self.market is not None else None
        reasons = judge(seen, h.thresholds, dsr, pbo, sweep=h.is_sweep) + [r for r in (pbo_reason,) if r]
        reasons += self._regime_reasons(h, regime)
        verdict = Verdict.REJECTED if reasons else Verdict.VALIDATED
        return self._record("run", h, verdict, reasons, trials=tuple(trials), selected=configs[best],
                            seen=seen, dsr=dsr, pbo=pbo, regime=regime)

    def _evaluate(self, strategy: str, params: Params, window: Window) -> tuple[pd.Series, WindowMetrics]:
        result = self.evaluator(strategy, dict(params), window)
        returns = check_result(result, window)
        return returns, window_metrics(returns, int(result.trades), window)

    def _sweep_pbo(self, trials: list[Trial], returns: list[pd.Series]) -> tuple[PBOResult | None, str | None]:
        if any(t.train.nonfinite for t in trials):
            return None, "PBO n/a: a configuration has non-finite training returns"
        matrix = pd.concat(returns, axis=1, ignore_index=True).sort_index().fillna(0.0)
        if len(matrix) < self.pbo_blocks:
            return None, f"PBO n/a: {len(matrix)} training hour(s) cannot fill {self.pbo_blocks} blocks"
        return cscv_pbo(matrix.to_numpy(), self.pbo_blocks), None

    @staticmethod
    def _regime_reasons(h: Hypothesis, regime: RegimeFlag | None) -> list[str]:
        if h.allow_one_regime:
            return []
        if regime is None:
            return ["validation window's regime unknown: no market context to tell one regime from several"]
        if regime.one_regime is None or regime.one_regime:
            return [f"validation window: {regime.describe()}; pick one spanning regimes or declare allow_one_regime"]
        return []

    def _definition_refusal(self, h: Hypothesis) -> str | None:
        for e in self._entries:
            if e.hypothesis.id == h.id and e.verdict is not Verdict.REFUSED:
                if e.hypothesis.fingerprint() != h.fingerprint():
                    return f"hypothesis {h.id!r} was recorded (#{e.seq}) with another definition: give it a new id"
                return None
        return None

    def _run_refusal(self, h: Hypothesis) -> str | None:
        sealed = self.sealed_tests()
        if h.id in sealed:
            return f"hypothesis {h.id!r} had its test look (#{sealed[h.id].seq}): it is closed, write a new one"
        for other in sealed.values():
            for name, window in (("train", h.train), ("validation", h.validation)):
                if window.overlaps(other.hypothesis.test):
                    return (f"{name} window {window} overlaps the sealed test window {other.hypothesis.test} "
                            f"of {other.hypothesis.id!r} (looked at in #{other.seq})")
        return None

    # ------------------------------------------------------------------------------------ test look

    def test(self, h: Hypothesis) -> Entry:
        """The one look at ``h``'s test window, with the configuration its latest run validated."""
        refusal = self.test_refusal(h)
        if refusal:
            return self._record("test", h, Verdict.REFUSED, [refusal])
        params = self._latest_run(h.id).selected
        returns, seen = self._evaluate(h.strategy, params, h.test)
        clean = returns.to_numpy(dtype="float64") if not seen.nonfinite else np.array([])
        dsr = deflated_sharpe(clean, 1, [])  # one configuration, chosen before the look: SR0 = 0
        reasons = judge(seen, h.thresholds, dsr, None, sweep=False)
        verdict = Verdict.REJECTED if reasons else Verdict.VALIDATED
        return self._record("test", h, verdict, reasons, selected=params, seen=seen, dsr=dsr)

    def test_refusal(self, h: Hypothesis) -> str | None:
        """Why a test look at ``h`` would be refused now (None: :meth:`test` would look), without recording anything."""
        return self._definition_refusal(h) or self._test_refusal(h)

    def _latest_run(self, hypothesis_id: str) -> Entry | None:
        runs = [e for e in self._entries
                if e.hypothesis.id == hypothesis_id and e.kind == "run" and e.verdict is not Verdict.REFUSED]
        return runs[-1] if runs else None

    def _test_refusal(self, h: Hypothesis) -> str | None:
        sealed = self.sealed_tests()
        if h.id in sealed:
            first = sealed[h.id]
            return f"second look at the test window of {h.id!r}: the first was #{first.seq} ({first.recorded_at:%Y-%m-%d})"
        latest = self._latest_run(h.id)
        if latest is None or latest.verdict is not Verdict.VALIDATED:
            state = "never run" if latest is None else f"its latest run #{latest.seq} was {latest.verdict.value}"
            return f"{h.id!r} is not validated ({state}): its test window stays sealed"
        return None

    # ---------------------------------------------------------------------------------------- store

    def _record(self, kind: Kind, h: Hypothesis, verdict: Verdict, reasons: list[str], **seen) -> Entry:
        added = len(seen.get("trials", ()))
        entry = Entry(
            seq=len(self._entries) + 1, kind=kind, hypothesis=h, recorded_at=self.clock(),
            code_version=self.code_version, verdict=verdict, reasons=tuple(reasons),
            trials_added=added, trials_total=self.trial_count + added, **seen,
        )
        store.append(self.root, entry)
        self._entries.append(entry)
        return entry
