"""The journal's evaluator over the book: a registry strategy traded alone through the one fill simulator and ledger.

:class:`BookEvaluator` is the :class:`~quant.research.evaluation.Evaluator` the journal runs in
production. For ``(strategy, params, window)`` it

1. builds the strategy's :class:`~quant.strategies.StrategyInput` from the market tables given
   (bars, features, funding, open interest) over ``[start − lookback_h, end)`` — the declared
   look-back, or as much of it as the tables hold (a window at the start of the data gets less;
   :meth:`BookEvaluator.history_h` says how much);
2. runs the strategy once (:func:`quant.strategies.run_strategy`) and keeps its accepted decisions
   of the window's hours (a decision of an hour before ``start`` never trades);
3. steps :func:`quant.book.step.run_book` over every hour of ``[start, end)`` from a fresh book
   with the carry, cascade, tail and ML layers idle (empty inputs), so only the strategies layer
   ``ST`` trades: entries at the next hour's open risking 1% of equity, reduce-only stops and
   targets, the 168 h time stop, fees, slippage and funding as the book charges them;
4. returns the hourly returns of total equity, ``r_t = E_t / E_{t−1} − 1`` with ``E_{−1}`` the
   bankroll (0 in a flat hour), on the window's UTC hours, and the number of strategy entries
   that filled. A position still open at the window's end is marked at its last close (its
   unrealised P&L is in the last hour's equity); orders approved in the last hour never fill.

A strategy that fails as a whole (raises, returns no frame) is an error here, not a flat window:
the journal records nothing for an evaluation that did not happen.

:class:`BookMarket` is the journal's :data:`~quant.research.regime_window.Market`: the benchmark's
hourly closes (Binance's BTC perp) and its hourly regime labels
(:func:`quant.features.regime.regime_scores`) over a window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from quant.book.params import TOTAL, BookParams
from quant.book.step import HourTables, fresh_state, run_book
from quant.book.strategy_layer import STRATEGY_LAYER
from quant.features.regime import regime_scores
from quant.research.evaluation import EvalResult
from quant.research.hypothesis import Scalar, Window
from quant.research.regime_window import MarketContext
from quant.strategies import Strategy, StrategyInput, get, run_strategy

HOUR = pd.Timedelta(hours=1)
#: The regime benchmark: Binance's BTC perpetual (the design's market proxy).
BENCHMARK_VENUE, BENCHMARK_SYMBOL = "binance", "BTC/USDT:USDT"


@dataclass(frozen=True)
class MarketTables:
    """The whole history an evaluator may read: ``perp_ohlcv_1h``, ``features_1h``,
    ``funding_settlements`` and ``open_interest_1h`` rows (each with an ``hour`` column; any may be empty)."""

    bars: pd.DataFrame
    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    funding: pd.DataFrame = field(default_factory=pd.DataFrame)
    open_interest: pd.DataFrame = field(default_factory=pd.DataFrame)


def window_hours(window: Window) -> pd.DatetimeIndex:
    """Every UTC hour of ``[start, end)``."""
    return pd.date_range(pd.Timestamp(window.start), pd.Timestamp(window.end), freq="h", inclusive="left")


def rows_between(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows of ``df`` with ``start <= hour < end`` (an empty frame stays as it is)."""
    if df.empty or "hour" not in df:
        return df
    hour = pd.to_datetime(df["hour"], utc=True)
    return df[((hour >= start) & (hour < end)).to_numpy()].reset_index(drop=True)


def equity_returns(ledger: pd.DataFrame, hours: pd.DatetimeIndex, bankroll_usd: float) -> pd.Series:
    """Hourly returns of the ledger's total equity on ``hours``: ``E_t / E_{t−1} − 1``, ``E_{−1}`` = ``bankroll_usd``.

    Raises
    ------
    ValueError
        An hour of ``hours`` without exactly one total row (the book did not step it).
    """
    total = ledger[ledger["layer"] == TOTAL]
    equity = pd.Series(total["equity_usd"].to_numpy("float64"), index=pd.DatetimeIndex(pd.to_datetime(total["hour"], utc=True)))
    if equity.index.has_duplicates or not equity.index.equals(hours):
        raise ValueError("the book's ledger must hold one total row for every hour of the window")
    previous = equity.shift(1)
    previous.iloc[:1] = bankroll_usd
    return (equity / previous - 1.0).rename("return")


def entries_filled(tables: HourTables) -> int:
    """Strategy entries that filled: ST fills of an approved, not reduce-only intent (stops, targets and time stops are exits)."""
    intents = tables.intents
    entries = intents[(intents["layer"] == STRATEGY_LAYER) & ~intents["reduce_only"].astype(bool) & intents["approved"].astype(bool)]
    fills = tables.fills
    filled = fills[(fills["layer"] == STRATEGY_LAYER) & (fills["filled_qty"] > 0)]
    return int(filled["client_order_id"].isin(set(entries["client_order_id"])).sum())


class BookEvaluator:
    """(strategy, params, window) → the book's hourly equity returns and filled entries (see the module docstring).

    Parameters
    ----------
    tables : MarketTables
        The history to read; each evaluation cuts what it needs.
    params : BookParams
        The book's settings (bankroll, costs, the strategies layer's rules).
    strategies : mapping, optional
        Name → strategy; default the registry (:func:`quant.strategies.get`).
    """

    def __init__(self, tables: MarketTables, params: BookParams | None = None,
                 strategies: Mapping[str, Strategy] | None = None) -> None:
        self.tables = tables
        self.params = params or BookParams()
        self.strategies = strategies

    def strategy(self, name: str) -> Strategy:
        if self.strategies is None:
            return get(name)
        if name not in self.strategies:
            raise KeyError(f"no strategy {name!r}; known: {', '.join(sorted(self.strategies))}")
        return self.strategies[name]

    def history_h(self, name: str, window: Window) -> int:
        """Hours of history before ``window`` the tables give the strategy (at most its ``lookback_h``)."""
        start = pd.Timestamp(window.start)
        before = rows_between(self.tables.bars, start - self.strategy(name).lookback_h * HOUR, start)
        if before.empty:
            return 0
        return int((start - pd.to_datetime(before["hour"], utc=True).min()) / HOUR)

    def decisions(self, name: str, params: Mapping[str, Scalar], window: Window) -> pd.DataFrame:
        """The strategy's accepted decisions of the window's hours, with ``status`` = "accepted"."""
        strategy = self.strategy(name)
        start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
        first = start - strategy.lookback_h * HOUR
        t = self.tables
        data = StrategyInput(rows_between(t.bars, first, end), rows_between(t.features, first, end),
                             rows_between(t.funding, first, end), rows_between(t.open_interest, first, end))
        accepted, rejected = run_strategy(strategy, data, params)
        whole = rejected[rejected["hour"].isna()]
        if len(whole):
            raise RuntimeError(f"strategy {name} failed over {window}: {'; '.join(whole['reason'])}")
        return rows_between(accepted, start, end).assign(status="accepted")

    def run(self, name: str, params: Mapping[str, Scalar], window: Window) -> HourTables:
        """The book's tables over the window, the strategy's decisions its only signals."""
        start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
        none = pd.DataFrame()
        tables, _ = run_book(fresh_state(), window_hours(window), rows_between(self.tables.bars, start, end),
                             rows_between(self.tables.funding, start, end), none, none, none, self.params,
                             strategies=self.decisions(name, params, window))
        return tables

    def __call__(self, strategy: str, params: Mapping[str, Scalar], window: Window) -> EvalResult:
        tables = self.run(strategy, params, window)
        returns = equity_returns(tables.ledger, window_hours(window), self.params.bankroll_usd)
        return EvalResult(returns, entries_filled(tables))


class BookMarket:
    """Window → the benchmark's hourly closes and regime labels (:class:`~quant.research.regime_window.MarketContext`)."""

    def __init__(self, tables: MarketTables, venue: str = BENCHMARK_VENUE, symbol: str = BENCHMARK_SYMBOL) -> None:
        bars = tables.bars[(tables.bars["venue"] == venue) & (tables.bars["symbol"] == symbol)]
        self.close = pd.Series(bars["close"].to_numpy("float64"),
                               index=pd.DatetimeIndex(pd.to_datetime(bars["hour"], utc=True))).sort_index()
        features = tables.features
        if features.empty:
            self.regimes = None
        else:
            mine = features[(features["venue"] == venue) & (features["symbol"] == symbol)].reset_index(drop=True)
            scores = regime_scores(mine)
            self.regimes = pd.Series(scores["regime"].to_numpy(),
                                     index=pd.DatetimeIndex(pd.to_datetime(scores["hour"], utc=True))).sort_index()

    def __call__(self, window: Window) -> MarketContext:
        start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
        inside = slice(start, end - pd.Timedelta(1))
        return MarketContext(self.close.loc[inside], None if self.regimes is None else self.regimes.loc[inside])
