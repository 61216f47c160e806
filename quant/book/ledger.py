"""The ledger core: positions, fees, funding and P&L per position leg, hour by hour.

One pass over hours applies, in this order within hour ``t``:

1. funding settled at the start of the hour on perp legs held from the previous hour:
   ``funding = −qty × price × rate`` (a short, qty < 0, RECEIVES positive funding);
2. the fills executed during the hour, in order: adding to a leg moves its average entry,
   reducing it realises ``closed × (price − avg_entry) × sign(qty)``, a flip re-opens at the
   fill price; fees accumulate;
3. mark to market at the hour's close: ``unrealised = qty × (mark − avg_entry)``.

Equity = bankroll + realised + unrealised − fees + funding (the same for margined perps and
fully-paid spot/option legs: a spot leg's cost is cash turned into inventory, not P&L).
The loop is inherent (each fill depends on the leg's state), so it is compiled with numba;
positions are independent, so a range of hours is one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class LedgerArrays:
    """Per (leg, hour) results, shape [legs, hours]."""

    qty: np.ndarray
    avg_entry: np.ndarray
    realised: np.ndarray
    unrealised: np.ndarray
    fees: np.ndarray
    funding: np.ndarray

    def pnl(self) -> np.ndarray:
        """Cumulative P&L per leg and hour, USD."""
        return self.realised + self.unrealised - self.fees + self.funding


@njit(cache=True)
def _apply_fill(q: float, avg: float, dq: float, px: float) -> tuple[float, float, float]:
    """New (qty, avg_entry, realised) after a fill of signed ``dq`` at ``px``."""
    if q == 0.0 or (q > 0.0) == (dq > 0.0):
        new_q = q + dq
        return new_q, (avg * abs(q) + px * abs(dq)) / abs(new_q), 0.0
    closed = min(abs(dq), abs(q))
    realised = closed * (px - avg) * (1.0 if q > 0.0 else -1.0)
    new_q = q + dq
    if abs(new_q) < 1e-12:
        return 0.0, 0.0, realised
    if (new_q > 0.0) != (q > 0.0):  # flipped through zero: the rest opens at the fill price
        return new_q, px, realised
    return new_q, avg, realised


@njit(cache=True)
def _ledger_kernel(  # noqa: C901 - one compiled pass over legs and hours
        qty0, avg0, real0, fees0, fund0, is_perp, fill_leg, fill_hour, fill_qty, fill_px, fill_fee, settles, rate, funding_px, mark):
    """Leg by leg (legs are independent; each leg's fills keep their hour order), writing each
    leg's row of the [legs, hours] outputs contiguously. The first invalid value is the earliest
    in (hour, funding before mark, leg) order, as an hour-by-hour pass over all legs would meet it.
    Returns (status, t, arrays): status ``-1 - leg`` on an error, ``t`` the hour index of a funding
    error or ``-1 - hour`` of a mark error."""
    legs, hours = mark.shape
    out_q = np.empty((legs, hours))
    out_avg = np.empty((legs, hours))
    out_real = np.empty((legs, hours))
    out_unreal = np.empty((legs, hours))
    out_fees = np.empty((legs, hours))
    out_fund = np.empty((legs, hours))
    n = fill_leg.shape[0]
    if n and fill_hour[0] < 0:  # a fill before the first hour is never reached, nor any fill after it
        n = 0
    # the fills of each leg, in their (hour) order: a stable counting sort by leg
    start = np.zeros(legs + 1, np.int64)
    for k in range(n):
        start[fill_leg[k] + 1] += 1
    for p in range(legs):
        start[p + 1] += start[p]
    nxt = start[:-1].copy()
    by_leg = np.empty(n, np.int64)
    for k in range(n):
        by_leg[nxt[fill_leg[k]]] = k
        nxt[fill_leg[k]] += 1
    err_leg, err_at = -1, hours * 2  # err_at = 2 × hour + (0 funding, 1 mark)
    for p in range(legs):
        q, avg, real, fees, fund = qty0[p], avg0[p], real0[p], fees0[p], fund0[p]
        j, j_end = start[p], start[p + 1]
        for t in range(hours):
            if 2 * t >= err_at:
                break  # an earlier error elsewhere: this leg's rest no longer matters
            if is_perp[p] and settles[p, t] and q != 0.0:
                if not (np.isfinite(rate[p, t]) and np.isfinite(funding_px[p, t]) and funding_px[p, t] > 0.0):
                    err_leg, err_at = p, 2 * t
                    break
                fund -= q * funding_px[p, t] * rate[p, t]
            while j < j_end and fill_hour[by_leg[j]] == t:
                k = by_leg[j]
                q, avg, r = _apply_fill(q, avg, fill_qty[k], fill_px[k])
                real += r
                fees += fill_fee[k]
                j += 1
            if q != 0.0 and not (np.isfinite(mark[p, t]) and mark[p, t] > 0.0):
                if 2 * t + 1 < err_at:
                    err_leg, err_at = p, 2 * t + 1
                break
            out_q[p, t] = q
            out_avg[p, t] = avg
            out_real[p, t] = real
            out_unreal[p, t] = q * (mark[p, t] - avg) if q != 0.0 else 0.0
            out_fees[p, t] = fees
            out_fund[p, t] = fund
    if err_leg >= 0:
        t = err_at // 2
        return -1 - err_leg, (t if err_at % 2 == 0 else -1 - t), out_q, out_avg, out_real, out_unreal, out_fees, out_fund
    return 0, 0, out_q, out_avg, out_real, out_unreal, out_fees, out_fund


def run_ledger(
    *,
    mark: np.ndarray,
    is_perp: np.ndarray,
    fills: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settles: np.ndarray,
    rate: np.ndarray,
    funding_px: np.ndarray,
    start: LedgerArrays | None = None,
    names: list[str] | None = None,
) -> LedgerArrays:
    """Run the ledger over ``hours`` for every leg.

    Parameters
    ----------
    mark : [legs, hours] close price used to mark each leg (USD per unit).
    is_perp : [legs] True for perpetual legs (they settle funding).
    fills : (leg index, hour index, signed qty, price, fee USD), sorted by hour index.
    settles, rate, funding_px : [legs, hours] — a settlement at the start of the hour, its rate
        per interval and the price it is paid on.
    start : the previous hour's results (its last column is carried in); default flat.
    names : leg names for error messages.

    Raises
    ------
    ValueError
        NaN/invalid funding on a held perp leg at a settlement, or an invalid mark on a held leg.
    """
    legs, hours = mark.shape
    leg, hour, dq, px, fee = (np.asarray(a) for a in fills)
    if len(hour) and np.any(np.diff(hour) < 0):
        raise ValueError("fills must be sorted by hour")
    if len(px) and not (np.isfinite(px).all() and (px > 0).all() and np.isfinite(dq).all()):
        raise ValueError("fill prices must be finite and > 0 and quantities finite")
    carried = [np.zeros(legs) if start is None else getattr(start, f)[:, -1].astype("float64").copy()
               for f in ("qty", "avg_entry", "realised", "fees", "funding")]
    status, t, *arrays = _ledger_kernel(
        *carried, np.asarray(is_perp, dtype=np.bool_), leg.astype(np.int64), hour.astype(np.int64),
        dq.astype("float64"), px.astype("float64"), fee.astype("float64"),
        np.asarray(settles, dtype=np.bool_), np.asarray(rate, dtype="float64"),
        np.asarray(funding_px, dtype="float64"), np.asarray(mark, dtype="float64"),
    )
    if status < 0:
        p = -1 - status
        label = names[p] if names else f"leg {p}"
        if t >= 0:
            raise ValueError(f"{label}: funding at hour index {t} is not a number (rate {rate[p, t]}, price {funding_px[p, t]}) while the position is open")
        raise ValueError(f"{label}: mark price at hour index {-1 - t} is {mark[p, -1 - t]} while the position is open")
    return LedgerArrays(*arrays)
