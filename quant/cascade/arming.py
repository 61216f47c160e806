"""L2 arming without stored state: the hysteresis replayed over a bounded memory.

``armed`` at hour H is :func:`quant.cascade.arm_states` run over the scores of
[H − memory_h, H], starting disarmed. It is a pure function of a fixed window of scores, so an
hour computed alone equals the same hour inside a range, with no self-dependency. The memory is
also a rule of the layer: a set-up that has not re-triggered (score ≥ 0.6) within ``memory_h``
hours is forgotten, even if its score still sits above the 0.4 hold level. Cascades are fast;
a day-old trigger is stale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.cascade.params import HOUR, CascadeParams
from quant.cascade.score import arm_states

#: Hours of scores the arming replays (the layer forgets a trigger older than this).
ARM_MEMORY_H = 24


def arm_with_memory(scores: pd.DataFrame, hours: pd.DatetimeIndex, params: CascadeParams | None = None,
                    memory_h: int = ARM_MEMORY_H) -> pd.DataFrame:
    """The rows of ``scores`` at ``hours`` with ``armed`` and ``triggered`` added.

    Parameters
    ----------
    scores : ``cascade_scores`` rows covering [hours[0] − memory_h, hours[-1]] (earlier rows are
        ignored; a missing hour counts as no score, which disarms).
    hours : the hours wanted, ascending.

    Returns
    -------
    The ``scores`` rows stamped in ``hours``, plus ``armed`` (state at the end of the hour) and
    ``triggered`` (armed now, not armed the hour before — by the same replay).
    """
    p = params or CascadeParams()
    now = scores[scores["hour"].isin(hours)].copy()
    if now.empty:
        return now.assign(armed=pd.Series(dtype=bool), triggered=pd.Series(dtype=bool))
    grid = pd.date_range(hours[0] - (memory_h + 1) * HOUR, hours[-1], freq="h", tz="UTC", unit="ns")
    wide = scores.pivot_table(index="hour", columns=["venue", "symbol"], values="score", aggfunc="first", dropna=False)
    wide = wide.reindex(grid)
    values = wide.to_numpy(dtype="float64")
    at = {h: i for i, h in enumerate(grid)}
    armed: dict[tuple, bool] = {}
    before: dict[tuple, bool] = {}
    for j, key in enumerate(wide.columns):
        col = values[:, j]
        for h in hours:
            i = at[h]
            armed[(h, *key)] = bool(arm_states(col[i - memory_h:i + 1], p, False)[-1])
            before[(h, *key)] = bool(arm_states(col[i - memory_h - 1:i], p, False)[-1])
    keys = list(zip(now["hour"], now["venue"], now["symbol"], strict=True))
    now["armed"] = np.array([armed.get(k, False) for k in keys], dtype=bool)
    now["triggered"] = now["armed"].to_numpy() & ~np.array([before.get(k, False) for k in keys], dtype=bool)
    return now.reset_index(drop=True)


def armed_cascade_scores(oi: pd.DataFrame, ohlcv: pd.DataFrame, funding: pd.DataFrame, hours: pd.DatetimeIndex,
                         params: CascadeParams | None = None, memory_h: int = ARM_MEMORY_H) -> pd.DataFrame:
    """``cascade_scores`` of ``hours`` with ``armed``/``triggered`` from the replay of the ``memory_h`` hours before.

    Open interest is read per coin where an instrument has none of its own (``quant.cascade.inputs``).

    The inputs must reach ``memory_h`` hours further back than ``cascade_scores`` alone needs.
    """
    from quant.cascade.inputs import coin_open_interest
    from quant.cascade.score import cascade_scores

    p = params or CascadeParams()
    oi = coin_open_interest(oi, ohlcv)  # a perp without open interest of its own reads its coin's
    scores = cascade_scores(oi, ohlcv, funding, pd.date_range(hours[0] - memory_h * HOUR, hours[-1], freq="h", tz="UTC", unit="ns"), p)
    return arm_with_memory(scores, hours, p, memory_h)
