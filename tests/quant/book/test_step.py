"""The trading book, hour by hour, on small hand-built markets with every number checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.book.allocator import AllocatorParams
from quant.book.params import BookParams
from quant.book.step import fresh_state, run_book, state_from_tables, step
from quant.cascade.arming import arm_with_memory

T0 = pd.Timestamp("2025-06-10 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
HYPE = "HYPE/USDT:USDT"
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def bars(rows):
    """rows: (hour index, symbol, open, high, low, close[, volume])."""
    out = []
    for r in rows:
        i, sym, o, h, lo, c = r[:6]
        vol = r[6] if len(r) > 6 else 1e9
        out.append({"hour": T0 + i * H, "venue": "binance", "symbol": sym, "ts": T0 + i * H, "open": o, "high": h, "low": lo,
                    "close": c, "volume": vol, "quote_volume": vol * c, "flat_hours": 0})
    return pd.DataFrame(out)


def carry(rows):
    """rows: (hour index, symbol, entry, exit, apr)."""
    return pd.DataFrame([{"hour": T0 + i * H, "venue": "binance", "symbol": s, "entry": e, "exit": x, "eligible": e, "funding_apr": apr,
                          "volume_24h_usd": 5e7, "reason": "exit: apr below 3%" if x else "ok"} for i, s, e, x, apr in rows])


def funding(rows):
    return pd.DataFrame([{"hour": T0 + i * H, "venue": "binance", "symbol": s, "settlement_ts": T0 + i * H, "funding_rate": r,
                          "interval_hours": 8.0} for i, s, r in rows])


def cascade(rows):
    """rows: (hour index, symbol, score, direction, close, rv_24h); armed by the 24h replay."""
    df = pd.DataFrame([{"hour": T0 + i * H, "venue": "binance", "symbol": s, "score": sc, "direction": d, "close": c,
                        "rv_24h": rv, "status": "ok"} for i, s, sc, d, c, rv in rows])
    return arm_with_memory(df, pd.DatetimeIndex(sorted(df["hour"].unique()))) if len(df) else df


NO_CASCADE = pd.DataFrame(columns=["hour", "venue", "symbol", "score", "direction", "close", "rv_24h", "status", "armed"])
NO_TAIL = pd.DataFrame(columns=["hour", "status"])


def run(n, b, c=None, f=None, cas=None, tail=None, params=None, kill=False, state=None):
    hours = pd.date_range(T0, periods=n, freq="h")
    return run_book(state or fresh_state(), hours, b, f if f is not None else funding([]).reindex(columns=["hour", "venue", "symbol", "funding_rate"]),
                    c if c is not None else carry([]).reindex(columns=["hour", "venue", "symbol", "entry", "exit", "funding_apr"]),
                    cas if cas is not None else NO_CASCADE, tail if tail is not None else NO_TAIL, params or BookParams(),
                    kill_switch_from=T0 if kill else None)


def total(ledger, i):
    return ledger[(ledger["hour"] == T0 + i * H) & (ledger["layer"] == "total")].iloc[0]


# -- L1 carry: one hedged unit through entry, funding and exit ----------------------------------


def l1_market():
    b = bars([(0, HYPE, 40, 40, 40, 40), (1, HYPE, 40, 40.5, 39.5, 40), (2, HYPE, 40.5, 41.5, 40.2, 41), (3, HYPE, 42, 42.5, 41.5, 42)])
    c = carry([(0, HYPE, True, False, 0.9), (1, HYPE, True, False, 0.9), (2, HYPE, False, True, 0.01), (3, HYPE, False, False, 0.01)])
    f = funding([(2, HYPE, 0.0004)])
    return b, c, f


#: Carry's base weight of 0.40 (before the strategies layer took 0.15 of it), so a unit is a round 2,000 USD.
CARRY_040 = BookParams(allocator=AllocatorParams(base_weights={"L1": 0.40, "L2": 0.25, "L3": 0.15, "ML": 0.20, "ST": 0.0}))


def test_carry_unit_enters_collects_funding_and_exits_to_the_cent():
    b, c, f = l1_market()
    out, _ = run(4, b, c, f, params=CARRY_040)
    # hour 0: L1 alone has a signal (strength 1/10) -> weight 0.4 of the deployable 50% of 100,000 = 20,000;
    # one equal-weight unit = 20,000 / 10 = 2,000 USD -> 50 HYPE at 40 on each leg.
    alloc0 = out.allocations[out.allocations["hour"] == T0].set_index("layer")
    assert alloc0.at["L1", "budget_usd"] == pytest.approx(20_000.0)
    i0 = out.intents[out.intents["hour"] == T0].set_index("leg")
    assert i0.at["perp", "side"] == "sell"
    assert i0.at["spot", "side"] == "buy"
    assert i0.at["perp", "qty"] == pytest.approx(50.0)
    assert i0.at["spot", "qty"] == pytest.approx(50.0)
    assert i0["approved"].all()
    # hour 1 fills at the open 40 with 5 bps slippage: perp 39.98, spot 40.02; fee 8 bps a leg
    f1 = out.fills[out.fills["hour"] == T0 + H].set_index("leg")
    assert f1.at["perp", "fill_price"] == pytest.approx(39.98)
    assert f1.at["spot", "fill_price"] == pytest.approx(40.02)
    assert f1.at["perp", "fee"] == pytest.approx(50 * 39.98 * 0.0008)
    assert f1["modelled"].tolist() == [False, True]  # the spot leg is modelled from the perp
    # hour 1 close 40: unrealised -1.0 on each leg, fees 50 × 80 × 0.0008 = 3.2 -> P&L -5.2
    assert total(out.ledger, 1)["pnl_usd"] == pytest.approx(-5.2)
    # hour 2: the short receives 50 × 40 (previous mark) × 0.0004 = +0.8; close 41 -> unrealised -51 + 49
    t2 = total(out.ledger, 2)
    assert t2["funding_usd"] == pytest.approx(0.8)
    assert t2["pnl_usd"] == pytest.approx(-2.0 - 3.2 + 0.8)
    # the exit signal at hour 2 closes both legs reduce-only at hour 3's open 42
    exits = out.intents[out.intents["hour"] == T0 + 2 * H]
    assert exits["reduce_only"].all()
    assert set(exits["side"]) == {"buy", "sell"}
    # perp bought back at 42.021: (42.021 - 39.98) × -50 = -102.05; spot sold at 41.979: +97.95
    t3 = total(out.ledger, 3)
    assert t3["realised_usd"] == pytest.approx(-102.05 + 97.95)
    fees = 50 * (39.98 + 40.02 + 42.021 + 41.979) * 0.0008
    assert t3["fees_usd"] == pytest.approx(fees)
    assert t3["pnl_usd"] == pytest.approx(-4.1 - fees + 0.8)
    assert t3["equity_usd"] == pytest.approx(100_000 - 4.1 - fees + 0.8)
    assert out.positions[out.positions["hour"] == T0 + 3 * H].empty


def test_carry_pnl_equals_a_plain_cash_flow_loop():
    """An independent computation: every fill's cash flow, the fees and the funding, summed by hand."""
    b, c, f = l1_market()
    out, _ = run(4, b, c, f, params=CARRY_040)
    cash = 0.0
    for r in out.fills.itertuples():
        if r.filled_qty > 0:
            cash += (-1 if r.side == "buy" else 1) * r.filled_qty * r.fill_price - r.fee
    cash += 50 * 40 * 0.0004  # the one settlement the short received
    assert total(out.ledger, 3)["pnl_usd"] == pytest.approx(cash, abs=1e-9)
    row = out.ledger[(out.ledger["hour"] == T0 + 3 * H) & (out.ledger["layer"] == "L1")].iloc[0]
    assert row["symbol"] == HYPE
    assert row["pnl_usd"] == pytest.approx(cash, abs=1e-9)


def test_an_hour_from_stored_state_equals_the_same_hour_inside_the_range():
    b, c, f = l1_market()
    whole, _ = run(4, b, c, f)
    first, state = run(2, b, c, f)
    stored = state_from_tables(T0 + H, first.positions[first.positions["hour"] == T0 + H],
                               first.ledger[first.ledger["hour"] == T0 + H], first.intents[first.intents["hour"] == T0 + H])
    rest, _ = run_book(stored, pd.date_range(T0 + 2 * H, periods=2, freq="h"), b, f, c, NO_CASCADE, NO_TAIL, BookParams())
    for name in ("ledger", "positions", "fills", "intents", "allocations"):
        a = getattr(whole, name)
        a = a[a["hour"] >= T0 + 2 * H].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, getattr(rest, name).reset_index(drop=True), check_dtype=False)


def test_a_gap_in_the_state_is_an_error():
    b, c, f = l1_market()
    _, state = run(1, b, c, f)
    with pytest.raises(ValueError, match="run the gap first"):
        step(state, T0 + 3 * H, b, f, c, NO_CASCADE, NO_TAIL, BookParams())


def test_the_kill_switch_blocks_entries_but_not_exits():
    b, c, f = l1_market()
    out, _ = run(4, b, c, f, kill=True)
    assert not out.intents["approved"].any()
    assert out.intents["rejection"].str.startswith("kill switch active").all()
    assert (out.ledger[out.ledger["layer"] == "total"]["pnl_usd"] == 0).all()


def test_a_trip_after_an_approved_entry_cancels_it_instead_of_filling_it():
    # hour 0 approves the carry entry; the kill switch holds hour 1 on, so the working order is
    # cancelled when hour 1's bars would have filled it: nothing opens, no fee is paid
    b, c, f = l1_market()
    hours = pd.date_range(T0, periods=3, freq="h")
    out, state = run_book(fresh_state(), hours, b, f, c, NO_CASCADE, NO_TAIL, BookParams(), kill_switch_from=T0 + H)
    assert out.intents[out.intents["hour"] == T0]["approved"].all()
    first = out.fills[out.fills["hour"] == T0 + H]
    assert len(first) > 0
    assert (first["status"] == "cancelled").all()
    assert (first["filled_qty"] == 0).all()
    assert first["reason"].str.startswith("kill switch tripped").all()
    assert state.positions.empty
    assert (out.ledger[out.ledger["layer"] == "total"]["fees_usd"] == 0).all()


def test_nan_funding_on_a_held_perp_is_a_clear_error():
    b, c, _ = l1_market()
    with pytest.raises(ValueError, match=r"L1 binance HYPE/USDT:USDT perp .* funding .* not a number"):
        run(4, b, c, funding([(2, HYPE, np.nan)]))


def test_a_missing_price_for_a_held_leg_is_a_clear_error():
    b, c, f = l1_market()
    b = b[b["hour"] != T0 + 2 * H]
    with pytest.raises(ValueError, match="mark price"):
        run(4, b, c, f)


def test_bankroll_of_zero_is_refused():
    with pytest.raises(ValueError, match="bankroll_usd must be a positive amount"):
        BookParams(bankroll_usd=0)


# -- L2 cascade: a ladder that fills strictly through, then stops out ------------------------------


def l2_market(hour2_high=100.0):
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 100, 100.5, 97.5, 99), (2, BTC, 99, hour2_high, 96, 97), (3, BTC, 97, 98, 96.5, 97)])
    cas = cascade([(i, BTC, 0.7, "down", c, 0.005) for i, c in ((0, 100.0), (1, 99.0), (2, 97.0), (3, 97.0))])
    return b, cas


def test_cascade_ladder_fills_only_through_the_limit_and_the_stop_is_honoured():
    b, cas = l2_market()
    out, _ = run(4, b, cas=cas)
    # L2 alone: weight 0.25 × deployable 50,000 = 12,500 (under the 20% ladder cap)
    i0 = out.intents[out.intents["hour"] == T0].set_index("leg")
    assert list(i0.index) == ["rung1", "rung2", "rung3"]
    # rungs 1.5% / 3% / 5% below 100, stops 2% of the price beyond each, 25/35/40% of 12,500
    assert i0["limit"].tolist() == pytest.approx([98.5, 97.0, 95.0])
    assert i0["stop"].tolist() == pytest.approx([96.5, 95.0, 93.0])
    # targets: 100 pays < 2:1 for rungs 1 and 2, so limit + 2 × risk: 102.5, 101; rung 3 reverts to 100 (2.5:1)
    assert i0["target"].tolist() == pytest.approx([102.5, 101.0, 100.0])
    assert i0["qty"].tolist() == pytest.approx([12_500 * 0.25 / 98.5, 12_500 * 0.35 / 97.0, 12_500 * 0.40 / 95.0])
    # hour 1: low 97.5 trades through 98.5 (fill at the limit, maker 2 bps); 97.0 is never reached
    f1 = out.fills[out.fills["hour"] == T0 + H].set_index("leg")
    assert f1.at["rung1", "status"] == "filled"
    assert f1.at["rung1", "fill_price"] == pytest.approx(98.5)
    assert f1.at["rung2", "status"] == "no_counterparty"
    assert f1.at["rung3", "status"] == "no_counterparty"
    q = 12_500 * 0.25 / 98.5
    # hour 1 decision: the held rung gets its stop and target; rungs 2 and 3 are re-laid from the close 99
    i1 = out.intents[out.intents["hour"] == T0 + H].set_index("leg")
    assert i1.at["rung1:stop", "limit"] == pytest.approx(96.5)
    assert bool(i1.at["rung1:stop", "reduce_only"])
    assert i1.at["rung1:target", "limit"] == pytest.approx(102.5)
    assert i1.at["rung2", "limit"] == pytest.approx(99 * 0.97)
    # hour 2: low 96 <= 96.5 triggers the stop: min(96.5, open 99) less 10 bps = 96.4035, taker 5 bps
    f2 = out.fills[out.fills["hour"] == T0 + 2 * H].set_index("leg")
    assert f2.at["rung1:stop", "fill_price"] == pytest.approx(96.4035)
    # hour 2: rung2 at 96.03 also trades (low 96 < 96.03) and opens a fresh rung
    assert f2.at["rung2", "status"] == "filled"
    t2 = out.ledger[(out.ledger["hour"] == T0 + 2 * H) & (out.ledger["layer"] == "L2")].iloc[0]
    assert t2["realised_usd"] == pytest.approx(q * (96.4035 - 98.5))
    fee1 = q * 98.5 * 0.0002 + q * 96.4035 * 0.0005
    q2 = min(12_500 * 0.35 / (99 * 0.97), 1e18)
    assert t2["fees_usd"] == pytest.approx(fee1 + q2 * 99 * 0.97 * 0.0002)


def test_when_stop_and_target_trade_in_one_bar_the_stop_wins():
    b, cas = l2_market(hour2_high=103.0)
    out, _ = run(3, b, cas=cas)
    f2 = out.fills[out.fills["hour"] == T0 + 2 * H].set_index("leg")
    assert f2.at["rung1:stop", "status"] == "filled"
    assert f2.at["rung1:target", "status"] == "cancelled"
    assert f2.at["rung1:target", "filled_qty"] == 0.0


def test_a_touch_is_not_a_fill():
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 100, 100, 98.5, 99)])  # low equals rung 1
    cas = cascade([(0, BTC, 0.7, "down", 100.0, 0.005), (1, BTC, 0.7, "down", 99.0, 0.005)])
    out, _ = run(2, b, cas=cas)
    f1 = out.fills.set_index("leg")
    assert f1.at["rung1", "status"] == "no_counterparty"
    assert f1.at["rung1", "filled_qty"] == 0.0
    assert out.positions.empty


def test_arming_has_hysteresis_and_a_memory():
    # 0.65 triggers, 0.45 holds, 0.35 disarms; an hour computed alone sees the same history
    b = bars([(i, BTC, 100, 100, 100, 100) for i in range(4)])
    cas = cascade([(i, BTC, s, "down", 100.0, 0.005) for i, s in enumerate((0.65, 0.45, 0.35, 0.45))])
    out, _ = run(4, b, cas=cas)
    rungs = out.intents.groupby("hour")["leg"].apply(list)
    assert rungs.get(T0) == ["rung1", "rung2", "rung3"]
    assert rungs.get(T0 + H) == ["rung1", "rung2", "rung3"]
    assert T0 + 2 * H not in rungs.index
    assert T0 + 3 * H not in rungs.index


# -- L3 tail hedge --------------------------------------------------------------------------------


def tail(rows):
    """rows: (hour index, expiry days ahead)."""
    out = []
    for i, days in rows:
        out.append({"hour": T0 + i * H, "currency": "ETH", "status": "ok", "modelled": True, "expiry": T0 + pd.Timedelta(days=days) + 8 * H,
                    "put_instrument": "ETH-P-2500", "call_instrument": "ETH-C-3500", "put_strike": 2500.0, "call_strike": 3500.0,
                    "put_iv": 0.6, "call_iv": 0.6, "put_ask_usd": 45.0, "call_ask_usd": 50.0, "theta_usd": -4.0, "underlying_usd": 3000.0})
    return pd.DataFrame(out)


def test_tail_hedge_buys_the_strangle_on_the_theta_budget_and_marks_it_by_model():
    b = bars([(i, ETH, 3000, 3010, 2990, 3000) for i in range(3)])
    out, _ = run(3, b, tail=tail([(0, 30), (1, 30), (2, 30)]))
    # L3 alone: weight 0.15 × 50,000 = 7,500 USD of premium; theta budget 0.5% × 100,000 = 500 USD/day
    # contracts = floor(min(500 / 4, 7,500 / 95)) = floor(min(125, 78.9)) = 78
    i0 = out.intents[out.intents["hour"] == T0].set_index("leg")
    assert i0["qty"].tolist() == [78.0, 78.0]
    assert i0["approved"].all()
    assert i0.at["put", "notional_usd"] == pytest.approx(78 * 45.0)
    f1 = out.fills[out.fills["hour"] == T0 + H]
    assert f1["modelled"].all()
    assert (f1["status"] == "filled").all()
    pos = out.positions[out.positions["hour"] == T0 + H].set_index("leg")
    assert pos.at["put", "qty"] == 78.0
    assert pos.at["put", "symbol"] == "ETH-10JUL25"
    # held: no second strangle is bought while the first one is held
    assert out.intents[out.intents["hour"] == T0 + H].empty
    # the mark is the Black-76 value at the close with the entry IV
    from quant.book.hour_fills import option_values
    v = option_values(np.array([3000.0]), 2500.0, T0 + pd.Timedelta(days=30) + 8 * H, 0.6, False, T0 + 2 * H)[0]
    assert pos.at["put", "mark"] == pytest.approx(v)


def test_a_hedge_near_expiry_rolls_and_rebuys_the_hour_after():
    b = bars([(i, ETH, 3000, 3010, 2990, 3000) for i in range(4)])
    out, _ = run(4, b, tail=tail([(i, 6.5) for i in range(4)]))  # 6.5 days < 7: every held hedge rolls
    legs = out.intents.groupby("hour").apply(lambda g: sorted(zip(g["side"], g["leg"], strict=True)), include_groups=False)
    assert legs[T0] == [("buy", "call"), ("buy", "put")]
    # filled in hour 1; at its end 6.75 days remain (< 7): both legs are sold, filled in hour 2
    assert legs[T0 + H] == [("sell", "call"), ("sell", "put")]
    assert legs[T0 + 2 * H] == [("buy", "call"), ("buy", "put")]  # bought again once flat, never two hedges at once
    assert "expiry" in out.allocations.set_index(["hour", "layer"]).at[(T0 + H, "L3"), "note"]


def test_a_trigger_is_forgotten_after_the_arming_memory():
    # 0.65 at hour 0, then 0.45 (above hold) for 30 hours: armed while hour 0 is inside the 24h replay
    df = pd.DataFrame({"hour": pd.date_range(T0, periods=31, freq="h"), "venue": "binance", "symbol": BTC,
                       "score": [0.65] + [0.45] * 30})
    armed = arm_with_memory(df, pd.DatetimeIndex(df["hour"])).set_index("hour")["armed"]
    assert armed[T0 + 24 * H]
    assert not armed[T0 + 25 * H]
    # computed alone, the hour answers the same
    alone = arm_with_memory(df, pd.DatetimeIndex([T0 + 24 * H])).iloc[0]
    assert bool(alone["armed"])
    assert bool(arm_with_memory(df, pd.DatetimeIndex([T0])).iloc[0]["triggered"])


def test_the_book_intent_schema_extends_the_order_intent_columns():
    from quant.book.orders import INTENT_COLUMNS
    from quant.book.params import BOOK_INTENT_COLUMNS
    assert BOOK_INTENT_COLUMNS[: len(INTENT_COLUMNS)] == INTENT_COLUMNS
