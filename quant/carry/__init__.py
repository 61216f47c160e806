"""L1 funding carry: short perp + long spot to collect funding (the public API).

Decisions live in :mod:`quant.carry.signals` (thresholds, scan, hysteresis book), money in
:mod:`quant.carry.ledger` (hedged-position P&L). Typical use, one code path for an hour and for
history::

    signals = scan(universe_scan_rows, params, hibernate=calm_by_hour)
    positions = walk_positions(signals, bankroll_usd, params)
    pnl = carry_pnl(positions, ohlcv_rows, funding_rows, params, SpotModel(), end=end)
"""

from __future__ import annotations

from quant.carry.ledger import PNL_COLUMNS, SpotModel, book_pnl, carry_pnl
from quant.carry.signals import (
    ENTRY_APR,
    EXIT_APR,
    FEE_BPS_PER_LEG,
    MAX_POSITIONS,
    MIN_VOLUME_USD,
    POSITION_COLUMNS,
    SCAN_COLUMNS,
    VPIN_ENTER,
    VPIN_EXIT,
    CarryParams,
    Selection,
    scan,
    select_positions,
    walk_positions,
)

__all__ = [
    "ENTRY_APR",
    "EXIT_APR",
    "FEE_BPS_PER_LEG",
    "MAX_POSITIONS",
    "MIN_VOLUME_USD",
    "PNL_COLUMNS",
    "POSITION_COLUMNS",
    "SCAN_COLUMNS",
    "VPIN_ENTER",
    "VPIN_EXIT",
    "CarryParams",
    "Selection",
    "SpotModel",
    "book_pnl",
    "carry_pnl",
    "scan",
    "select_positions",
    "walk_positions",
]
