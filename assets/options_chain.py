"""``options_chain_1h``: the Deribit chain recorded inside each hour, for the live tail hedge.

The tail hedge never uses a chain stamped after its hour (no look-ahead), and the scheduled hourly
run starts minutes after the hour has ended, so a chain fetched by that run is always too new.
This asset is run by its own schedule at :50 of hour H (``options_chain_schedule``): it fetches
the venue's book summary then and stores it as hour H's chain, every row stamped by the venue
inside H. ``tail_hedge_signals_1h`` of H, in paper/live, then reads the chains stored for its
hours (``stored_chains``) instead of calling the venue.

A chain can only be recorded live: a run whose rows are not all stamped inside H (run late, or a
backfill of the past) fails naming the stamps, rather than storing a chain as if it had been seen
then. Locally (the replay options) nothing is recorded: the tail hedge reads the bundled snapshot
directly, modelled, as before. Not part of the hourly cycle: it adds no event to it.
"""

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, Output, asset

from quant.options.chain import OptionChain, parse_book_summary_cached
from quant.options.tail_hedge import HedgeUnderlying
from resources.market import OptionsData
from resources.partitions import HOURLY
from resources.storage import read_hours, stored_hours

ASSET = "options_chain_1h"
HOUR = pd.Timedelta(hours=1)
#: The underlying the tail hedge buys (``assets.signals.HEDGE``: ETH).
HEDGE = HedgeUnderlying()


def chain_rows(book: pd.DataFrame, hour: pd.Timestamp) -> pd.DataFrame:
    """``book`` (a venue book summary with its ``ts`` stamps) as hour ``hour``'s stored chain.

    Raises ValueError when a row is not stamped inside [hour, hour + 1h): a chain is recorded live.
    """
    if book.empty:
        raise ValueError(f"the venue returned an empty {HEDGE.currency} book summary")
    stamps = pd.to_datetime(book["ts"], utc=True)
    outside = stamps[(stamps < hour) | (stamps >= hour + HOUR)]
    if len(outside):
        raise ValueError(f"{len(outside)} of {len(book)} rows are stamped outside {hour:%Y-%m-%d %H:00}–"
                         f"{hour + HOUR:%H:00} UTC (first {outside.iloc[0]:%Y-%m-%d %H:%M:%S}): a chain can only be "
                         "recorded live, inside its hour")
    out = book.copy()
    out.insert(0, "hour", pd.Series([hour] * len(book), dtype="datetime64[ns, UTC]", index=book.index))
    return out.reset_index(drop=True)


def stored_chains(root: str, hours: pd.DatetimeIndex) -> list[OptionChain]:
    """The chains recorded for ``hours`` (one per hour that has one), parsed once per distinct snapshot."""
    have = stored_hours(root, ASSET, hours[0], hours[-1] + HOUR)
    if not len(have):
        return []
    rows = read_hours(root, ASSET, have)
    return [parse_book_summary_cached(rows[rows["hour"] == h].drop(columns=["hour"]).reset_index(drop=True))
            for h in have if (rows["hour"] == h).any()]  # an hour stored empty (replay options) has none


@asset(
    partitions_def=HOURLY,
    io_manager_key="hourly_parquet",
    group_name="options",
    kinds={"deribit"},
    description="The Deribit option chain recorded inside the hour (schedule :50), read by the live tail hedge.",
)
def options_chain_1h(context: AssetExecutionContext, options: OptionsData):
    hour = pd.Timestamp(HOURLY.time_window_for_partition_key(context.partition_key).start).tz_convert("UTC")
    if options.kind == "replay":
        empty = pd.DataFrame({"hour": pd.Series(dtype="datetime64[ns, UTC]"), "ts": pd.Series(dtype="datetime64[ns, UTC]")})
        return Output(empty, metadata={"status": "replay options: the tail hedge reads the bundled snapshot itself"})
    try:
        rows = chain_rows(options.book_summary(HEDGE.currency), hour)
    except ValueError as exc:
        raise Failure(description=f"{ASSET} {hour:%Y-%m-%d %H:00}: {exc}") from exc
    return Output(rows, metadata={"options": MetadataValue.int(len(rows)),
                                  "stamped": f"{rows['ts'].min():%H:%M:%S} – {rows['ts'].max():%H:%M:%S} UTC"})
