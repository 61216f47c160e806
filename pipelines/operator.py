"""``perpetua scan``: one hour's L1 funding-carry candidates, as ``carry_signals_1h`` would compute them.

The scan reads the configured exchange (``pipelines.environments.resources_for``: the bundled replay
data in ``local``, the live venues through ccxt in ``paper`` and ``live``) and runs the chain the
assets run — ``perp_ohlcv_1h`` and ``funding_settlements`` as their bodies build them, then
``pipelines.range_chain.DERIVED``'s ``universe_scan_1h``, ``features_1h``, ``regime_scores_1h`` and
``carry_signals_1h`` — each step fed the look-back its asset declares (``resources.partitions.lookback_start``),
so the rows printed are the rows the asset would store for that hour. Nothing is stored, no
instance is opened. ``perpetua audit`` lives in :mod:`pipelines.operator_audit`.
"""

from __future__ import annotations

import math

import pandas as pd

from pipelines.environments import Settings, resources_for
from quant.market_data import tables as md
from quant.market_data.funding import SNAP_TOLERANCE
from quant.market_data.universe import Universe
from resources.exchange.base import Exchange
from resources.market import MarketData
from resources.partitions import data_windows, lookback_start

HOUR = pd.Timedelta(hours=1)
#: The derived steps the carry scan needs, in dependency order (each one ``range_chain.DERIVED``'s own call).
CARRY_CHAIN = ("universe_scan_1h", "features_1h", "regime_scores_1h", "carry_signals_1h")
#: Rows ``perpetua scan`` prints unless ``--top`` says otherwise.
DEFAULT_TOP = 20
#: Decisions in the order the table lists them: entries first.
DECISIONS = ("entry", "hold", "exit")
#: Where each environment's scan reads (the header line says it).
SOURCE_OF = {"local": "the bundled replay data", "paper": "the live venues' public data (ccxt)",
             "live": "the live venues' public data (ccxt)"}


def default_hour() -> pd.Timestamp:
    """The data's last hour locally; the last complete hour where the partitions run to now."""
    windows = data_windows()
    if windows is not None:
        return windows[-1][1] - HOUR
    return pd.Timestamp.now(tz="UTC").floor("h") - HOUR


def source_frames(exchange: Exchange, universe: Universe, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """``perp_ohlcv_1h`` and ``funding_settlements`` of [start, end), as the asset bodies fetch and build them.

    An ``ExchangeError`` from the edge propagates (its message names the call; keys are redacted).
    """
    candles = [(v, s, exchange.candles(v, s, (start - md.OHLCV_WARMUP).to_pydatetime(), end.to_pydatetime()))
               for v, s in universe.pairs("candles", before=end)]
    funding = [(v, s, exchange.funding_history(v, s, (start - SNAP_TOLERANCE).to_pydatetime(),
                                               (end - SNAP_TOLERANCE).to_pydatetime()))
               for v, s in universe.pairs("funding", before=end)]
    return {"perp_ohlcv_1h": md.ohlcv_table(candles, start), "funding_settlements": md.funding_table(funding)}


def carry_rows(exchange: Exchange, universe: Universe, hour: pd.Timestamp) -> pd.DataFrame:
    """``carry_signals_1h``'s rows of ``hour`` (``quant.carry.SCAN_COLUMNS``), computed from the exchange.

    The sources are fetched once over the chain's longest look-back; each step then reads its own
    look-back of them (``lookback_start``: never across the months with no data), as the IO manager
    hands each asset its declared partitions.
    """
    # The chain (and the assets behind it) is imported here: the parser imports this module for every command.
    from pipelines.range_chain import DERIVED, FEATURE_LOOKBACK, SCAN_LOOKBACK, Load

    end = hour + HOUR
    longest = max(SCAN_LOOKBACK, FEATURE_LOOKBACK)  # the features' week of candles; the scan's 23 hours
    tables = source_frames(exchange, universe, lookback_start(hour, longest // HOUR), end)

    def load(asset: str, look_back: pd.Timedelta) -> pd.DataFrame:
        frame = tables[asset]
        return frame[frame["hour"] >= lookback_start(hour, look_back // HOUR)].reset_index(drop=True)

    reader: Load = load  # the signature ``DERIVED``'s steps call
    hours = md.hours_of(hour, end)
    for asset in CARRY_CHAIN:
        tables[asset] = DERIVED[asset](reader, hours)
    return tables["carry_signals_1h"]


def decision(rows: pd.DataFrame) -> pd.Series:
    """``entry`` (open a position), ``exit`` (close a held one) or ``hold`` (a held one stays, no new one)."""
    return pd.Series(["entry" if e else "exit" if x else "hold" for e, x in zip(rows["entry"], rows["exit"], strict=True)],
                     index=rows.index, dtype="str")


def ranked(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a ``decision`` column, entries first, then holds, then exits; within each, the highest
    funding APR first (unknown last), then the larger 24h volume, then venue and symbol — the order
    ``quant.carry.select_positions`` fills free slots in."""
    out = rows.assign(decision=decision(rows))
    key = out.assign(_d=out["decision"].map(DECISIONS.index), _apr=-out["funding_apr"].fillna(-math.inf),
                     _vol=-out["volume_24h_usd"].fillna(-math.inf))
    order = key.sort_values(["_d", "_apr", "_vol", "venue", "symbol"], kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _apr(value: float) -> str:
    return "unknown" if math.isnan(value) else f"{value * 100:.2f}%"


def _volume(value: float) -> str:
    return "unknown" if math.isnan(value) else f"${value / 1e6:,.1f}M"


def format_scan(rows: pd.DataFrame, hour: pd.Timestamp, environment: str, top: int) -> str:
    """The printed scan: a header with the counts, one line per instrument (at most ``top``), and what was left out."""
    table = ranked(rows)
    counts = table["decision"].value_counts()
    calm = bool(table["hibernating"].any())
    lines = [f"carry scan of {hour:%Y-%m-%d %H:00} UTC from {SOURCE_OF[environment]} ({environment}): "
             f"{len(table)} instrument(s), {counts.get('entry', 0)} entry, {counts.get('hold', 0)} hold, "
             f"{counts.get('exit', 0)} exit" + ("; hibernating (calm market): no new entries" if calm else "")]
    if table.empty:
        lines.append("no instrument of the universe has candles or funding in the 24 hours to this hour")
        return "\n".join(lines)
    shown = table.head(top)
    venue_w, symbol_w = max(5, shown["venue"].str.len().max()), max(6, shown["symbol"].str.len().max())
    lines.append(f"{'venue':<{venue_w}}  {'symbol':<{symbol_w}}  {'funding APR':>11}  {'24h volume':>12}  "
                 f"{'decision':<8}  reason")
    for r in shown.itertuples(index=False):
        lines.append(f"{r.venue:<{venue_w}}  {r.symbol:<{symbol_w}}  {_apr(r.funding_apr):>11}  "
                     f"{_volume(r.volume_24h_usd):>12}  {r.decision:<8}  {r.reason}")
    if len(table) > top:
        lines.append(f"({len(table) - top} more row(s) not shown: --top {len(table)} shows them all)")
    return "\n".join(lines)


def scan(s: Settings, hour: pd.Timestamp, top: int) -> str:
    """``perpetua scan``: the hour's carry candidates from the environment's exchange, as printed."""
    resources = resources_for(s)
    market = resources["market_data"]
    # Public data needs no key; outside a run the resource's keys are unresolved ``EnvVar`` names, never passed on.
    exchange = MarketData(kind=market.kind, sample_dir=market.sample_dir).client()
    try:
        rows = carry_rows(exchange, resources["universe"].get(), hour)
    finally:
        close = getattr(exchange, "close", None)
        if close is not None:
            close()
    return format_scan(rows, hour, s.environment, top)
