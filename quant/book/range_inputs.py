"""The book's inputs over a range, split by hour once: what each hour's step reads, as plain records.

Only what can change a decision is kept per hour: the bars (tuples), the funding settled at the
hour, the carry rows that say entry or exit, the armed cascades, the first tail-hedge row, and
the ML predictions with their sizing verdicts (``quant.ml.sizing.signal_reasons``, row by row, so
computing them over the range equals computing them hour by hour). Within an hour rows keep the
order they had in the input tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant.book.legs import records_from_frame
from quant.book.params import BookParams
from quant.book.wants import live_cascades
from quant.ml.sizing import signal_reasons

BAR_FIELDS = ("venue", "symbol", "open", "high", "low", "close", "volume")
#: The prediction columns the sleeve's sizing reads.
#: The strategy-decision columns the strategies layer reads (``quant.strategies.DECISION_COLUMNS``).
DECISION_FIELDS = ("hour", "venue", "symbol", "strategy", "side", "entry", "stop", "target", "confidence", "reason")
PREDICTION_FIELDS = ("venue", "symbol", "probability", "expected_return", "sigma_1h", "corr_btc_7d", "horizon_h", "status")


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
    predictions: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    ml_strength: float = 0.0
    decisions: list[dict] = field(default_factory=list)


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
        self._funding(funding)
        if len(carry):
            wanted = carry["entry"].astype(bool) | carry["exit"].astype(bool)
            rows = carry[wanted.to_numpy()].reset_index(drop=True)
            for h, recs in _group(records_from_frame(rows), _hour_slices(rows)).items():
                self._at(h).carry = recs
        live = live_cascades(cascade) if len(cascade) else cascade
        if len(live):
            live = live.reset_index(drop=True)
            for h, recs in _group(records_from_frame(live), _hour_slices(live)).items():
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
        cols = [bars[c].tolist() for c in BAR_FIELDS]
        rows = list(zip(*cols, strict=True))
        for h, recs in _group(rows, _hour_slices(bars)).items():
            hour = self._at(h)
            hour.bars = recs
            hour.closes = {(b[0], b[1]): b[5] for b in recs}
            hour.symbols = {b[1] for b in recs}

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
        reasons = signal_reasons(ml, params.ml).tolist()
        records = records_from_frame(ml.loc[:, list(PREDICTION_FIELDS)])
        for h, idx in _hour_slices(ml).items():
            hour = self._at(h)
            hour.predictions = [records[i] for i in idx]
            hour.reasons = [reasons[i] for i in idx]
            seen: set[tuple[str, str]] = set()
            for r in hour.predictions:
                key = (r["venue"], r["symbol"])
                if key in seen:
                    raise ValueError(f"two predictions for {key[0]} {key[1]} at {pd.Timestamp(h, tz='UTC')}")
                seen.add(key)
            ok = [float(r["probability"]) for r, why in zip(hour.predictions, hour.reasons, strict=True) if why == ""]
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
