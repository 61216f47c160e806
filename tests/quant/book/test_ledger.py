"""The ledger core: hand-checked P&L, bad input, range == hour by hour, and a pandas-loop reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.book.ledger import LedgerArrays, run_ledger


def flat(legs: int, hours: int, value: float = 0.0) -> np.ndarray:
    return np.full((legs, hours), value)


def fills(*rows):
    if not rows:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    leg, hour, dq, px, fee = zip(*rows, strict=True)
    return (np.array(leg), np.array(hour), np.array(dq, float), np.array(px, float), np.array(fee, float))


def test_short_perp_receives_funding_and_realises_on_close():
    # hour 0: sell 1 at 100 (fee 0.05); hour 1: settlement 1 bp at 100 -> +0.01; mark 98 -> +2
    # hour 2: buy 1 at 97 (fee 0.0485) -> realised (97 - 100) × −1 = +3
    mark = np.array([[100.0, 98.0, 97.0]])
    settles = np.array([[False, True, False]])
    out = run_ledger(mark=mark, is_perp=np.array([True]), settles=settles, rate=flat(1, 3, 1e-4), funding_px=flat(1, 3, 100.0),
                     fills=fills((0, 0, -1.0, 100.0, 0.05), (0, 2, 1.0, 97.0, 0.0485)))
    assert out.qty.tolist() == [[-1.0, -1.0, 0.0]]
    assert out.funding[0].tolist() == pytest.approx([0.0, 0.01, 0.01])
    assert out.unrealised[0].tolist() == pytest.approx([0.0, 2.0, 0.0])
    assert out.realised[0].tolist() == pytest.approx([0.0, 0.0, 3.0])
    assert out.fees[0].tolist() == pytest.approx([0.05, 0.05, 0.0985])
    assert out.pnl()[0, -1] == pytest.approx(3.0 + 0.01 - 0.0985)


def test_average_entry_partial_close_and_flip():
    # buy 1@100, buy 1@110 -> avg 105; sell 1.5@120 -> +22.5, 0.5 left; sell 1@100 -> -2.5 and flips to -0.5 @100
    mark = np.array([[100.0, 110.0, 120.0, 100.0]])
    out = run_ledger(mark=mark, is_perp=np.array([False]), settles=flat(1, 4) > 0, rate=flat(1, 4), funding_px=flat(1, 4),
                     fills=fills((0, 0, 1.0, 100.0, 0), (0, 1, 1.0, 110.0, 0), (0, 2, -1.5, 120.0, 0), (0, 3, -1.0, 100.0, 0)))
    assert out.qty[0].tolist() == [1.0, 2.0, 0.5, -0.5]
    assert out.avg_entry[0].tolist() == [100.0, 105.0, 105.0, 100.0]
    assert out.realised[0].tolist() == pytest.approx([0.0, 0.0, 22.5, 20.0])
    assert out.unrealised[0].tolist() == pytest.approx([0.0, 10.0, 7.5, 0.0])


def test_spot_legs_do_not_settle_funding():
    out = run_ledger(mark=flat(1, 2, 100.0), is_perp=np.array([False]), settles=flat(1, 2, 1) > 0, rate=flat(1, 2, 0.01),
                     funding_px=flat(1, 2, 100.0), fills=fills((0, 0, 1.0, 100.0, 0)))
    assert out.funding[0].tolist() == [0.0, 0.0]


def test_nan_funding_on_an_open_position_is_an_error_naming_the_leg():
    rate = flat(1, 2, np.nan)
    with pytest.raises(ValueError, match="L1:HYPE perp: funding at hour index 1 is not a number"):
        run_ledger(mark=flat(1, 2, 10.0), is_perp=np.array([True]), settles=np.array([[False, True]]), rate=rate,
                   funding_px=flat(1, 2, 10.0), fills=fills((0, 0, -1.0, 10.0, 0)), names=["L1:HYPE perp"])


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_bad_prices_are_errors(bad):
    with pytest.raises(ValueError, match="mark price|fill prices"):
        run_ledger(mark=np.array([[10.0, bad]]), is_perp=np.array([True]), settles=flat(1, 2) > 0, rate=flat(1, 2),
                   funding_px=flat(1, 2, 10.0), fills=fills((0, 0, -1.0, 10.0 if bad == bad else bad, 0)))


def _random_book(seed: int = 3, legs: int = 6, hours: int = 96):
    raw = pd.read_parquet("data/sample/perp_ohlcv_1h/binance_bybit_2025.parquet")
    raw = raw[(raw["venue"] == "binance") & (raw["timestamp"] >= "2025-08-01")]
    closes = raw.pivot(index="timestamp", columns="coin", values="c").iloc[:hours]
    coins = ["BTC", "ETH", "SOL", "DOGE", "BTC", "ETH"][:legs]
    mark = closes[coins].to_numpy().T.copy()
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(hours):
        for p in rng.choice(legs, size=rng.integers(0, 3), replace=False):
            rows.append((int(p), t, float(rng.normal(0, 2)), float(mark[p, t] * (1 + rng.normal(0, 0.002))), float(rng.uniform(0, 1))))
    settles = np.zeros((legs, hours), bool)
    settles[:, ::8] = True
    rate = rng.normal(1e-4, 2e-4, size=(legs, hours))
    is_perp = np.array([True, True, True, True, False, False])[:legs]
    return mark, is_perp, fills(*rows), settles, rate


def test_range_equals_hour_by_hour_bit_for_bit():
    mark, is_perp, fl, settles, rate = _random_book()
    whole = run_ledger(mark=mark, is_perp=is_perp, fills=fl, settles=settles, rate=rate, funding_px=mark)
    state: LedgerArrays | None = None
    cols = []
    for t in range(mark.shape[1]):
        sel = fl[1] == t
        one = tuple(a[sel] for a in fl)
        one = (one[0], np.zeros_like(one[1]), *one[2:])
        state = run_ledger(mark=mark[:, t:t + 1], is_perp=is_perp, fills=one, settles=settles[:, t:t + 1],
                           rate=rate[:, t:t + 1], funding_px=mark[:, t:t + 1], start=state)
        cols.append(state)
    for field in ("qty", "avg_entry", "realised", "unrealised", "fees", "funding"):
        hourly = np.hstack([getattr(c, field) for c in cols])
        assert np.array_equal(getattr(whole, field), hourly), field


def test_equals_a_plain_pandas_loop_to_the_cent():
    mark, is_perp, fl, settles, rate = _random_book(seed=11)
    got = run_ledger(mark=mark, is_perp=is_perp, fills=fl, settles=settles, rate=rate, funding_px=mark)
    f = pd.DataFrame({"leg": fl[0], "hour": fl[1], "dq": fl[2], "px": fl[3], "fee": fl[4]})
    legs, hours = mark.shape
    for p in range(legs):
        qty = avg = realised = fees = funding = 0.0
        for t in range(hours):
            if is_perp[p] and settles[p, t] and qty != 0:
                funding += -qty * mark[p, t] * rate[p, t]
            for _, r in f[(f["leg"] == p) & (f["hour"] == t)].iterrows():
                if qty == 0 or np.sign(qty) == np.sign(r["dq"]):
                    avg = (avg * abs(qty) + r["px"] * abs(r["dq"])) / (abs(qty) + abs(r["dq"]))
                    qty += r["dq"]
                else:
                    closed = min(abs(qty), abs(r["dq"]))
                    realised += closed * (r["px"] - avg) * np.sign(qty)
                    new = qty + r["dq"]
                    avg = r["px"] if np.sign(new) != np.sign(qty) and abs(new) > 1e-12 else (0.0 if abs(new) < 1e-12 else avg)
                    qty = 0.0 if abs(new) < 1e-12 else new
                fees += r["fee"]
        unreal = qty * (mark[p, -1] - avg)
        assert got.pnl()[p, -1] == pytest.approx(realised + unreal - fees + funding, abs=0.005)


def test_the_first_error_is_the_earliest_hour_whichever_leg_holds_it():
    # leg 0 breaks at hour 2 (NaN funding), leg 1 at hour 1 (NaN mark): an hour-by-hour pass meets leg 1 first;
    # at one hour, funding (start of the hour) comes before the mark (its close)
    mark = np.array([[100.0, 100.0, 100.0], [100.0, np.nan, 100.0]])
    rate = np.array([[0.0, 0.0, np.nan], [0.0, 0.0, 0.0]])
    settles = np.array([[False, False, True], [False, False, False]])
    both = fills((0, 0, 1.0, 100.0, 0.0), (1, 0, 1.0, 100.0, 0.0))
    with pytest.raises(ValueError, match="^b: mark price at hour index 1"):
        run_ledger(mark=mark, is_perp=np.array([True, True]), settles=settles, rate=rate, funding_px=flat(2, 3, 100.0),
                   fills=both, names=["a", "b"])
    rate[0, 1], settles[0, 1] = np.nan, True
    with pytest.raises(ValueError, match="^a: funding at hour index 1"):
        run_ledger(mark=mark, is_perp=np.array([True, True]), settles=settles, rate=rate, funding_px=flat(2, 3, 100.0),
                   fills=both, names=["a", "b"])
