"""Every registered strategy evaluated at every hour of a window, without arbitration: one table.

The registry (:mod:`quant.strategies`) is vectorised over a window; an hour's decisions are what
a strategy emits at that hour when it is run on the history before it. Which history: for a
strategy of look-back ``L`` (its ``lookback_h``, capped at :data:`LOOKBACK_CAP_H`) the rows from
:func:`anchor` — the Monday 00:00 UTC of the week containing ``H − L`` — up to ``H``. The anchor
depends on the hour alone, never on the run, so one hour computed alone and the same hour inside
a backfill see exactly the same rows and decide the same bits; and every hour of a range that
shares an anchor (a week of hours) is decided by ONE run over [anchor, last such hour], since a
decision at H only reads rows up to H (the registry's truncation test). A range costs one run per
strategy per week instead of one per hour; an hour reads at most ``L + 167`` hours back.

Why the cap (:data:`LOOKBACK_CAP_H` = 720 h): the registry's largest look-back is monday_range's
3,360 h (ema_cross 1,500 h, pairflow 1,056 h). Every hourly run reads and computes its
strategies' history: with a 3,360 h cap one hour of the registry took 414 ms against 333 ms and
reading its candles 361 ms against 225 ms (2025 window, 10 instruments, 2 busy cores), ~0.3 s
more an hour with the other two inputs, and a backfill's warm-up would grow to ~3,700 h. (Before
look-backs were read by the IO manager, Dagster mapped them at ~1 ms per partition per input,
which is why the cap was first set.) On the
bundled data every strategy whose decisions do not depend on where its window starts decides the
last week of each window as on the whole window (same decisions; stops and targets within 1e-3,
the registry's own seed decay of ~1e-4 over a declared look-back; ``tests/quant/test_registry_signals.py``;
run on the whole 720 h, every one but those below agreed to the bit in the weeks tried). monday_range is then
evaluated on 30 days instead of 20 weeks (its weekly swing bias sees ~5 weekly bars) and
decides differently: the test reports it as the known exception, and the asset lists it per hour
in its metadata (``capped``). breaker, order_block and pairflow, which once decided differently
from the whole-window run (their zones then depended on the window's first bar), now agree and are
held to it like the others.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.features.hourly import compute_features
from quant.market_data.tables import hours_of
from quant.strategies import Strategy, StrategyInput, registry, run_strategy
from quant.strategies.base import ns

HOUR = pd.Timedelta(hours=1)
#: Most hours of history any strategy is run on (see the module docstring for why 720).
LOOKBACK_CAP_H = 720
#: Hours that share an anchor: a UTC week, Monday 00:00 (the fold weeks and the backfill chunks).
BLOCK_H = 168
#: A Monday 00:00 UTC: the anchors' grid.
EPOCH = pd.Timestamp("1970-01-05", tz="UTC")
#: Hours before an hour that its history can reach (a full capped look-back from the week's start).
HISTORY_H = LOOKBACK_CAP_H + BLOCK_H - 1

STATUS_ACCEPTED = "accepted"
STATUS_REJECTED = "rejected"
#: One row per (hour, strategy, venue, symbol, seq): ``seq`` numbers a strategy's several decisions
#: on one instrument in one hour (order-block zones retested together, pair legs sharing a coin).
COLUMNS = ["hour", "strategy", "venue", "symbol", "seq", "status", "side", "entry", "stop", "target",
           "confidence", "reason", "rejection"]
KEY = ["hour", "strategy", "venue", "symbol", "seq"]
DTYPES = {"strategy": "str", "venue": "str", "symbol": "str", "seq": "int64", "status": "str",
          "side": "str", "entry": "float64", "stop": "float64", "target": "float64", "confidence": "float64",
          "reason": "str", "rejection": "str"}
#: Sort order inside an hour: deterministic whatever order a strategy emitted its rows in.
_ORDER = ["hour", "strategy", "venue", "symbol", "status", "side", "entry", "stop", "target", "confidence",
          "reason", "rejection"]


def history_h(strategy: Strategy) -> int:
    """Hours of history ``strategy`` is run on: its declared look-back, at most :data:`LOOKBACK_CAP_H`."""
    return min(int(strategy.lookback_h), LOOKBACK_CAP_H)


def anchor(hours: pd.DatetimeIndex, history: int) -> pd.DatetimeIndex:
    """The first hour each of ``hours`` is computed from: Monday 00:00 UTC of the week holding ``hour − history``."""
    block = BLOCK_H * HOUR
    return EPOCH + ((hours - history * HOUR - EPOCH) // block) * block


def _anchor_ns(hours: np.ndarray, history: int) -> np.ndarray:
    """:func:`anchor` on int64 ns since the epoch (the same instants, without building a DatetimeIndex)."""
    block = BLOCK_H * HOUR.value
    return EPOCH.value + ((hours - history * HOUR.value - EPOCH.value) // block) * block


def empty() -> pd.DataFrame:
    """A table with no rows and the columns' dtypes."""
    return _EMPTY.copy()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.reindex(columns=COLUMNS)
    df["hour"] = pd.to_datetime(df["hour"], utc=True).astype("datetime64[ns, UTC]")
    return df.astype(DTYPES).reset_index(drop=True)


_EMPTY = _typed(pd.DataFrame(columns=COLUMNS))


def _stamps(data: StrategyInput) -> list[np.ndarray | None]:
    """Each frame's ``hour`` as int64 ns (None where a frame has no rows or no hours), in :func:`_between`'s order."""
    frames = (data.bars, data.features, data.funding, data.open_interest, data.chain)
    return [None if df is None or df.empty or "hour" not in df else ns(df["hour"]) for df in frames]


def _between(data: StrategyInput, first: pd.Timestamp, last: pd.Timestamp,
             stamps: list[np.ndarray | None] | None = None) -> StrategyInput:
    """``data``'s rows of hours in [first, last]; ``stamps``: :func:`_stamps` of ``data``, if already known."""
    first, last = pd.Timestamp(first).as_unit("ns"), pd.Timestamp(last).as_unit("ns")
    frames = (data.bars, data.features, data.funding, data.open_interest, data.chain)
    cuts = []
    for df, at in zip(frames, stamps if stamps is not None else _stamps(data), strict=True):
        if at is None:
            cuts.append(df)
            continue
        keep = (at >= first.value) & (at <= last.value)
        cuts.append(df if keep.all() else df[keep].reset_index(drop=True))
    return StrategyInput(*cuts)


def _rows(strategy: Strategy, data: StrategyInput, hours: pd.DatetimeIndex,
          overrides: Mapping[str, object] | None) -> list[pd.DataFrame]:
    """``strategy``'s rows at ``hours`` (one anchor): its accepted decisions and its rejections."""
    keep = pd.DatetimeIndex(hours).as_unit("ns")
    accepted, rejected = run_strategy(strategy, data, overrides, keep)
    parts = [accepted.assign(status=STATUS_ACCEPTED, rejection="")] if len(accepted) else []
    if not len(rejected):
        return parts
    whole = rejected["hour"].isna()
    rej = rejected[~whole & rejected["hour"].isin(keep)]
    # a strategy that raised (or returned no frame) decided nothing at any of these hours: say so in each
    spread = [rejected[whole].assign(hour=h) for h in keep] if whole.any() else []
    rej = pd.concat([rej, *spread], ignore_index=True).rename(columns={"reason": "rejection"})
    return [*parts, rej.assign(status=STATUS_REJECTED, reason="")]


def registry_signals(data: StrategyInput, hours: pd.DatetimeIndex,
                     strategies: Mapping[str, Strategy] | None = None,
                     overrides: Mapping[str, Mapping[str, object]] | None = None) -> pd.DataFrame:
    """Every strategy's decisions and rejections at ``hours``, one row per (hour, strategy, venue, symbol, seq).

    Parameters
    ----------
    data : StrategyInput
        Rows of closed hours from at least :data:`HISTORY_H` hours before ``hours[0]`` (less at the
        start of the data) up to ``hours[-1]``; rows after ``hours[-1]`` are never read.
    hours : pd.DatetimeIndex
        The UTC hours to decide, consecutive.
    strategies : mapping, optional
        Name -> strategy (default: the whole registry).
    overrides : mapping, optional
        Name -> parameter overrides of that strategy (defaults otherwise).

    Returns
    -------
    pd.DataFrame
        :data:`COLUMNS`; ``status`` accepted (the decision's side, prices in quote currency,
        confidence in (0, 1] and reason) or rejected (``rejection`` says why; a strategy that
        raised has one rejected row per hour with empty venue and symbol).
    """
    hours = pd.DatetimeIndex(hours).as_unit("ns")
    parts: list[pd.DataFrame] = []
    cuts: dict[tuple[int, int], StrategyInput] = {}  # strategies of one anchor read the same rows
    stamps = _stamps(data)
    for name, strategy in (strategies if strategies is not None else registry()).items():
        starts = _anchor_ns(hours.asi8, history_h(strategy))
        for first in pd.unique(starts):
            mine = hours[starts == first]
            key = (int(first), int(mine[-1].value))
            if key not in cuts:
                cuts[key] = _between(data, pd.Timestamp(key[0], tz="UTC"), mine[-1], stamps)
            parts += _rows(strategy, cuts[key], mine, (overrides or {}).get(name))
    frames = [p for p in parts if len(p)]
    if not frames:
        return empty()
    df = pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS).assign(seq=0)
    df = df.sort_values(_ORDER, kind="stable", na_position="last").reset_index(drop=True)
    df["seq"] = df.groupby(["hour", "strategy", "venue", "symbol"], sort=False).cumcount()
    return _typed(df)


def strategy_input(bars: pd.DataFrame, funding: pd.DataFrame, open_interest: pd.DataFrame,
                   hours: pd.DatetimeIndex) -> StrategyInput:
    """What the strategies read for ``hours``: the rows given, with ``features_1h``'s features of the history's hours.

    The features are computed from ``bars`` by ``quant.features.compute_features`` (each hour a
    fixed window of its own, so the same bits as the stored ``features_1h``) for the hours from
    :data:`HISTORY_H` before ``hours[0]`` (or the first bar) to ``hours[-1]``; ``bars`` should reach
    ``FEATURE_LOOKBACK_H`` further back. No option chain is passed (quantflow then reads no IV).
    """
    if bars.empty:
        return StrategyInput(bars, pd.DataFrame(), funding, open_interest)
    bars = bars.sort_values(["venue", "symbol", "hour"], kind="stable").reset_index(drop=True)
    first = max(hours[0] - HISTORY_H * HOUR, bars["hour"].min())
    return StrategyInput(bars, compute_features(bars, hours_of(first, hours[-1] + HOUR)), funding, open_interest)


def capped(strategies: Mapping[str, Strategy] | None = None) -> dict[str, int]:
    """Strategies whose declared look-back exceeds the cap: name -> declared hours."""
    chosen = strategies if strategies is not None else registry()
    return {n: int(s.lookback_h) for n, s in chosen.items() if s.lookback_h > LOOKBACK_CAP_H}


def raised(df: pd.DataFrame) -> pd.Series:
    """Rows saying a whole strategy raised (or returned no decision frame) rather than one decision being refused."""
    return (df["status"] == STATUS_REJECTED) & (df["venue"].fillna("") == "") & (df["symbol"].fillna("") == "")


__all__ = ["BLOCK_H", "COLUMNS", "HISTORY_H", "KEY", "LOOKBACK_CAP_H", "STATUS_ACCEPTED", "STATUS_REJECTED",
           "anchor", "capped", "empty", "history_h", "raised", "registry_signals", "strategy_input"]
