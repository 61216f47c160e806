"""The book's inputs over a range, split by hour once: what each hour's step reads, as plain records.

Only what can change a decision is kept per hour: the bars (tuples), the funding settled at the
hour, the carry rows that say entry or exit, the armed cascades, the first tail-hedge row, and
the ML predictions with their sizing verdicts (``quant.ml.sizing.signal_reasons``, row by row, so
computing them over the range equals computing them hour by hour). Within an hour rows keep the
order they had in the input tables; carry and cascade records keep only the columns the layers read.

What is the same for every hour is done once over the range, in numpy: the perp and modelled-spot
execution bars (``quant.book.hour_fills.execution_bars``' first two parts) with the fill
simulator's bar rule applied to them, and the predictions' records, built in an hour only for the
rows the sleeve can act on (:class:`HourPredictions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant.book.hour_fills import underlying_bar
from quant.book.legs import records_from_frame, string_values
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

    def __init__(self, columns: list[list], reasons: list[str], rows: list[int], tradable: list[int]) -> None:
        self._columns, self._reasons, self.rows, self.tradable = columns, reasons, rows, tradable

    def __len__(self) -> int:
        return len(self.rows)

    def records(self, held: set[tuple[str, str]]) -> tuple[list[dict], list[str]]:
        """(records, reasons) of the tradable rows and of the rows keyed (venue, symbol) in ``held``, in input order."""
        keep = self.tradable
        if held and self.rows:
            venue, symbol, why = self._columns[0], self._columns[1], self._reasons
            keep = [i for i in self.rows if why[i] == "" or (venue[i], symbol[i]) in held]
        return ([dict(zip(PREDICTION_FIELDS, [c[i] for c in self._columns], strict=True)) for i in keep],
                [self._reasons[i] for i in keep])


NO_PREDICTIONS = HourPredictions([], [], [], [])


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


class RangeInputs:
    """``run_book``'s inputs split by hour; :meth:`at` gives one hour's :class:`HourInputs`."""

    def __init__(self, bars: pd.DataFrame, funding: pd.DataFrame, carry: pd.DataFrame, cascade: pd.DataFrame,
                 tail: pd.DataFrame, ml: pd.DataFrame, params: BookParams, strategies: pd.DataFrame | None = None) -> None:
        self.hours: dict[int, HourInputs] = {}
        self._bars(bars)
        self._exec_base(bars, 1.0 - params.spot_basis)
        self._funding(funding)
        if len(carry):
            wanted = carry["entry"].astype(bool) | carry["exit"].astype(bool)
            rows = carry[wanted.to_numpy()]
            slices = _hour_slices(rows)
            rows = rows.loc[:, [c for c in CARRY_FIELDS if c in carry.columns]].reset_index(drop=True)
            for h, recs in _group(records_from_frame(rows), slices).items():
                self._at(h).carry = recs
        live = live_cascades(cascade) if len(cascade) else cascade
        if len(live):
            slices = _hour_slices(live)
            live = live.loc[:, [c for c in LIVE_FIELDS if c in live.columns]].reset_index(drop=True)
            for h, recs in _group(records_from_frame(live), slices).items():
                hour = self._at(h)
                hour.live = recs
                scores = [float(r["score"]) for r in recs if not math.isnan(float(r["score"]))]
                hour.l2_strength = max(scores) if scores else math.nan
        if len(tail):
            slices = _hour_slices(tail)
            firsts = tail.iloc[[int(idx[0]) for idx in slices.values()]]
            for h, rec in zip(slices, records_from_frame(firsts), strict=True):
                self._at(h).tail = rec
        self._predictions(ml, params)
        if strategies is not None and len(strategies):
            self._decisions(strategies)

    def _at(self, h: int) -> HourInputs:
        hour = self.hours.get(h)
        if hour is None:
            hour = self.hours[h] = HourInputs()
        return hour

    def at(self, hour: pd.Timestamp) -> HourInputs:
        return self.hours.get(pd.Timestamp(hour).value) or HourInputs()

    def _bars(self, bars: pd.DataFrame) -> None:
        if bars.empty:
            return
        cols = [string_values(bars[c]) if isinstance(bars[c].dtype, pd.StringDtype) else bars[c].tolist() for c in BAR_FIELDS]
        rows = list(zip(*cols, strict=True))
        for h, recs in _group(rows, _hour_slices(bars)).items():
            hour = self._at(h)
            hour.bars = recs
            hour.closes = {(b[0], b[1]): b[5] for b in recs}
            hour.symbols = {b[1] for b in recs}
            hour.under = underlying_bar(recs)

    def _exec_base(self, bars: pd.DataFrame, basis: float) -> None:
        """Each hour's perp bars then modelled spot bars, in bar order, those with every price > 0 (as ``execution_bars``)."""
        if bars.empty or not all(bars[c].dtype == "float64" for c in _OHLCV):
            return  # other dtypes: each hour builds its own from the bar tuples
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
        venue = string_values(bars["venue"]) if isinstance(bars["venue"].dtype, pd.StringDtype) else bars["venue"].tolist()
        codes, symbols = pd.factorize(bars["symbol"], use_na_sentinel=False)
        names = (symbols.tolist(), [spot_symbol(x) for x in symbols.tolist()])
        keys = [(venue[r], names[k][codes[r]]) for r, k in zip(rows.tolist(), part.tolist(), strict=True)]
        out = values.tolist()
        for bar, k in zip(out, part.tolist(), strict=True):
            bar.append(k == 1)  # modelled: the spot bars
        cuts = [0, *(np.flatnonzero(np.diff(hour)) + 1).tolist(), len(hour)]
        bad = np.concatenate([[0], np.cumsum(~ok)])
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            self._at(int(hour[a])).exec_base = (keys[a:b], out[a:b], bool(bad[b] == bad[a]))

    def _funding(self, funding: pd.DataFrame) -> None:
        if funding.empty:
            return
        rows = list(zip(funding["venue"].tolist(), funding["symbol"].tolist(), funding["funding_rate"].tolist(), strict=True))
        for h, recs in _group(rows, _hour_slices(funding)).items():
            self._at(h).funding = {(v, s): float(r) for v, s, r in recs}  # a later row of the hour wins

    def _predictions(self, ml: pd.DataFrame, params: BookParams) -> None:
        if ml.empty:
            return
        ml = ml.reset_index(drop=True)
        _no_two_predictions_of_one_key(ml)
        reasons = signal_reasons(ml, params.ml).tolist()
        columns = [string_values(ml[c]) if isinstance(ml[c].dtype, pd.StringDtype) else ml[c].tolist() for c in PREDICTION_FIELDS]
        probability = columns[PREDICTION_FIELDS.index("probability")]
        for h, idx in _hour_slices(ml).items():
            rows = idx.tolist()
            tradable = [i for i in rows if reasons[i] == ""]
            hour = self._at(h)
            hour.predictions = HourPredictions(columns, reasons, rows, tradable)
            ok = [float(probability[i]) for i in tradable]
            hour.ml_strength = max(ok) if ok else 0.0

    def _decisions(self, strategies: pd.DataFrame) -> None:
        """The accepted strategy decisions of each hour, best confidence first (then strategy, venue, symbol)."""
        if "status" not in strategies:  # only what quant.strategies.validate_decisions accepted may trade
            raise ValueError("strategy decisions need a status column (only 'accepted' rows trade): pass "
                             "strategy_signals_1h rows, or run_strategy's accepted decisions with status='accepted'")
        rows = strategies[strategies["status"] == "accepted"]
        rows = rows.sort_values(["hour", "confidence", "strategy", "venue", "symbol"], ascending=[True, False, True, True, True],
                                kind="stable").reset_index(drop=True)
        for h, recs in _group(records_from_frame(rows.loc[:, list(DECISION_FIELDS)]), _hour_slices(rows)).items():
            self._at(h).decisions = recs


def _no_two_predictions_of_one_key(ml: pd.DataFrame) -> None:
    """Raise on the first hour (then row) that repeats a (venue, symbol)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(ml["hour"], utc=True)).as_unit("ns").asi8
    frame = pd.DataFrame({"h": stamps, "v": ml["venue"].to_numpy(object), "s": ml["symbol"].to_numpy(object)})
    again = np.flatnonzero(frame.duplicated(keep="first").to_numpy())
    if len(again):
        first = again[np.lexsort((again, stamps[again]))[0]]
        raise ValueError(f"two predictions for {frame['v'][first]} {frame['s'][first]} at {pd.Timestamp(int(stamps[first]), tz='UTC')}")
