"""Per-hour materialisation metadata: in a range run each hour carries its OWN figures.

Dagster's ``add_output_metadata`` puts one dict on every partition a range run materialises, so an
hour of a week's backfill would show the week's rows or final equity. ``per_hour`` instead splits
the output by its ``hour`` column and attaches ``summarise(rows of that hour)`` to that hour's
materialisation (``add_asset_metadata(partition_key=...)``); it serves one hour and a range alike.
Numbers are rounded for reading (money to cents, percentages to two decimals, as the CLI prints).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetKey
from dagster._core.execution.context.invocation import BaseDirectExecutionContext

from resources.storage import split_by_hour

#: Decimal places money is shown with.
MONEY_DP = 2
#: Decimal places percentages are shown with.
PCT_DP = 2


def money(x: float) -> float:
    """A USD amount rounded to cents (NaN stays NaN)."""
    return round(float(x), MONEY_DP)


def pct(fraction: float) -> float:
    """A fraction as a percentage rounded like the CLI (0.01234 -> 1.23)."""
    return round(100.0 * float(fraction), PCT_DP)


def per_hour(
    context: AssetExecutionContext,
    frame: pd.DataFrame,
    hours: pd.DatetimeIndex,
    summarise: Callable[[pd.DataFrame], Mapping[str, Any]],
    *,
    asset_key: str | None = None,
) -> None:
    """Attach ``summarise(rows)`` to each hour's materialisation of ``asset_key`` (the asset by default).

    An asset called directly (``build_asset_context``, one partition) gets the summary as its output metadata.
    """
    if isinstance(context, BaseDirectExecutionContext):
        if asset_key is None:
            context.add_output_metadata(dict(summarise(frame)))
        return
    key = AssetKey(asset_key) if asset_key else None
    for hour, rows in split_by_hour(frame, hours):
        context.add_asset_metadata(dict(summarise(rows)), asset_key=key, partition_key=f"{hour:%Y-%m-%d-%H:%M}")
