"""The research journal's market tables, read from the replay data (the edge ``quant.research`` never touches).

The same table functions the market-data and feature assets call (``quant.market_data.tables``,
``quant.features.hourly.compute_features``), over each window of the environment's data, so an
evaluation reads what the book reads: Binance and Bybit perp bars, their funding settlements and
Hyperliquid's open interest (only in the 2026 window of the bundled sample).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from quant.features.hourly import compute_features
from quant.market_data import tables as md
from quant.research.backtest_eval import MarketTables

#: Open interest comes from Hyperliquid in the sample (the bars' venues have none); any venue elsewhere.
OI_VENUE = "hyperliquid"


def window_tables(root: Path | None, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, ...]:
    """(bars, features, funding, open interest) of [start, end) from the replay data at ``root`` (None: the bundled sample)."""
    from resources.exchange.replay import ReplayExchange

    ex = ReplayExchange(root)
    lo, hi = start.to_pydatetime(), end.to_pydatetime()
    pairs = [(v, s) for v in ex.venues() for s in ex.symbols(v)]
    bars = md.ohlcv_table([(v, s, ex.candles(v, s, lo, hi)) for v, s in pairs], start)
    bars = bars.sort_values(["venue", "symbol", "hour"]).reset_index(drop=True)
    funding = md.funding_table([(v, s, ex.funding_history(v, s, lo, hi)) for v, s in pairs])
    oi_pairs = [(v, s) for v, s in pairs if v == OI_VENUE] or pairs
    oi = md.open_interest_table([(v, s, ex.open_interest_history(v, s, lo, hi)) for v, s in oi_pairs])
    return bars, compute_features(bars, md.hours_of(start, end)), funding, oi


@cache
def _load(root: Path, windows: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]) -> MarketTables:
    parts = [window_tables(root, a, b) for a, b in windows]

    def joined(i: int) -> pd.DataFrame:
        frames = [p[i] for p in parts if len(p[i])]
        return pd.concat(frames, ignore_index=True) if frames else parts[0][i]

    bars = joined(0).sort_values(["venue", "symbol", "hour"]).reset_index(drop=True)
    return MarketTables(bars, joined(1), joined(2), joined(3))


def replay_tables(windows: tuple[tuple[pd.Timestamp, pd.Timestamp], ...], sample_dir: str | None = None) -> MarketTables:
    """The replay data's tables over ``windows`` (read once per process and folder: ~8 s for the bundled sample)."""
    from resources.market import replay_root

    return _load(replay_root(sample_dir).resolve(), tuple(windows))
