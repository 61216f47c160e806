"""L2 liquidation-cascade capture: score = 0.55·OI percentile + 0.20·funding + 0.25·vol compression,
arming with hysteresis (0.6 / 0.4) and the mean-reversion limit ladder.

The face of ``quant.cascade``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.cascade.arming import (
    ARM_MEMORY_H,
    arm_with_memory,
    armed_cascade_scores,
)
from quant.cascade.inputs import (
    coin_open_interest,
)
from quant.cascade.ladder import (
    Ladder,
    Rung,
    average_true_range,
    build_ladder,
    rungs_frame,
)
from quant.cascade.params import (
    RUNG_COLUMNS,
    SCORE_COLUMNS,
    STATUS_OK,
    CascadeParams,
)
from quant.cascade.score import (
    arm,
    arm_states,
    cascade_scores,
    combine_score,
    funding_per_8h,
    oi_percentile_rank,
    realised_vol,
)

__all__ = [
    "ARM_MEMORY_H",
    "CascadeParams",
    "Ladder",
    "RUNG_COLUMNS",
    "Rung",
    "SCORE_COLUMNS",
    "STATUS_OK",
    "arm",
    "arm_states",
    "arm_with_memory",
    "armed_cascade_scores",
    "average_true_range",
    "build_ladder",
    "cascade_scores",
    "coin_open_interest",
    "combine_score",
    "funding_per_8h",
    "oi_percentile_rank",
    "realised_vol",
    "rungs_frame",
]
