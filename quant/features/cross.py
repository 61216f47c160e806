"""Cross-sectional features: beta and correlation of each perp to BTC on its own venue, and market breadth."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quant.features.windows import (
    centred_products,
    ratio,
    window_sum,
)
from quant.market_data.universe import unified

if TYPE_CHECKING:
    from quant.features.hourly import FeatureParams

#: 1h returns in beta and correlation to BTC.
BETA_WINDOW_H = 24 * 7


def cross_features(
    feats: dict[str, np.ndarray], instruments: pd.MultiIndex, p: FeatureParams
) -> dict[str, np.ndarray]:
    """Beta and correlation to the venue's BTC perp, and the venue's breadth."""
    venues = instruments.get_level_values("venue").to_numpy()
    symbols = list(instruments.get_level_values("symbol"))
    ret, mom = feats["mom_1h"], feats["mom_24h"]
    beta, corr, breadth = (np.full(ret.shape, np.nan) for _ in range(3))
    for venue in np.unique(venues):
        cols = np.flatnonzero(venues == venue)
        known = ~np.isnan(mom[:, cols])
        breadth[:, cols] = ratio((mom[:, cols] > 0).sum(axis=1), known.sum(axis=1))[:, None]
        beta[:, cols], corr[:, cols] = venue_beta(ret[:, cols], [symbols[c] for c in cols], p)
    return {"beta_btc_7d": beta, "corr_btc_7d": corr, "breadth_24h": breadth}


def venue_beta(ret: np.ndarray, symbols: list[str], p: FeatureParams) -> tuple[np.ndarray, np.ndarray]:
    """Beta and correlation of one venue's columns to the first benchmark with a full window."""
    beta, corr = np.full(ret.shape, np.nan), np.full(ret.shape, np.nan)
    done = np.zeros((ret.shape[0], 1), dtype=bool)
    for name in (unified(p.benchmark_coin, quote) for quote in p.benchmark_quotes):
        if name not in symbols:
            continue
        bench = ret[:, [symbols.index(name)]]
        take = ~done & ~np.isnan(window_sum(bench, BETA_WINDOW_H))
        b, c = beta_corr(ret, bench)
        beta, corr = np.where(take, b, beta), np.where(take, c, corr)
        done |= take
    return beta, corr


def beta_corr(ret: np.ndarray, bench: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cov = centred_products(ret, bench, BETA_WINDOW_H)
    var_ret, var_bench = centred_products(ret, ret, BETA_WINDOW_H), centred_products(bench, bench, BETA_WINDOW_H)
    return ratio(cov, var_bench), ratio(cov, np.sqrt(var_ret * var_bench))

