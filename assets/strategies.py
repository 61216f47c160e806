"""The strategy registry as an hourly asset: every strategy on every hourly close, without arbitration."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from assets.market_data import hourly_asset
from assets.metadata import ByHour, per_hour
from checks.strategies import STRATEGY_RULES
from quant.features.hourly import FEATURE_LOOKBACK_H
from quant.market_data.tables import hours_of
from quant.registry_signals import (
    HISTORY_H,
    LOOKBACK_CAP_H,
    STATUS_ACCEPTED,
    STATUS_REJECTED,
    capped,
    raised,
    registry_signals,
    strategy_input,
)
from quant.strategy_health import HEALTHY, health_counts, strategy_health
from resources.partitions import lookback, window_of

GROUP = "signals"
#: Hours of candles read before each hour: the strategies' history, and the features' own week before it.
STRATEGY_PRICE_LOOKBACK_H = HISTORY_H + FEATURE_LOOKBACK_H
#: Hours of funding and open interest read before each hour (the strategies' history).
STRATEGY_FLOW_LOOKBACK_H = HISTORY_H


@hourly_asset(
    STRATEGY_RULES,
    group=GROUP,
    ins={
        "perp_ohlcv_1h": lookback(STRATEGY_PRICE_LOOKBACK_H),
        "funding_settlements": lookback(STRATEGY_FLOW_LOOKBACK_H),
        "open_interest_1h": lookback(STRATEGY_FLOW_LOOKBACK_H),
    },
)
def strategy_signals_1h(
    context: AssetExecutionContext,
    perp_ohlcv_1h: pd.DataFrame,
    funding_settlements: pd.DataFrame,
    open_interest_1h: pd.DataFrame,
) -> pd.DataFrame:
    """Every registered strategy at every hourly close, no arbitration: one row per (hour, strategy, venue, symbol, seq).

    ``status`` accepted: a decision that passed ``run_strategy``'s validation — ``side`` long or
    short, ``entry``/``stop``/``target`` in quote currency (entry at the bar's close, stop on the
    losing side, target at >= 2:1), ``confidence`` in (0, 1], the strategy's ``reason``. Rejected:
    ``rejection`` says why (a NaN price, a stop on the wrong side, under 2:1 ...); a strategy that
    raised has one rejected row per hour with empty venue and symbol, and the others go on.
    ``seq`` numbers a strategy's several decisions on one instrument in one hour (zones retested
    together, pair legs sharing a coin). Nothing here reaches the book or the order path.

    Look-back: each strategy runs on its declared ``lookback_h`` capped at 720 h, from the Monday
    00:00 UTC of the week holding H − look-back up to H (``quant.registry_signals``), so one hour
    alone and inside a backfill decide the same bits and a range runs each strategy once a week.
    The cap (not the registry's 3,360 h of monday_range) bounds what every hourly run reads and
    computes (3,360 h would add ~0.3 s an hour and a ~3,700 h backfill warm-up; ``quant.registry_signals``);
    on the bundled data 720 h reproduces (stops to 1e-3) the
    whole-window decisions of every strategy that does not depend on its window's first bar, and
    changes monday_range's (run on 30 days instead of 20 weeks; ``capped`` in the metadata).
    Features are computed from the candles with ``features_1h``'s own function (the same bits)
    rather than read from it: a backfill's warm-up stores the exchange-fed assets only, so the
    hours of ``features_1h`` before a fresh window do not exist. No option chain is passed.
    """
    start, end = window_of(context)
    hours = hours_of(start, end)
    data = strategy_input(perp_ohlcv_1h, funding_settlements, open_interest_1h, hours)
    df = registry_signals(data, hours)
    over = capped()
    health = strategy_health(data, hours)
    per_hour(context, df, hours, lambda h: _meta(h, over, [health[hour] for hour in hours]))
    return df


def _meta(h: ByHour, over: dict[str, int], health: list[dict[str, tuple[str, str]]]) -> list[dict[str, MetadataValue]]:
    signals = h.frame
    accepted = (signals["status"] == STATUS_ACCEPTED).to_numpy()
    rejected = (signals["status"] == STATUS_REJECTED).to_numpy()
    figures = zip(h.count(accepted), h.count(rejected), h.value_counts("strategy", accepted),
                  h.value_counts("strategy", rejected), h.unique("strategy", raised(signals)), health, strict=True)
    return [{
        "accepted": MetadataValue.int(int(n_accepted)),
        "rejected": MetadataValue.int(int(n_rejected)),
        "decisions_per_strategy": MetadataValue.json(dict(sorted(decisions.items()))),
        "rejections_per_strategy": MetadataValue.json(dict(sorted(rejections.items()))),
        "strategies_raised": MetadataValue.text(", ".join(broken) or "none"),
        "capped": MetadataValue.json({name: f"{declared} h declared, run on {LOOKBACK_CAP_H} h" for name, declared in over.items()}),
        # each strategy's data health (quant.strategy_health): counts, and every one not healthy with why
        "data_health": MetadataValue.json(health_counts(states)),
        "not_healthy": MetadataValue.json({n: f"{st}: {why}" for n, (st, why) in sorted(states.items()) if st != HEALTHY}),
    } for n_accepted, n_rejected, decisions, rejections, broken, states in figures]


STRATEGY_ASSETS = [strategy_signals_1h]
