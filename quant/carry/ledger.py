"""L1 funding carry, the money: hourly P&L of hedged positions (short perp + long spot).

One position = short ``qty`` perp + long ``qty`` spot, ``qty = notional_usd / perp close`` at
entry, both legs filled at the close of ``open_hour`` and closed at the close of ``close_hour``.

Timing. A fill at the close of hour H happens just before the settlement stamped H+1h, so the
position receives the settlements whose grid hour s satisfies ``open_hour < s <= close_hour``.
Row ``hour = H`` is the state at the end of hour H; a settlement at s is booked in row s.

Funding. A short perp receives ``qty × price × rate`` at each settlement (pays when the rate is
negative). ``price`` is the settlement's ``mark_price`` when the funding frame provides one,
else the perp close of the hour before the settlement hour (bar s−1h closes at s, which is
what the venue marks against); row by row, so a NaN mark falls back to that close. A NaN
rate, a missing settlement inside the position (a gap longer than ``interval_hours``), or a
funding frame that does not reach the position's ends is a ValueError naming the symbol and
time, never a silent 0.

Spot. The bundled sample has NO spot candles, so the spot leg is modelled by :class:`SpotModel`
and every row carries its ``spot_leg`` text. Basis P&L = perp leg + spot leg, always computed:
under the default zero basis it is exactly 0 because the two legs cancel, not because it is assumed.

Fees. ``fee_bps_per_leg`` of each leg's notional at entry and again at exit (2 legs × 2 trades).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.carry.signals import POSITION_COLUMNS, CarryParams, require_columns

HOUR = pd.Timedelta(hours=1)
UTC_NS = "datetime64[ns, UTC]"
FUNDING_REQUIRED = ["venue", "symbol", "settlement_ts", "funding_rate", "interval_hours"]
PNL_COLUMNS = [
    "position_id", "venue", "symbol", "hour", "qty", "perp_close", "spot_price", "settlement_rate",
    "funding_price", "funding_cash_usd", "funding_usd", "fees_usd", "perp_pnl_usd", "spot_pnl_usd",
    "basis_usd", "total_usd", "spot_leg",
]


@dataclass(frozen=True)
class SpotModel:
    """How the spot leg is priced when no spot series exists.

    ``spot = perp close × (1 − basis)`` with a constant fractional ``basis`` (0 by default: spot
    equals the perp), or, with ``index_column`` set, the price in that column of the closes
    frame (a venue's index price is a spot composite).
    """

    basis: float = 0.0
    index_column: str | None = None

    def describe(self) -> str:
        if self.index_column is not None:
            return f"modelled: spot = '{self.index_column}' column (perp venue's spot index), no spot candles"
        return f"modelled: spot = perp close x (1 - {self.basis:g}), constant basis, no spot candles"

    def prices(self, perp_close: np.ndarray, index_price: np.ndarray | None = None) -> np.ndarray:
        if self.index_column is None:
            return perp_close * (1.0 - self.basis)
        if index_price is None:
            raise ValueError(f"SpotModel: closes frame has no '{self.index_column}' column")
        return index_price


def carry_pnl(
    positions: pd.DataFrame, closes: pd.DataFrame, funding: pd.DataFrame,
    params: CarryParams | None = None, spot: SpotModel | None = None, *, end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per-hour cumulative P&L of every carry position, vectorised over positions and hours.

    Parameters
    ----------
    positions : ``POSITION_COLUMNS`` (see :func:`quant.carry.signals.walk_positions`);
        ``notional_usd`` > 0; ``close_hour`` NaT = still open at ``end``.
    closes : ``venue, symbol, hour, close`` (perp 1h bars, USD), one row per key, covering every
        position hour (an ``ohlcv_table``); plus the SpotModel's index column when it uses one.
    funding : ``venue, symbol, settlement_ts`` (grid hour), ``funding_rate`` (per interval),
        ``interval_hours``, optional ``mark_price`` (a ``funding_table``), reaching at least one
        settlement before and after each position.
    end : exclusive end hour of the period, required when a position is still open.

    Returns
    -------
    One row per (position, hour) from ``open_hour`` to ``close_hour`` (or ``end − 1h``). Money
    columns are USD, cumulative since entry as at the end of the hour: ``funding_usd``
    (received, signed), ``fees_usd`` (paid, >= 0), ``basis_usd = perp_pnl_usd + spot_pnl_usd``
    (mark to market), ``total_usd = funding_usd − fees_usd + basis_usd``.
    ``funding_cash_usd`` is that hour's settlement cash alone.
    """
    p, sm = params or CarryParams(), spot or SpotModel()
    rows = _expand(positions, end)
    _attach_prices(rows, closes, sm)
    first = rows["hour"].eq(rows["open_hour"]).to_numpy()
    start = np.flatnonzero(first)
    sizes = np.diff(np.r_[start, len(rows)])
    entry_perp = np.repeat(rows["perp_close"].to_numpy()[start], sizes)
    entry_spot = np.repeat(rows["spot_price"].to_numpy()[start], sizes)
    qty = rows["notional_usd"].to_numpy() / entry_perp
    rows["qty"] = qty
    _attach_funding(rows, funding, first, qty)
    last = rows["hour"].eq(rows["close_hour"]).to_numpy()
    traded = np.where(first, qty * (entry_perp + entry_spot), 0.0)
    traded += np.where(last, qty * (rows["perp_close"].to_numpy() + rows["spot_price"].to_numpy()), 0.0)
    rows["fee_cash"] = p.fee_rate * traded
    rows["perp_pnl_usd"] = qty * (entry_perp - rows["perp_close"].to_numpy())
    rows["spot_pnl_usd"] = qty * (rows["spot_price"].to_numpy() - entry_spot)
    rows["basis_usd"] = rows["perp_pnl_usd"] + rows["spot_pnl_usd"]
    by = rows.groupby("position_id", sort=False)
    rows["funding_usd"] = by["funding_cash_usd"].cumsum()
    rows["fees_usd"] = by["fee_cash"].cumsum()
    rows["total_usd"] = rows["funding_usd"] - rows["fees_usd"] + rows["basis_usd"]
    rows["spot_leg"] = sm.describe()
    return rows.loc[:, PNL_COLUMNS]


def book_pnl(pnl: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """Whole-book cumulative P&L per hour: each closed position's final numbers carry forward.

    One row per hour of ``hours`` with the sums over positions of ``funding_usd, fees_usd,
    basis_usd, total_usd`` (USD). Before a position opens it contributes 0 (it did not exist).
    """
    cols = ["funding_usd", "fees_usd", "basis_usd", "total_usd"]
    out = {}
    for c in cols:
        wide = pnl.pivot(index="hour", columns="position_id", values=c)
        out[c] = wide.reindex(hours.union(wide.index)).ffill().fillna(0.0).sum(axis=1).reindex(hours)
    return pd.DataFrame(out).rename_axis("hour").reset_index()


def _utc_ns(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True).astype(UTC_NS)


def _expand(positions: pd.DataFrame, end: pd.Timestamp | None) -> pd.DataFrame:
    require_columns(positions, POSITION_COLUMNS, "positions")
    pos = positions.loc[:, POSITION_COLUMNS].reset_index(drop=True)
    pos["open_hour"], pos["close_hour"] = _utc_ns(pos["open_hour"]), _utc_ns(pos["close_hour"])
    if pos["position_id"].duplicated().any():
        raise ValueError("positions: duplicate position_id")
    bad = ~(pos["notional_usd"].astype("float64") > 0)
    if bad.any():
        raise ValueError(f"positions: notional_usd must be > 0, got {pos.loc[bad, 'notional_usd'].iloc[0]}")
    still_open = pos["close_hour"].isna()
    if still_open.any() and end is None:
        raise ValueError("positions: a position is still open (close_hour NaT); pass end")
    period_end = pd.Timestamp(end).tz_convert("UTC") if end is not None else pd.NaT
    last = pos["close_hour"].where(~still_open, period_end - HOUR)
    span = (last - pos["open_hour"]) / HOUR
    if (span < 0).any() or (pos["open_hour"].dt.floor("h") != pos["open_hour"]).any():
        raise ValueError("positions: open_hour must be a whole hour at or before close_hour (or end)")
    sizes = span.to_numpy(dtype="int64") + 1
    idx = np.repeat(np.arange(len(pos)), sizes)
    rows = pos.iloc[idx].reset_index(drop=True)
    step = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows["hour"] = rows["open_hour"] + pd.to_timedelta(step, unit="h")
    return rows


def _attach_prices(rows: pd.DataFrame, closes: pd.DataFrame, sm: SpotModel) -> None:
    extra = [sm.index_column] if sm.index_column is not None and sm.index_column in closes else []
    require_columns(closes, ["venue", "symbol", "hour", "close"], "closes")
    c = closes.loc[:, ["venue", "symbol", "hour", "close", *extra]].copy()
    c["hour"] = _utc_ns(c["hour"])
    if c.duplicated(["venue", "symbol", "hour"]).any():
        raise ValueError("closes: duplicate (venue, symbol, hour) rows")
    c = c.rename(columns={"close": "perp_close"})
    m = rows[["venue", "symbol", "hour"]].merge(c, on=["venue", "symbol", "hour"], how="left")
    index = m[extra[0]].to_numpy("float64") if extra else None
    _positive(m, m["perp_close"].to_numpy("float64"), "perp close")
    rows["perp_close"] = m["perp_close"].to_numpy("float64")
    rows["spot_price"] = sm.prices(rows["perp_close"].to_numpy(), index)
    _positive(m, rows["spot_price"].to_numpy(), "modelled spot price")


def _positive(where: pd.DataFrame, values: np.ndarray, what: str) -> None:
    bad = ~(values > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        r = where.iloc[i]
        raise ValueError(
            f"{what} of {r['venue']} {r['symbol']} at {r['hour']} is {values[i]} (needs a price > 0)"
        )


def _attach_funding(rows: pd.DataFrame, funding: pd.DataFrame, first: np.ndarray, qty: np.ndarray) -> None:
    require_columns(funding, FUNDING_REQUIRED, "funding")
    f = funding.loc[:, [*FUNDING_REQUIRED, *(["mark_price"] if "mark_price" in funding else [])]].copy()
    f["settlement_ts"] = _utc_ns(f["settlement_ts"])
    if f.duplicated(["venue", "symbol", "settlement_ts"]).any():
        raise ValueError("funding: duplicate (venue, symbol, settlement_ts) rows")
    if (f["settlement_ts"].dt.floor("h") != f["settlement_ts"]).any():
        raise ValueError("funding: settlement_ts must sit on the hour grid (funding_table's snapped stamps)")
    f = f.sort_values(["venue", "symbol", "settlement_ts"], kind="stable").reset_index(drop=True)
    _check_coverage(rows, f)
    by_hour = f.rename(columns={"settlement_ts": "hour"}).assign(settles=True)
    m = rows[["venue", "symbol", "hour"]].merge(by_hour, on=["venue", "symbol", "hour"], how="left")
    settles = m["settles"].notna().to_numpy() & ~first
    rate = m["funding_rate"].to_numpy("float64")
    nan_rate = settles & np.isnan(rate)
    if nan_rate.any():
        r = m.iloc[int(np.flatnonzero(nan_rate)[0])]
        raise ValueError(f"funding rate of {r['venue']} {r['symbol']} at settlement {r['hour']} is NaN")
    # Bar s-1h closes at settlement s; the first row of a position never settles, so shift is safe.
    prev_close = np.r_[np.nan, rows["perp_close"].to_numpy()[:-1]]
    mark = m["mark_price"].to_numpy("float64") if "mark_price" in m else np.full(len(m), np.nan)
    price = np.where(np.isnan(mark), prev_close, mark)
    _positive(m[settles].reset_index(drop=True), price[settles], "funding price")
    rows["settlement_rate"] = np.where(settles, rate, np.nan)
    rows["funding_price"] = np.where(settles, price, np.nan)
    rows["funding_cash_usd"] = np.where(settles, qty * price * np.where(settles, rate, 0.0), 0.0)


def _check_coverage(rows: pd.DataFrame, f: pd.DataFrame) -> None:
    """Raise if a settlement is missing inside a position's (open_hour, close_hour].

    ``interval_hours`` is the interval that ENDED at a settlement (``quant.market_data.funding``), so a gap to
    the previous settlement longer than it means settlements are missing in between.
    """
    ends = rows.drop_duplicates("position_id", keep="last")
    # hours that can settle: open_hour + 1h .. the position's last hour
    window = pd.DataFrame(
        {
            "venue": ends["venue"], "symbol": ends["symbol"],
            "min": ends["open_hour"] + HOUR, "max": ends["hour"],
        }
    )
    window = window[window["max"] >= window["min"]]
    if window.empty:
        return
    if f.empty:
        r = window.iloc[0]
        raise ValueError(f"funding: no settlements at all; {r['venue']} {r['symbol']} has a position open")
    same = (f["venue"].to_numpy()[1:] == f["venue"].to_numpy()[:-1]) & (
        f["symbol"].to_numpy()[1:] == f["symbol"].to_numpy()[:-1]
    )
    f = f.assign(prev=f["settlement_ts"].shift().where(np.r_[False, same]))
    gap_h = (f["settlement_ts"] - f["prev"]) / HOUR
    suspect = f[~(gap_h <= f["interval_hours"]) & f["prev"].notna()]
    hit = suspect.merge(window, on=["venue", "symbol"]) if len(suspect) else suspect
    hit = hit[(hit["prev"] < hit["max"]) & (hit["settlement_ts"] > hit["min"])] if len(hit) else hit
    if not hit.empty:
        r = hit.iloc[0]
        raise ValueError(
            f"funding of {r['venue']} {r['symbol']}: settlement(s) missing between {r['prev']} and "
            f"{r['settlement_ts']}, a gap longer than interval_hours {r['interval_hours']} (NaN: unknown), "
            "while a position was open"
        )
    _check_ends(window, f, same)


def _check_ends(window: pd.DataFrame, f: pd.DataFrame, same: np.ndarray) -> None:
    """The frame must hold the settlement before each window, or prove there was none inside it."""
    # one row per (venue, symbol) each, in the same order
    head, tail = f.loc[np.r_[True, ~same]], f.loc[np.r_[~same, True]]
    ends = pd.DataFrame(
        {
            "venue": head["venue"].to_numpy(), "symbol": head["symbol"].to_numpy(),
            "first_ts": head["settlement_ts"].array, "first_iv": head["interval_hours"].to_numpy(),
            "last_ts": tail["settlement_ts"].array, "last_iv": tail["interval_hours"].to_numpy(),
        }
    )
    w = window.merge(ends, on=["venue", "symbol"], how="left")
    # the settlement before the first one in the frame is due at first_ts - first_iv: no later than open_hour
    head_ok = w["first_ts"] - pd.to_timedelta(w["first_iv"], unit="h") <= w["min"] - HOUR
    tail_ok = w["last_ts"] + pd.to_timedelta(w["last_iv"], unit="h") > w["max"]
    bad = ~(head_ok & tail_ok)
    if bad.any():
        r = w[bad].iloc[0]
        raise ValueError(
            f"funding of {r['venue']} {r['symbol']} does not cover the position from {r['min'] - HOUR} "
            f"to {r['max']} (frame holds {r['first_ts']} .. {r['last_ts']}); pass one settlement either side"
        )
