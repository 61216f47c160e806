"""The hourly cycle without Dagster: the same fetches, quant functions and check rules, called directly.

This is the work the asset and check bodies do, minus the orchestration: ``ReplayExchange``
fetches -> ``quant.market_data`` tables -> every rule of ``checks.market_data`` (one
great-expectations validation per asset plus the Python rules, split per hour in a range as the
range checks do). Optionally each table is also written and read back as hourly Parquet exactly
as ``HourlyParquetIOManager`` does, so the storage part of a Dagster run can be told apart from
Dagster's own bookkeeping.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from checks.engine import Rule, RuleEnv, ge_violations
from checks.market_data import FUNDING_RULES, OHLCV_RULES, OI_RULES, UNIVERSE_RULES
from pipelines.partitions import HOURLY
from quant import market_data as md
from quant.funding import SNAP_TOLERANCE
from quant.quality import by_hour
from quant.universe import Universe
from resources.exchange.replay import ReplayExchange
from resources.storage import frame_to_bytes, hour_path, read_hours, split_by_hour

#: Hours before a window the universe scan reads (24h volume, latest funding): see assets.market_data.
SCAN_LOOKBACK = pd.Timedelta(hours=23)
FIRST_HOUR = pd.Timestamp(HOURLY.start).tz_convert("UTC")
RULES: dict[str, list[Rule]] = {
    "perp_ohlcv_1h": OHLCV_RULES,
    "funding_settlements": FUNDING_RULES,
    "open_interest_1h": OI_RULES,
    "universe_scan_1h": UNIVERSE_RULES,
}

Fetch = Callable[[str, str, datetime, datetime], pd.DataFrame]


@dataclass(frozen=True)
class Sources:
    """The three exchange-fed tables of a window."""

    ohlcv: pd.DataFrame
    funding: pd.DataFrame
    oi: pd.DataFrame


@dataclass(frozen=True)
class PureResult:
    seconds: float
    hours: int
    rows: dict[str, int]
    violations: int


def _fetch(fetch: Fetch, pairs: list[tuple[str, str]], start: pd.Timestamp, end: pd.Timestamp) -> list:
    return [(v, s, fetch(v, s, start.to_pydatetime(), end.to_pydatetime())) for v, s in pairs]


def source_tables(ex: ReplayExchange, uni: Universe, start: pd.Timestamp, end: pd.Timestamp) -> Sources:
    """perp_ohlcv_1h, funding_settlements and open_interest_1h of [start, end), as the asset bodies compute them."""
    ohlcv = md.ohlcv_table(_fetch(ex.candles, uni.pairs("candles"), start - md.OHLCV_WARMUP, end), start)
    funding = md.funding_table(
        _fetch(ex.funding_history, uni.pairs("funding"), start - SNAP_TOLERANCE, end - SNAP_TOLERANCE)
    )
    oi = md.open_interest_table(_fetch(ex.open_interest_history, uni.pairs("open_interest"), start, end))
    return Sources(ohlcv, funding, oi)


def check_rules(asset: str, frame: pd.DataFrame, hours: pd.DatetimeIndex, uni: Universe) -> int:
    """Every rule of ``asset`` over ``frame`` as ``checks.engine.evaluate_rules`` runs them; violation count."""
    rules = RULES[asset]
    env = RuleEnv(hours=hours, universe=uni)
    from_ge = ge_violations(frame, rules)
    found = 0
    for rule in rules:
        violations = rule.violations(frame, env, from_ge.get(rule.name))
        if len(hours) > 1:  # a range run logs one evaluation per hour
            by_hour(violations, hours)
        found += len(violations)
    return found


def write_hours(root: Path, asset: str, df: pd.DataFrame, hours: pd.DatetimeIndex) -> None:
    """What ``HourlyParquetIOManager.handle_output`` does: one Parquet file per hour."""
    for hour, rows in split_by_hour(df, hours):
        path = hour_path(str(root), asset, hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(frame_to_bytes(rows))


def store_sources(root: Path, sources: Sources, hours: pd.DatetimeIndex) -> None:
    write_hours(root, "perp_ohlcv_1h", sources.ohlcv, hours)
    write_hours(root, "funding_settlements", sources.funding, hours)
    write_hours(root, "open_interest_1h", sources.oi, hours)


def run_window(
    ex: ReplayExchange,
    uni: Universe,
    start: pd.Timestamp,
    end: pd.Timestamp,
    lookback: Sources | None,
    store: Path | None = None,
) -> PureResult:
    """The whole hourly cycle over [start, end), timed.

    ``lookback`` holds the source tables of the 23 hours before ``start`` (computed beforehand,
    like the untimed warm-up run); with ``store`` those hours must already be written there and
    every table goes through hourly Parquet (write, then read back for the scan and the checks).
    """
    hours = md.hours_of(start, end)
    t0 = time.perf_counter()
    src = source_tables(ex, uni, start, end)
    tables = {"perp_ohlcv_1h": src.ohlcv, "funding_settlements": src.funding, "open_interest_1h": src.oi}
    if store is None:
        before = [lookback] if lookback is not None else []
        ohlcv_in = pd.concat([*(s.ohlcv for s in before), src.ohlcv], ignore_index=True)
        funding_in = pd.concat([*(s.funding for s in before), src.funding], ignore_index=True)
    else:
        store_sources(store, src, hours)
        first = max(start - SCAN_LOOKBACK, FIRST_HOUR)
        scan_hours = md.hours_of(first, end)
        ohlcv_in = read_hours(str(store), "perp_ohlcv_1h", scan_hours)
        funding_in = read_hours(str(store), "funding_settlements", scan_hours)
    tables["universe_scan_1h"] = md.universe_scan(ohlcv_in, funding_in, hours)
    if store is not None:
        write_hours(store, "universe_scan_1h", tables["universe_scan_1h"], hours)
    violations = 0
    for asset, frame in tables.items():
        checked = frame if store is None else read_hours(str(store), asset, hours)
        violations += check_rules(asset, checked, hours, uni)
    seconds = time.perf_counter() - t0
    return PureResult(seconds, len(hours), {k: len(v) for k, v in tables.items()}, violations)


def lookback_of(ex: ReplayExchange, uni: Universe, start: pd.Timestamp) -> Sources | None:
    """Source tables of the hours before ``start`` the scan reads (None at the sample's first hour)."""
    first = max(start - SCAN_LOOKBACK, FIRST_HOUR)
    return source_tables(ex, uni, first, start) if first < start else None


def prepare_store(store: Path, lookback: Sources | None, start: pd.Timestamp) -> None:
    """Write the look-back hours before ``start`` (the untimed warm-up of a Parquet run)."""
    if lookback is not None:
        store_sources(store, lookback, md.hours_of(max(start - SCAN_LOOKBACK, FIRST_HOUR), start))


def measure(
    ex: ReplayExchange,
    uni: Universe,
    start: pd.Timestamp,
    end: pd.Timestamp,
    lookback: Sources | None,
    *,
    parquet: bool = False,
) -> PureResult:
    """``run_window`` after a garbage collection; with ``parquet`` through a fresh temp folder."""
    if not parquet:
        gc.collect()
        return run_window(ex, uni, start, end, lookback)
    with tempfile.TemporaryDirectory(prefix="perpetua-bench-io-") as tmp:
        prepare_store(Path(tmp), lookback, start)
        gc.collect()
        return run_window(ex, uni, start, end, lookback, Path(tmp))
