"""The ledger's columns equal the row-by-row ledger they replaced: cumulative money per position, its table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.book.ledger_rows import LEDGER_MONEY, PositionMoney, ledger_frame, ledger_hour, totals
from quant.book.legs import LEG_FIELDS, Leg, frame_of, frame_of_values
from quant.book.params import ALL, LEDGER, POSITIONS, TOTAL

T0 = pd.Timestamp("2025-06-10 00:00", tz="UTC")


def leg(layer, symbol, realised, fees, funding, unrealised, name="perp"):
    values = dict.fromkeys(LEG_FIELDS, math.nan) | {
        "layer": layer, "venue": "binance", "symbol": symbol, "instrument": symbol, "leg": name, "kind": "perp",
        "realised_usd": realised, "fees_usd": fees, "funding_usd": funding, "unrealised_usd": unrealised,
        "opened_hour": T0, "expiry": pd.NaT, "iv_as_of": pd.NaT, "option_type": "", "modelled": False}
    return Leg(**values)


def test_money_adds_each_hours_increments_and_keeps_closed_positions_sorted():
    money = PositionMoney([(("L2", "binance", "SOL"), [10.0, 1.0, -0.0])])
    # hour 1: a new L1 BTC leg (realised 5, fees 0.5, funding 0.25, unrealised 2); SOL has no leg
    m, u = money.step({}, [leg("L1", "BTC", 5.0, 0.5, 0.25, 2.0)])
    assert money.keys == [("L1", "binance", "BTC"), ("L2", "binance", "SOL")]
    assert m.tolist() == [[5.0, 0.5, 0.25], [10.0, 1.0, 0.0]]  # SOL's −0.0 + pandas' fill 0.0 = 0.0
    assert np.signbit(m[1, 2]) == np.False_
    assert u.tolist() == [2.0, 0.0]
    # hour 2: BTC's leg realised 3 more (cumulative on the leg: 8), two legs of one position are summed
    before = {("L1", "binance", "BTC", "perp"): (5.0, 0.5, 0.25)}
    m, u = money.step(before, [leg("L1", "BTC", 8.0, 0.5, 0.25, 1.0), leg("L1", "BTC", 0.0, 0.1, 0.0, -0.5, "spot")])
    assert m.tolist() == [[8.0, 0.6, 0.25], [10.0, 1.0, 0.0]]
    assert u.tolist() == [0.5, 0.0]
    assert totals(m, u) == {"realised_usd": 18.0, "unrealised_usd": 0.5, "fees_usd": 1.6, "funding_usd": 0.25}


def test_a_stored_ledgers_positions_are_the_money_and_its_total_row_is_left_out():
    rows = [{"layer": "L1", "venue": "bybit", "symbol": "ETH", "realised_usd": 1.0, "fees_usd": 2.0, "funding_usd": 3.0},
            {"layer": TOTAL, "venue": ALL, "symbol": ALL, "realised_usd": 1.0, "fees_usd": 2.0, "funding_usd": 3.0}]
    money = PositionMoney.from_ledger(rows)
    assert money.keys == [("L1", "bybit", "ETH")]
    assert money.money.tolist() == [[1.0, 2.0, 3.0]]
    assert totals(*money.step({}, [])) == {"realised_usd": 1.0, "unrealised_usd": 0.0, "fees_usd": 2.0, "funding_usd": 3.0}
    assert totals(np.zeros((0, 3)), np.zeros(0)) == dict.fromkeys(("realised_usd", "unrealised_usd", "fees_usd", "funding_usd"), 0.0)


RISK = {"cash_usd": 99.0, "equity_usd": 101.0, "peak_equity_usd": 102.0, "drawdown": 0.01, "day_open_equity_usd": 100.0,
        "day_peak_equity_usd": 102.0, "risk_level": "normal", "risk_multiplier": 1.0, "session_paused": False,
        "daily_loss_halt": False, "breach": ""}


def _row_ledger(keys, m, u, risk, hour):
    """The ledger as the row-by-row book wrote it: a dict per position then the total."""
    out = []
    for (layer, venue, symbol), (r, f, fu), un in zip(keys, m.tolist(), u.tolist(), strict=True):
        out.append({"layer": layer, "venue": venue, "symbol": symbol, "realised_usd": r, "fees_usd": f, "funding_usd": fu,
                    "unrealised_usd": un, "pnl_usd": r + un - f + fu, **RISK, "hour": hour})
    out.append({"layer": TOTAL, "venue": ALL, "symbol": ALL, **{c: risk[c] for c in LEDGER_MONEY}, **RISK, "hour": hour})
    return out


def test_the_ledgers_columns_make_the_table_the_rows_made():
    keys = [("L1", "binance", "BTC"), ("ML", "bybit", "SOL")]
    m, u = np.array([[1.5, 0.25, -0.1], [0.0, 0.3, 0.0]]), np.array([2.0, -1.0])
    risk = RISK | {"realised_usd": 1.5, "unrealised_usd": 1.0, "fees_usd": 0.55, "funding_usd": -0.1, "pnl_usd": 1.85}
    hours = [ledger_hour(keys, m, u, risk, T0), ledger_hour(keys[:1], m[:1], u[:1], risk | {"breach": "halt"}, T0 + pd.Timedelta(hours=1))]
    rows = _row_ledger(keys, m, u, risk, T0) + [r | {"breach": "halt"} for r in _row_ledger(keys[:1], m[:1], u[:1], risk, T0 + pd.Timedelta(hours=1))]
    got, want = ledger_frame(hours), frame_of(rows, LEDGER, name="ledger")
    pd.testing.assert_frame_equal(got, want)
    assert got["pnl_usd"].tolist() == [1.5 + 2.0 - 0.25 - 0.1, 0.0 - 1.0 - 0.3 + 0.0, 1.85, 1.5 + 2.0 - 0.25 - 0.1, 1.85]
    assert ledger_frame([]).equals(frame_of([], LEDGER, name="ledger"))


@pytest.mark.parametrize("n", [0, 1, 3])
def test_positions_from_value_tuples_equal_the_table_from_dicts(n):
    legs = [leg("L1", f"S{i}", float(i), 0.1, 0.0, 1.0) for i in range(n)]
    hours = [(T0, [tuple(getattr(x, f) for f in LEG_FIELDS) for x in legs]), (T0 + pd.Timedelta(hours=1), [])]
    dicts = [{**{f: getattr(x, f) for f in LEG_FIELDS}, "hour": T0} for x in legs]
    pd.testing.assert_frame_equal(frame_of_values(LEG_FIELDS, hours, POSITIONS, name="positions"),
                                  frame_of(dicts, POSITIONS, name="positions"))
