"""The ML sleeve inside the book: a constructed prediction buys, fills the next hour, holds, exits; P&L by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.book.params import BookParams
from quant.book.step import fresh_state, run_book, state_from_tables, step
from quant.ml.predictions import PREDICTION_COLUMNS
from tests.quant.book.test_step import (
    HYPE,
    NO_CASCADE,
    NO_TAIL,
    T0,
    H,
    bars,
    carry,
    funding,
    l1_market,
    total,
)

SOL = "SOL/USDT:USDT"
NO_CARRY = carry([]).reindex(columns=["hour", "venue", "symbol", "entry", "exit", "funding_apr"])
NO_FUNDING = funding([]).reindex(columns=["hour", "venue", "symbol", "funding_rate"])


def predictions(rows):
    """rows: (hour index, symbol, probability, expected_return, sigma_1h, corr_btc_7d, horizon_h[, status])."""
    out = []
    for r in rows:
        i, sym, p, er, sigma, corr, h = r[:7]
        row = dict.fromkeys(PREDICTION_COLUMNS, np.nan)
        row.update(hour=T0 + i * H, venue="binance", symbol=sym, probability=p, expected_return=er, regime="trend",
                   sigma_1h=sigma, corr_btc_7d=corr, horizon_h=h, fold="f1", model_version="v1", status=r[7] if len(r) > 7 else "ok")
        out.append(row)
    return pd.DataFrame(out, columns=PREDICTION_COLUMNS)


def ml_market():
    b = bars([(0, SOL, 100, 100, 100, 100), (1, SOL, 101, 102, 100.5, 101.5), (2, SOL, 101.5, 103, 101, 102.5),
              (3, SOL, 103, 103.5, 102, 103), (4, SOL, 103, 104, 102.5, 103.5)])
    # one ok prediction at hour 0 (horizon 2 hours); hour 1 has only a row without a model
    ml = predictions([(0, SOL, 0.7, 0.02, 0.01, 0.3, 2), (1, SOL, np.nan, np.nan, 0.01, 0.3, 2, "no model: too little history")])
    return b, ml


def run(n, b, ml, kill_from=None, c=None, f=None, state=None, start=T0):
    hours = pd.date_range(start, periods=n, freq="h")
    return run_book(state or fresh_state(), hours, b, f if f is not None else NO_FUNDING, c if c is not None else NO_CARRY,
                    NO_CASCADE, NO_TAIL, BookParams(), kill_switch_from=kill_from, ml=ml)


def ml_row(ledger, i):
    return ledger[(ledger["hour"] == T0 + i * H) & (ledger["layer"] == "ML")].iloc[0]


def test_a_prediction_buys_fills_next_hour_holds_exits_and_the_pnl_is_hand_computed():
    b, ml = ml_market()
    out, state = run(5, b, ml)
    # hour 0: ML alone has a signal (strength 0.7) -> weight 0.2 of the deployable 50,000 = 10,000.
    # stop 2 × 0.01 × √2 = 2.828% -> risk-sized 100,000 × 2% / 0.02828 = 70,711, cut to the sleeve's
    # 10,000 (the allocator's budget and the cluster's 10%) -> 100 SOL at the modelled spot close 100
    alloc0 = out.allocations[out.allocations["hour"] == T0].set_index("layer")
    assert alloc0.at["ML", "budget_usd"] == pytest.approx(10_000.0)
    assert alloc0.at["ML", "strength"] == pytest.approx(0.7)
    assert alloc0.at["ML", "note"].startswith("ML: 1 entries")
    i0 = out.intents[out.intents["hour"] == T0].iloc[0]
    assert (i0["layer"], i0["symbol"], i0["position"], i0["leg"], i0["side"]) == ("ML", "SOL/USDT", SOL, "long", "buy")
    assert (i0["order_type"], i0["instrument_kind"], bool(i0["reduce_only"]), bool(i0["approved"])) == ("market", "spot", False, True)
    assert i0["qty"] == pytest.approx(100.0)
    assert i0["notional_usd"] == pytest.approx(10_000.0)
    assert i0["stop"] == pytest.approx(100 * (1 - 2 * 0.01 * np.sqrt(2)))
    assert i0["expiry"] == T0 + 2 * H
    assert "modelled" in i0["reason"]
    # hour 1: a market buy at the open 101, no slippage, 0.4% fee: 100 × 101 × 0.004 = 40.4; modelled spot
    f1 = out.fills[out.fills["hour"] == T0 + H].iloc[0]
    assert (f1["status"], f1["fill_price"], bool(f1["modelled"])) == ("filled", pytest.approx(101.0), True)
    assert f1["fee"] == pytest.approx(40.4)
    pos1 = out.positions[out.positions["hour"] == T0 + H].iloc[0]
    assert (pos1["layer"], pos1["kind"], pos1["instrument"], pos1["qty"]) == ("ML", "spot", "SOL/USDT", pytest.approx(100.0))
    assert pos1["expiry"] == T0 + 2 * H
    # close 101.5: unrealised 100 × 0.5 = 50, less the fee: 9.6; hour 1 is before the horizon: held, no order
    assert ml_row(out.ledger, 1)["pnl_usd"] == pytest.approx(50.0 - 40.4)
    assert out.intents[out.intents["hour"] == T0 + H].empty
    # hour 2 reaches the horizon (T0 + 2h) with no fresh signal: a reduce-only market sell of the 100
    exit2 = out.intents[out.intents["hour"] == T0 + 2 * H].iloc[0]
    assert (exit2["side"], bool(exit2["reduce_only"]), exit2["qty"], bool(exit2["approved"])) == ("sell", True, pytest.approx(100.0), True)
    assert exit2["reason"] == "ML exit: horizon reached with no fresh signal"
    # hour 3: sold at the open 103, fee 100 × 103 × 0.004 = 41.2; realised 100 × (103 − 101) = 200
    f3 = out.fills[out.fills["hour"] == T0 + 3 * H].iloc[0]
    assert f3["fill_price"] == pytest.approx(103.0)
    assert f3["fee"] == pytest.approx(41.2)
    row = ml_row(out.ledger, 3)
    assert row["realised_usd"] == pytest.approx(200.0)
    assert row["fees_usd"] == pytest.approx(40.4 + 41.2)
    assert row["pnl_usd"] == pytest.approx(200.0 - 40.4 - 41.2)  # 118.4
    assert total(out.ledger, 4)["equity_usd"] == pytest.approx(100_000 + 118.4)
    assert state.positions.empty
    # the same trade by the labels' cost model: 100 × (103 × (1 − 0.004) − 101 × (1 + 0.004))
    assert row["pnl_usd"] == pytest.approx(100 * (103 * 0.996 - 101 * 1.004))


def test_no_bar_in_the_next_hour_is_no_fill():
    b, ml = ml_market()
    b = b[~((b["hour"] == T0 + H) & (b["symbol"] == SOL))]
    out, state = run(2, b, ml)
    f1 = out.fills[out.fills["hour"] == T0 + H].iloc[0]
    assert (f1["status"], f1["filled_qty"]) == ("no_counterparty", 0.0)
    assert state.positions.empty
    assert total(out.ledger, 1)["fees_usd"] == 0.0


def test_the_kill_switch_blocks_ml_entries_but_not_its_exits():
    b, ml = ml_market()
    out, _ = run(5, b, ml, kill_from=T0)
    assert not out.intents["approved"].any()
    assert out.intents["rejection"].str.startswith("kill switch active").all()
    assert (out.ledger[out.ledger["layer"] == "total"]["pnl_usd"] == 0).all()
    # tripped at hour 2 with the position held: the horizon exit is reduce-only and still sells
    free, _ = run(5, b, ml)
    held, _ = run(5, b, ml, kill_from=T0 + 2 * H)
    exit2 = held.intents[held.intents["hour"] == T0 + 2 * H].iloc[0]
    assert bool(exit2["approved"])
    assert bool(exit2["kill_switch_active"])
    assert ml_row(held.ledger, 3)["pnl_usd"] == pytest.approx(ml_row(free.ledger, 3)["pnl_usd"])


def test_a_range_equals_its_hours_stepped_one_by_one_from_stored_state():
    b, ml = ml_market()
    c = carry([(i, HYPE, i < 2, i == 3, 0.9) for i in range(5)])
    lb, _, f = l1_market()
    b = pd.concat([b, lb, bars([(4, HYPE, 42, 42.5, 41.5, 42)])], ignore_index=True)
    whole, _ = run(5, b, ml, c=c, f=f)
    state, parts = fresh_state(), []
    for i in range(5):
        hour = T0 + i * H
        pick = lambda df, h=hour: df[df["hour"] == h]  # noqa: E731
        out, _ = step(state, hour, pick(b), pick(f), pick(c), NO_CASCADE, NO_TAIL, BookParams(), ml=pick(ml))
        parts.append(out)
        state = state_from_tables(hour, out.positions, out.ledger, out.intents)  # what storage holds for the hour
    assert (whole.intents["layer"] == "ML").any()
    assert (whole.intents["layer"] == "L1").any()
    for name in ("ledger", "positions", "fills", "intents", "allocations"):
        alone = pd.concat([getattr(p, name) for p in parts], ignore_index=True)
        pd.testing.assert_frame_equal(getattr(whole, name).reset_index(drop=True), alone, check_dtype=False)


def test_every_existing_caller_still_works_without_predictions():
    b, c, f = l1_market()
    hours = pd.date_range(T0, periods=4, freq="h")
    out, _ = run_book(fresh_state(), hours, b, f, c, NO_CASCADE, NO_TAIL, BookParams())
    alloc = out.allocations.set_index(["hour", "layer"])
    assert (alloc.xs("ML", level="layer")["budget_usd"] == 0.0).all()
    assert not (out.intents["layer"] == "ML").any()
    one, _ = step(fresh_state(), T0, b[b["hour"] == T0], f.iloc[0:0], c[c["hour"] == T0], NO_CASCADE, NO_TAIL, BookParams())
    assert list(one.allocations["layer"]) == ["L1", "L2", "L3", "ML", "ST"]


def test_a_close_through_the_stop_sells_at_the_next_open():
    # stop 100 × (1 − 0.028284) = 97.17; hour 1 closes at 97 -> sold at hour 2's open 96.5:
    # realised 100 × (96.5 − 101) = −450, fees 40.4 + 100 × 96.5 × 0.004 = 38.6 -> −529
    b = bars([(0, SOL, 100, 100, 100, 100), (1, SOL, 101, 101, 96, 97), (2, SOL, 96.5, 97, 95, 96), (3, SOL, 96, 96, 96, 96)])
    ml = predictions([(0, SOL, 0.7, 0.02, 0.01, 0.3, 2)])
    out, state = run(4, b, ml)
    exit1 = out.intents[out.intents["hour"] == T0 + H].iloc[0]
    assert exit1["reason"].startswith("ML exit: stop 97.17")
    assert ml_row(out.ledger, 2)["pnl_usd"] == pytest.approx(-450.0 - 40.4 - 38.6)
    assert state.positions.empty
