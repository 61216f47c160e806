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
from numba import njit

from quant.cascade.params import HOUR, CascadeParams

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
    keys = pd.MultiIndex.from_arrays([scores["venue"], scores["symbol"]]).unique()
    values = np.full((len(grid), len(keys)), np.nan)
    row = grid.get_indexer(pd.DatetimeIndex(scores["hour"]).as_unit("ns"))
    col = keys.get_indexer(pd.MultiIndex.from_arrays([scores["venue"], scores["symbol"]]))
    inside = (row >= 0) & scores["score"].notna().to_numpy()
    # the first scored row of each (hour, instrument) wins, as ``pivot_table(aggfunc="first")`` keeps it
    first = ~pd.Series(row * len(keys) + col)[inside].duplicated().to_numpy()
    values[row[inside][first], col[inside][first]] = scores["score"].to_numpy(dtype="float64")[inside][first]
    at = grid.get_indexer(pd.DatetimeIndex(now["hour"]).as_unit("ns"))
    at_col = keys.get_indexer(pd.MultiIndex.from_arrays([now["venue"], now["symbol"]]))
    armed, before = _replay(values, at, at_col, memory_h, float(p.trigger), float(p.hold))
    now["armed"] = armed
    now["triggered"] = armed & ~before
    return now.reset_index(drop=True)


@njit(cache=True)
def _state(col: np.ndarray, a: int, b: int, trigger: float, hold: float) -> bool:
    """:func:`quant.cascade.score.arm_states` over ``col[a:b]`` from disarmed: its last state."""
    state = False
    for i in range(max(a, 0), b):
        s = col[i]
        state = s >= hold if state else s >= trigger  # NaN passes neither: it disarms
    return state


@njit(cache=True)
def _replay(values: np.ndarray, at: np.ndarray, at_col: np.ndarray, memory_h: int, trigger: float,
            hold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per wanted (row, column): the state replayed over [row − memory_h, row] and over the window one hour earlier."""
    n = len(at)
    armed, before = np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_)
    for k in range(n):
        i, j = at[k], at_col[k]
        col = values[:, j]
        armed[k] = _state(col, i - memory_h, i + 1, trigger, hold)
        before[k] = _state(col, i - memory_h - 1, i, trigger, hold)
    return armed, before


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
