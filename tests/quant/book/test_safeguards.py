"""Safeguards: every cap on both sides with hand numbers, and random sequences that never breach."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.book.orders import OrderIntent, intents_frame
from quant.book.safeguards import Book, Candidate, RiskLimits, live_submission_allowed, screen, screen_intents

BANK = 100_000.0
SYMS = {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}


def c(notional, layer="L1", symbol="BTC/USDT:USDT", leg="perp", cid=None, reduce_only=False) -> Candidate:
    return Candidate(cid or f"{layer}{symbol}{leg}{notional}", layer, symbol, leg, notional, reduce_only)


def judge(*cands, limits=None, book=None) -> list[str | None]:
    return screen(list(cands), book or Book(), limits or RiskLimits(BANK), SYMS)


@pytest.mark.parametrize(
    ("notional", "verdict"),
    [
        (25_000.0, None),  # exactly 25% of 100k: allowed
        (25_000.01, "position would exceed 25% of bankroll"),
        (1_000.0, None),  # exactly the 1% minimum
        (999.99, "below the minimum position 1% of bankroll"),
    ],
)
def test_single_position_and_minimum_caps(notional, verdict):
    assert judge(c(notional)) == [verdict]


def test_total_deployed_cap_50pct():
    verdicts = judge(c(25_000, symbol="BTC/USDT:USDT"), c(25_000, symbol="ETH/USDT:USDT"), c(1_000, symbol="SOL/USDT:USDT"))
    assert verdicts == [None, None, "total deployed would exceed 50% of bankroll"]


def test_l2_ladder_cap_20pct():
    verdicts = judge(c(15_000, layer="L2", leg="rung1"), c(5_000, layer="L2", leg="rung2"), c(1_000, layer="L2", leg="rung3"))
    assert verdicts == [None, None, "L2 ladder would exceed 20% of bankroll"]


def test_max_concurrent_positions():
    limits = RiskLimits(BANK, max_positions=2)
    verdicts = judge(c(1_000, symbol="BTC/USDT:USDT"), c(1_000, symbol="ETH/USDT:USDT"), c(1_000, symbol="SOL/USDT:USDT"),
                     c(1_000, symbol="BTC/USDT:USDT", leg="perp2"), limits=limits)
    assert verdicts == [None, None, "already 2 positions open", None]  # adding to a held position is fine


def test_hedged_unit_counts_once_and_hedge_needs_its_position():
    verdicts = judge(c(25_000, leg="perp"), c(25_000, leg="spot"), c(5_000, symbol="ETH/USDT:USDT", leg="spot"))
    assert verdicts == [None, None, "hedge leg without its position"]


def test_duplicates_unknown_symbols_and_bad_notional():
    book = Book()
    assert judge(c(2_000, cid="x"), c(2_000, cid="x", symbol="ETH/USDT:USDT"), book=book) == [None, "duplicate client order id"]
    assert judge(c(2_000, symbol="NOPE/USDT:USDT")) == ["unknown symbol NOPE/USDT:USDT"]
    assert judge(c(math.nan)) == ["notional must be a positive amount, got nan"]


def test_reduce_only_is_never_blocked_by_caps():
    book = Book(exposure={"L1:BTC/USDT:USDT": 25_000.0, "L1:ETH/USDT:USDT": 25_000.0})
    assert judge(c(30_000, reduce_only=True), book=book) == [None]


@pytest.mark.parametrize("bank", [0.0, -5.0, math.nan, math.inf])
def test_bankroll_must_be_positive(bank):
    with pytest.raises(ValueError, match="bankroll_usd must be a positive amount"):
        RiskLimits(bank)


def test_growth_is_only_a_bankroll_bump():
    assert judge(c(40_000), limits=RiskLimits(100_000)) == ["position would exceed 25% of bankroll"]
    assert judge(c(40_000), limits=RiskLimits(200_000)) == [None]


def test_live_needs_both_switches():
    assert not live_submission_allowed(RiskLimits(BANK), "L1")
    assert not live_submission_allowed(RiskLimits(BANK, enable_live_orders=True), "L1")
    assert not live_submission_allowed(RiskLimits(BANK, live_layers=frozenset({"L1"})), "L1")
    assert live_submission_allowed(RiskLimits(BANK, enable_live_orders=True, live_layers=frozenset({"L1"})), "L1")
    assert not live_submission_allowed(RiskLimits(BANK, enable_live_orders=True, live_layers=frozenset({"L1"})), "L2")


def test_screen_intents_values_orders_and_refuses_missing_prices():
    h = pd.Timestamp("2025-09-01 08:00", tz="UTC")
    intents = intents_frame([
        OrderIntent(h, "binance", "BTC/USDT:USDT", "sell", 0.2, "market", None, "L1", "perp", "carry entry"),
        OrderIntent(h, "binance", "ETH/USDT:USDT", "buy", 2.0, "limit", 4_000.0, "L2", "rung1", "ladder"),
        OrderIntent(h, "binance", "SOL/USDT:USDT", "buy", 10.0, "market", None, "L2", "rung1", "no price"),
    ])
    out = screen_intents(intents, pd.Series({"BTC/USDT:USDT": 100_000.0, "ETH/USDT:USDT": 4_100.0}), Book(), RiskLimits(BANK), SYMS)
    assert out["notional_usd"].iloc[0] == pytest.approx(20_000.0)  # 0.2 × 100k reference
    assert out["notional_usd"].iloc[1] == pytest.approx(8_000.0)  # 2 × 4000 limit
    assert out["approved"].tolist() == [True, True, False]
    assert "notional must be a positive amount" in out["rejection"].iloc[2]


# -- no sequence ever breaches a cap ---------------------------------------------------------

def _assert_within_caps(cands: list[Candidate], verdicts: list[str | None], limits: RiskLimits) -> None:
    pos: dict[str, float] = {}
    for cand, verdict in zip(cands, verdicts, strict=True):
        if verdict is None and not cand.reduce_only and cand.leg != "spot":
            key = f"{cand.layer}:{cand.symbol}"
            pos[key] = pos.get(key, 0.0) + cand.notional_usd
            assert cand.notional_usd >= limits.usd(limits.min_position_pct) * (1 - 1e-9)
    tol = 1e-6 * limits.bankroll_usd
    assert all(v <= limits.usd(limits.max_position_pct) + tol for v in pos.values())
    assert sum(pos.values()) <= limits.usd(limits.max_total_pct) + tol
    assert sum(v for k, v in pos.items() if k.startswith("L2:")) <= limits.usd(limits.max_ladder_pct) + tol
    assert len(pos) <= limits.max_positions
    accepted_ids = [cand.client_order_id for cand, v in zip(cands, verdicts, strict=True) if v is None]
    assert len(accepted_ids) == len(set(accepted_ids))


CANDIDATE = st.builds(
    Candidate,
    client_order_id=st.sampled_from([f"id{k}" for k in range(40)]),
    layer=st.sampled_from(["L1", "L2", "L3"]),
    symbol=st.sampled_from(sorted(SYMS | {"X/USDT:USDT"})),
    leg=st.sampled_from(["perp", "spot", "rung1", "call"]),
    notional_usd=st.one_of(st.floats(min_value=-10.0, max_value=60_000.0), st.just(math.nan)),
    reduce_only=st.booleans(),
)


@settings(max_examples=2_000, deadline=None)
@given(st.lists(CANDIDATE, max_size=30), st.floats(min_value=1_000.0, max_value=1e9), st.integers(1, 12))
def test_hypothesis_sequences_never_breach(cands, bank, max_positions):
    limits = RiskLimits(bank, max_positions=max_positions)
    _assert_within_caps(cands, screen(cands, Book(), limits, SYMS), limits)


def test_100k_random_sequences_never_breach():
    rng = np.random.default_rng(20251121)
    limits = RiskLimits(BANK)
    layers, syms, legs = ["L1", "L2", "L3"], sorted(SYMS), ["perp", "spot", "rung1", "rung2", "call", "put"]
    n_seq, length = 100_000, 8
    notional = rng.uniform(0, 0.3 * BANK, size=(n_seq, length))
    li = rng.integers(0, 3, size=(n_seq, length))
    si = rng.integers(0, 3, size=(n_seq, length))
    gi = rng.integers(0, len(legs), size=(n_seq, length))
    for k in range(n_seq):
        cands = [
            Candidate(f"{k}-{j}", layers[li[k, j]], syms[si[k, j]], legs[gi[k, j]], float(notional[k, j]))
            for j in range(length)
        ]
        _assert_within_caps(cands, screen(cands, Book(), limits, SYMS), limits)
