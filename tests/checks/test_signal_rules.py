"""The Python rules of the cascade and tail-hedge checks: each passes a clean frame and catches its fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.engine import RuleEnv
from checks.signals import CASCADE_RULES, TAIL_HEDGE_RULES
from quant.market_data.universe import sample_universe

H = pd.Timestamp("2025-06-10 12:00", tz="UTC")
ENV = RuleEnv(hours=pd.DatetimeIndex([H, H + pd.Timedelta(hours=1)]), universe=sample_universe())
CASCADE = {r.name: r for r in CASCADE_RULES}
HEDGE = {r.name: r for r in TAIL_HEDGE_RULES}


def cascade_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "hour": [H, H, H],
        "venue": ["binance", "bybit", "hyperliquid"],
        "symbol": ["ETH/USDT:USDT", "ETH/USDT:USDT", "ETH/USDC:USDC"],
        "score": [0.0, 1.0, np.nan],
        "status": ["ok", "ok", "no OI"],
    })


def hedge_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "hour": [H, H + pd.Timedelta(hours=1)],
        "currency": ["ETH", "ETH"],
        "underlying_usd": [2500.0, np.nan],
        "chain_as_of": [pd.Timestamp("2024-01-08 11:19", tz="UTC"), pd.NaT],
        "modelled": [True, False],
        "status": ["ok", "no underlying"],
        "put_strike": [2100.0, np.nan],
        "call_strike": [3000.0, np.nan],
        "theta_usd": [-5.0, np.nan],
        "premium_usd": [70.0, np.nan],
    })


def violations(rule, frame: pd.DataFrame) -> pd.DataFrame:
    return rule.evaluate(frame, ENV)


@pytest.mark.parametrize("name", ["score_in_unit_interval", "score_nan_unless_ok"])
def test_cascade_rules_pass_a_clean_frame(name):
    assert violations(CASCADE[name], cascade_frame()).empty


@pytest.mark.parametrize(
    ("name", "row", "column", "value", "message"),
    [
        ("score_in_unit_interval", 0, "score", 1.2, "status ok but score 1.2"),
        ("score_in_unit_interval", 1, "score", np.nan, "status ok but score nan"),
        ("score_nan_unless_ok", 2, "score", 0.0, "status 'no OI' but score 0.0"),
    ],
)
def test_cascade_rules_catch_their_fault(name, row, column, value, message):
    frame = cascade_frame()
    frame.loc[row, column] = value
    found = violations(CASCADE[name], frame)
    assert len(found) == 1
    assert found["detail"].iloc[0] == message
    assert found["venue"].iloc[0] == frame["venue"].iloc[row]


@pytest.mark.parametrize("name", sorted(HEDGE))
def test_tail_hedge_rules_pass_a_clean_frame(name):
    assert violations(HEDGE[name], hedge_frame()).empty


@pytest.mark.parametrize(
    ("name", "column", "value", "message"),
    [
        ("strikes_straddle_underlying", "put_strike", 2600.0, "put strike 2600.0 < underlying 2500.0"),
        ("strikes_straddle_underlying", "call_strike", 2400.0, "< call strike 2400.0 does not hold"),
        ("strikes_straddle_underlying", "underlying_usd", np.nan, "underlying nan"),
        ("theta_not_positive", "theta_usd", 0.5, "theta is 0.5 USD/day"),
        ("premium_positive", "premium_usd", 0.0, "premium is 0.0 USD"),
        ("modelled_when_stale", "modelled", False, "used for the hour as a market chain"),
    ],
)
def test_tail_hedge_rules_catch_their_fault(name, column, value, message):
    frame = hedge_frame()
    frame.loc[0, column] = value
    found = violations(HEDGE[name], frame)
    assert len(found) == 1
    assert message in found["detail"].iloc[0]
    assert (found["hour"].iloc[0], found["venue"].iloc[0], found["symbol"].iloc[0]) == (H, "tail_hedge", "ETH")


def test_tail_hedge_rules_ignore_rows_that_are_not_ok():
    frame = hedge_frame()
    frame.loc[1, ["put_strike", "theta_usd", "premium_usd"]] = [9e9, 3.0, -1.0]
    for name in ("strikes_straddle_underlying", "theta_not_positive", "premium_positive"):
        assert violations(HEDGE[name], frame).empty, name


def test_a_live_chain_of_the_hour_may_be_unmodelled():
    frame = hedge_frame()
    frame.loc[0, ["chain_as_of", "modelled"]] = [H + pd.Timedelta(minutes=20), False]
    assert violations(HEDGE["modelled_when_stale"], frame).empty


def test_tail_hedge_duplicates_are_caught():
    frame = pd.concat([hedge_frame(), hedge_frame().iloc[:1]], ignore_index=True)
    found = violations(HEDGE["unique_rows"], frame)
    assert len(found) == 2
    assert set(found["detail"]) == {"more than one row for this (currency, hour)"}
