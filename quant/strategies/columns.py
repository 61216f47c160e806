"""A window's instruments as blocks of rows, and pandas windows run once for all of them.

``prepared`` bars (sorted by venue, symbol, hour) hold each instrument as one contiguous block of
rows (:func:`instrument_blocks`). Laid out as
the columns of one frame, each from row 0 with NaN after its last bar, pandas' EWM or rolling
window runs once instead of once per instrument. Both are causal and column by column (a row never
reads the rows after it, nor another column), so every value has the bits of the per-instrument call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import pandas as pd

from quant.strategies.base import ns

#: A strategy's series are computed per instrument.
KEYS = ["venue", "symbol"]


def prepared(bars: pd.DataFrame) -> pd.DataFrame:
    """``bars`` sorted by (venue, symbol, hour) with a fresh index (every kernel aligns on it)."""
    if _in_order(bars):  # the registry's input already is: the sort would keep every row where it is
        return bars.reset_index(drop=True)
    return bars.sort_values([*KEYS, "hour"]).reset_index(drop=True)


def _in_order(bars: pd.DataFrame) -> bool:
    """Whether ``bars`` are in strictly increasing (venue, symbol, hour) order, every key known."""
    blocks = instrument_blocks(bars) if len(bars) and "hour" in bars else None
    if not blocks:
        return False
    venue, symbol = (bars[k].to_numpy(object) for k in KEYS)
    names = [(venue[sl.start], symbol[sl.start]) for sl in blocks]
    hours = bars["hour"]
    if hours.isna().any() or not all(a < b for a, b in zip(names, names[1:], strict=False)):
        return False
    at = ns(hours)
    starts = np.zeros(len(at), dtype=bool)
    starts[[sl.start for sl in blocks]] = True
    return bool((np.diff(at) > 0)[~starts[1:]].all())


def instrument_blocks(bars: pd.DataFrame) -> list[slice] | None:
    """Each instrument's rows of ``bars`` as one slice, in order of appearance; None unless each is contiguous.

    ``prepared`` bars (sorted by venue, symbol, hour) always are; the kernels below then work on
    plain array slices instead of a pandas groupby (the same values in the same order, so the same
    bits), and fall back to the groupby otherwise (an unsorted frame or a missing key).
    """
    hit = _BLOCKS.get(id(bars))
    if hit is not None and hit[0]() is bars and hit[1] == len(bars):
        return hit[2]
    blocks = _blocks(bars)
    key = id(bars)
    _BLOCKS[key] = (weakref.ref(bars, lambda _, k=key: _BLOCKS.pop(k, None)), len(bars), blocks)
    return blocks


#: Blocks of the frames the kernels saw last, by identity (a frame's key columns are never reassigned in place).
_BLOCKS: dict[int, tuple[weakref.ref, int, list[slice] | None]] = {}


def _blocks(bars: pd.DataFrame) -> list[slice] | None:
    if not len(bars):
        return []
    venue, symbol = (bars[k].to_numpy(object) for k in KEYS)
    if pd.isna(venue).any() or pd.isna(symbol).any():
        return None
    cut = np.flatnonzero((venue[1:] != venue[:-1]) | (symbol[1:] != symbol[:-1])) + 1
    starts, ends = np.r_[0, cut], np.r_[cut, len(bars)]
    if len({(venue[a], symbol[a]) for a in starts}) != len(starts):
        return None
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def on_columns(values: np.ndarray, blocks: list[slice], fn: Callable[[pd.DataFrame], pd.DataFrame]) -> np.ndarray:
    """``fn`` over a frame holding each block of ``values`` as one column from row 0 (NaN after it), put back in place."""
    out = np.full(len(values), np.nan)
    if not blocks:
        return out
    grid = np.full((max(sl.stop - sl.start for sl in blocks), len(blocks)), np.nan)
    for j, sl in enumerate(blocks):
        grid[: sl.stop - sl.start, j] = values[sl]
    done = fn(pd.DataFrame(grid)).to_numpy("float64", na_value=np.nan)
    for j, sl in enumerate(blocks):
        out[sl] = done[: sl.stop - sl.start, j]
    return out


def wilder_blocks(values: np.ndarray, blocks: list[slice], n: int) -> np.ndarray:
    """Wilder's smoothing (``studies.wilder_smooth``) of each block of ``values``, one EWM call for all of them.

    Each block's seed (the mean of its first ``n`` values from its first known one) replaces its
    n-th value, then ``s ← s + (x − s)/n`` is pandas' EWM with ``alpha = 1/n``; NaN before the seed
    and wherever ``values`` is NaN.
    """
    seeded, seeds = np.full(len(values), np.nan), []
    for sl in blocks:
        known = np.flatnonzero(~np.isnan(values[sl]))
        if len(known) and sl.stop - sl.start - known[0] >= n:
            first = sl.start + int(known[0])
            seeded[first + n - 1 : sl.stop] = values[first + n - 1 : sl.stop]
            seeded[first + n - 1] = values[first : first + n].mean()
            seeds.append(slice(first + n - 1, sl.stop))
    out = on_columns(seeded, seeds, lambda f: f.ewm(alpha=1.0 / n, adjust=False).mean())
    out[np.isnan(values)] = np.nan
    return out
