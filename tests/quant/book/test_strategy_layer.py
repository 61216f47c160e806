"""The strategies layer (ST) on hand-built markets: the registry's decisions through intents, safeguards, fills and ledger."""

from __future__ import annotations

import pandas as pd
import pytest

from quant.book.params import BookParams, StrategyLayerParams
from quant.book.step import fresh_state, run_book
from quant.strategies import decisions
from tests.quant.book.test_step import BTC, ETH, HYPE, NO_CASCADE, NO_TAIL, T0, H, bars, funding

SOL, DOGE = "SOL/USDT:USDT", "DOGE/USDT:USDT"

NO_CARRY = pd.DataFrame(columns=["hour", "venue", "symbol", "entry", "exit", "funding_apr"])
POS = "ema_cross@BTC/USDT:USDT"


def decided(rows):
    """rows: (hour index, symbol, side, entry, stop, target, confidence[, strategy])."""
    return decisions([{"hour": T0 + i * H, "venue": "binance", "symbol": s, "strategy": r[7] if len(r) > 7 else "ema_cross",
                       "side": side, "entry": e, "stop": st, "target": tg, "confidence": cf, "reason": "test"}
                      for r in rows for i, s, side, e, st, tg, cf in [r[:7]]]).assign(status="accepted")


def run(n, b, strategies, f=None, params=None):
    hours = pd.date_range(T0, periods=n, freq="h")
    f = f if f is not None else funding([]).reindex(columns=["hour", "venue", "symbol", "funding_rate"])
    return run_book(fresh_state(), hours, b, f, NO_CARRY, NO_CASCADE, NO_TAIL, params or BookParams(), strategies=strategies)


def st_total(ledger, i):
    rows = ledger[(ledger["hour"] == T0 + i * H) & (ledger["layer"] == "ST")]
    return rows.iloc[0]


def test_an_entry_risks_one_percent_of_equity_and_exits_at_its_target():
    # entry 100, stop 50: 1% of 100,000 = 1,000 USD at risk over 50 -> 20 BTC (2,000 USD, inside the 7,500 budget:
    # ST alone has a signal, 0.15 of the deployable 50,000)
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 101, 102, 100, 101), (2, BTC, 150, 210, 149, 205), (3, BTC, 205, 205, 205, 205)])
    out, state = run(4, b, decided([(0, BTC, "long", 100.0, 50.0, 200.0, 0.8)]))
    alloc = out.allocations[(out.allocations["hour"] == T0) & (out.allocations["layer"] == "ST")].iloc[0]
    assert alloc["budget_usd"] == pytest.approx(7_500.0)
    entry = out.intents[out.intents["hour"] == T0].iloc[0]
    assert (entry["side"], entry["order_type"], entry["qty"], entry["position"], entry["leg"]) == ("buy", "market", 20.0, POS, "ema_cross")
    assert entry["approved"]
    # hour 1: market buy at the open 101 plus 5 bps -> 101.0505, taker fee 5 bps
    f1 = out.fills[out.fills["hour"] == T0 + H].iloc[0]
    assert f1["fill_price"] == pytest.approx(101.0505)
    assert f1["fee"] == pytest.approx(20 * 101.0505 * 0.0005)
    # hour 1 places the reduce-only stop and target; hour 2's high 210 trades through 200 -> sold at 200, maker 2 bps
    legs = set(out.intents.loc[out.intents["hour"] == T0 + H, "leg"])
    assert legs == {"ema_cross:stop", "ema_cross:target"}
    f2 = out.fills[(out.fills["hour"] == T0 + 2 * H) & (out.fills["filled_qty"] > 0)].iloc[0]
    assert (f2["leg"], f2["fill_price"]) == ("ema_cross:target", 200.0)
    t2 = st_total(out.ledger, 2)
    assert t2["symbol"] == POS
    assert t2["realised_usd"] == pytest.approx(20 * (200 - 101.0505))
    assert t2["fees_usd"] == pytest.approx(20 * 101.0505 * 0.0005 + 20 * 200 * 0.0002)
    assert state.positions.empty


def test_a_stop_fills_at_the_stop_less_ten_bps():
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 100, 100, 100, 100), (2, BTC, 60, 61, 40, 45), (3, BTC, 45, 45, 45, 45)])
    out, _ = run(4, b, decided([(0, BTC, "long", 100.0, 50.0, 200.0, 0.8)]))
    f2 = out.fills[(out.fills["hour"] == T0 + 2 * H) & (out.fills["filled_qty"] > 0)]
    assert f2["leg"].tolist() == ["ema_cross:stop"]  # the target of the pair is never filled
    assert f2.iloc[0]["fill_price"] == pytest.approx(50 * (1 - 0.001))  # min(stop 50, open 60) less 10 bps


def test_a_short_pays_or_receives_funding_like_any_perp():
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 100, 100, 100, 100), (2, BTC, 100, 100, 100, 100)])
    f = funding([(2, BTC, 0.001)])
    out, _ = run(3, b, decided([(0, BTC, "short", 100.0, 140.0, 1.0, 0.8)]), f)
    # 1,000 / 40 = 25 BTC short, sold at 99.95; at hour 2 the short receives 25 × 100 (the previous mark) × 0.1%
    assert st_total(out.ledger, 2)["funding_usd"] == pytest.approx(2.5)


def test_at_most_three_positions_best_confidence_first():
    syms = [BTC, ETH, SOL, DOGE, HYPE]
    b = bars([(i, s, 100, 100, 100, 100) for i in range(2) for s in syms])
    rows = [(0, s, "long", 100.0, 50.0, 200.0, c) for s, c in zip(syms, [0.5, 0.9, 0.7, 0.8, 0.6], strict=True)]
    out, _ = run(2, b, decided(rows), params=BookParams())
    opened = out.intents[(out.intents["hour"] == T0) & (out.intents["layer"] == "ST")]
    assert opened["symbol"].tolist() == [ETH, DOGE, SOL]  # confidence 0.9, 0.8, 0.7
    assert opened["approved"].all()


def test_a_decision_under_two_to_one_never_becomes_an_order():
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 100, 100, 100, 100)])
    out, _ = run(2, b, decided([(0, BTC, "long", 100.0, 50.0, 170.0, 0.8)]))  # 1.4:1
    assert not (out.intents["layer"] == "ST").any()


def test_a_position_held_past_its_time_stop_is_closed_at_market():
    b = bars([(i, BTC, 100, 100, 100, 100) for i in range(5)])
    params = BookParams(strategies=StrategyLayerParams(max_hold_h=2))
    out, state = run(5, b, decided([(0, BTC, "long", 100.0, 50.0, 200.0, 0.8)]), params=params)
    exit_ = out.intents[(out.intents["hour"] == T0 + 2 * H) & (out.intents["layer"] == "ST")]
    assert exit_["order_type"].tolist() == ["market"]
    assert exit_.iloc[0]["reduce_only"]
    assert state.positions.empty


def test_a_rejected_or_duplicate_decision_does_not_open_twice():
    b = bars([(i, BTC, 100, 100, 100, 100) for i in range(3)])
    rows = [(0, BTC, "long", 100.0, 50.0, 200.0, 0.8), (1, BTC, "long", 100.0, 50.0, 200.0, 0.9)]
    frame = decided(rows)
    frame.loc[1, "status"] = "rejected"
    out, _ = run(3, b, frame)
    entries = out.intents[(out.intents["layer"] == "ST") & ~out.intents["reduce_only"]]
    assert len(entries) == 1
    again, _ = run(3, b, decided(rows))  # the second decision finds the strategy already holding BTC
    assert len(again.intents[(again.intents["layer"] == "ST") & ~again.intents["reduce_only"]]) == 1


@pytest.mark.parametrize("bad", [{"risk_pct": 0.0}, {"max_positions": -1}, {"min_reward_risk": 1.5}, {"max_hold_h": 0}])
def test_bad_strategy_layer_settings_are_refused(bad):
    with pytest.raises(ValueError, match="must be|at least"):
        StrategyLayerParams(**bad)


def test_decisions_without_a_verdict_are_refused():
    b = bars([(0, BTC, 100, 100, 100, 100)])
    with pytest.raises(ValueError, match="need a status column"):
        run(1, b, decided([(0, BTC, "long", 100.0, 50.0, 200.0, 0.8)]).drop(columns="status"))
