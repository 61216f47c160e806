"""Market data: exchange frames into the hourly tables, funding on its grid, the universe, price continuity.

The face of ``quant.market_data``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.market_data.continuity import (
    discontinuities,
    log_returns,
    previous_close,
    prior_sigma,
)
from quant.market_data.funding import (
    SNAP_TOLERANCE,
    annualise,
    infer_interval_hours,
    on_settlement_grid,
    snap_to_grid,
)
from quant.market_data.tables import (
    FUNDING_COLUMNS,
    OHLCV_COLUMNS,
    OHLCV_WARMUP,
    OI_COLUMNS,
    OI_WARMUP,
    UNIVERSE_COLUMNS,
    funding_table,
    hours_of,
    ohlcv_table,
    open_interest_table,
    revised_bars,
    universe_scan,
)
from quant.market_data.universe import (
    Universe,
    coin_of,
    sample_universe,
    unified,
)

__all__ = [
    "FUNDING_COLUMNS",
    "OHLCV_COLUMNS",
    "OHLCV_WARMUP",
    "OI_COLUMNS",
    "OI_WARMUP",
    "SNAP_TOLERANCE",
    "UNIVERSE_COLUMNS",
    "Universe",
    "annualise",
    "coin_of",
    "discontinuities",
    "funding_table",
    "hours_of",
    "infer_interval_hours",
    "log_returns",
    "ohlcv_table",
    "on_settlement_grid",
    "open_interest_table",
    "previous_close",
    "prior_sigma",
    "revised_bars",
    "sample_universe",
    "snap_to_grid",
    "unified",
    "universe_scan",
]
