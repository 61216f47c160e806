"""The trading book in Dagster over real sample hours: it trades, balances, reports and stays replayable."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey

from pipelines.definitions import build_definitions
from pipelines.runner import run_window
from resources.kill_switch import KillSwitchStore
from resources.storage import read_hours

START = pd.Timestamp("2025-09-24 00:00", tz="UTC")  # binance HYPE carries at > 20% APR this week
HOURS = 6


@pytest.mark.slow
def test_book_trades_real_hours_and_the_report_shows_every_layer(local_settings, instance):
    defs = build_definitions(local_settings)
    end = START + pd.Timedelta(hours=HOURS)
    results = run_window(defs, instance, START, end)
    assert all(r.success for r in results), [r.error for r in results]
    assert all(not r.checks_failed for r in results), [r.checks_failed for r in results]
    hours = pd.date_range(START, end, freq="h", inclusive="left")
    assert len(instance.get_materialized_partitions(AssetKey("ledger_1h"))) == HOURS
    root = local_settings.storage_root
    intents = read_hours(root, "order_intents_1h", hours)
    fills = read_hours(root, "fills_1h", hours)
    ledger = read_hours(root, "ledger_1h", hours)
    # the L3 hedge is bought at the first hour on the modelled chain and filled the next
    assert (intents["layer"] == "L3").any()
    assert fills.loc[fills["layer"] == "L3", "modelled"].all()
    # every hour has one total row; equity = bankroll + P&L
    total = ledger[ledger["layer"] == "total"]
    assert len(total) == HOURS
    assert ((total["equity_usd"] - total["pnl_usd"]) - 100_000).abs().max() < 1e-6
    # client ids are unique across the window: a re-run hour cannot send an order twice
    assert not intents["client_order_id"].duplicated().any()
    assert KillSwitchStore(local_settings.kill_switch_url).active() == []

    report = defs.resolve_job_def("performance_report_job").execute_in_process(instance=instance)
    assert report.success
    mat = report.asset_materializations_for_node("performance_report")[0]
    assert "data:image/png;base64," in mat.metadata["equity_and_drawdown"].value
    spark = mat.metadata["equity_sparkline"].value
    assert spark.startswith("![equity](data:image/png;base64,")
    assert len(spark) < 1000  # Dagster shows markdown inline only below 1,000 characters
    table = mat.metadata["layers"].value
    for row in ("L1", "L2", "L3", "total"):
        assert f"| {row} " in table


# The previous-state lookup reads storage, not the instance: a fresh instance (runs purged, a new
# DAGSTER_HOME, a move to Postgres) over a store that holds the book must neither restart the book
# nor skip a gap.
WINDOW_2 = pd.Timestamp("2026-01-15 00:00", tz="UTC")  # the first hour of the second data window


def _store_book_hours(root: str, hours: pd.DatetimeIndex) -> None:
    from resources.storage import write_hours

    write_hours(root, "ledger_1h", hours, pd.DataFrame({"hour": hours, "layer": "total"}))


def _previous(root: str, start: pd.Timestamp, instance):
    from dagster import build_asset_context

    from assets.book import _previous_state

    return _previous_state(build_asset_context(instance=instance), root, start)


def test_a_gap_in_the_stored_book_is_refused_with_an_empty_instance(tmp_path, instance):
    from dagster import Failure

    root = str(tmp_path / "storage")
    _store_book_hours(root, pd.date_range(START, periods=3, freq="h"))  # 00:00 .. 02:00 stored
    gap_end = START + pd.Timedelta(hours=5)  # 03:00 and 04:00 never stored
    with pytest.raises(Failure) as info:
        _previous(root, gap_end, instance)
    text = info.value.description
    assert "2025-09-24 04:00" in text  # the missing previous hour
    assert "2025-09-24 02:00" in text  # the last stored book hour before it
    assert "--start 2025-09-24T03:00Z --end 2025-09-24T05:00Z" in text  # how to fill the gap


def test_a_fresh_book_only_where_storage_has_no_earlier_hour_of_the_window(tmp_path, instance):
    root = str(tmp_path / "storage")
    assert _previous(root, START, instance).hour is None  # nothing stored at all
    _store_book_hours(root, pd.date_range(START, periods=3, freq="h"))
    # later hours stored, none before: re-materialising the book's first hour starts it afresh again
    assert _previous(root, START, instance).hour is None
    # window 1's book is another book: the second window's hours start afresh, at and after its start
    assert _previous(root, WINDOW_2, instance).hour is None
    assert _previous(root, WINDOW_2 + pd.Timedelta(days=3), instance).hour is None
