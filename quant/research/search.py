"""Parameter search on the range engine: a strategy's declared ranges swept on one instrument, every trial reported.

A trial is one parameter set of one strategy on one instrument over a range: its decisions
(``quant.research.search_signals``, the param-independent series cached across trials) traded by
the compiled single-instrument book (``quant.research.search_kernel``), which equals
``quant.book.step.run_book`` with the other layers idle. Each trial's hourly equity becomes hourly
returns ``E_t / E_{t−1} − 1`` (``E_{−1}`` the bankroll) and the journal's metrics
(APR, Sharpe and max drawdown by ``quant.research.evaluation``'s formulas).

The journal counts trials per configuration it evaluates (``quant.research.journal``): declare the
sweep as a :class:`~quant.research.hypothesis.Hypothesis` with ``grid=param_grid(strategy, …)`` and
give the journal a :class:`SearchEvaluator`; each grid point is then one trial in its count and one
column of its PBO matrix. :func:`sweep` runs the same trials outside the journal and returns every
one of them (a table and the T × N returns :func:`quant.research.pbo.cscv_pbo` reads).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.book.params import BookParams
from quant.ml.metrics import sharpe
from quant.report.tables import HOURS_PER_YEAR
from quant.research.evaluation import EvalResult, max_drawdown
from quant.research.hypothesis import Scalar, Window
from quant.research.search_kernel import KIND_NAMES, OK, STATUS_TEXT, KernelConfig, kernel_config, run_kernel
from quant.research.search_signals import DecisionArrays, SignalCache
from quant.strategies.base import Param, Strategy, StrategyInput, get

Params = dict[str, Scalar]


@dataclass(frozen=True)
class Market:
    """One instrument on a complete hourly grid: bars NaN where an hour has none; funding as settled at each hour."""

    venue: str
    symbol: str
    hours: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    settles: np.ndarray
    rate: np.ndarray
    new_day: np.ndarray
    signals: SignalCache

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> slice:
        """Grid positions of [start, end)."""
        return slice(int(self.hours.searchsorted(start)), int(self.hours.searchsorted(end)))


def market(data: StrategyInput, venue: str, symbol: str) -> Market:
    """``data``'s (venue, symbol) on the hourly grid from its first to its last bar.

    A bar with a price that is not > 0 is no market (``quant.book.hour_fills.execution_bars``);
    funding is the row settled at each hour (a later row of one hour wins, as the book reads it).
    """
    def mine(df: pd.DataFrame) -> pd.DataFrame:
        if df is None or df.empty:
            return df
        return df[(df["venue"] == venue) & (df["symbol"] == symbol)].reset_index(drop=True)

    bars = mine(data.bars).sort_values("hour").reset_index(drop=True)
    if bars.empty:
        raise ValueError(f"no bars for {venue} {symbol}")
    stamps = pd.DatetimeIndex(pd.to_datetime(bars["hour"], utc=True)).as_unit("ns")
    if stamps.has_duplicates:
        raise ValueError(f"two bars of {venue} {symbol} in one hour")
    hours = pd.date_range(stamps[0], stamps[-1], freq="h")
    rows = hours.get_indexer(stamps)
    ohlcv = {c: np.full(len(hours), np.nan) for c in ("open", "high", "low", "close", "volume")}
    for c, arr in ohlcv.items():
        arr[rows] = bars[c].to_numpy("float64")
    with np.errstate(invalid="ignore"):
        bad = ~((ohlcv["open"] > 0) & (ohlcv["high"] > 0) & (ohlcv["low"] > 0) & (ohlcv["close"] > 0))
    for arr in ohlcv.values():
        arr[bad] = np.nan
    settles, rate = np.zeros(len(hours), bool), np.full(len(hours), np.nan)
    funding = mine(data.funding)
    if funding is not None and len(funding):
        at = hours.get_indexer(pd.DatetimeIndex(pd.to_datetime(funding["hour"], utc=True)).as_unit("ns"))
        on = at >= 0
        settles[at[on]] = True
        rate[at[on]] = funding["funding_rate"].to_numpy("float64")[on]  # numpy keeps the last write of a repeated index
    own = StrategyInput(bars, mine(data.features), funding, mine(data.open_interest), data.chain)
    return Market(venue, symbol, hours, *ohlcv.values(), settles, rate, np.asarray(hours.hour == 0), SignalCache(own, rows, len(hours)))


@dataclass(frozen=True)
class Run:
    """One trial's outcome on its range: equity per hour (USD), its fills and trades (entries filled)."""

    grid: pd.DatetimeIndex
    span: slice
    equity: np.ndarray
    fill_arrays: tuple[np.ndarray, ...]
    trades: int

    @property
    def hours(self) -> pd.DatetimeIndex:
        return self.grid[self.span]

    @property
    def fills(self) -> pd.DataFrame:
        """One row per fill: hour, kind (entry/stop/target/exit), signed qty, price, fee (USD)."""
        hour, kind, qty, px, fee = self.fill_arrays
        return pd.DataFrame({"hour": self.hours[hour], "kind": np.array(KIND_NAMES, dtype=object)[kind], "qty": qty,
                             "price": px, "fee": fee})

    def return_values(self, bankroll_usd: float) -> np.ndarray:
        """Hourly returns ``E_t / E_{t−1} − 1`` from a book that starts at ``bankroll_usd``."""
        prev = np.concatenate([[bankroll_usd], self.equity[:-1]])
        return self.equity / prev - 1.0

    def returns(self, bankroll_usd: float) -> pd.Series:
        """:meth:`return_values` on the run's hours."""
        return pd.Series(self.return_values(bankroll_usd), index=self.hours, name="return")


def simulate(m: Market, d: DecisionArrays, params: BookParams, span: slice | None = None,
             config: KernelConfig | None = None) -> Run:
    """The compiled ST book over ``span`` of ``m``'s grid (all of it by default) from a fresh book.

    Raises
    ------
    ValueError
        What the book would refuse: a held position without a mark or with NaN funding, or equity ≤ 0.
    """
    s = span or slice(0, len(m.hours))
    k = config or kernel_config(params)
    status, at, equity, *fills = run_kernel(
        m.open[s], m.high[s], m.low[s], m.close[s], m.volume[s], m.settles[s], m.rate[s], m.new_day[s],
        d.sign[s], d.entry[s], d.stop[s], d.target[s], k.cfg, k.budgets)
    if status != OK:
        raise ValueError(f"{m.venue} {m.symbol} at {m.hours[s][at]}: {STATUS_TEXT[status]}")
    return Run(m.hours, s, equity, tuple(fills), int(np.count_nonzero(fills[1] == 0)))


def metrics(r: np.ndarray) -> dict[str, float]:
    """APR, Sharpe and max drawdown of hourly returns, by ``quant.research.evaluation``'s formulas (NaN if any is non-finite)."""
    if not len(r) or not np.isfinite(r).all():
        return {"apr": np.nan, "sharpe": np.nan, "max_drawdown": np.nan}
    return {"apr": float(np.mean(r) * HOURS_PER_YEAR), "sharpe": sharpe(r, HOURS_PER_YEAR), "max_drawdown": max_drawdown(r)}


# -- the parameter space -------------------------------------------------------------------------


def _values(p: Param, points: int) -> tuple[Scalar, ...]:
    if p.kind is bool:
        return (False, True)
    raw = np.linspace(float(p.low), float(p.high), max(int(points), 1)) if points > 1 else np.array([float(p.default)])
    if p.kind is int:
        return tuple(dict.fromkeys(int(round(x)) for x in raw))
    return tuple(float(x) for x in raw)


def param_grid(strategy: Strategy | str, points: int | Mapping[str, int] = 3) -> dict[str, tuple[Scalar, ...]]:
    """Evenly spaced values of each declared parameter inside [low, high] (ends included; ints distinct).

    ``points``: values per parameter (a mapping names them one by one; 1 keeps the default).
    The result is a :class:`~quant.research.hypothesis.Hypothesis` ``grid``: the journal then tries
    its full product, one trial each.
    """
    s = get(strategy) if isinstance(strategy, str) else strategy
    per = points if isinstance(points, Mapping) else {}
    return {p.name: _values(p, int(per.get(p.name, 1 if per else points))) for p in s.params}


def grid_points(grid: Mapping[str, Sequence[Scalar]]) -> list[Params]:
    """The product of a grid in the journal's order (``Hypothesis.configurations``: sorted keys)."""
    keys = sorted(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def param_sample(strategy: Strategy | str, n: int, seed: int = 0) -> list[Params]:
    """``n`` parameter sets drawn uniformly inside each declared range (ints uniform on [low, high])."""
    s = get(strategy) if isinstance(strategy, str) else strategy
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        draw: Params = {}
        for p in s.params:
            if p.kind is bool:
                draw[p.name] = bool(rng.integers(0, 2))
            elif p.kind is int:
                draw[p.name] = int(rng.integers(int(p.low), int(p.high) + 1))
            else:
                draw[p.name] = float(rng.uniform(float(p.low), float(p.high)))
        out.append(draw)
    return out


# -- trials ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    """Every trial of a sweep: ``table`` one row per trial (its params, apr, sharpe, max_drawdown, trades,
    decisions), ``returns`` the hours × trials matrix of hourly returns (column i = table row i)."""

    strategy: str
    venue: str
    symbol: str
    table: pd.DataFrame
    returns: pd.DataFrame

    @property
    def n_trials(self) -> int:
        return len(self.table)


def sweep(strategy: Strategy | str, m: Market, param_sets: Sequence[Mapping[str, Scalar]], params: BookParams | None = None,
          window: Window | None = None) -> SweepResult:
    """Run every parameter set of ``strategy`` on ``m`` over ``window`` (default: all its hours); report them all.

    Decisions are computed over all of ``m``'s bars (strategies only read closed hours, so the
    window's decisions are those the hourly asset would make) and traded from a fresh book at the
    window's start.
    """
    s = get(strategy) if isinstance(strategy, str) else strategy
    bp = params or BookParams()
    k = kernel_config(bp)
    span = m.between(pd.Timestamp(window.start), pd.Timestamp(window.end)) if window else slice(0, len(m.hours))
    hours = m.hours[span]
    rows, columns = [], []
    for ps in param_sets:
        d = m.signals.decisions(s, ps)
        run = simulate(m, d, bp, span, k)
        r = run.return_values(bp.bankroll_usd)
        rows.append({**s.resolve(ps), **metrics(r), "trades": run.trades, "decisions": int(np.count_nonzero(d.sign[span])),
                     "final_equity_usd": float(run.equity[-1]) if len(run.equity) else np.nan})
        columns.append(r)
    matrix = pd.DataFrame(np.column_stack(columns) if columns else np.empty((len(hours), 0)), index=hours)
    return SweepResult(s.name, m.venue, m.symbol, pd.DataFrame(rows), matrix)


class SearchEvaluator:
    """The journal's :class:`~quant.research.evaluation.Evaluator` on the range engine, for one instrument.

    ``evaluator(strategy, params, window)`` → the compiled book's hourly returns over ``window`` and
    its trade count (entries filled). Series a trial shares with others (ATR, an EMA of one span…)
    are computed once per strategy and kept, so a journal sweep costs what :func:`sweep` costs.
    """

    def __init__(self, m: Market, params: BookParams | None = None) -> None:
        self.market = m
        self.params = params or BookParams()
        self.config = kernel_config(self.params)

    def __call__(self, strategy: str, params: Mapping[str, Scalar], window: Window) -> EvalResult:
        m = self.market
        span = m.between(pd.Timestamp(window.start), pd.Timestamp(window.end))
        d = m.signals.decisions(get(strategy), dict(params))
        run = simulate(m, d, self.params, span, self.config)
        return EvalResult(run.returns(self.params.bankroll_usd), run.trades)
