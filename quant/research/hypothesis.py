"""A hypothesis, declared before anything runs: the strategy, its parameters or grid, the bar, the windows.

Windows are UTC and half-open, [start, end). A hypothesis's three windows come in order and never
overlap: train (where parameters are chosen), validation (where the verdict is made), test (looked
at once, after a validation passed). Thresholds are the bar the validation window must clear.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

Scalar = int | float | str | bool
Params = dict[str, Scalar]

#: Hypothesis ids: a readable slug, safe in a file name and a command line.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
#: Default probability the deflated Sharpe ratio must reach (the DSR paper's 95% confidence).
DEFAULT_MIN_DSR = 0.95
#: Default ceiling of the probability of backtest overfitting: a sweep must beat a coin flip.
DEFAULT_MAX_PBO = 0.5


def _utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """A half-open UTC time window [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc("start", self.start))
        object.__setattr__(self, "end", _utc("end", self.end))
        if not self.start < self.end:
            raise ValueError(f"window start {self.start} must be before its end {self.end}")

    def overlaps(self, other: Window) -> bool:
        """True when the two windows share an instant (touching ends do not: both are half-open)."""
        return self.start < other.end and other.start < self.end

    @property
    def hours(self) -> float:
        """Length in hours."""
        return (self.end - self.start).total_seconds() / 3600.0

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> Window:
        return cls(datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"]))

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M}"


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Thresholds:
    """The bar of a validation window.

    ``min_apr`` is a fraction a year (0.10 = 10% APR, simple); ``min_sharpe`` annualised (√8760 of
    hourly); ``max_drawdown`` a positive fraction of the running peak (0.2 = at most a 20% fall);
    ``min_trades`` a count; ``min_dsr`` and ``max_pbo`` probabilities (the PBO bar applies to
    sweeps only, and a sweep's PBO must be strictly below it).
    """

    min_apr: float
    min_sharpe: float
    max_drawdown: float
    min_trades: int
    min_dsr: float = DEFAULT_MIN_DSR
    max_pbo: float = DEFAULT_MAX_PBO

    def __post_init__(self) -> None:
        for name in ("min_apr", "min_sharpe", "max_drawdown", "min_dsr", "max_pbo"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))
        if isinstance(self.min_trades, bool) or int(self.min_trades) != self.min_trades or self.min_trades < 1:
            raise ValueError(f"min_trades must be a whole number >= 1, got {self.min_trades!r}")
        object.__setattr__(self, "min_trades", int(self.min_trades))
        if not 0.0 < self.max_drawdown <= 1.0:
            raise ValueError(f"max_drawdown must be a fraction in (0, 1], got {self.max_drawdown!r}")
        if not 0.0 <= self.min_dsr < 1.0:
            raise ValueError(f"min_dsr must be a probability in [0, 1), got {self.min_dsr!r}")
        if not 0.0 < self.max_pbo <= 1.0:
            raise ValueError(f"max_pbo must be a probability in (0, 1], got {self.max_pbo!r}")

    def to_dict(self) -> dict[str, float | int]:
        return dict(vars(self))


def _check_params(name: str, params: Mapping[str, object]) -> None:
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{name}: parameter names must be non-empty strings, got {key!r}")
        if not isinstance(value, int | float | str | bool):
            raise ValueError(f"{name}[{key!r}] must be an int, float, str or bool, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name}[{key!r}] must be finite, got {value!r}")


@dataclass(frozen=True)
class Hypothesis:
    """What is claimed and how it will be judged, fixed before the first run.

    ``params`` are the fixed parameters; ``grid`` maps each swept parameter to its declared values
    (a sweep tries their full product, each combination one trial). ``allow_one_regime`` declares a
    regime-specific claim (a crash strategy): without it a one-regime validation window rejects.
    """

    id: str
    claim: str
    strategy: str
    train: Window
    validation: Window
    test: Window
    thresholds: Thresholds
    params: Mapping[str, Scalar] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Scalar]] = field(default_factory=dict)
    allow_one_regime: bool = False

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise ValueError(f"hypothesis id {self.id!r} must match {ID_PATTERN.pattern}")
        if not self.strategy:
            raise ValueError("strategy must name the strategy or layer that runs")
        if not (self.train.end <= self.validation.start and self.validation.end <= self.test.start):
            raise ValueError("windows must come in order without overlapping: train < validation < test")
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "grid", {k: tuple(v) for k, v in self.grid.items()})
        _check_params("params", self.params)
        for key, values in self.grid.items():
            if not values or len(set(values)) != len(values):
                raise ValueError(f"grid[{key!r}] must list distinct values, got {values!r}")
            _check_params("grid", {f"{key}[{i}]": value for i, value in enumerate(values)})
        if shared := sorted(set(self.params) & set(self.grid)):
            raise ValueError(f"parameters both fixed and swept: {shared}")

    def configurations(self) -> list[Params]:
        """Every parameter set the hypothesis tries: the grid's product (sorted keys) over ``params``."""
        keys = sorted(self.grid)
        return [{**self.params, **dict(zip(keys, combo, strict=True))}
                for combo in itertools.product(*(self.grid[k] for k in keys))]

    @property
    def is_sweep(self) -> bool:
        return len(self.configurations()) > 1

    def to_dict(self) -> dict:
        return {
            "id": self.id, "claim": self.claim, "strategy": self.strategy,
            "train": self.train.to_dict(), "validation": self.validation.to_dict(), "test": self.test.to_dict(),
            "thresholds": self.thresholds.to_dict(), "params": dict(self.params),
            "grid": {k: list(v) for k, v in self.grid.items()}, "allow_one_regime": self.allow_one_regime,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Hypothesis:
        return cls(
            id=d["id"], claim=d["claim"], strategy=d["strategy"],
            train=Window.from_dict(d["train"]), validation=Window.from_dict(d["validation"]),
            test=Window.from_dict(d["test"]), thresholds=Thresholds(**d["thresholds"]),
            params=d["params"], grid=d["grid"], allow_one_regime=bool(d["allow_one_regime"]),
        )

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON definition: one id, one definition, for the journal's life."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
