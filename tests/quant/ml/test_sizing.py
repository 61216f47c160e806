"""The ML sleeve's sizing (``quant.ml.sizing``): every quantity and cap checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.ml.predictions import PREDICTION_COLUMNS
from quant.ml.sizing import (
    BTC_BETA,
    HELD_COLUMNS,
    RISK_LEVELS,
    TARGET_COLUMNS,
    MlSleeveParams,
    cluster_of,
    exposure_cap_usd,
    ml_strength,
    ml_targets,
    risk_pct_at,
    stop_fraction,
)

T = pd.Timestamp("2025-06-10 12:00", tz="UTC")
H = pd.Timedelta(hours=1)
BANK = 100_000.0
#: Caps out of the way, to see the risk sizing alone.
WIDE = MlSleeveParams(max_exposure_pct=1.0, max_cluster_pct=1.0)


def pred(symbol, p=0.6, er=0.01, sigma=0.05, corr=0.2, h=4, status="ok", venue="binance", hour=T):
    row = dict.fromkeys(PREDICTION_COLUMNS, np.nan)
    row.update(hour=hour, venue=venue, symbol=symbol, probability=p, expected_return=er, regime="trend", sigma_1h=sigma,
               corr_btc_7d=corr, horizon_h=h, fold="f1", model_version="v1", status=status)
    return row


def frame(*rows):
    return pd.DataFrame(list(rows), columns=PREDICTION_COLUMNS)


def held(*rows):
    """rows: (symbol, qty, mark, stop, expiry)."""
    return pd.DataFrame([{"venue": "binance", "symbol": s, "qty": q, "mark": m, "stop": st, "expiry": e} for s, q, m, st, e in rows],
                        columns=HELD_COLUMNS)


def prices(symbols, price=50.0):
    return pd.Series({("binance", s): price for s in symbols}, dtype="float64")


def targets(preds, hold=None, px=None, equity=BANK, level="normal", params=None, budget=math.inf, hour=T):
    syms = list(preds["symbol"])
    return ml_targets(preds, hold if hold is not None else held(), px if px is not None else prices(syms), hour, equity, BANK,
                      level, params, budget).set_index("symbol")


def entered(out):
    return out[out["action"] == "enter"]


# -- the 2% volatility-adjusted risk --------------------------------------------------------------


def test_a_stop_two_horizon_sigmas_below_loses_two_percent_of_equity():
    # stop_frac = 2 × 0.05 × √4 = 0.2; notional = 100,000 × 0.02 / 0.2 = 10,000; at 50: 200 units, stop 40;
    # hitting the stop loses 200 × (50 − 40) = 2,000 = 2% of equity
    out = targets(frame(pred("A")), params=WIDE).loc["A"]
    assert out["action"] == "enter"
    assert out["notional_usd"] == pytest.approx(10_000.0, rel=1e-12)
    assert out["qty"] == pytest.approx(200.0, rel=1e-12)
    assert out["stop"] == pytest.approx(40.0, rel=1e-12)
    assert out["qty"] * (out["price"] - out["stop"]) == pytest.approx(0.02 * BANK, rel=1e-12)
    assert out["expiry"] == T + 4 * H
    assert stop_fraction(0.05, 4) == pytest.approx(0.2, rel=1e-12)


def test_risk_is_a_share_of_equity_and_scales_with_volatility():
    # equity 90,000, σ 0.1, horizon 9: stop_frac = 2 × 0.1 × 3 = 0.6; notional = 90,000 × 0.02 / 0.6 = 3,000
    out = targets(frame(pred("A", sigma=0.1, h=9)), equity=90_000.0, params=WIDE).loc["A"]
    assert out["notional_usd"] == pytest.approx(3_000.0, rel=1e-12)
    assert out["qty"] == pytest.approx(60.0, rel=1e-12)
    assert out["stop"] == pytest.approx(50 * 0.4, rel=1e-12)


def test_the_usual_low_volatility_size_is_cut_to_the_cluster_cap():
    # σ 0.01, horizon 4: stop 4% -> wanted 100,000 × 0.02 / 0.04 = 50,000; own cluster cap 10% = 10,000
    out = targets(frame(pred("A", sigma=0.01))).loc["A"]
    assert out["notional_usd"] == pytest.approx(10_000.0, rel=1e-12)
    assert "cut to the caps" in out["reason"]


# -- the caps -------------------------------------------------------------------------------------


def test_at_most_ten_positions_best_expected_return_first():
    # σ 0.1, h 4: stop 0.4 -> 5,000 each; twelve uncorrelated candidates with rising edge: the best ten enter
    rows = [pred(f"S{i:02d}", er=0.01 + 0.001 * i, sigma=0.1) for i in range(12)]
    out = targets(frame(*rows), params=WIDE)
    assert sorted(entered(out).index) == [f"S{i:02d}" for i in range(2, 12)]
    assert out.loc["S00", "reason"] == "already 10 positions"
    assert out.loc["S01", "reason"] == "already 10 positions"
    # two held positions take two of the ten slots
    hold = held(("X", 10.0, 50.0, 40.0, T + 2 * H), ("Y", 10.0, 50.0, 40.0, T + 2 * H))
    out = targets(frame(*rows), hold=hold, params=WIDE)
    assert sorted(entered(out).index) == [f"S{i:02d}" for i in range(4, 12)]
    assert (out.loc[["X", "Y"], "action"] == "hold").all()


def test_the_sleeve_never_holds_more_than_twenty_percent_of_the_bankroll():
    # each wants 50,000, each its own cluster (cap 10,000); the sleeve's 20,000: 10,000 + 10,000, the third finds no room
    rows = [pred("A", er=0.03, sigma=0.01), pred("B", er=0.02, sigma=0.01), pred("C", er=0.01, sigma=0.01)]
    out = targets(frame(*rows))
    assert out.loc[["A", "B"], "notional_usd"].tolist() == pytest.approx([10_000.0, 10_000.0])
    assert out.loc["C", "action"] == "skip"
    assert out.loc["C", "reason"].startswith("exposure cap")
    # a held 5,000 (100 × 50) leaves 15,000: 10,000 for A, 5,000 for B
    out = targets(frame(*rows), hold=held(("Z", 100.0, 50.0, 45.0, T + H)))
    assert out.loc[["A", "B"], "notional_usd"].tolist() == pytest.approx([10_000.0, 5_000.0])
    assert entered(out)["notional_usd"].sum() + 5_000.0 == pytest.approx(0.20 * BANK)


def test_the_allocator_budget_caps_the_sleeve_too():
    out = targets(frame(pred("A", sigma=0.01)), budget=4_000.0)
    assert out.loc["A", "notional_usd"] == pytest.approx(4_000.0)
    out = targets(frame(pred("A", sigma=0.01)), budget=0.0)
    assert out.loc["A", "action"] == "skip"
    assert out.loc["A", "reason"] == "no budget for the sleeve this hour"


@pytest.mark.parametrize(("corr", "cluster"), [(0.7, BTC_BETA), (-0.7, BTC_BETA), (0.95, BTC_BETA), (0.69, "A"), (-0.2, "A"),
                                               (np.nan, BTC_BETA)])
def test_clusters_from_the_correlation_with_btc(corr, cluster):
    assert cluster_of("A", corr) == cluster


def test_one_cluster_holds_at_most_ten_percent_of_the_bankroll():
    # σ 0.1 -> 5,000 each; B, C, D move with BTC (|corr| ≥ 0.7): 5,000 + 5,000 fill the cluster's 10,000, D is skipped;
    # E (corr 0.3) is its own cluster and enters: 15,000 in all, under the sleeve's 20,000
    rows = [pred("B", er=0.05, sigma=0.1, corr=0.8), pred("C", er=0.04, sigma=0.1, corr=-0.9),
            pred("D", er=0.03, sigma=0.1, corr=0.75), pred("E", er=0.02, sigma=0.1, corr=0.3)]
    out = targets(frame(*rows))
    assert out.loc[["B", "C", "E"], "notional_usd"].tolist() == pytest.approx([5_000.0, 5_000.0, 5_000.0])
    assert out.loc["D", "action"] == "skip"
    assert out.loc["D", "reason"].startswith("cluster btc_beta cap")
    assert out.loc["E", "cluster"] == "E"
    # a held 7,000 (140 × 50) that moves with BTC leaves 3,000 of the cluster for B
    hold = held(("BTC", 140.0, 50.0, 45.0, T + H))
    hour = frame(*rows, pred("BTC", er=0.01, sigma=0.1, corr=1.0))
    out = targets(hour, hold=hold)
    assert out.loc["BTC", "action"] == "hold"
    assert out.loc["B", "notional_usd"] == pytest.approx(3_000.0)
    assert out.loc["C", "action"] == "skip"


def test_a_position_the_caps_cut_below_one_percent_is_not_opened():
    # held 9,600 in A's cluster leaves 400 < 1% of 100,000
    hour = frame(pred("A", sigma=0.1, corr=0.9), pred("Q", er=-0.01, corr=0.9))
    out = targets(hour, hold=held(("Q", 192.0, 50.0, 45.0, T + H)))
    assert out.loc["A", "action"] == "skip"
    assert "below the minimum position" in out.loc["A", "reason"]


# -- the drawdown ladder --------------------------------------------------------------------------


def test_the_levels_are_the_books_ladder():
    from quant.book.risk import LEVEL_MULTIPLIER
    assert set(RISK_LEVELS) == set(LEVEL_MULTIPLIER)


@pytest.mark.parametrize(("level", "risk", "cap"), [("normal", 0.02, 20_000.0), ("reduce_risk", 0.01, 20_000.0),
                                                    ("reduce_exposure", 0.01, 5_000.0), ("halt", 0.0, 0.0)])
def test_the_ladder_halves_risk_then_quarters_the_exposure_cap(level, risk, cap):
    assert risk_pct_at(level) == pytest.approx(risk)
    assert exposure_cap_usd(BANK, level) == pytest.approx(cap)


def test_the_ladder_in_the_sizing():
    # σ 0.1, h 4: stop 0.4. normal: 100,000 × 2% / 0.4 = 5,000 each; reduce_risk: 1% -> 2,500 each;
    # reduce_exposure: 2,500 each but the cap is 20% × 0.25 = 5,000, so two enter and the third finds no room; halt: none
    rows = [pred("A", er=0.03, sigma=0.1), pred("B", er=0.02, sigma=0.1), pred("C", er=0.01, sigma=0.1)]
    normal = targets(frame(*rows))
    assert entered(normal)["notional_usd"].tolist() == pytest.approx([5_000.0] * 3)
    reduced = targets(frame(*rows), level="reduce_risk")
    assert entered(reduced)["notional_usd"].tolist() == pytest.approx([2_500.0] * 3)
    exposure = targets(frame(*rows), level="reduce_exposure")
    assert entered(exposure)["notional_usd"].tolist() == pytest.approx([2_500.0] * 2)
    assert exposure.loc["C", "reason"].startswith("exposure cap")
    halted = targets(frame(*rows), level="halt")
    assert entered(halted).empty
    assert (halted["reason"] == "drawdown halt: no new entries").all()


def test_halt_still_sells_what_should_go():
    out = targets(frame(pred("A")), hold=held(("Q", 10.0, 44.0, 45.0, T + H)), level="halt")
    assert out.loc["Q", "action"] == "exit"


# -- no trade without an edge ---------------------------------------------------------------------


@pytest.mark.parametrize(("row", "why"), [
    (pred("A", er=0.0), "no edge"),
    (pred("A", er=-0.01), "no edge"),
    (pred("A", p=0.49), "probability below the minimum"),
    (pred("A", p=np.nan, er=np.nan, sigma=np.nan, status="no model: 120 hours of history, needs 336"), "status: no model"),
    (pred("A", p=np.nan, er=np.nan, status="features incomplete"), "status: features incomplete"),
    (pred("A", sigma=np.nan), "no trade: a number the sizing needs is missing"),
    (pred("A", corr=np.nan), "no trade: a number the sizing needs is missing"),
    (pred("A", er=np.nan), "no trade: a number the sizing needs is missing"),
    (pred("A", sigma=0.0), "no trade: a number the sizing needs is missing"),
])
def test_no_trade_without_an_ok_positive_edge(row, why):
    out = targets(frame(row))
    assert out.loc["A", "action"] == "skip"
    assert out.loc["A", "reason"].startswith(why)
    assert ml_strength(frame(row)) == 0.0


def test_the_minimum_probability_is_inclusive_and_a_missing_price_is_no_trade():
    assert targets(frame(pred("A", p=0.5))).loc["A", "action"] == "enter"
    out = targets(frame(pred("A")), px=pd.Series({("binance", "A"): np.nan}))
    assert out.loc["A", "reason"] == "no price at the hour's close"


def test_strength_is_the_best_probability_that_may_trade():
    hour = frame(pred("A", p=0.62), pred("B", p=0.9, er=-0.01), pred("C", p=0.7), pred("D", status="features incomplete", p=np.nan))
    assert ml_strength(hour) == pytest.approx(0.7)
    assert ml_strength(frame()) == 0.0


# -- exits ----------------------------------------------------------------------------------------


def test_exit_after_the_horizon_unless_a_fresh_signal_holds_it():
    # entered at T − 4h with horizon 4: expiry T. One hour before, no prediction: held
    position = held(("A", 10.0, 51.0, 45.0, T))
    before = targets(frame(), hold=position, hour=T - H)
    assert before.loc["A", "action"] == "hold"
    # at T with no prediction: sold whole, reduce-only
    out = targets(frame(), hold=position)
    assert out.loc["A", "action"] == "exit"
    assert out.loc["A", "qty"] == 10.0
    assert out.loc["A", "reason"] == "ML exit: horizon reached with no fresh signal"
    # at T with a fresh signal that would open it: held on (re-checked every hour after)
    assert targets(frame(pred("A")), hold=position).loc["A", "action"] == "hold"
    # at T with an ok signal too weak to open: sold
    weak = targets(frame(pred("A", p=0.4)), hold=position).loc["A"]
    assert weak["action"] == "exit"
    assert "probability below the minimum" in weak["reason"]


def test_exit_before_the_horizon_when_the_signal_turns_or_the_stop_is_hit():
    position = held(("A", 10.0, 51.0, 45.0, T + 3 * H))
    turned = targets(frame(pred("A", er=-0.002)), hold=position).loc["A"]
    assert turned["action"] == "exit"
    assert turned["reason"].startswith("ML exit: the signal turned")
    # a non-ok hour before the horizon is no reason to sell
    missing = targets(frame(pred("A", p=np.nan, er=np.nan, status="features incomplete")), hold=position)
    assert missing.loc["A", "action"] == "hold"
    stopped = targets(frame(pred("A")), hold=held(("A", 10.0, 45.0, 45.0, T + 3 * H))).loc["A"]
    assert stopped["action"] == "exit"
    assert stopped["reason"].startswith("ML exit: stop 45 hit")


def test_an_exiting_position_keeps_its_room_until_it_is_sold():
    # Z (5,000) exits this hour; its room is free only next hour: A gets 10,000, B 5,000 (not 10,000)
    rows = [pred("A", er=0.03, sigma=0.01), pred("B", er=0.02, sigma=0.01)]
    out = targets(frame(*rows), hold=held(("Z", 100.0, 50.0, 50.0, T + H)))
    assert out.loc["Z", "action"] == "exit"
    assert out.loc[["A", "B"], "notional_usd"].tolist() == pytest.approx([10_000.0, 5_000.0])


# -- the table and its errors ---------------------------------------------------------------------


def test_the_targets_table():
    out = ml_targets(frame(pred("A"), pred("B", hour=T - H)), held(), prices(["A", "B"]), T, BANK, BANK, "normal")
    assert list(out.columns) == TARGET_COLUMNS
    assert out["symbol"].tolist() == ["A"]  # rows of other hours are ignored
    empty = ml_targets(frame(), held(), pd.Series(dtype="float64"), T, BANK, BANK, "normal")
    assert empty.empty
    assert list(empty.columns) == TARGET_COLUMNS


def test_errors_are_named():
    with pytest.raises(ValueError, match="risk_level must be one of"):
        ml_targets(frame(), held(), pd.Series(dtype="float64"), T, BANK, BANK, "panic")
    with pytest.raises(ValueError, match="two predictions for binance A"):
        ml_targets(frame(pred("A"), pred("A")), held(), prices(["A"]), T, BANK, BANK, "normal")
    with pytest.raises(ValueError, match="equity and bankroll must be positive"):
        ml_targets(frame(), held(), pd.Series(dtype="float64"), T, 0.0, BANK, "normal")
    with pytest.raises(ValueError, match="base_risk_pct must be a fraction"):
        MlSleeveParams(base_risk_pct=2.0)
    with pytest.raises(ValueError, match="stop_sigmas must be a positive number"):
        MlSleeveParams(stop_sigmas=0.0)
