"""Signal assets: what each trading layer would do at the end of every hour (no state, no orders)."""

from typing import Any

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, ResourceParam

from assets.market_data import hourly_asset
from assets.metadata import ByHour, per_hour
from assets.options_chain import stored_chains
from checks.signals import SIGNAL_RULES
from quant.carry import scan
from quant.cascade.arming import ARM_MEMORY_H, armed_cascade_scores
from quant.cascade.score import HOUR, CascadeParams
from quant.features.regime import calm_market
from quant.market_data.tables import hours_of
from quant.options.chain import OptionChain, parse_book_summary_cached
from quant.options.tail_hedge import (
    STATUS_CHAIN_UNUSABLE,
    STATUS_NO_CHAIN,
    STATUS_OK,
    HedgeUnderlying,
    tail_hedge_signals,
)
from resources.exchange.errors import ExchangeError
from resources.market import OptionsData
from resources.partitions import lookback, window_of
from resources.redaction import redact
from resources.storage import HourlyParquetIOManager

GROUP = "signals"
#: The L2 layer's knobs; its inputs' look-backs follow from them.
CASCADE = CascadeParams()
#: Upstream hours before each hour that ``cascade_scores`` reads (open interest, candles, funding).
#: Arming replays the last ``ARM_MEMORY_H`` hours of scores, so the inputs reach that much further back.
CASCADE_OI_LOOKBACK_H = int(CASCADE.oi_lookback / HOUR) + ARM_MEMORY_H
CASCADE_PRICE_LOOKBACK_H = int(CASCADE.price_lookback / HOUR) + ARM_MEMORY_H
CASCADE_FUNDING_LOOKBACK_H = CASCADE.funding_max_age_h + ARM_MEMORY_H
#: What the L3 tail hedge is on: ETH options, priced off the ETH perp (Binance, else Bybit).
HEDGE = HedgeUnderlying()


@hourly_asset(SIGNAL_RULES, group=GROUP)
def carry_signals_1h(
    context: AssetExecutionContext, universe_scan_1h: pd.DataFrame, regime_scores_1h: pd.DataFrame
) -> pd.DataFrame:
    """L1 funding-carry scan: one row per (venue, symbol, hour) of the universe scan.

    ``funding_apr`` = rate × settlements per day × 365; ``eligible`` when APR > 20% and 24h
    volume > $10M; ``entry`` when eligible and the gates are open; ``exit`` below 3% APR (or
    VPIN > 0.90). ``vpin_gate`` says "no data" where no tick recording covers the hour;
    ``hibernating`` is the calm-market gate from the regime scores (≥ 80% of instruments in
    range/neutral). NaN inputs never pass a threshold. Positions (hysteresis, max 10) are the
    ledger's job, not this table's.
    """
    start, end = window_of(context)
    hours = hours_of(start, end)
    df = scan(universe_scan_1h, hibernate=calm_market(regime_scores_1h, hours))
    per_hour(context, df, hours, _carry_meta)
    return df


#: Rows of the hour's highest funding APRs shown in ``top_apr``.
TOP_APR_ROWS = 5


def _carry_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    scan = h.frame
    counts = zip(h.rows, h.count(scan["eligible"]), h.count(scan["entry"]), h.count(scan["hibernating"]), _top(h), strict=True)
    return [{"eligible": MetadataValue.int(int(e)), "entries": MetadataValue.int(int(n)),
             "hibernating": MetadataValue.bool(bool(z > 0)), "top_apr": MetadataValue.md(top if rows else "no rows")}
            for rows, e, n, z, top in counts]


def _top(h: ByHour) -> list[str]:
    """Each hour's ``TOP_APR_ROWS`` highest funding APRs as a table, as ``nlargest`` picks them (ties in row order, NaN last)."""
    apr = h.frame["funding_apr"].to_numpy(dtype=float)
    missing = np.isnan(apr)
    order = np.lexsort((np.arange(len(apr)), -np.where(missing, 0.0, apr), missing, h.codes))
    rank = np.arange(len(order)) - h.starts[h.codes[order]]
    picked = order[rank < TOP_APR_ROWS]
    lines: list[list[str]] = [["| venue | symbol | APR | 24h volume | reason |", "|---|---|---|---|---|"] for _ in range(len(h))]
    for group, r in zip(h.codes[picked], h.frame.iloc[picked].itertuples(index=False), strict=True):
        lines[group].append(f"| {r.venue} | {r.symbol} | {r.funding_apr:.2%} | {r.volume_24h_usd / 1e6:,.1f}M | {r.reason} |")
    return ["\n".join(table) for table in lines]


@hourly_asset(
    SIGNAL_RULES,
    group=GROUP,
    ins={
        "open_interest_1h": lookback(CASCADE_OI_LOOKBACK_H),
        "perp_ohlcv_1h": lookback(CASCADE_PRICE_LOOKBACK_H),
        "funding_settlements": lookback(CASCADE_FUNDING_LOOKBACK_H),
    },
)
def cascade_signals_1h(
    context: AssetExecutionContext,
    open_interest_1h: pd.DataFrame,
    perp_ohlcv_1h: pd.DataFrame,
    funding_settlements: pd.DataFrame,
) -> pd.DataFrame:
    """L2 cascade score: one row per (venue, symbol, hour) with open interest or candles in the look-back.

    score = 0.55·OI percentile ramp (p70→p95 of the trailing 168h) + 0.20·|funding| ramp
    (0→0.1% per 8h) + 0.25·volatility compression (24h vs 7d realised vol), from what is known
    at the hour's end (``quant.cascade.cascade_scores``). ``score`` is NaN unless ``status`` is
    "ok"; otherwise status names the first missing input ("no OI", "insufficient OI history",
    "no price", "insufficient price history", "no funding"). ``armed`` applies the hysteresis
    (0.6 on, 0.4 off) replayed over the last 24 hours of scores (``quant.cascade.arming``), so
    the asset keeps no state; ``triggered`` marks the hour it armed.

    A perp with no open interest of its own reads its coin's from the venue that reports it
    (``quant.cascade.inputs``): on the bundled sample the Binance/Bybit perps read Hyperliquid's,
    which exists from 2025-12-07 — so 2025 rows are honestly "no OI" and the 2026 window is scored.
    """
    start, end = window_of(context)
    hours = hours_of(start, end)
    df = armed_cascade_scores(open_interest_1h, perp_ohlcv_1h, funding_settlements, hours, CASCADE)
    per_hour(context, df, hours, _cascade_meta)
    return df


def _cascade_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    best = h.max(h.frame["score"])
    figures = zip(h.count(h.frame["armed"]), h.value_counts("status"), best, strict=True)
    return [{"armed": MetadataValue.int(int(armed)), "status_counts": MetadataValue.json(statuses),
             "max_score": MetadataValue.text("none scored") if np.isnan(top) else MetadataValue.float(round(float(top), 3))}
            for armed, statuses, top in figures]


def _snapshot(options: OptionsData, currency: str) -> list[OptionChain]:
    """The venue's chain of ``currency``, parsed once for every hour of the window (none if empty)."""
    book = options.book_summary(currency)
    return [parse_book_summary_cached(book)] if len(book) else []


@hourly_asset(SIGNAL_RULES, group=GROUP)
def tail_hedge_signals_1h(
    context: AssetExecutionContext, perp_ohlcv_1h: pd.DataFrame, options: OptionsData,
    hourly_parquet: ResourceParam[HourlyParquetIOManager],
) -> pd.DataFrame:
    """L3 tail hedge: one row per (currency, hour), the long OTM strangle the layer would buy at the hour's end.

    Underlying: the hour's ETH/USDT perp close on Binance, else Bybit (else status "no
    underlying"). Chain: a snapshot taken inside the hour is used as it is (``modelled`` False);
    an older one is recentred on the close (IVs kept by moneyness, days to expiry kept,
    ``quant.options.model``; ``modelled`` True); a newer one is never used (status "no chain for
    this hour"). Strangle: ``select_strangle`` (14–60 days, 15-delta legs, two-sided, OI ≥ 100);
    when none qualifies, status is the reason. Prices and greeks are per ONE contract of each leg
    in USD: ``theta_usd`` per day (≤ 0), ``vega_usd`` per vol point, ``premium_usd`` both asks.
    Every number is NaN unless status is "ok".

    Locally the chain is the bundled Deribit ETH book summary of 2024-01-08, so every 2025 row
    is modelled: "modelled: 2024-01-08 Deribit ETH IV surface recentred on the ETH perp close".
    In paper/live the chains are those ``options_chain_1h`` recorded inside the window's hours (its
    schedule at :50; read from storage), never one fetched now: this run starts after its hour.
    """
    start, end = window_of(context)
    hours = hours_of(start, end)
    try:
        snapshots, problem = (_snapshot(options, HEDGE.currency) if options.kind == "replay"
                              else stored_chains(hourly_parquet.root, hours)), None
    except (ExchangeError, ValueError, OSError) as exc:  # L3's own input: L3 holds, L1 and L2 go on
        snapshots, problem = [], f"{type(exc).__name__}: {redact(str(exc))}"
        context.log.warning(f"L3 holds: the options chain of {HEDGE.currency} could not be read ({problem})")
    df = tail_hedge_signals(snapshots, perp_ohlcv_1h, hours, underlying=HEDGE)
    if problem is not None:
        df.loc[df["status"] == STATUS_NO_CHAIN, "status"] = f"{STATUS_CHAIN_UNUSABLE}: {problem}"
    per_hour(context, df, hours, _hedge_meta)
    return df


def _hedge_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    hedges = h.frame
    last = h.last(hedges["status"] == STATUS_OK)
    strangles = ["no strangle in this window"] * len(h)
    for group, r in zip(np.flatnonzero(last >= 0), hedges.iloc[last[last >= 0]].itertuples(index=False), strict=True):
        strangles[group] = _strangle(r)
    figures = zip(h.count(hedges["modelled"]), h.value_counts("status"), h.unique("source"), strangles, strict=True)
    return [{"modelled_hours": MetadataValue.int(int(modelled)), "status_counts": MetadataValue.json(statuses),
             "sources": MetadataValue.md("\n".join(f"- {s}" for s in sources)), "last_strangle": MetadataValue.md(strangle)}
            for modelled, statuses, sources, strangle in figures]


def _strangle(r: Any) -> str:
    """One ``ok`` row of the tail hedge as a line."""
    return (
        f"{r.hour:%Y-%m-%d %H:00} {r.currency} {r.underlying_usd:,.2f}: put {r.put_strike:,.0f} / call "
        f"{r.call_strike:,.0f}, {r.dte_days:.1f} days, premium ${r.premium_usd:,.2f}, "
        f"theta ${r.theta_usd:,.2f}/day per contract of each leg"
    )


SIGNAL_ASSETS = [carry_signals_1h, cascade_signals_1h, tail_hedge_signals_1h]
