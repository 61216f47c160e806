"""Per-strategy data health at each hour: healthy, warming, degraded or starved.

A strategy's decision at hour H is only as good as what it read. For each registered strategy and
hour, from the inputs the registry hands it (``quant.registry_signals.strategy_input``):

* ``starved`` — it cannot decide: no closed bar at H, or an input it needs (open interest for
  ``oi_flow``/``quantflow``, funding for ``funding_harvest``/``skewflow``) has no row in its window;
* ``warming`` — it decides on less history than it reads: the first bar is later than
  H − its look-back (the first weeks of a data window);
* ``degraded`` — some instruments are missing at H (fewer instruments have H's bar than the
  window holds), so it decides on part of the universe;
* ``healthy`` — everything it reads is there.

The first that applies wins, in that order. Pure: computed from the frames, nothing stored.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.registry_signals import history_h
from quant.strategies.base import Strategy, StrategyInput, registry

HEALTHY, WARMING, DEGRADED, STARVED = "healthy", "warming", "degraded", "starved"
STATUSES = (HEALTHY, WARMING, DEGRADED, STARVED)
#: The inputs beyond candles each strategy cannot decide without (``StrategyInput`` field names).
NEEDS: dict[str, tuple[str, ...]] = {
    "oi_flow": ("open_interest",),
    "quantflow": ("open_interest",),
    "funding_harvest": ("funding",),
    "skewflow": ("funding",),
}
_NAMES = {"open_interest": "open interest", "funding": "funding"}
HOUR_NS = 3_600 * 10**9


def _hours_ns(frame: pd.DataFrame) -> np.ndarray:
    if frame is None or frame.empty or "hour" not in frame:
        return np.empty(0, dtype="int64")
    return np.sort(pd.DatetimeIndex(frame["hour"]).tz_convert("UTC").as_unit("ns").asi8)


def strategy_health(data: StrategyInput, hours: pd.DatetimeIndex,
                    strategies: Mapping[str, Strategy] | None = None) -> dict[pd.Timestamp, dict[str, tuple[str, str]]]:
    """hour -> strategy -> (status, reason) for each of ``hours`` (see the module docstring)."""
    chosen = strategies if strategies is not None else registry()
    hours_ns = pd.DatetimeIndex(hours).tz_convert("UTC").as_unit("ns").asi8
    bars = data.bars
    bar_ns = _hours_ns(bars)
    universe = int(bars[["venue", "symbol"]].drop_duplicates().shape[0]) if len(bars) else 0
    first = int(bar_ns[0]) if len(bar_ns) else None
    at_hour = np.searchsorted(bar_ns, hours_ns, side="right") - np.searchsorted(bar_ns, hours_ns, side="left")
    inputs = {name: _hours_ns(getattr(data, name)) for name in {n for ns in NEEDS.values() for n in ns}}
    out: dict[pd.Timestamp, dict[str, tuple[str, str]]] = {}
    for i, h in enumerate(hours_ns):
        row = {}
        for name, strategy in chosen.items():
            look = history_h(strategy)
            row[name] = _status(name, int(h), look, int(at_hour[i]), universe, first, inputs)
        out[pd.Timestamp(int(h), tz="UTC")] = row
    return out


def _status(name: str, h: int, look: int, at_hour: int, universe: int, first: int | None,
            inputs: dict[str, np.ndarray]) -> tuple[str, str]:
    if at_hour == 0:
        return STARVED, "no closed bar at this hour"
    lo = h - look * HOUR_NS
    for need in NEEDS.get(name, ()):
        hrs = inputs[need]
        if np.searchsorted(hrs, h, side="right") - np.searchsorted(hrs, lo, side="left") == 0:
            return STARVED, f"no {_NAMES[need]} in its {look} h window"
    if first is not None and first > lo:
        have = (h - first) // HOUR_NS + 1
        return WARMING, f"{have} h of the {look} h of history it reads"
    if at_hour < universe:
        return DEGRADED, f"{universe - at_hour} of {universe} instruments have no bar at this hour"
    return HEALTHY, "every input it reads is there"


def health_counts(health: Mapping[str, tuple[str, str]]) -> dict[str, int]:
    """How many strategies are in each status (every status listed, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, _ in health.values():
        counts[status] += 1
    return counts
