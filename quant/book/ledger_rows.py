"""The hour's ledger: fills, funding and marks applied to the legs; one row per position and a total.

Per leg, in the order of ``quant.book.ledger`` (the ledger core's rules, applied here to one hour
of records): funding settled at the start of the hour on perp legs held from the previous hour
(``funding = −qty × previous mark × rate``), then the hour's fills in order, then the mark at the
hour's close. Per position (layer, venue, symbol), money is cumulative over the book's life: the
previous hour's row plus this hour's increments, so a position keeps its row after it closes.

Inside a range that money lives in arrays (:class:`PositionMoney`) and each hour's ledger in
columns (:class:`LedgerHour`), turned into the table once (:func:`ledger_frame`): a long range
carries a row per position ever held in every hour (≈ 2.5 M rows for 50 coins over two years).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.book.ledger import _apply_fill
from quant.book.legs import Leg, group_sums
from quant.book.params import ALL, LEDGER, MONEY, TOTAL
from quant.frames import conform, empty

#: The cumulative money columns a position carries from hour to hour.
CUMULATIVE = ("realised_usd", "fees_usd", "funding_usd")
Position = tuple[str, str, str]


def previous_total(ledger: list[dict], bankroll_usd: float) -> dict:
    """The total row of the previous hour's ledger (a fresh book's: the bankroll everywhere)."""
    for row in ledger:
        if row["layer"] == TOTAL:
            return row
    b = bankroll_usd
    return {"equity_usd": b, "peak_equity_usd": b, "day_open_equity_usd": b, "day_peak_equity_usd": b,
            "session_paused": False, "daily_loss_halt": False}


def _label(leg: Leg, hour: pd.Timestamp) -> str:
    return f"{leg.layer} {leg.venue} {leg.instrument} {leg.leg} ({hour:%Y-%m-%d %H:00})"


def apply_ledger(legs: list[Leg], fills: list[dict], ebars: dict[tuple[str, str], list], funding: dict[tuple[str, str], float],
                 hour: pd.Timestamp) -> None:
    """Funding, fills and marks of hour ``hour`` applied to ``legs`` in place.

    Raises
    ------
    ValueError
        A fill price that is not a positive number; funding that is not a number on a held perp
        at a settlement; a held leg without a valid mark at the hour's close.
    """
    index = {leg.key: i for i, leg in enumerate(legs)}
    got = [f for f in fills if f["filled_qty"] > 0]
    for f in got:
        if not (math.isfinite(f["fill_price"]) and f["fill_price"] > 0 and math.isfinite(f["filled_qty"])):
            raise ValueError("fill prices must be finite and > 0 and quantities finite")
    for leg in legs:
        key = (leg.venue, leg.instrument)
        if leg.kind == "perp" and key in funding and leg.qty != 0.0:
            rate, px = funding[key], leg.mark
            if not (math.isfinite(rate) and math.isfinite(px) and px > 0.0):
                raise ValueError(f"{_label(leg, hour)}: funding at hour index 0 is not a number (rate {rate}, price {px}) "
                                 "while the position is open")
            leg.funding_usd -= leg.qty * px * rate
    for f in got:
        leg = legs[index[(f["layer"], f["venue"], f["symbol"], str(f["leg"]).split(":", 1)[0])]]
        dq = f["filled_qty"] if f["side"] == "buy" else -1.0 * f["filled_qty"]
        leg.qty, leg.avg_entry, realised = _apply_fill(leg.qty, leg.avg_entry, dq, f["fill_price"])
        leg.realised_usd += realised
        leg.fees_usd += f["fee"]
    for leg in legs:
        bar = ebars.get((leg.venue, leg.instrument))
        mark = bar[3] if bar is not None else math.nan
        if leg.qty != 0.0 and not (math.isfinite(mark) and mark > 0.0):
            raise ValueError(f"{_label(leg, hour)}: mark price at hour index 0 is {mark} while the position is open")
        leg.unrealised_usd = leg.qty * (mark - leg.avg_entry) if leg.qty != 0.0 else 0.0
        leg.mark = mark


class PositionMoney:
    """Cumulative (realised, fees, funding) USD per position (layer, venue, symbol) over the book's life, sorted by position.

    Hour after hour the same positions come back (a position keeps its row after it closes), so
    their order and rows are kept and only a new position re-sorts them.
    """

    def __init__(self, rows: Iterable[tuple[Position, Sequence[float]]] = ()) -> None:
        base = {pos: [float(x) for x in money] for pos, money in rows}  # a later row of a position wins
        self.keys: list[Position] = sorted(base)
        self.index = {pos: i for i, pos in enumerate(self.keys)}
        self.money = np.array([base[k] for k in self.keys], dtype="float64").reshape(len(self.keys), len(CUMULATIVE))

    @classmethod
    def from_ledger(cls, ledger: list[dict]) -> PositionMoney:
        """The positions of a stored hour's ledger rows (its total row left out)."""
        return cls(((r["layer"], r["venue"], r["symbol"]), [r[c] for c in CUMULATIVE]) for r in ledger if r["layer"] != TOTAL)

    def _add_positions(self, new: set[Position]) -> None:
        keys = sorted([*self.keys, *new])
        index = {pos: i for i, pos in enumerate(keys)}
        money = np.zeros((len(keys), len(CUMULATIVE)))
        if self.keys:
            money[[index[k] for k in self.keys]] = self.money
        self.keys, self.index, self.money = keys, index, money

    def step(self, before: dict[tuple, tuple[float, float, float]], after: list[Leg]) -> tuple[np.ndarray, np.ndarray]:
        """This hour's increments added; returns (cumulative money, unrealised) per position of :attr:`keys`.

        ``before`` maps a leg key to its cumulative (realised, fees, funding) before the hour (legs
        opened this hour have none); ``after`` is every leg after the hour, closed ones included.
        Per element the previous sum plus the hour's increment, where a side that is missing is
        pandas' fill value 0.0 (which also turns −0.0 into 0.0): the outer-joined frames' sums.
        """
        parts: dict[Position, list[tuple[float, float, float, float]]] = {}
        for leg in after:
            old = before.get(leg.key, (0.0, 0.0, 0.0))
            parts.setdefault((leg.layer, leg.venue, leg.symbol), []).append(
                (leg.realised_usd - old[0], leg.fees_usd - old[1], leg.funding_usd - old[2], leg.unrealised_usd))
        inc = group_sums(parts)
        new = inc.keys() - self.index.keys()
        if new:
            self._add_positions(set(new))
        add = np.zeros(self.money.shape)
        unrealised = np.zeros(len(self.keys))
        for pos, values in inc.items():
            i = self.index[pos]
            add[i] = values[:3]
            unrealised[i] = values[3]
        self.money = self.money + add
        return self.money, unrealised


@dataclass
class LedgerHour:
    """One hour's ledger in columns: a row per position (sorted) then the total; every row carries the book's risk state."""

    hour: pd.Timestamp
    #: The positions (never changed in place: ``PositionMoney`` makes a new list when one is added).
    keys: list[Position]
    #: (positions + 1) × ``LEDGER_MONEY``: realised, unrealised, fees, funding, pnl; the last row the total's.
    money: np.ndarray
    risk: dict


#: The money columns of a ledger row, in :attr:`LedgerHour.money`'s order.
LEDGER_MONEY = (*MONEY, "pnl_usd")
#: The risk state every row of an hour carries (the total row's).
BOOK_COLUMNS = ("cash_usd", "equity_usd", "peak_equity_usd", "drawdown", "day_open_equity_usd", "day_peak_equity_usd",
                "risk_level", "risk_multiplier", "session_paused", "daily_loss_halt", "breach")


def totals(money: np.ndarray, unrealised: np.ndarray) -> dict[str, float]:
    """The money columns summed over the positions (numpy's sum of each column, as ``Series.sum``)."""
    cols = {"realised_usd": money[:, 0], "unrealised_usd": unrealised, "fees_usd": money[:, 1], "funding_usd": money[:, 2]}
    return {c: float(np.ascontiguousarray(cols[c]).sum()) if len(unrealised) else 0.0 for c in MONEY}


def ledger_hour(keys: list[Position], money: np.ndarray, unrealised: np.ndarray, risk: dict, hour: pd.Timestamp) -> LedgerHour:
    """The hour's ledger: each position's money and P&L (realised + unrealised − fees + funding), then the total row."""
    realised, fees, funding = money[:, 0], money[:, 1], money[:, 2]
    rows = np.column_stack([realised, unrealised, fees, funding, realised + unrealised - fees + funding])
    total = np.array([[risk[c] for c in LEDGER_MONEY]], dtype="float64")
    return LedgerHour(hour, keys, np.concatenate([rows, total]), {c: risk[c] for c in BOOK_COLUMNS})


def ledger_frame(hours: list[LedgerHour]) -> pd.DataFrame:
    """The ledger table (``LEDGER``) of ``hours``, in order."""
    if not hours:
        return empty(LEDGER)
    counts = np.array([len(h.keys) + 1 for h in hours])
    names: dict[int, tuple[np.ndarray, ...]] = {}  # hours share their positions' list until a position is added
    for h in hours:
        if id(h.keys) not in names:
            names[id(h.keys)] = tuple(np.array([*col, total], dtype=object) for col, total in
                                      zip(zip(*h.keys, strict=True) if h.keys else ((), (), ()), (TOTAL, ALL, ALL), strict=True))
    layer, venue, symbol = (np.concatenate([names[id(h.keys)][i] for h in hours]) for i in range(3))
    money = np.concatenate([h.money for h in hours])
    stamps = np.repeat(np.array([pd.Timestamp(h.hour).as_unit("ns").value for h in hours], dtype="int64"), counts)
    data: dict[str, object] = {"hour": pd.to_datetime(stamps, utc=True), "layer": layer, "venue": venue, "symbol": symbol}
    data |= {c: money[:, i] for i, c in enumerate(LEDGER_MONEY)}
    data |= {c: np.repeat(np.array([h.risk[c] for h in hours], dtype=object if c in ("risk_level", "breach") else None), counts)
             for c in BOOK_COLUMNS}
    return conform(pd.DataFrame(data), LEDGER, name="ledger")

