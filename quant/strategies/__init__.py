"""The strategy registry: independent strategies evaluated on every hourly close, without arbitration.

Each module registers its strategies on import (``quant.strategies.base.register``); importing this
package registers them all. ``registry()`` lists them by name, ``get(name)`` returns one and
``run_strategy`` runs one over a window with its declared parameters, rejecting what is malformed.

The face of ``quant.strategies``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.strategies import (  # noqa: F401 - imported to register their strategies
    flow,
    price_action,
    stat_arb,
    studies,
    volatility,
)
from quant.strategies.base import (
    DECISION_COLUMNS,
    MIN_REWARD_RISK,
    Param,
    Strategy,
    StrategyInput,
    decisions,
    get,
    register,
    registry,
    run_strategy,
    validate_decisions,
)

__all__ = [
    "DECISION_COLUMNS",
    "MIN_REWARD_RISK",
    "Param",
    "Strategy",
    "StrategyInput",
    "decisions",
    "get",
    "register",
    "registry",
    "run_strategy",
    "validate_decisions",
]
