"""Each asset's per-hour summary, computed for several hours at once: hand-checked figures on small frames.

Three hours: hour 0 and hour 2 have rows (interleaved, as an asset may emit them), hour 1 has none.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from dagster import MetadataValue

from assets.book import _allocations_meta, _fills_meta, _intents_meta, _ledger_meta, _positions_meta
from assets.features import _complete_rows, _labels
from assets.market_data import _coverage, _funding_meta, _oi_meta, _scan_meta
from assets.metadata import ByHour
from assets.ml import _prediction_meta
from assets.signals import _carry_meta, _cascade_meta, _hedge_meta
from assets.strategies import _meta as _strategy_meta
from quant.ml.predictions import STATUS_OK
from quant.registry_signals import LOOKBACK_CAP_H, STATUS_ACCEPTED, STATUS_REJECTED

HOURS = pd.date_range("2025-09-01 00:00", periods=3, freq="h", tz="UTC", unit="ns")
H0, H2 = HOURS[0], HOURS[2]


def _hours(**columns) -> ByHour:
    return ByHour.split(pd.DataFrame(columns), HOURS)


def _values(summaries: list[dict[str, MetadataValue]], key: str) -> list:
    return [s[key].value if key in s else None for s in summaries]


def test_ledger_has_each_hours_last_total_and_a_per_layer_table_and_nothing_without_a_total():
    nan = np.nan
    h = _hours(
        hour=[H0, H2, H0, H0, H0, H0],
        layer=["total", "L1", "L3", "L1", "L1", "total"],
        pnl_usd=[1.0, 5.0, 1000.0, -2.5, 1.0, 998.456],
        fees_usd=[0.0, 0.5, 1.5, 0.25, 0.25, 2.0],
        funding_usd=[0.0, 0.25, 0.0, 1.25, 0.0, 1.25],
        equity_usd=[1.0, nan, nan, nan, nan, 100998.456],
        cash_usd=[1.0, nan, nan, nan, nan, 95000.004],
        drawdown=[0.5, nan, nan, nan, nan, 0.012345],
        risk_level=["halt", "", "", "", "", "normal"],
        breach=["x", "", "", "", "", ""],
    )
    hour0, hour1, hour2 = _ledger_meta(h)
    assert hour1 == {}  # no rows
    assert hour2 == {}  # rows, but no total row
    assert {k: v.value for k, v in hour0.items() if k != "totals"} == {
        "equity_usd": 100998.46, "pnl_usd": 998.46, "cash_usd": 95000.0, "drawdown_pct": 1.23,
        "risk_level": "normal", "breach": "none",
    }
    assert hour0["totals"].md_str == "\n".join([
        "| layer | P&L USD | fees USD | funding USD |",
        "|---|---:|---:|---:|",
        "| L1 | -1.50 | 0.50 | 1.25 |",
        "| L3 | 1,000.00 | 1.50 | 0.00 |",
        "| total | 998.46 | 2.00 | 1.25 |",
    ])


def test_book_tables_count_each_hour():
    allocations = _allocations_meta(_hours(hour=[H0, H2, H0], layer=["L1", "ST", "L2"], budget_usd=[1234.567, 7500.0, 0.0]))
    assert _values(allocations, "budget_usd") == [{"L1": 1234.57, "L2": 0.0}, {}, {"ST": 7500.0}]
    assert list(allocations[0]["budget_usd"].value) == ["L1", "L2"]
    intents = _intents_meta(_hours(hour=[H0, H0, H2, H0], approved=[True, False, False, True]))
    assert [(_values(intents, k)) for k in ("intents", "approved", "rejected")] == [[3, 0, 1], [2, 0, 0], [1, 0, 1]]
    fills = _fills_meta(_hours(hour=[H0, H0, H0, H2], filled_qty=[1.0, 0.0, np.nan, 2.0],
                               status=["filled", "no_counterparty", "no_counterparty", "filled"],
                               modelled=[True, False, False, False]))
    assert [_values(fills, k) for k in ("orders", "filled", "no_counterparty", "modelled")] == [
        [3, 0, 1], [1, 0, 1], [2, 0, 0], [1, 0, 0]]
    assert _values(_positions_meta(_hours(hour=[H2, H2])), "open_legs") == [0, 0, 2]


def test_carry_top_apr_is_nlargest_ties_in_row_order_nan_last():
    apr = [0.30, np.nan, 0.50, 0.30, np.nan, 0.10, 0.30, 0.05, 0.20, -0.10]
    hour = [H0, H0, H0, H0, H2, H0, H0, H0, H2, H2]
    symbol = ["A", "B", "C", "D", "X", "E", "F", "G", "Y", "Z"]
    h = _hours(hour=hour, venue="binance", symbol=symbol, funding_apr=apr, volume_24h_usd=1.5e9, reason="r",
               eligible=[s in "CD" for s in symbol], entry=[s == "C" for s in symbol], hibernating=[s == "Y" for s in symbol])
    hour0, hour1, hour2 = _carry_meta(h)
    head = ["| venue | symbol | APR | 24h volume | reason |", "|---|---|---|---|---|"]
    line = "| binance | {} | {} | 1,500.0M | r |".format
    assert hour0["top_apr"].md_str == "\n".join([*head, line("C", "50.00%"), line("A", "30.00%"), line("D", "30.00%"),
                                                 line("F", "30.00%"), line("E", "10.00%")])
    assert hour2["top_apr"].md_str == "\n".join([*head, line("Y", "20.00%"), line("Z", "-10.00%"), line("X", "nan%")])
    assert hour1["top_apr"].md_str == "no rows"
    assert [_values([hour0, hour1, hour2], k) for k in ("eligible", "entries", "hibernating")] == [
        [2, 0, 0], [1, 0, 0], [False, False, True]]


def test_cascade_counts_statuses_and_rounds_the_best_score():
    h = _hours(hour=[H0, H0, H2, H0, H0, H0], status=["no OI", "ok", "no OI", "ok", "no price", "no OI"],
               score=[np.nan, 0.61234, np.nan, 0.71249, np.nan, np.nan], armed=[False, True, False, True, False, False])
    hour0, hour1, hour2 = _cascade_meta(h)
    assert hour0["status_counts"].value == {"no OI": 2, "ok": 2, "no price": 1}
    assert list(hour0["status_counts"].value) == ["no OI", "ok", "no price"]  # pandas' order: count, then first seen
    assert hour0["max_score"] == MetadataValue.float(0.712)
    assert hour1["max_score"] == hour2["max_score"] == MetadataValue.text("none scored")
    assert _values([hour0, hour1, hour2], "armed") == [2, 0, 0]
    assert (hour1["status_counts"].value, hour2["status_counts"].value) == ({}, {"no OI": 1})


def test_tail_hedge_shows_the_hours_last_strangle():
    ok = [True, False, True]
    h = _hours(hour=[H0, H0, H0], status=["ok", "no chain", "ok"], modelled=ok, source=["modelled: X", "none", "modelled: X"],
               currency="ETH", underlying_usd=[1.0, np.nan, 3001.5], put_strike=[1.0, np.nan, 2600.0],
               call_strike=[1.0, np.nan, 3400.0], dte_days=[1.0, np.nan, 17.94], premium_usd=[1.0, np.nan, 46.271],
               theta_usd=[1.0, np.nan, -3.694])
    hour0, hour1, _ = _hedge_meta(h)
    assert hour0["last_strangle"].md_str == ("2025-09-01 00:00 ETH 3,001.50: put 2,600 / call 3,400, 17.9 days, "
                                             "premium $46.27, theta $-3.69/day per contract of each leg")
    assert hour0["sources"].md_str == "- modelled: X\n- none"
    assert (hour0["modelled_hours"].value, hour0["status_counts"].value) == (2, {"ok": 2, "no chain": 1})
    assert hour1["last_strangle"].md_str == "no strangle in this window"
    assert (hour1["sources"].md_str, hour1["modelled_hours"].value, hour1["status_counts"].value) == ("", 0, {})


def test_strategies_count_decisions_per_strategy_and_name_those_that_raised():
    h = _hours(hour=[H0, H0, H0, H2, H0, H0],
               status=[STATUS_ACCEPTED, STATUS_REJECTED, STATUS_ACCEPTED, STATUS_ACCEPTED, STATUS_REJECTED, STATUS_ACCEPTED],
               strategy=["zeta", "beta", "alpha", "zeta", "gamma", "zeta"],
               venue=["binance", "", "binance", "bybit", "binance", "binance"], symbol=["A", "", "B", "C", "D", "E"])
    health = [{"alpha": ("healthy", "every input it reads is there"), "zeta": ("warming", "51 h of the 240 h of history it reads")},
              {"alpha": ("starved", "no closed bar at this hour"), "zeta": ("starved", "no closed bar at this hour")},
              {"alpha": ("healthy", "ok"), "zeta": ("healthy", "ok")}]
    hour0, hour1, hour2 = _strategy_meta(h, {"slow": 1000}, health)
    assert {k: v.value for k, v in hour0.items()} == {
        "accepted": 3, "rejected": 2, "decisions_per_strategy": {"alpha": 1, "zeta": 2},
        "rejections_per_strategy": {"beta": 1, "gamma": 1}, "strategies_raised": "beta",
        "capped": {"slow": f"1000 h declared, run on {LOOKBACK_CAP_H} h"},
        "data_health": {"healthy": 1, "warming": 1, "degraded": 0, "starved": 0},
        "not_healthy": {"zeta": "warming: 51 h of the 240 h of history it reads"},
    }
    assert hour1["data_health"].value == {"healthy": 0, "warming": 0, "degraded": 0, "starved": 2}
    assert hour2["not_healthy"].value == {}
    assert list(hour0["decisions_per_strategy"].value) == ["alpha", "zeta"]
    assert (hour1["accepted"].value, hour1["decisions_per_strategy"].value, hour1["strategies_raised"].value) == (0, {}, "none")
    assert hour2["decisions_per_strategy"].value == {"zeta": 1}


def test_market_data_coverage_counts_instruments_and_names_venues():
    h = _hours(hour=[H0, H0, H2, H0, H0], venue=["binance", "bybit", "okx", "binance", "binance"],
               symbol=["BTC", "ETH", "BTC", "BTC", "SOL"], interval_hours=[8.0, 4.0, 4.0, 8.0, 4.0],
               volume_24h_usd=[1.0, np.nan, np.nan, 2.0, np.nan], last_funding_rate=[np.nan, 0.1, 0.1, 0.1, 0.1])
    assert _values(_coverage(h), "instruments") == [3, 0, 1]
    assert _values(_coverage(h), "venues") == ["binance, bybit", "none", "okx"]
    assert _values(_funding_meta(h), "four_hour_symbols") == [["ETH", "SOL"], [], ["BTC"]]
    assert _values(_oi_meta(h), "note") == [None, "no open interest from the source for this hour", None]
    scan = _scan_meta(h)
    assert (_values(scan, "with_volume"), _values(scan, "with_funding")) == ([2, 0, 0], [3, 0, 1])
    assert list(scan[0]) == ["instruments", "venues", "with_volume", "with_funding"]


def test_predictions_best_probability_over_ok_rows_and_the_hours_first_model_version():
    h = _hours(hour=[H0, H2, H0, H0], status=[STATUS_OK, "no model", STATUS_OK, "no model"],
               probability=[0.61237, 0.99, 0.70004, 0.99], expected_return=[0.01, 0.5, -0.02, 0.5],
               model_version=["v0", "v9", "v1", "v1"])
    hour0, hour1, hour2 = _prediction_meta(h)
    assert {k: v.value for k, v in hour0.items()} == {"predicted": 2, "best_probability": 0.7, "positive_edge": 1,
                                                       "model_version": "v0"}
    assert all(math.isnan(s["best_probability"].value) for s in (hour1, hour2))
    assert (hour1["model_version"].value, hour2["model_version"].value, hour2["predicted"].value) == ("", "v9", 0)


def test_features_and_regimes_per_hour():
    hour = [H0, H0, H2, H0, H0, H0]
    features = _hours(hour=hour, venue="binance", symbol="BTC", mom=[1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
                      vol=[1.0, 2.0, 3.0, np.nan, 5.0, 6.0])
    assert _values(_complete_rows(features), "complete_rows") == [3, 0, 1]
    labels = _values(_labels(_hours(hour=hour, regime=["range", "trend", "crash", "trend", "range", "crash"])), "labels")
    assert labels == [{"range": 2, "trend": 2, "crash": 1}, {}, {"crash": 1}]
    assert list(labels[0]) == ["range", "trend", "crash"]
