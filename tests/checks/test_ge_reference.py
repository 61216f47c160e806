"""great-expectations as the independent reference of the row rules.

The checks compute every rule in pandas/numpy (GE cost ~2.7 s a run for the same rules). Each row
rule also carries its great-expectations formulation; here GE validates the same frames and must
find exactly the same violating (hour, venue, symbol) rows — on real sample hours (none) and on
frames broken one way per rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.engine import Rule, RuleEnv
from checks.features import REGIME_RULES
from checks.ge_engine import violations_by_rule
from checks.market_data import OHLCV_RULES, OI_RULES, UNIVERSE_RULES
from quant.market_data import tables as md
from quant.market_data.universe import sample_universe
from resources.exchange.replay import ReplayExchange

START = pd.Timestamp("2026-02-05 00:00", tz="UTC")
END = START + pd.Timedelta(hours=3)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    ex, uni = ReplayExchange(), sample_universe()
    candles = [(v, s, ex.candles(v, s, (START - md.OHLCV_WARMUP).to_pydatetime(), END.to_pydatetime()))
               for v, s in uni.pairs("candles")]
    oi = [(v, s, ex.open_interest_history(v, s, START.to_pydatetime(), END.to_pydatetime()))
          for v, s in uni.pairs("open_interest")]
    return {"ohlcv": md.ohlcv_table(candles, START), "oi": md.open_interest_table(oi)}


def _keys(v: pd.DataFrame) -> set[tuple]:
    return set(v[["hour", "venue", "symbol"]].itertuples(index=False, name=None))


def _agree(rules: list[Rule], frame: pd.DataFrame) -> dict[str, int]:
    """Per GE-expressible rule: assert pandas and GE flag the same rows; return the counts."""
    import great_expectations as gx

    with_ge = [r for r in rules if r.expectations is not None]
    reference = violations_by_rule(frame, {r.name: (r.expectations(gx.expectations), r.description) for r in with_ge})
    env = RuleEnv(hours=md.hours_of(START, END), universe=sample_universe())
    counts = {}
    for rule in with_ge:
        ours = rule.violations(frame, env)
        if rule.name == "schema":  # our schema rule also checks dtypes, which GE's column list does not
            ours = ours[ours["detail"].str.startswith("columns are")]
        assert _keys(ours) == _keys(reference[rule.name]), rule.name
        counts[rule.name] = len(_keys(ours))
    return counts


def test_real_hours_pass_both(frames):
    assert set(_agree(OHLCV_RULES, frames["ohlcv"]).values()) == {0}
    assert set(_agree(OI_RULES, frames["oi"]).values()) == {0}


def test_broken_candles_are_found_by_both(frames):
    df = frames["ohlcv"].copy()
    df.loc[0, "low"] = -1.0  # prices_positive
    df.loc[1, "volume"] = -3.0  # volume_non_negative
    df.loc[2, "high"] = df.loc[2, "close"] * 0.5  # high_bounds_body
    df.loc[3, "low"] = df.loc[3, "open"] * 2  # low_bounds_body
    df = pd.concat([df, df.iloc[[4]]], ignore_index=True)  # unique_rows
    counts = _agree(OHLCV_RULES, df)
    assert counts["prices_positive"] == 1
    assert counts["volume_non_negative"] == 1
    assert counts["high_bounds_body"] >= 1
    assert counts["low_bounds_body"] >= 1
    assert counts["unique_rows"] == 1


def test_reordered_columns_fail_both(frames):
    df = frames["oi"]
    cols = list(df.columns)
    counts = _agree(OI_RULES, df[[cols[1], cols[0], *cols[2:]]])
    assert counts["schema"] == len(_keys(df))


def test_open_interest_and_regime_bounds(frames):
    oi = frames["oi"].copy()
    oi.loc[0, "oi_usd"] = 0.0  # strictly positive: zero fails
    assert _agree(OI_RULES, oi)["oi_positive"] == 1
    regimes = pd.DataFrame({
        "hour": [START] * 3, "venue": ["binance"] * 3, "symbol": ["A", "B", "C"],
        "trend_score": [0.5, 1.2, np.nan], "range_score": [0.1, 0.0, np.nan], "high_vol_score": [0.0, 0.0, np.nan],
        "crash_score": [0.0, -0.1, np.nan], "regime": ["trend", "bogus", "unknown"],
    })
    counts = _agree(REGIME_RULES, regimes)
    assert counts["scores_in_unit_interval"] == 1
    assert counts["known_label"] == 1


def test_universe_volume_rule(frames):
    scan = pd.DataFrame({"hour": [START] * 2, "venue": ["binance"] * 2, "symbol": ["A", "B"],
                         "volume_24h_usd": [-1.0, np.nan]})
    assert _agree([r for r in UNIVERSE_RULES if r.name == "volume_non_negative"], scan) == {"volume_non_negative": 1}


def test_a_rule_that_crashes_fails_every_hour_instead_of_passing(frames):
    from checks.engine import Rule

    def boom(df, env):
        raise KeyError("close")

    env = RuleEnv(hours=md.hours_of(START, END), universe=sample_universe())
    found = Rule("boom", "a rule with a bug", "-", boom).violations(frames["ohlcv"], env)
    assert len(found) == 3
    assert found["detail"].str.contains("rule boom could not run on this frame: KeyError").all()


def test_an_empty_frame_with_the_wrong_columns_fails_its_schema_rule():
    env = RuleEnv(hours=md.hours_of(START, END), universe=sample_universe())
    schema = next(r for r in OHLCV_RULES if r.name == "schema")
    found = schema.violations(pd.DataFrame({"hour": pd.Series(dtype="datetime64[ns, UTC]")}), env)
    assert len(found) == 3
    assert found["detail"].str.startswith("columns are ['hour']").all()
