"""The trading book: one hour stepped from the last (allocations, intents, safeguards, fills, ledger, risk).

Depends on the layers (carry, cascade, options, the ML sleeve), never the other way round.

The face of ``quant.book``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.book.allocator import (
    AllocatorParams,
    allocate,
)
from quant.book.fills import (
    FillParams,
    simulate_fills,
)
from quant.book.hour_fills import (
    execution_bars,
    fill_hour,
)
from quant.book.ledger import (
    run_ledger,
)
from quant.book.orders import (
    OrderIntent,
    client_order_id,
    intents_frame,
)
from quant.book.params import (
    BookParams,
)
from quant.book.risk import (
    RiskParams,
    drawdown_ladder,
    position_size,
)
from quant.book.safeguards import (
    RiskLimits,
    live_submission_allowed,
    screen,
    screen_intents,
)
from quant.book.step import (
    BookState,
    HourTables,
    fresh_state,
    run_book,
    run_book_on,
    state_from_tables,
)
from quant.book.step import step as step_hour  # the modules keep their names (step, range_inputs)
from quant.book.venue_fills import (
    venue_records,
)
from quant.book.wants import (
    carry_wants,
    cascade_wants,
    hedge_wants,
    ml_wants,
)

__all__ = [
    "AllocatorParams",
    "BookParams",
    "BookState",
    "FillParams",
    "HourTables",
    "OrderIntent",
    "RiskLimits",
    "RiskParams",
    "allocate",
    "carry_wants",
    "cascade_wants",
    "client_order_id",
    "drawdown_ladder",
    "execution_bars",
    "fill_hour",
    "fresh_state",
    "hedge_wants",
    "intents_frame",
    "live_submission_allowed",
    "ml_wants",
    "position_size",
    "run_book",
    "run_book_on",
    "run_ledger",
    "screen",
    "screen_intents",
    "simulate_fills",
    "state_from_tables",
    "step_hour",
    "venue_records",
]
