"""Feature and regime assets: what each instrument looks like at the end of every hour."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from assets.market_data import hourly_asset
from assets.metadata import ByHour, per_hour
from checks.features import FEATURE_RULES_BY_ASSET
from quant.features.hourly import FEATURE_LOOKBACK_H, compute_features
from quant.features.regime import regime_scores
from quant.market_data.tables import hours_of
from resources.partitions import lookback, window_of

GROUP = "features"


@hourly_asset(FEATURE_RULES_BY_ASSET, group=GROUP, ins={"perp_ohlcv_1h": lookback(FEATURE_LOOKBACK_H)})
def features_1h(context: AssetExecutionContext, perp_ohlcv_1h: pd.DataFrame) -> pd.DataFrame:
    """Hourly features: one row per (venue, symbol, hour) with a bar in that hour.

    Momentum (1h/4h/24h log returns), 24h log-price slope, Wilder ATR(14), 24h and 7-day
    volatility and their ratio with expanding/compressed flags, volume surge, range widening,
    breakouts, mean-reversion distance in ATRs, ADX-like strength, 7-day beta and correlation to
    the venue's BTC, and market breadth. Each value uses bars up to the hour only (see
    ``quant.features``); missing history is NaN, never 0.
    """
    start, end = window_of(context)
    hours = hours_of(start, end)
    df = compute_features(perp_ohlcv_1h, hours)
    per_hour(context, df, hours, _complete_rows)
    return df


def _complete_rows(h: ByHour) -> list[dict[str, MetadataValue]]:
    complete = h.count(h.frame.drop(columns=["hour", "venue", "symbol"]).notna().all(axis=1))
    return [{"complete_rows": MetadataValue.int(int(n))} for n in complete]


@hourly_asset(FEATURE_RULES_BY_ASSET, group=GROUP)
def regime_scores_1h(context: AssetExecutionContext, features_1h: pd.DataFrame) -> pd.DataFrame:
    """Rule-based regime per (venue, symbol, hour): trend / range / high_vol / crash scores in
    [0, 1] and the winning label (``unknown`` when a feature is missing, ``neutral`` when no rule
    fires). Thresholds are named in ``quant.features.regime``; an ML classifier joins later.
    """
    df = regime_scores(features_1h)
    start, end = window_of(context)
    per_hour(context, df, hours_of(start, end), _labels)
    return df


def _labels(h: ByHour) -> list[dict[str, MetadataValue]]:
    return [{"labels": MetadataValue.json(counts)} for counts in h.value_counts("regime")]


FEATURE_ASSETS = [features_1h, regime_scores_1h]
