"""The book's inputs over a range, split by hour once: what each hour's step reads, as plain records.

Only what can change a decision is kept per hour: the bars (tuples), the funding settled at the
hour, the carry rows that say entry or exit, the armed cascades, the first tail-hedge row, and
the ML predictions with their sizing verdicts (``quant.ml.sizing.signal_reasons``, row by row, so
computing them over the range equals computing them hour by hour). Within an hour rows keep the
order they had in the input tables; carry and cascade records keep only the columns the layers read.

What is the same for every hour is done once over the range, in numpy: the split by hour, the
perp and modelled-spot execution bars (``quant.book.hour_fills.execution_bars``' first two parts)
with the fill simulator's bar rule applied to them, and the sizing verdicts. The Python records
an hour reads (bar tuples, carry and cascade rows, the tail-hedge row, the predictions the sleeve
can act on: :class:`HourPredictions`) are built when :meth:`RangeInputs.at` gives the hour, so a
range holds columns, not millions of small objects.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant.book.hour_fills import underlying_bar
from quant.book.legs import column_values
from quant.book.params import BookParams, spot_symbol
from quant.book.wants import live_cascades
from quant.ml.sizing import signal_reasons

BAR_FIELDS = ("venue", "symbol", "open", "high", "low", "close", "volume")
#: The prediction columns the sleeve's sizing reads.
#: The strategy-decision columns the strategies layer reads (``quant.strategies.DECISION_COLUMNS``).
DECISION_FIELDS = ("hour", "venue", "symbol", "strategy", "side", "entry", "stop", "target", "confidence", "reason")
PREDICTION_FIELDS = ("venue", "symbol", "probability", "expected_return", "sigma_1h", "corr_btc_7d", "horizon_h", "status")
#: The carry-scan columns L1 reads (``quant.book.wants.carry_strength`` / ``carry_wants``).
CARRY_FIELDS = ("venue", "symbol", "entry", "exit", "reason", "funding_apr", "volume_24h_usd")
#: The cascade-signal columns L2 reads (``quant.book.wants.cascade_wants``, the layer's strength).
LIVE_FIELDS = ("venue", "symbol", "close", "direction", "rv_24h", "score")
_OHLCV = ("open", "high", "low", "close", "volume")


class HourPredictions:
    """One hour's ``model_predictions_1h`` rows over the range's column lists, in input order.

    A row with a reason against a trade (``signal_reasons``) of a position not held can only be a
    ``skip`` in ``quant.ml.sizing.ml_decisions``, so :meth:`records` gives the others: the rows
    that may trade and those of the held positions (what the decisions read of the held ones).
    """

    __slots__ = ("_columns", "_reasons", "rows", "tradable")

    def __init__(self, columns: list, reasons: list[str], rows: np.ndarray, tradable: np.ndarray) -> None:
        self._columns, self._reasons, self.rows, self.tradable = columns, reasons, rows, tradable

    def __len__(self) -> int:
        return len(self.rows)

    def records(self, held: set[tuple[str, str]]) -> tuple[list[dict], list[str]]:
        """(records, reasons) of the tradable rows and of the rows keyed (venue, symbol) in ``held``, in input order."""
        keep = self.tradable
        if held and len(self.rows):
            venue, symbol, why = (_take(c, self.rows) for c in (*self._columns[:2], self._reasons))
            keep = self.rows[[w == "" or (v, s) in held for v, s, w in zip(venue, symbol, why, strict=True)]]
        cols = [_take(c, keep) for c in self._columns]
        return ([dict(zip(PREDICTION_FIELDS, row, strict=True)) for row in zip(*cols, strict=True)],
                [self._reasons[i] for i in keep.tolist()])


NO_PREDICTIONS = HourPredictions([], [], np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))


@dataclass
class HourInputs:
    """One hour's inputs."""

    bars: list[tuple] = field(default_factory=list)
    closes: dict[tuple[str, str], float] = field(default_factory=dict)
    symbols: set[str] = field(default_factory=set)
    funding: dict[tuple[str, str], float] = field(default_factory=dict)
    carry: list[dict] = field(default_factory=list)
    live: list[dict] = field(default_factory=list)
    l2_strength: float = 0.0
    tail: dict | None = None
    predictions: HourPredictions = NO_PREDICTIONS
    ml_strength: float = 0.0
    decisions: list[dict] = field(default_factory=list)
    #: The L3 underlying's bar (``underlying_bar``); None: none this hour.
    under: tuple | None = None
    #: The perp and modelled-spot execution bars, (keys, bars, every bar passes the fill rule); None: build them.
    exec_base: tuple[list, list, bool] | None = None


def _hour_slices(df: pd.DataFrame) -> dict[int, np.ndarray]:
    """Row positions of each hour (ns since the epoch), in input order."""
    if df.empty:
        return {}
    stamps = pd.DatetimeIndex(pd.to_datetime(df["hour"], utc=True)).as_unit("ns").asi8
    order = np.argsort(stamps, kind="stable")
    keys = stamps[order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    return {int(keys[part[0]]): order[part] for part in np.split(np.arange(len(keys)), cuts)}


def _group(records: list, slices: dict[int, np.ndarray]) -> dict[int, list]:
    return {h: [records[i] for i in idx] for h, idx in slices.items()}


def _column(s: pd.Series) -> np.ndarray | list:
    """A column as ``records_from_frame`` gives its values: a numpy-typed one as its array (whose ``tolist`` is the
    Series'), any other (strings, timestamps, extension types) as its list of Python values."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiubO":
        return s.to_numpy()
    return column_values(s)


def _take(column: np.ndarray | list, idx: np.ndarray) -> list:
    return column[idx].tolist() if isinstance(column, np.ndarray) else [column[i] for i in idx.tolist()]


class _Rows:
    """A frame's columns and each hour's row positions: :meth:`at` builds an hour's ``records_from_frame`` dicts."""

    def __init__(self, df: pd.DataFrame, fields: tuple[str, ...], slices: dict[int, np.ndarray]) -> None:
        self.names = [c for c in fields if c in df.columns]
        self.columns = [_column(df[c]) for c in self.names]
        self.slices = slices

    def at(self, h: int) -> list[dict]:
        idx = self.slices.get(h)
        if idx is None:
            return []
        return [dict(zip(self.names, row, strict=True)) for row in zip(*(_take(c, idx) for c in self.columns), strict=True)]


class RangeInputs:
    """``run_book``'s inputs split by hour; :meth:`at` gives one hour's :class:`HourInputs`."""

    def __init__(self, bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame, cascade: pd.DataFrame,
                 tail: pd.DataFrame, ml: pd.DataFrame, params: BookParams, strategies: pd.DataFrame | None = None) -> None:
        self.hours: dict[int, HourInputs] = {}
        self._bars = _Rows(bars, BAR_FIELDS, _hour_slices(bars))
        self._exec = _exec_base(bars, 1.0 - params.spot_basis)
        self._funding(funding)
        empty = _Rows(pd.DataFrame(), (), {})
        self._carry = self._live = self._tail = self._decisions = empty
        if len(carry):
            rows = carry[(carry["entry"].astype(bool) | carry["exit"].astype(bool)).to_numpy()]
            self._carry = _Rows(rows, CARRY_FIELDS, _hour_slices(rows))
        live = live_cascades(cascade) if len(cascade) else cascade
        if len(live):
            self._live = _Rows(live, LIVE_FIELDS, _hour_slices(live))
        if len(tail):
            slices = _hour_slices(tail)
            self._tail = _Rows(tail, tuple(tail.columns), {h: idx[:1] for h, idx in slices.items()})
        self._predictions(ml, params)
        if strategies is not None and len(strategies):
            self._decisions = _decisions(strategies)
        self.known = set(self.hours) | set(self._bars.slices) | set(self._carry.slices) | set(self._live.slices) | \
            set(self._tail.slices) | set(self._decisions.slices)

    def _at(self, h: int) -> HourInputs:
        hour = self.hours.get(h)
        if hour is None:
            hour = self.hours[h] = HourInputs()
        return hour

    def at(self, hour: pd.Timestamp) -> HourInputs:
        """The hour's inputs (built now from the range's columns; an hour without any: empty)."""
        h = pd.Timestamp(hour).value
        if h not in self.known:
            return HourInputs()
        out = copy.copy(self.hours.get(h) or HourInputs())  # what is built here is not kept
        bars = list(zip(*(_take(c, self._bars.slices[h]) for c in self._bars.columns), strict=True)) \
            if h in self._bars.slices else []
        out.bars = bars
        out.closes = {(b[0], b[1]): b[5] for b in bars}
        out.symbols = {b[1] for b in bars}
        out.under = underlying_bar(bars)
        out.exec_base = self._exec.at(h)
        out.carry = self._carry.at(h)
        out.live = self._live.at(h)
        if out.live:
            scores = [float(r["score"]) for r in out.live if not math.isnan(float(r["score"]))]
            out.l2_strength = max(scores) if scores else math.nan
        tail = self._tail.at(h)
        out.tail = tail[0] if tail else None
        out.decisions = self._decisions.at(h)
        return out

    def _funding(self, funding: pd.DataFrame) -> None:
        if funding.empty:
            return
        rows = list(zip(column_values(funding["venue"]), column_values(funding["symbol"]), funding["funding_rate"].tolist(),
                        strict=True))
        for h, recs in _group(rows, _hour_slices(funding)).items():
            self._at(h).funding = {(v, s): float(r) for v, s, r in recs}  # a later row of the hour wins

    def _predictions(self, ml: pd.DataFrame, params: BookParams) -> None:
        if ml.empty:
            return
        ml = ml.reset_index(drop=True)
        _no_two_predictions_of_one_key(ml)
        reasons = signal_reasons(ml, params.ml).tolist()
        columns = [_column(ml[c]) for c in PREDICTION_FIELDS]
        can = np.array([why == "" for why in reasons], dtype=bool)
        probability = columns[PREDICTION_FIELDS.index("probability")]
        for h, idx in _hour_slices(ml).items():
            tradable = idx[can[idx]]
            hour = self._at(h)
            hour.predictions = HourPredictions(columns, reasons, idx, tradable)
            ok = [float(x) for x in _take(probability, tradable)]
            hour.ml_strength = max(ok) if ok else 0.0


def _decisions(strategies: pd.DataFrame) -> _Rows:
    """The accepted strategy decisions of each hour, best confidence first (then strategy, venue, symbol)."""
    if "status" not in strategies:  # only what quant.strategies.validate_decisions accepted may trade
        raise ValueError("strategy decisions need a status column (only 'accepted' rows trade): pass "
                         "strategy_signals_1h rows, or run_strategy's accepted decisions with status='accepted'")
    rows = strategies[strategies["status"] == "accepted"]
    rows = rows.sort_values(["hour", "confidence", "strategy", "venue", "symbol"], ascending=[True, False, True, True, True],
                            kind="stable").reset_index(drop=True)
    missing = [c for c in DECISION_FIELDS if c not in rows.columns]
    if missing:
        raise KeyError(f"strategy decisions lack {missing}")
    return _Rows(rows, DECISION_FIELDS, _hour_slices(rows))


class _ExecBase:
    """Every hour's perp then modelled-spot execution bars in one array, and where each hour's lie."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, spot: np.ndarray, spans: dict[int, tuple[int, int, bool]]) -> None:
        self.keys, self.values, self.spot, self.spans = keys, values, spot, spans

    def at(self, h: int) -> tuple[list, list, bool] | None:
        span = self.spans.get(h)
        if span is None:
            return None
        a, b, ok = span
        bars = self.values[a:b].tolist()
        for bar, modelled in zip(bars, self.spot[a:b].tolist(), strict=True):
            bar.append(modelled)
        return self.keys[a:b].tolist(), bars, ok


def _exec_base(bars: pd.DataFrame, basis: float) -> _ExecBase:
    """Each hour's perp bars then modelled spot bars, in bar order, those with every price > 0 (as ``execution_bars``)."""
    none = _ExecBase(np.empty(0, dtype=object), np.empty((0, 5)), np.empty(0, dtype=bool), {})
    if bars.empty or not all(bars[c].dtype == "float64" for c in _OHLCV):
        return none  # other dtypes: each hour builds its own from the bar tuples
    perp = np.column_stack([bars[c].to_numpy() for c in _OHLCV])
    spot = perp.copy()
    spot[:, :4] *= basis  # the same IEEE products as bar × basis on Python floats
    stamps = pd.DatetimeIndex(pd.to_datetime(bars["hour"], utc=True)).as_unit("ns").asi8
    market = [np.flatnonzero((v[:, :4] > 0).all(axis=1)) for v in (perp, spot)]  # NaN compares false: no market
    rows = np.concatenate(market)
    part = np.repeat([0, 1], [len(m) for m in market])
    order = np.lexsort((rows, part, stamps[rows]))  # by hour, perps before spots, then bar order
    rows, part, hour = rows[order], part[order], stamps[rows[order]]
    values = np.where(part[:, None] == 0, perp[rows], spot[rows])
    ok = np.isfinite(values[:, :4]).all(axis=1) & (values[:, 4] >= 0)  # fills.first_bad_bar's rule
    venues, vnames = pd.factorize(bars["venue"], use_na_sentinel=False)
    codes, snames = pd.factorize(bars["symbol"], use_na_sentinel=False)
    names = (snames.tolist(), [spot_symbol(x) for x in snames.tolist()])
    # one tuple object per distinct key, shared by every hour's rows
    combo = (venues[rows].astype(np.int64) * len(snames) + codes[rows]) * 2 + part
    uniq, inverse = np.unique(combo, return_inverse=True)
    lookup = np.empty(len(uniq), dtype=object)
    for j, c in enumerate(uniq.tolist()):
        lookup[j] = (vnames[c // 2 // len(snames)], names[c % 2][c // 2 % len(snames)])
    cuts = [0, *(np.flatnonzero(np.diff(hour)) + 1).tolist(), len(hour)]
    bad = np.concatenate([[0], np.cumsum(~ok)])
    spans = {int(hour[a]): (a, b, bool(bad[b] == bad[a])) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a}
    return _ExecBase(lookup[inverse], values, part == 1, spans)


def _no_two_predictions_of_one_key(ml: pd.DataFrame) -> None:
    """Raise on the first hour (then row) that repeats a (venue, symbol)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(ml["hour"], utc=True)).as_unit("ns").asi8
    frame = pd.DataFrame({"h": stamps, "v": ml["venue"].to_numpy(object), "s": ml["symbol"].to_numpy(object)})
    again = np.flatnonzero(frame.duplicated(keep="first").to_numpy())
    if len(again):
        first = again[np.lexsort((again, stamps[again]))[0]]
        raise ValueError(f"two predictions for {frame['v'][first]} {frame['s'][first]} at {pd.Timestamp(int(stamps[first]), tz='UTC')}")
