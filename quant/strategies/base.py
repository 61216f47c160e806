"""The strategy protocol: a pure function from closed bars (and features) to decisions, registered by name.

A strategy sees a :class:`StrategyInput` — the 1h bars of a window, each row a bar that has
**closed** (bar ``hour`` opens at ``hour`` and closes at ``hour + 1h``), with the features, funding
and open interest of the same hours — and returns one decision row per (hour, venue, symbol) where
it wants a trade; no row means no trade. A decision at hour H may only use rows with
``hour <= H`` (the registry-wide truncation test proves it for every strategy). Higher timeframes
come from :func:`quant.strategies.timeframes.closed_bars`, which shows a daily/3-day/weekly bar
only from the hour it has closed.

Strategies compute over the whole window at once (vectorised, for parameter search on the range
engine); the hourly asset calls the same function with a look-back window and keeps the last
hour. Parameters are declared (:class:`Param`: type, default, search range) and validated before
the strategy runs. Decisions are checked by :func:`validate_decisions`: a NaN price, a stop on
the wrong side of the entry or a target under the reward-to-risk floor is rejected with the
strategy's name and the reason, never reaching the order path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Columns of a decision frame, in order (one row per (hour, venue, symbol, strategy) that trades).
DECISION_COLUMNS = ["hour", "venue", "symbol", "strategy", "side", "entry", "stop", "target", "confidence", "reason"]
DECISION_DTYPES = {
    "venue": "object", "symbol": "object", "strategy": "object", "side": "object", "entry": "float64",
    "stop": "float64", "target": "float64", "confidence": "float64", "reason": "object",
}
#: Columns of a rejection frame (a decision or a whole strategy run that never reaches the order path).
REJECTION_COLUMNS = ["hour", "venue", "symbol", "strategy", "reason"]
SIDES = ("long", "short")
#: The design's reward-to-risk floor: |target − entry| ≥ 2 × |entry − stop|.
MIN_REWARD_RISK = 2.0
#: Relative slack on the reward-to-risk floor (a target placed at exactly 2R in floats).
REWARD_RISK_EPS = 1e-9


@dataclass(frozen=True)
class Param:
    """One declared parameter: its type, default and inclusive search range."""

    name: str
    kind: type  # int, float or bool
    default: int | float | bool
    low: int | float | bool | None = None
    high: int | float | bool | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (int, float, bool):
            raise TypeError(f"parameter {self.name}: kind must be int, float or bool, not {self.kind!r}")
        if self.kind is not bool and (self.low is None or self.high is None or not self.low <= self.default <= self.high):
            raise ValueError(f"parameter {self.name}: default {self.default!r} must lie in [{self.low!r}, {self.high!r}]")

    def coerce(self, value: object) -> int | float | bool:
        """``value`` as this parameter's type, inside its range; ValueError otherwise."""
        if self.kind is bool:
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"parameter {self.name} must be true or false, got {value!r}")
            return bool(value)
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"parameter {self.name} must be a number, got {value!r}") from None
        if not np.isfinite(x) or (self.kind is int and x != int(x)):
            raise ValueError(f"parameter {self.name} must be a finite {self.kind.__name__}, got {value!r}")
        if not self.low <= x <= self.high:  # type: ignore[operator]
            raise ValueError(f"parameter {self.name}={value!r} is outside its range [{self.low}, {self.high}]")
        return int(x) if self.kind is int else x


@dataclass(frozen=True)
class StrategyInput:
    """What a strategy may read, all rows of closed hours of one window.

    ``bars``: ``perp_ohlcv_1h`` rows (hour, venue, symbol, open, high, low, close, volume, …),
    sorted by (venue, symbol, hour). ``features``: ``features_1h`` rows. ``funding``:
    ``funding_settlements`` rows. ``open_interest``: ``open_interest_1h`` rows. ``chain``: option
    rows (``quant.options.chain``) where a chain exists, else None. Any of the frames may be empty.
    """

    bars: pd.DataFrame
    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    funding: pd.DataFrame = field(default_factory=pd.DataFrame)
    open_interest: pd.DataFrame = field(default_factory=pd.DataFrame)
    chain: pd.DataFrame | None = None

    def until(self, hour: pd.Timestamp) -> StrategyInput:
        """The same input with every row after ``hour`` removed (what was known at ``hour``'s close)."""
        def cut(df: pd.DataFrame | None) -> pd.DataFrame | None:
            if df is None or df.empty or "hour" not in df:
                return df
            return df[df["hour"] <= hour].reset_index(drop=True)

        return StrategyInput(cut(self.bars), cut(self.features), cut(self.funding), cut(self.open_interest), cut(self.chain))


Signals = Callable[[StrategyInput, Mapping[str, object]], pd.DataFrame]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: ``signals(data, params)`` returns a decision frame (:data:`DECISION_COLUMNS`).

    ``signals`` must not modify ``data``'s frames in place: the registry hands the same cut of the
    inputs to every strategy of one anchor (``quant.registry_signals``).
    """

    name: str
    signals: Signals
    params: tuple[Param, ...] = ()
    #: Hours of history before the first decision hour that the signals need (the hourly asset's look-back).
    lookback_h: int = 0
    family: str = ""
    doc: str = ""

    def resolve(self, overrides: Mapping[str, object] | None = None) -> dict[str, object]:
        """Defaults updated by ``overrides``, each coerced to its declared type; unknown names refused."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(overrides or {}) - set(known))
        if unknown:
            raise ValueError(f"strategy {self.name} has no parameter {', '.join(unknown)} (it has: {', '.join(known) or 'none'})")
        values = {p.name: p.default for p in self.params}
        for name, value in (overrides or {}).items():
            values[name] = known[name].coerce(value)
        return values


_REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` to the registry under its name (a second strategy of that name is refused)."""
    if strategy.name in _REGISTRY and _REGISTRY[strategy.name] is not strategy:
        raise ValueError(f"a strategy named {strategy.name!r} is already registered")
    _REGISTRY[strategy.name] = strategy
    return strategy


def registry() -> dict[str, Strategy]:
    """Every registered strategy by name (importing ``quant.strategies`` registers them all)."""
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Strategy:
    """The strategy registered as ``name``; KeyError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no strategy {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None


def decisions(rows: pd.DataFrame | list[dict] | None = None) -> pd.DataFrame:
    """A decision frame with :data:`DECISION_COLUMNS` and their dtypes (empty when ``rows`` is None)."""
    if rows is None or (isinstance(rows, pd.DataFrame | list) and not len(rows)):
        return _EMPTY_DECISIONS.copy()
    return _typed_decisions(rows)  # one hour unit and dtype set, however built


def _typed_decisions(rows: pd.DataFrame | Mapping[str, object] | list[dict]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame | Mapping):  # column by column: ~10x cheaper than construct-then-astype
        lengths = {len(v) for v in (rows.values() if isinstance(rows, Mapping) else ()) if np.ndim(v) == 1}
        if len(lengths) > 1:
            raise ValueError(f"decision columns of unequal lengths {sorted(lengths)}")
        n = len(rows) if isinstance(rows, pd.DataFrame) else (lengths.pop() if lengths else 1)
        cols: dict[str, object] = {}
        for c in DECISION_COLUMNS:
            v = rows[c] if c in rows else np.full(n, np.nan)  # a missing column is NaN (NaT), as pandas fills it
            v = v.to_numpy() if isinstance(v, pd.Series) and c != "hour" else v
            if c == "hour":
                cols[c] = pd.DatetimeIndex(pd.to_datetime(v, utc=True)).as_unit("ns")
            else:
                arr = np.asarray(v, dtype=DECISION_DTYPES[c])
                arr = np.full(n, arr.item(), dtype=DECISION_DTYPES[c]) if arr.ndim == 0 else arr
                cols[c] = pd.Series(arr, dtype=DECISION_DTYPES[c], copy=False)  # object stays object (no str inference)
        return pd.DataFrame(cols)
    df = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    df["hour"] = pd.to_datetime(df["hour"], utc=True).astype("datetime64[ns, UTC]")
    return df.astype(DECISION_DTYPES)[DECISION_COLUMNS].reset_index(drop=True)


#: The empty decision frame (copied: building it costs more than copying it).
_EMPTY_DECISIONS = _typed_decisions([])
_EMPTY_REJECTIONS = pd.DataFrame(columns=REJECTION_COLUMNS)


def validate_decisions(name: str, df: pd.DataFrame, min_reward_risk: float = MIN_REWARD_RISK) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into (accepted, rejected); a rejected row names the strategy and the reason.

    Rejected: a missing column (the whole frame), a side not long/short, a non-finite or
    non-positive entry/stop/target, a stop not strictly beyond the entry on the losing side, a
    target not on the winning side at ≥ ``min_reward_risk`` × the risk, a confidence outside (0, 1].
    """
    missing = [c for c in DECISION_COLUMNS if c not in df.columns]
    if missing:
        rejected = pd.DataFrame([{"hour": pd.NaT, "venue": "", "symbol": "", "strategy": name,
                                  "reason": f"decision frame lacks {', '.join(missing)}"}], columns=REJECTION_COLUMNS)
        return decisions(), rejected
    if df.empty:
        return decisions(), _EMPTY_REJECTIONS.copy()
    df = df.reset_index(drop=True)
    sign = np.where(df["side"] == "long", 1.0, np.where(df["side"] == "short", -1.0, np.nan))
    entry, stop, target = (df[c].to_numpy("float64", na_value=np.nan) for c in ("entry", "stop", "target"))
    conf = df["confidence"].to_numpy("float64", na_value=np.nan)
    risk = (entry - stop) * sign
    reward = (target - entry) * sign
    with np.errstate(invalid="ignore"):
        reasons = np.select(
            [np.isnan(sign), ~(np.isfinite(entry) & np.isfinite(stop) & np.isfinite(target)),
             ~((entry > 0) & (stop > 0) & (target > 0)), ~(risk > 0), ~(reward >= min_reward_risk * risk * (1 - REWARD_RISK_EPS)),
             ~((conf > 0) & (conf <= 1))],
            ["side must be long or short", "entry, stop and target must be finite", "prices must be positive",
             "stop is not beyond the entry on the losing side", f"target is under {min_reward_risk:g}:1 reward to risk",
             "confidence must be in (0, 1]"],
            default="",
        )
    bad = reasons != ""
    if bad.any():
        rejected = df.loc[bad, ["hour", "venue", "symbol"]].assign(strategy=name, reason=reasons[bad])
        rejected = rejected[REJECTION_COLUMNS].reset_index(drop=True)
    else:
        rejected = _EMPTY_REJECTIONS.copy()
    good = np.flatnonzero(~bad)
    keep = good[_one_per_instrument(df["hour"].iloc[good], df["venue"].to_numpy(object)[good],
                                    df["symbol"].to_numpy(object)[good], conf[good])]
    accepted = {c: (df[c].iloc[keep] if c == "hour" else df[c].to_numpy()[keep]) for c in DECISION_COLUMNS}
    return decisions({**accepted, "strategy": np.full(len(keep), name, dtype=object)}), rejected


def _one_per_instrument(hour: pd.Series, venue: np.ndarray, symbol: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Positions of the rows kept by :func:`one_per_instrument`, in their original order."""
    hours = ns(hour)
    confidence = np.where(np.isnan(confidence), -np.inf, confidence)  # an unknown confidence is chosen last
    best: dict[tuple, int] = {}
    for i, key in enumerate(zip(hours.tolist(), venue.tolist(), symbol.tolist(), strict=True)):
        j = best.get(key)
        if j is None or confidence[i] > confidence[j]:  # ties keep the first
            best[key] = i
    return np.array(sorted(best.values()), dtype=np.int64)


def one_per_instrument(df: pd.DataFrame) -> pd.DataFrame:
    """At most one decision of a strategy per (hour, venue, symbol): the most confident, then the first.

    A strategy is one position per instrument (``quant.book.strategy_layer``); several zones
    retested in one bar, or one coin in two pairs, are one decision, not several orders.
    """
    if df.empty:
        return df
    keep = _one_per_instrument(df["hour"], df["venue"].to_numpy(object), df["symbol"].to_numpy(object),
                               df["confidence"].to_numpy("float64", na_value=np.nan))
    return df.iloc[keep]


#: The hours a running strategy's decisions are wanted at (None: every hour), set by run_strategy.
_WANTED: ContextVar[np.ndarray | None] = ContextVar("wanted_hours", default=None)


def ns(hours: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC instants as int64 ns since the epoch, whatever the column's unit (naive times are UTC)."""
    return pd.DatetimeIndex(hours).as_unit("ns").asi8


def wanted(hours: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``ok`` and at an hour :func:`wanted_hours` asks for (``hours`` in ns; rows at others would be dropped)."""
    hint = wanted_hours()
    return ok if hint is None else ok & np.isin(hours, hint)


def wanted_hours() -> np.ndarray | None:
    """UTC epoch nanoseconds of the hours whose decisions will be kept, or None (all of them).

    A hint for kernels that build decision rows (``studies.bracket``): rows at other hours may be
    skipped because :func:`run_strategy` drops them anyway. Indicators must still be computed
    over the whole window: this never changes what a strategy decides at a wanted hour.
    """
    return _WANTED.get()


def run_strategy(strategy: Strategy, data: StrategyInput, overrides: Mapping[str, object] | None = None,
                 hours: pd.DatetimeIndex | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``strategy`` over ``data`` with its parameters resolved; (accepted decisions, rejections).

    A strategy that raises is rejected as a whole (one rejection row naming the exception), so one
    broken strategy never stops the others or reaches the order path. Bad parameters raise
    ValueError before anything runs (a caller error, not a strategy fault). ``hours``: only the
    decisions at these hours are validated and returned (the same rows as filtering the whole
    result afterwards: validation and the one-per-instrument rule are per hour).
    """
    params = strategy.resolve(overrides)
    keep = None if hours is None else ns(hours)
    token = _WANTED.set(keep)
    try:
        out = strategy.signals(data, params)
    except Exception as exc:  # noqa: BLE001 - any fault of a strategy is a rejection, reported with its type
        return decisions(), pd.DataFrame([{"hour": pd.NaT, "venue": "", "symbol": "", "strategy": strategy.name,
                                           "reason": f"raised {type(exc).__name__}: {exc}"}], columns=REJECTION_COLUMNS)
    finally:
        _WANTED.reset(token)
    if not isinstance(out, pd.DataFrame):
        return decisions(), pd.DataFrame([{"hour": pd.NaT, "venue": "", "symbol": "", "strategy": strategy.name,
                                           "reason": f"returned {type(out).__name__}, not a decision frame"}], columns=REJECTION_COLUMNS)
    if keep is not None and "hour" in out.columns:
        out = out[np.isin(ns(out["hour"]), keep)]
    return validate_decisions(strategy.name, out)
