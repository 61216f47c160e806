"""One journal entry: an attempt, what ran, what was seen, and the verdict — and its JSON form.

Kinds: ``"run"`` (train + validation of a hypothesis, a sweep included) and ``"test"`` (the one
look at its test window). Verdicts: VALIDATED, REJECTED, or REFUSED (the attempt broke a rule and
nothing was evaluated; it is recorded all the same).

JSON has no NaN: a non-finite float is written as the string "NaN", "Infinity" or "-Infinity" and
read back by ``float``, so a stored NaN stays NaN and never becomes 0 or disappears.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from quant.report.deflated import DeflatedSharpe
from quant.research.evaluation import WindowMetrics
from quant.research.hypothesis import Hypothesis, Params
from quant.research.pbo import PBOResult
from quant.research.regime_window import RegimeFlag

Kind = Literal["run", "test"]
KINDS = ("run", "test")


class Verdict(StrEnum):
    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class Trial:
    """One configuration tried: its parameters and what it did on the training window."""

    params: Params
    train: WindowMetrics


@dataclass(frozen=True)
class Entry:
    """One attempt. ``trials_total`` is the journal's trial count after it (it never decreases).

    ``selected`` is the configuration carried forward (the sweep's in-sample best, or the only
    one) and ``seen`` its metrics on the window judged: validation for a run, test for a test look.
    """

    seq: int
    kind: Kind
    hypothesis: Hypothesis
    recorded_at: datetime
    code_version: str
    verdict: Verdict
    reasons: tuple[str, ...]
    trials_added: int
    trials_total: int
    trials: tuple[Trial, ...] = ()
    selected: Params | None = None
    seen: WindowMetrics | None = None
    dsr: DeflatedSharpe | None = None
    pbo: PBOResult | None = None
    regime: RegimeFlag | None = None

    def to_dict(self) -> dict:
        return encode_floats({
            "seq": self.seq, "kind": self.kind, "hypothesis": self.hypothesis.to_dict(),
            "recorded_at": self.recorded_at.isoformat(), "code_version": self.code_version,
            "verdict": self.verdict.value, "reasons": list(self.reasons),
            "trials_added": self.trials_added, "trials_total": self.trials_total,
            "trials": [{"params": t.params, "train": t.train.to_dict()} for t in self.trials],
            "selected": self.selected,
            "seen": None if self.seen is None else self.seen.to_dict(),
            "dsr": None if self.dsr is None else asdict(self.dsr),
            "pbo": None if self.pbo is None else self.pbo.summary(),
            "regime": None if self.regime is None else self.regime.to_dict(),
        })

    @classmethod
    def from_dict(cls, d: Mapping) -> Entry:
        if d["kind"] not in KINDS:
            raise ValueError(f"unknown entry kind {d['kind']!r}")
        recorded_at = datetime.fromisoformat(d["recorded_at"])
        if recorded_at.tzinfo is None:
            raise ValueError("recorded_at must carry its UTC offset")
        return cls(
            seq=int(d["seq"]), kind=d["kind"], hypothesis=Hypothesis.from_dict(d["hypothesis"]),
            recorded_at=recorded_at, code_version=str(d["code_version"]),
            verdict=Verdict(d["verdict"]), reasons=tuple(str(r) for r in d["reasons"]),
            trials_added=int(d["trials_added"]), trials_total=int(d["trials_total"]),
            trials=tuple(Trial(dict(t["params"]), WindowMetrics.from_dict(t["train"])) for t in d["trials"]),
            selected=None if d["selected"] is None else dict(d["selected"]),
            seen=None if d["seen"] is None else WindowMetrics.from_dict(d["seen"]),
            dsr=None if d["dsr"] is None else _dsr(d["dsr"]),
            pbo=None if d["pbo"] is None else _pbo(d["pbo"]),
            regime=None if d["regime"] is None else RegimeFlag.from_dict(d["regime"]),
        )


def _dsr(d: Mapping) -> DeflatedSharpe:
    floats = {k: float(d[k]) for k in ("sr", "sr0", "dsr", "skew", "kurtosis")}
    return DeflatedSharpe(n_trials=int(d["n_trials"]), n_obs=int(d["n_obs"]), reason=d["reason"], **floats)


def _pbo(d: Mapping) -> PBOResult:
    return PBOResult(float(d["pbo"]), int(d["n_blocks"]), int(d["n_splits"]), int(d["n_strategies"]),
                     int(d["n_rows"]))


def encode_floats(value: object) -> object:
    """The same structure with every non-finite float as its string ("NaN", "Infinity", "-Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: encode_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_floats(v) for v in value]
    return value
