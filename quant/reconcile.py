"""Reconciliation: the book's positions against the venue's, classified, never mutated.

The book (``positions_1h``) is what Perpetua believes it holds; the venue's position list is what
it holds. They are compared per (venue, symbol) as net signed base quantities (long > 0), the
book's legs of one instrument summed (a carry position's perp leg and a cascade fill on the same
perp net on the venue). Each difference is one of:

* ``phantom`` — the book holds it, the venue has nothing: a fill the book believes happened
  (or a position closed on the venue by hand or by liquidation);
* ``orphan`` — the venue holds it, the book has nothing: an order that filled after a timeout and
  was never known, or a position opened by hand;
* ``side_mismatch`` — both hold it, on opposite sides;
* ``size_mismatch`` — same side, sizes differ by more than the tolerance:
  ``|book − venue| > max(abs_tol, rel_tol × max(|book|, |venue|))``.

The function reports; what to do (alert, refuse to start, trip the kill switch on repeated drift)
is the caller's. A position the venue reports in a symbol the book never trades is an orphan too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PHANTOM, ORPHAN, SIDE_MISMATCH, SIZE_MISMATCH = "phantom", "orphan", "side_mismatch", "size_mismatch"
DRIFT_COLUMNS = ["venue", "symbol", "kind", "book_qty", "venue_qty", "difference"]
#: Relative size tolerance: a venue rounds quantities to its lot step; 0.01% of the position.
REL_TOL = 1e-4
#: Absolute size tolerance (base units): below it two quantities are the same.
ABS_TOL = 1e-9


def net_quantities(frame: pd.DataFrame, qty: str = "qty") -> pd.Series:
    """Net signed quantity per (venue, symbol) of ``frame`` (rows with a zero net dropped)."""
    missing = {"venue", "symbol", qty} - set(frame.columns)
    if missing:
        raise ValueError(f"positions need columns venue, symbol and {qty}: missing {sorted(missing)}")
    q = pd.to_numeric(frame[qty], errors="raise").to_numpy(dtype="float64")
    if len(q) and not np.isfinite(q).all():
        bad = frame.iloc[int(np.flatnonzero(~np.isfinite(q))[0])]
        raise ValueError(f"position {bad['venue']} {bad['symbol']} has a quantity of {float(bad[qty])}: not a finite number")
    net = pd.Series(q, index=pd.MultiIndex.from_arrays([frame["venue"].astype(str), frame["symbol"].astype(str)],
                                                       names=["venue", "symbol"])).groupby(level=[0, 1]).sum()
    return net[net != 0.0]


def position_drift(book: pd.DataFrame, venue: pd.DataFrame, *, rel_tol: float = REL_TOL,
                   abs_tol: float = ABS_TOL) -> pd.DataFrame:
    """Every (venue, symbol) where ``book`` and ``venue`` disagree (:data:`DRIFT_COLUMNS`, sorted).

    ``book``: the book's open legs to compare (venue, symbol, qty signed), e.g. the perp legs of
    the last ``positions_1h`` hour; ``venue``: the venue's positions (venue, symbol, qty signed).
    ``difference`` = book − venue. An empty frame means they agree.
    """
    if not (rel_tol >= 0 and abs_tol >= 0):
        raise ValueError(f"tolerances must be non-negative, got rel_tol={rel_tol}, abs_tol={abs_tol}")
    b, v = net_quantities(book), net_quantities(venue)
    rows = []
    for key in sorted(set(b.index) | set(v.index)):
        bq, vq = float(b.get(key, 0.0)), float(v.get(key, 0.0))
        if bq == 0.0 and vq == 0.0:
            continue
        if vq == 0.0:
            kind = PHANTOM
        elif bq == 0.0:
            kind = ORPHAN
        elif math.copysign(1.0, bq) != math.copysign(1.0, vq):
            kind = SIDE_MISMATCH
        elif abs(bq - vq) > max(abs_tol, rel_tol * max(abs(bq), abs(vq))):
            kind = SIZE_MISMATCH
        else:
            continue
        rows.append((*key, kind, bq, vq, bq - vq))
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS).astype(
        {"venue": "str", "symbol": "str", "kind": "str", "book_qty": "float64", "venue_qty": "float64", "difference": "float64"})


def repeated_drift(history: list[int], times: int) -> bool:
    """Whether the last ``times`` reconciliations (``history``: drift counts, oldest first) all found drift."""
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    return len(history) >= times and all(n > 0 for n in history[-times:])


def describe(drift: pd.DataFrame, limit: int = 5) -> str:
    """One line per difference (the first ``limit``), for an alert or a refusal."""
    if drift.empty:
        return "book and venue agree"
    lines = [f"{r.kind}: {r.venue} {r.symbol} book {r.book_qty:g} vs venue {r.venue_qty:g}" for r in drift.head(limit).itertuples()]
    more = f" (and {len(drift) - limit} more)" if len(drift) > limit else ""
    return f"{len(drift)} position(s) disagree{more}: " + "; ".join(lines)
