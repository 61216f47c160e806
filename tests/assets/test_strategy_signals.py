"""``strategy_signals_1h`` called as Dagster calls it: its hours one by one equal the range of its body, bit for bit;
per-hour metadata; a raising strategy is rejected rows and a WARN check that trips no kill switch."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, build_asset_context

import quant.registry_signals as rs
from assets.strategies import STRATEGY_FLOW_LOOKBACK_H, STRATEGY_PRICE_LOOKBACK_H, strategy_signals_1h
from benchmarks.pure import source_tables
from checks.engine import partition_key
from quant.market_data import tables as md
from quant.registry_signals import registry_signals, strategy_input
from quant.strategies import Strategy, registry
from resources.exchange.replay import ReplayExchange
from resources.kill_switch import KillSwitch
from resources.market import MarketUniverse
from tests.conftest import run_direct

HOUR = pd.Timedelta(hours=1)
#: Three hours across a Monday 00:00 of the 2026 window (two anchors per strategy).
HOURS = md.hours_of(pd.Timestamp("2026-02-08 23:00", tz="UTC"), pd.Timestamp("2026-02-09 02:00", tz="UTC"))
WINDOW_START = pd.Timestamp("2026-01-15 00:00", tz="UTC")


@pytest.fixture(scope="module")
def sources() -> dict[str, pd.DataFrame]:
    """The exchange-fed tables from the 2026 window's start to the last hour, as the source assets store them."""
    return source_tables(ReplayExchange(), MarketUniverse().get(), WINDOW_START, HOURS[-1] + HOUR)


def _inputs(sources: dict[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """What the IO manager loads for [start, end): each input's look-back, clipped at the data window's start."""
    def cut(name: str, back: int) -> pd.DataFrame:
        df = sources[name]
        return df[(df["hour"] >= start - back * HOUR) & (df["hour"] < end)].reset_index(drop=True)

    return {"perp_ohlcv_1h": cut("perp_ohlcv_1h", STRATEGY_PRICE_LOOKBACK_H),
            "funding_settlements": cut("funding_settlements", STRATEGY_FLOW_LOOKBACK_H),
            "open_interest_1h": cut("open_interest_1h", STRATEGY_FLOW_LOOKBACK_H)}


def _run(sources, start: pd.Timestamp, end: pd.Timestamp, ks: KillSwitch):
    resources = {"kill_switch": ks, "universe": MarketUniverse()}
    with build_asset_context(resources=resources, partition_key=partition_key(start)) as ctx:
        df, checks = run_direct(strategy_signals_1h, ctx, **_inputs(sources, start, end))
        meta = ctx.get_output_metadata("result")
    return df, checks, meta


@pytest.mark.slow
def test_a_range_equals_its_hours_one_by_one_bit_for_bit(sources, tmp_path):
    # A direct call takes one partition: the range is the body's own two calls over the window (the Dagster
    # range run of the whole hourly cycle, this asset included, is tests/pipelines/test_backfill_equals_hourly.py)
    ks = KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}")
    loaded = _inputs(sources, HOURS[0], HOURS[-1] + HOUR)
    ranged = registry_signals(strategy_input(loaded["perp_ohlcv_1h"], loaded["funding_settlements"],
                                             loaded["open_interest_1h"], HOURS), HOURS)
    alone = [_run(sources, h, h + HOUR, ks) for h in HOURS]
    pd.testing.assert_frame_equal(ranged, pd.concat([a[0] for a in alone], ignore_index=True), check_exact=True)
    assert set(ranged["hour"]) == set(HOURS)
    assert set(ranged["strategy"]) <= set(registry())
    assert (ranged["status"] == "accepted").sum() > 5
    _, hour_checks, meta = alone[-1]
    assert [c.passed for c in hour_checks] == [True]
    rows = alone[-1][0]
    assert meta["rows"] == len(rows)
    assert meta["accepted"].value == int((rows["status"] == "accepted").sum())
    assert meta["decisions_per_strategy"].data == rows[rows["status"] == "accepted"]["strategy"].value_counts().sort_index().to_dict()
    assert meta["strategies_raised"].text == "none"
    assert "monday_range" in meta["capped"].data
    assert ks.store().active() == []


def _boom(data, params):
    raise ZeroDivisionError("no bars")


@pytest.mark.slow
def test_a_raising_strategy_is_rejected_rows_and_a_warning_that_trips_nothing(sources, tmp_path, monkeypatch):
    chosen = {"wick_flow": registry()["wick_flow"], "zz_broken": Strategy("zz_broken", _boom, lookback_h=24)}
    monkeypatch.setattr(rs, "registry", lambda: chosen)
    ks = KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}")
    h = HOURS[-1]
    df, (check,), meta = _run(sources, h, h + HOUR, ks)
    broken = df[df["strategy"] == "zz_broken"]
    assert broken[["status", "rejection"]].values.tolist() == [["rejected", "raised ZeroDivisionError: no bars"]]
    assert (df["strategy"] == "wick_flow").any() or df["strategy"].tolist() == ["zz_broken"]
    assert not check.passed
    assert check.severity == AssetCheckSeverity.WARN
    assert check.metadata["failed_rules"].data == {"strategies_ran": 1}
    assert check.metadata["warning_rules"].data == ["strategies_ran"]
    assert meta["strategies_raised"].text == "zz_broken"
    assert meta["rejections_per_strategy"].data == {"zz_broken": 1}
    assert ks.store().active() == []
