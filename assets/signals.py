"""Signal assets: what each trading layer would do at the end of every hour (no state, no orders)."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from assets.market_data import hourly_asset
from pipelines.partitions import window_of
from quant.carry import scan
from quant.market_data import hours_of
from quant.regime import calm_market

GROUP = "signals"


@hourly_asset(group=GROUP)
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
    context.add_output_metadata({
        "rows": MetadataValue.int(len(df)),
        "eligible": MetadataValue.int(int(df["eligible"].sum())),
        "entries": MetadataValue.int(int(df["entry"].sum())),
        "hibernating_hours": MetadataValue.int(int(df.groupby("hour")["hibernating"].first().sum()) if len(df) else 0),
        "top_apr": MetadataValue.md(_top(df)),
    })
    return df


def _top(df: pd.DataFrame, n: int = 5) -> str:
    if df.empty:
        return "no rows"
    last = df[df["hour"] == df["hour"].max()].nlargest(n, "funding_apr")
    lines = [f"| {r.venue} | {r.symbol} | {r.funding_apr:.1%} | {r.volume_24h_usd / 1e6:,.1f}M | {r.reason} |" for r in last.itertuples()]
    return "\n".join(["| venue | symbol | APR | 24h volume | reason |", "|---|---|---|---|---|", *lines])


SIGNAL_ASSETS = [carry_signals_1h]
