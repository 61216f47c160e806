"""Market-data assets: hourly candles, funding settlements, open interest and the scan inputs.

Every asset computes over its partition time window: one hour in the hourly run, any range in a
single-run backfill. Bodies fetch through the ``Exchange`` edge and hand the frames to
``quant.market_data``; storage is one Parquet file per hour (``resources.storage``).
"""


import inspect
from collections.abc import Callable
from datetime import datetime

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Failure, MetadataValue, ResourceParam, asset

from assets.metadata import ByHour, per_hour
from checks.engine import Rule, audited, quality_spec
from checks.market_data import MARKET_DATA_RULES
from quant.market_data import tables as md
from quant.market_data.funding import SNAP_TOLERANCE
from resources.exchange.errors import ExchangeError
from resources.market import MarketData, MarketUniverse
from resources.partitions import HOURLY, LOOKBACK_KEY, SINGLE_RUN, lookback, window_of
from resources.storage import HourlyParquetIOManager, MissingPartitionError, read_hours

GROUP = "market_data"
IO = "hourly_parquet"
#: Upstream hours the scan reads before each hour (24h volume and latest funding).
SCAN_LOOKBACK_H = 24


def hourly_asset(rules: dict[str, list[Rule]], group: str = GROUP, *, source: bool = False, **kwargs):
    """``@asset`` on the shared hourly partitions: single-run backfills, daily Parquet storage, and
    the asset's one blocking quality check (``<asset>__quality`` over ``rules[asset]``) run in its step.
    ``source``: the body reads an exchange or a data file; its failure trips the kill switch."""

    def decorate(fn):
        name = fn.__name__
        return asset(
            partitions_def=HOURLY, backfill_policy=SINGLE_RUN, io_manager_key=IO, group_name=group,
            kinds={"pandas", "parquet"}, check_specs=[quality_spec(name, rules[name])],
            description=_with_lookbacks(kwargs.pop("description", None) or inspect.getdoc(fn) or "", kwargs.get("ins", {})),
            **kwargs,
        )(audited({name: rules[name]}, source=source)(fn))

    return decorate


def _with_lookbacks(doc: str, ins: dict[str, AssetIn]) -> str:
    """The asset's description, ending with its inputs' look-backs (the lineage view shows hour to hour)."""
    back = {k: v.metadata[LOOKBACK_KEY] for k, v in ins.items() if v.metadata and LOOKBACK_KEY in v.metadata}
    if not back:
        return doc
    listing = ", ".join(f"{k} {h} h" for k, h in back.items())
    return f"{doc}\n\nEach hour H reads its inputs' hours from H minus the look-back to H: {listing}."


def _fetch_all(
    fetch: Callable[[str, str, datetime, datetime], pd.DataFrame],
    pairs: list[tuple[str, str]],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> list[tuple[str, str, pd.DataFrame]]:
    """Call the edge once per instrument; an exchange error fails the run naming the call."""
    out = []
    for venue, symbol in pairs:
        try:
            out.append((venue, symbol, fetch(venue, symbol, start.to_pydatetime(), end.to_pydatetime())))
        except ExchangeError as exc:
            raise Failure(
                description=f"{venue} {symbol}: {exc}",
                metadata={"call": exc.call, "retried": exc.retryable, "attempts": exc.attempts, "venue": venue, "symbol": symbol},
            ) from exc
    return out


def _stored_hour(root: str, asset_name: str, hour: pd.Timestamp) -> pd.DataFrame | None:
    """The rows stored for ``hour`` (None when that hour was never stored; a corrupt file raises, naming it)."""
    try:
        return read_hours(root, asset_name, pd.DatetimeIndex([hour]))
    except MissingPartitionError:
        return None


def _coverage(h: ByHour) -> list[dict[str, MetadataValue]]:
    """Each hour's instruments and venues (``per_hour`` adds its rows)."""
    return [{"instruments": MetadataValue.int(int(n)), "venues": MetadataValue.text(", ".join(venues) or "none")}
            for n, venues in zip(h.distinct(["venue", "symbol"]), h.unique("venue"), strict=True)]


@hourly_asset(MARKET_DATA_RULES, source=True)
def perp_ohlcv_1h(
    context: AssetExecutionContext, market_data: MarketData, universe: MarketUniverse,
    hourly_parquet: ResourceParam[HourlyParquetIOManager],
) -> pd.DataFrame:
    """USDT/USDC perpetual 1h candles: one row per (venue, symbol, hour).

    ``ts`` is the bar open (= ``hour``); ``volume`` is base units, ``quote_volume`` its USD value
    at the close; ``flat_hours`` counts how long the price has not moved (staleness check);
    ``prev_close`` and ``sigma_1h`` feed the continuity rule (``quant.market_data.continuity``). Where the hour
    before the window is stored, the source must still agree with it (``quant.market_data.revised_bars``).
    """
    start, end = window_of(context)
    pairs = universe.get().pairs("candles", before=end)
    parts = _fetch_all(market_data.client().candles, pairs, start - md.OHLCV_WARMUP, end)
    stored = _stored_hour(hourly_parquet.root, "perp_ohlcv_1h", start - md.HOUR)
    revised = md.revised_bars(parts, stored, start - md.HOUR) if stored is not None else []
    if revised:
        raise ValueError(f"the source disagrees with the stored hour before the window ({len(revised)} bar(s)): "
                         f"{'; '.join(revised[:3])}; re-materialise {start - md.HOUR:%Y-%m-%d %H:00} from the source, "
                         "or point the run at the data it was stored from")
    df = md.ohlcv_table(parts, start)
    per_hour(context, df, md.hours_of(start, end), _coverage)
    return df


@hourly_asset(MARKET_DATA_RULES, source=True)
def funding_settlements(context: AssetExecutionContext, market_data: MarketData, universe: MarketUniverse) -> pd.DataFrame:
    """Realised funding settlements inside the hour: one row per (venue, symbol, settlement).

    ``settlement_ts`` is snapped to the settlement grid, ``raw_ts`` is the venue's stamp and
    ``offset_ms`` the difference. ``funding_rate`` is per interval; ``interval_hours`` is kept
    because Binance moved symbols between 8h and 4h; ``funding_apr`` annualises it.
    """
    start, end = window_of(context)
    pairs = universe.get().pairs("funding", before=end)
    # Raw stamps sit up to SNAP_TOLERANCE either side of the grid hour they belong to.
    parts = _fetch_all(market_data.client().funding_history, pairs, start - SNAP_TOLERANCE, end - SNAP_TOLERANCE)
    df = md.funding_table(parts)
    per_hour(context, df, md.hours_of(start, end), _funding_meta)
    return df


def _funding_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    four_hour = h.unique("symbol", h.frame["interval_hours"] == 4.0)
    return [{**meta, "four_hour_symbols": MetadataValue.json(symbols)} for meta, symbols in zip(_coverage(h), four_hour, strict=True)]


@hourly_asset(MARKET_DATA_RULES, source=True)
def open_interest_1h(context: AssetExecutionContext, market_data: MarketData, universe: MarketUniverse) -> pd.DataFrame:
    """Hourly open interest in USD: one row per (venue, symbol, hour).

    The bundled sample has open interest for hyperliquid from 2025-12-07 only; earlier hours are
    stored empty and say so (``rows = 0``) rather than inventing a number.
    """
    start, end = window_of(context)
    pairs = universe.get().pairs("open_interest", before=end)
    parts = _fetch_all(market_data.client().open_interest_history, pairs, start - md.OI_WARMUP, end)
    df = md.open_interest_table(parts, start)
    per_hour(context, df, md.hours_of(start, end), _oi_meta)
    return df


def _oi_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    note = {"note": MetadataValue.text("no open interest from the source for this hour")}
    return [{**meta, **(note if rows == 0 else {})} for meta, rows in zip(_coverage(h), h.rows, strict=True)]


@hourly_asset(
    MARKET_DATA_RULES,
    ins={
        "perp_ohlcv_1h": lookback(SCAN_LOOKBACK_H - 1),
        "funding_settlements": lookback(SCAN_LOOKBACK_H - 1),
    },
)
def universe_scan_1h(
    context: AssetExecutionContext, perp_ohlcv_1h: pd.DataFrame, funding_settlements: pd.DataFrame
) -> pd.DataFrame:
    """Scan inputs as known at the end of each hour: one row per (venue, symbol, hour).

    ``volume_24h_usd`` sums the last 24 bars' quote volume (NaN unless all 24 exist);
    ``last_funding_*`` is the latest settlement in the past 24h (NaN when none). Funding-only
    symbols (no candles in the source) appear with NaN volume: unknown, never zero.
    """
    start, end = window_of(context)
    hours = md.hours_of(start, end)
    df = md.universe_scan(perp_ohlcv_1h, funding_settlements, hours)
    per_hour(context, df, hours, _scan_meta)
    return df


def _scan_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    figures = zip(_coverage(h), h.count(h.frame["volume_24h_usd"].notna()), h.count(h.frame["last_funding_rate"].notna()), strict=True)
    return [{**meta, "with_volume": MetadataValue.int(int(volume)), "with_funding": MetadataValue.int(int(funding))}
            for meta, volume, funding in figures]


MARKET_DATA_ASSETS = [perp_ohlcv_1h, funding_settlements, open_interest_1h, universe_scan_1h]
