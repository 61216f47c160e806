"""quant.carry: L1 funding-carry signals, hysteresis book and hedged-position P&L.

Hand-checked numbers sit in the comment beside each expectation. The real-data tests recompute
the P&L of positions on the bundled sample with a plain loop over settlements, written the way a
person would in a notebook straight from the raw parquet files, and require agreement to the cent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.carry import (
    PNL_COLUMNS,
    SCAN_COLUMNS,
    CarryParams,
    SpotModel,
    book_pnl,
    carry_pnl,
    scan,
    select_positions,
    walk_positions,
)
from quant.market_data import tables as md
from quant.market_data.funding import annualise, infer_interval_hours

REL = 1e-9
CENT = 0.005
HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2025-09-01 00:00", tz="UTC")
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"
BTC = "BTC/USDT:USDT"
HYPE = "HYPE/USDT:USDT"


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def universe(rows: list[tuple], hour: pd.Timestamp = T0) -> pd.DataFrame:
    """Scan inputs from (symbol, rate, interval_h, volume_usd[, vpin]) tuples, venue binance."""
    df = pd.DataFrame(
        {
            "hour": hour,
            "venue": "binance",
            "symbol": [r[0] for r in rows],
            "last_funding_rate": [r[1] for r in rows],
            "last_funding_interval_hours": [r[2] for r in rows],
            "volume_24h_usd": [r[3] for r in rows],
        }
    )
    if any(len(r) > 4 for r in rows):
        df["vpin"] = [r[4] if len(r) > 4 else np.nan for r in rows]
    return df


def one_position(
    open_h: float, close_h: float | None, notional: float = 10_000.0, symbol: str = "X"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "position_id": [0],
            "venue": ["binance"],
            "symbol": [symbol],
            "open_hour": [at(open_h)],
            "close_hour": [pd.NaT if close_h is None else at(close_h)],
            "notional_usd": [notional],
        }
    )


def flat_closes(n_hours: int, price: float = 100.0, symbol: str = "X") -> pd.DataFrame:
    return pd.DataFrame(
        {"venue": "binance", "symbol": symbol, "hour": [at(h) for h in range(n_hours)], "close": price}
    )


def settlements_8h(rates: list[float], symbol: str = "X", first_h: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "venue": "binance",
            "symbol": symbol,
            "settlement_ts": [at(first_h + 8 * k) for k in range(len(rates))],
            "funding_rate": rates,
            "interval_hours": 8.0,
        }
    )


# -- scan: annualisation and thresholds -------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "interval_h", "volume", "apr", "eligible"),
    [
        # 0.0001 x 3/day x 365 = 0.1095 -> below 20 %
        pytest.param(0.0001, 8.0, 50e6, 0.1095, False, id="1bp-8h-10.95pct"),
        # 0.0002 x 6/day x 365 = 0.438 -> eligible with 12M volume
        pytest.param(0.0002, 4.0, 12e6, 0.438, True, id="2bp-4h-43.8pct"),
        # same rate every 8h: 0.0002 x 3 x 365 = 0.219 -> still eligible, half the 4h APR
        pytest.param(0.0002, 8.0, 12e6, 0.219, True, id="2bp-8h-21.9pct"),
        # hourly (hyperliquid): 0.00003 x 24 x 365 = 0.2628
        pytest.param(0.00003, 1.0, 12e6, 0.2628, True, id="0.3bp-1h-26.28pct"),
        # 43.8 % but only 9M of volume
        pytest.param(0.0002, 4.0, 9e6, 0.438, False, id="low-volume"),
        # volume exactly 10M is not above 10M
        pytest.param(0.0002, 4.0, 10e6, 0.438, False, id="volume-at-threshold"),
    ],
)
def test_scan_annualises_per_interval_and_screens(rate, interval_h, volume, apr, eligible) -> None:
    got = scan(universe([("X", rate, interval_h, volume)])).iloc[0]
    assert got["funding_apr"] == pytest.approx(apr, rel=REL)
    assert bool(got["eligible"]) is eligible
    assert bool(got["entry"]) is eligible
    assert not got["exit"]


def test_scan_columns_sorting_and_reason_text() -> None:
    got = scan(universe([("B", 0.0002, 4.0, 12e6), ("A", 0.0001, 8.0, 12e6), ("C", 0.00001, 8.0, 12e6)]))
    assert list(got.columns) == SCAN_COLUMNS
    assert got["symbol"].tolist() == ["A", "B", "C"]
    assert got["reason"].tolist() == [
        "no entry: apr 10.95% <= 20%",
        "entry: apr 43.80%, volume $12.0M, vpin no data",
        # 0.00001 x 1095 = 1.095 % (printed 1.10 %) -> below the 3 % exit
        "no entry: apr 1.10% <= 20%; exit: apr 1.10% < 3%",
    ]
    assert got["exit"].tolist() == [False, False, True]


def test_scan_apr_exactly_at_entry_threshold_does_not_enter() -> None:
    params = CarryParams(entry_apr=annualise(0.0001, 8.0))
    assert not scan(universe([("X", 0.0001, 8.0, 50e6)]), params)["entry"].iloc[0]


@pytest.mark.parametrize(
    ("row", "why"),
    [
        pytest.param(("X", math.nan, 8.0, 50e6), "apr unknown", id="nan-rate"),
        pytest.param(("X", 0.001, math.nan, 50e6), "apr unknown", id="nan-interval"),
        pytest.param(("X", 0.001, 3.0, 50e6), "apr unknown", id="unknown-interval-3h"),
        pytest.param(("X", 0.001, 8.0, math.nan), "24h volume unknown", id="nan-volume"),
    ],
)
def test_nan_never_passes_a_threshold(row, why) -> None:
    got = scan(universe([row])).iloc[0]
    assert not got["eligible"]
    assert not got["entry"]
    assert not got["exit"], "a NaN APR must not trigger the APR exit either"
    assert why in got["reason"]


@pytest.mark.parametrize(
    ("vpin", "block_missing", "gate", "entry", "exit_"),
    [
        pytest.param(math.nan, False, "no data", True, False, id="no-data-default-does-not-block"),
        pytest.param(math.nan, True, "no data", False, False, id="no-data-policy-block"),
        pytest.param(0.79, False, "pass", True, False, id="below-enter"),
        pytest.param(0.80, False, "block", False, False, id="at-enter-blocks"),
        pytest.param(0.85, False, "block", False, False, id="between-blocks-entry-only"),
        pytest.param(0.90, False, "block", False, False, id="at-exit-no-exit"),
        pytest.param(0.95, False, "exit", False, True, id="above-exit"),
    ],
)
def test_vpin_gate(vpin, block_missing, gate, entry, exit_) -> None:
    params = CarryParams(block_on_missing_vpin=block_missing)
    got = scan(universe([("X", 0.0005, 8.0, 50e6, vpin)]), params).iloc[0]
    assert got["vpin_gate"] == gate
    assert bool(got["eligible"]) is True
    assert bool(got["entry"]) is entry
    assert bool(got["exit"]) is exit_


def test_hibernation_blocks_entries_not_exits() -> None:
    rows = pd.concat(
        [universe([("HI", 0.0005, 8.0, 50e6), ("LO", 0.00001, 8.0, 50e6)], hour=at(h)) for h in (0, 1)]
    )
    calm = pd.Series([True, False], index=pd.DatetimeIndex([at(0), at(1)]))
    got = scan(rows, hibernate=calm).set_index(["hour", "symbol"])
    assert not got.loc[(at(0), "HI"), "entry"]
    assert got.loc[(at(0), "HI"), "eligible"]
    assert "hibernating" in got.loc[(at(0), "HI"), "reason"]
    assert got.loc[(at(0), "LO"), "exit"]
    assert got.loc[(at(1), "HI"), "entry"]


def test_hibernation_flag_missing_for_an_hour_is_an_error() -> None:
    calm = pd.Series([True], index=pd.DatetimeIndex([at(5)]))
    with pytest.raises(ValueError, match="no flag for hour"):
        scan(universe([("X", 0.0005, 8.0, 50e6)]), hibernate=calm)


def test_scan_rejects_duplicate_rows() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        scan(universe([("X", 0.0005, 8.0, 50e6), ("X", 0.0005, 8.0, 50e6)]))


# -- hysteresis and ranking -------------------------------------------------------------------


def test_hysteresis_table() -> None:
    # APR path of one 8h symbol: 25 % -> 10 % -> 5 % -> 2 % -> 10 % -> 25 %.
    # held:                       enter    stay    stay   exit    out     enter again
    aprs = [0.25, 0.10, 0.05, 0.02, 0.10, 0.25]
    rows = pd.concat(
        [universe([("X", a / 1095, 8.0, 50e6)], hour=at(h)) for h, a in enumerate(aprs)], ignore_index=True
    )
    signals = scan(rows)
    held, path = frozenset(), []
    for _, hour_rows in signals.groupby("hour"):
        held = select_positions(hour_rows, held).positions
        path.append(("binance", "X") in held)
    assert path == [True, True, True, False, False, True]
    pos = walk_positions(signals, bankroll_usd=100_000.0)
    assert pos["open_hour"].tolist() == [at(0), at(5)]
    assert pos["close_hour"].iloc[0] == at(3)
    assert pd.isna(pos["close_hour"].iloc[1])
    # equal weight: 100,000 / 10 positions
    assert pos["notional_usd"].tolist() == [10_000.0, 10_000.0]


def test_max_positions_ranked_by_apr_with_deterministic_ties() -> None:
    # 14 candidates: S00..S11 at descending APR; T_a and T_b tie S05's rate.
    rows = [(f"S{i:02d}", 0.001 - i * 0.00005, 8.0, 50e6) for i in range(12)]
    tie = 0.001 - 5 * 0.00005
    rows += [("T_b", tie, 8.0, 50e6), ("T_a", tie, 8.0, 50e6)]
    signals = scan(universe(rows))
    sel = select_positions(signals, set())
    # S05 (0.00075, 50M) ties T_a, T_b: same APR and volume -> by symbol: S05 < T_a < T_b.
    expected = [f"S{i:02d}" for i in range(6)] + ["T_a", "T_b", "S06", "S07"]
    assert len(sel.enter) == 10
    assert set(sel.enter) == {("binance", s) for s in expected}
    assert [k[1] for k in sel.passed_over] == ["S08", "S09", "S10", "S11"]
    # shuffled input order gives the same answer
    assert select_positions(signals.sample(frac=1.0, random_state=7), set()) == sel


def test_volume_breaks_an_apr_tie_before_the_name() -> None:
    signals = scan(universe([("A", 0.0005, 8.0, 20e6), ("B", 0.0005, 8.0, 90e6)]))
    assert select_positions(signals, set(), CarryParams(max_positions=1)).enter == (("binance", "B"),)


def test_held_positions_take_slots_and_are_never_evicted() -> None:
    signals = scan(universe([(f"N{i}", 0.001, 8.0, 50e6) for i in range(5)] + [("OLD", 0.0001, 8.0, 50e6)]))
    held = {("binance", f"H{i}") for i in range(8)} | {("binance", "OLD")}
    sel = select_positions(signals, held)
    # 9 held (OLD at 10.95 % stays: above the 3 % exit) -> one free slot, N0 wins by name
    assert sel.enter == (("binance", "N0"),)
    assert ("binance", "OLD") in sel.hold
    assert len(sel.unscanned) == 8
    over = select_positions(signals, held | {("binance", f"H{i}") for i in range(8, 12)})
    assert over.enter == ()
    assert len(over.positions) == 13


def test_select_positions_exit_frees_a_slot() -> None:
    signals = scan(universe([("OUT", 0.00001, 8.0, 50e6), ("IN", 0.001, 8.0, 50e6)]))
    sel = select_positions(signals, {("binance", "OUT")}, CarryParams(max_positions=1))
    assert sel.exit == (("binance", "OUT"),)
    assert sel.positions == frozenset({("binance", "IN")})


def test_select_positions_needs_one_hour() -> None:
    rows = scan(pd.concat([universe([("X", 0.001, 8.0, 50e6)], hour=at(h)) for h in (0, 1)]))
    with pytest.raises(ValueError, match="one hour"):
        select_positions(rows, set())


# -- P&L: hand-checked ------------------------------------------------------------------------


def test_hand_checked_funding_and_fees_constant_price() -> None:
    # Settlements at 00, 08, 16, 24, 32 h; a position open over (0, 24] receives the middle
    # three: 10,000 x (0.0001 + 0.0002 - 0.00005) = 2.5 USD. Fees: 10,000 x 0.0008 x 2 legs at
    # entry (16) + the same at exit (16) = 32 USD. Total = 2.5 - 32 = -29.5.
    funding = settlements_8h([0.0009, 0.0001, 0.0002, -0.00005, 0.0009])
    pnl = carry_pnl(one_position(0, 24), flat_closes(40), funding)
    assert list(pnl.columns) == PNL_COLUMNS
    assert len(pnl) == 25
    end = pnl.iloc[-1]
    assert end["funding_usd"] == pytest.approx(2.5, rel=REL)
    assert end["fees_usd"] == pytest.approx(32.0, rel=REL)
    assert end["basis_usd"] == 0.0
    assert end["total_usd"] == pytest.approx(-29.5, rel=REL)
    # 100 x 100 x 0.0001 = 1.0 booked in the settlement's own hour
    assert pnl.set_index("hour").loc[at(8), "funding_cash_usd"] == pytest.approx(1.0, rel=REL)
    assert pnl.set_index("hour").loc[at(7), "funding_usd"] == 0.0
    assert pnl["fees_usd"].iloc[0] == pytest.approx(16.0, rel=REL)


def test_hand_checked_moving_prices_and_mark() -> None:
    # qty = 10,000 / 100 = 100. Settlement 8 uses bar 7's close (110): 100 x 110 x 0.0001 = 1.1.
    # Settlement 16 carries mark 90: 100 x 90 x 0.0002 = 1.8. Funding = 2.9.
    closes = flat_closes(30)
    closes.loc[closes["hour"] == at(7), "close"] = 110.0
    closes.loc[closes["hour"] == at(20), "close"] = 120.0
    funding = settlements_8h([0.0, 0.0001, 0.0002, 0.0])
    funding["mark_price"] = [np.nan, np.nan, 90.0, np.nan]
    pnl = carry_pnl(one_position(0, 20), closes, funding)
    end = pnl.iloc[-1]
    assert end["funding_usd"] == pytest.approx(2.9, rel=REL)
    assert pnl.set_index("hour").loc[at(16), "funding_price"] == 90.0
    # exit at 120: perp leg 100 x (100 - 120) = -2000, spot leg +2000, basis exactly 0
    assert end["perp_pnl_usd"] == pytest.approx(-2000.0, rel=REL)
    assert end["spot_pnl_usd"] == pytest.approx(2000.0, rel=REL)
    assert end["basis_usd"] == 0.0
    # fees 0.0008 x (10,000 + 10,000) + 0.0008 x (12,000 + 12,000) = 16 + 19.2
    assert end["fees_usd"] == pytest.approx(35.2, rel=REL)


def test_constant_basis_spot_model() -> None:
    # spot = perp x 0.999: entry spot 99.9, exit spot 119.88. perp leg -2000, spot leg
    # 100 x (119.88 - 99.9) = 1998 -> basis -2. Fees 0.0008 x (10,000 + 9,990 + 12,000 + 11,988).
    closes = flat_closes(30)
    closes.loc[closes["hour"] == at(20), "close"] = 120.0
    pnl = carry_pnl(one_position(0, 20), closes, settlements_8h([0.0] * 4), spot=SpotModel(basis=0.001))
    end = pnl.iloc[-1]
    assert end["basis_usd"] == pytest.approx(-2.0, rel=1e-6)
    assert end["fees_usd"] == pytest.approx(0.0008 * 43_978.0, rel=REL)
    assert end["spot_leg"].startswith("modelled: spot = perp close x (1 - 0.001)")


def test_index_spot_model_reads_the_index_column() -> None:
    closes = flat_closes(30)
    closes["index_price"] = 99.0
    closes.loc[closes["hour"] == at(20), "index_price"] = 101.0
    spot = SpotModel(index_column="index_price")
    pnl = carry_pnl(one_position(0, 20), closes, settlements_8h([0.0] * 4), spot=spot)
    # spot leg 100 x (101 - 99) = 200, perp leg 0
    assert pnl.iloc[-1]["basis_usd"] == pytest.approx(200.0, rel=REL)
    assert "index_price" in pnl.iloc[-1]["spot_leg"]


def test_every_row_says_how_spot_was_modelled() -> None:
    pnl = carry_pnl(one_position(0, 10), flat_closes(20), settlements_8h([0.0001] * 3))
    assert pnl["spot_leg"].str.startswith("modelled: ").all()
    assert "no spot candles" in pnl["spot_leg"].iloc[0]


def test_open_position_runs_to_end_without_exit_fees() -> None:
    pnl = carry_pnl(one_position(0, None), flat_closes(40), settlements_8h([0.0001] * 5), end=at(20))
    assert pnl["hour"].iloc[-1] == at(19)
    # entry fees only; settlements 8 and 16: 2 x 1.0
    assert pnl.iloc[-1]["fees_usd"] == pytest.approx(16.0, rel=REL)
    assert pnl.iloc[-1]["funding_usd"] == pytest.approx(2.0, rel=REL)
    with pytest.raises(ValueError, match="pass end"):
        carry_pnl(one_position(0, None), flat_closes(40), settlements_8h([0.0001] * 5))


def test_book_pnl_carries_closed_positions_forward() -> None:
    pos = pd.concat([one_position(0, 10), one_position(12, 20)], ignore_index=True)
    pos["position_id"] = [0, 1]
    pnl = carry_pnl(pos, flat_closes(40), settlements_8h([0.0001] * 5))
    book = book_pnl(pnl, pd.date_range(at(0), at(24), freq="h")).set_index("hour")
    # position 0: +1.0 funding (settlement 8), -32 fees -> -31, kept after hour 10;
    # position 1 (open 12): entry fees 16 at hour 12, +1.0 at 16, exit fees at 20.
    assert book.loc[at(11), "total_usd"] == pytest.approx(-31.0, rel=REL)
    assert book.loc[at(12), "total_usd"] == pytest.approx(-47.0, rel=REL)
    assert book.loc[at(24), "total_usd"] == pytest.approx(-62.0, rel=REL)
    assert book.loc[at(24), "funding_usd"] == pytest.approx(2.0, rel=REL)


# -- P&L: bad input ---------------------------------------------------------------------------


def test_nan_funding_inside_a_position_names_symbol_and_time() -> None:
    funding = settlements_8h([0.0001, math.nan, 0.0001, 0.0001], symbol="X")
    with pytest.raises(ValueError, match=r"binance X at settlement 2025-09-01 08:00:00\+00:00 is NaN"):
        carry_pnl(one_position(0, 20), flat_closes(30), funding)


def test_nan_funding_outside_the_position_is_not_its_problem() -> None:
    funding = settlements_8h([math.nan, 0.0001, 0.0001, 0.0001])
    # settlement 0 happened before the fill at the close of hour 0
    assert carry_pnl(one_position(0, 20), flat_closes(30), funding).iloc[-1]["funding_usd"] == pytest.approx(
        2.0, rel=REL
    )


def test_missing_settlement_row_is_an_error_not_a_zero() -> None:
    funding = settlements_8h([0.0001] * 5).drop(index=2)
    with pytest.raises(ValueError, match="missing between"):
        carry_pnl(one_position(0, 30), flat_closes(40), funding)


def test_funding_frame_must_reach_both_ends_of_a_position() -> None:
    with pytest.raises(ValueError, match="does not cover"):
        carry_pnl(one_position(0, 30), flat_closes(40), settlements_8h([0.0001] * 3))
    with pytest.raises(ValueError, match="does not cover"):
        carry_pnl(one_position(0, 30), flat_closes(40), settlements_8h([0.0001] * 3, first_h=16))
    with pytest.raises(ValueError, match="does not cover"):
        carry_pnl(one_position(0, 30), flat_closes(40), settlements_8h([0.0001] * 5, symbol="OTHER"))


@pytest.mark.parametrize("bad", [0.0, -5.0, math.nan])
def test_bad_price_is_an_error(bad) -> None:
    closes = flat_closes(30)
    closes.loc[closes["hour"] == at(12), "close"] = bad
    with pytest.raises(ValueError, match=r"perp close of binance X at 2025-09-01 12:00:00\+00:00"):
        carry_pnl(one_position(0, 20), closes, settlements_8h([0.0001] * 4))


def test_missing_close_is_an_error() -> None:
    closes = flat_closes(30)
    with pytest.raises(ValueError, match="perp close of binance X at 2025-09-01 13:00"):
        carry_pnl(one_position(0, 20), closes[closes["hour"] != at(13)], settlements_8h([0.0001] * 4))


@pytest.mark.parametrize("notional", [0.0, -1.0, math.nan])
def test_notional_must_be_positive(notional) -> None:
    with pytest.raises(ValueError, match="notional_usd"):
        carry_pnl(one_position(0, 20, notional), flat_closes(30), settlements_8h([0.0001] * 4))


def test_params_reject_inverted_hysteresis() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        CarryParams(entry_apr=0.03, exit_apr=0.20)


# -- properties -------------------------------------------------------------------------------

prices = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)
position_case = st.tuples(
    prices, prices, prices, st.floats(min_value=1.0, max_value=1e8),
    st.one_of(st.just(0.0), st.floats(1e-8, 0.03), st.floats(-0.03, -1e-8)),
)


@settings(max_examples=25, deadline=None)
@given(cases=st.lists(position_case, min_size=1, max_size=12))
def test_fees_nonnegative_and_funding_sign_follows_rate(cases) -> None:
    # Each case is its own symbol and position, all priced in one vectorised call:
    # entry at the close of hour 0, `mid` elsewhere, exit at the close of hour 10, one
    # settlement at hour 8 with `rate` (and zero-rate settlements at 0 and 16 around it).
    entry, mid, exit_, notional, rate = (np.array(col) for col in zip(*cases, strict=True))
    n, syms = len(cases), [f"P{i}" for i in range(len(cases))]
    close = np.repeat(mid, 20).reshape(n, 20)
    close[:, 0], close[:, 10] = entry, exit_
    closes = pd.DataFrame(
        {"venue": "binance", "symbol": np.repeat(syms, 20), "hour": np.tile([at(h) for h in range(20)], n),
         "close": close.ravel()}
    )
    funding = pd.DataFrame(
        {"venue": "binance", "symbol": np.repeat(syms, 3),
         "settlement_ts": np.tile([at(0), at(8), at(16)], n),
         "funding_rate": np.column_stack([np.zeros(n), rate, np.zeros(n)]).ravel(), "interval_hours": 8.0}
    )
    positions = pd.DataFrame(
        {"position_id": np.arange(n), "venue": "binance", "symbol": syms,
         "open_hour": at(0), "close_hour": at(10), "notional_usd": notional}
    )
    pnl = carry_pnl(positions, closes, funding)
    assert (pnl["fees_usd"] >= 0).all()
    assert np.isfinite(pnl["total_usd"]).all()
    final = pnl.groupby("position_id")["funding_usd"].last().sort_index()
    assert np.sign(final.to_numpy()).tolist() == [np.sign(case[4]) for case in cases]


# -- real data: pipeline tables vs a notebook loop on the raw sample --------------------------


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    return {
        "funding": pd.read_parquet(SAMPLE / "funding" / "binance_bybit_hyperliquid_2025.parquet"),
        "funding36": pd.read_parquet(SAMPLE / "funding" / "binance_36_symbols_2025.parquet"),
        "candles": pd.read_parquet(SAMPLE / "perp_ohlcv_1h" / "binance_bybit_2025.parquet"),
    }


@pytest.fixture(scope="module")
def tables(raw) -> dict[str, pd.DataFrame]:
    """The project's own tables (funding_table, ohlcv_table) for binance and bybit, all coins."""
    fparts, oparts = [], []
    perps = raw["funding"][raw["funding"]["venue"] != "hyperliquid"]
    for (venue, coin), f in perps.groupby(["venue", "coin"]):
        f = f.sort_values("timestamp")
        part = pd.DataFrame({"ts": f["timestamp"].to_numpy(), "funding_rate": f["funding_rate"].to_numpy()})
        part["interval_hours"] = infer_interval_hours(part["ts"])
        fparts.append((venue, f"{coin}/USDT:USDT", part))
    for (venue, coin), c in raw["candles"].groupby(["venue", "coin"]):
        names = {"timestamp": "ts", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
        bars = c.rename(columns=names)
        bars = bars.loc[:, ["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)
        oparts.append((venue, f"{coin}/USDT:USDT", bars))
    ohlcv = md.ohlcv_table(oparts, pd.Timestamp("2025-03-01", tz="UTC"))
    return {"funding": md.funding_table(fparts), "ohlcv": ohlcv}


def notebook_pnl(raw: dict, venue: str, coin: str, open_h: pd.Timestamp, close_h: pd.Timestamp,
                 notional: float, use_mark: bool = False) -> tuple[dict, float, float]:
    """What a person writes in a notebook: loop the settlements, price each at the bar before.

    Returns ({settlement hour: cumulative funding}, fees, total) with spot = perp (zero basis).
    """
    candles = raw["candles"]
    bars = candles[(candles["venue"] == venue) & (candles["coin"] == coin)]
    close_at = dict(zip(bars["timestamp"], bars["c"], strict=True))  # bar open -> its close
    if use_mark:
        f = raw["funding36"][raw["funding36"]["venue_symbol"] == f"{coin}USDT"]
        rows = zip(f["settlement_ts"], f["rate_raw"], f["mark_price"], strict=True)
    else:
        f = raw["funding"][(raw["funding"]["venue"] == venue) & (raw["funding"]["coin"] == coin)]
        rows = ((t, r, None) for t, r in zip(f["timestamp"], f["funding_rate"], strict=True))
    qty = notional / close_at[open_h]
    funding, path = 0.0, {}
    for ts, rate, mark in rows:
        hour = ts.round("h")  # strip the exchange's millisecond jitter
        if open_h < hour <= close_h:
            price = mark if use_mark else close_at[hour - HOUR]
            funding += qty * price * rate
            path[hour] = funding
    exit_px = close_at[close_h]
    fees = 0.0008 * (notional + notional) + 0.0008 * (qty * exit_px + qty * exit_px)
    perp_leg, spot_leg = qty * (close_at[open_h] - exit_px), qty * (exit_px - close_at[open_h])
    return path, fees, funding - fees + perp_leg + spot_leg


def assert_matches_notebook(pnl: pd.DataFrame, path: dict, fees: float, total: float) -> None:
    by_hour = pnl.set_index("hour")
    assert len(path) > 0
    for hour, cum in path.items():
        assert by_hour.loc[hour, "funding_usd"] == pytest.approx(cum, abs=CENT)
    assert pnl.iloc[-1]["fees_usd"] == pytest.approx(fees, abs=CENT)
    assert pnl.iloc[-1]["total_usd"] == pytest.approx(total, abs=CENT)


@pytest.mark.parametrize(
    ("coin", "open_h", "close_h", "n_settlements"),
    [
        # binance HYPE settles every 4h: (06-01 05:00, 06-30 10:00] holds 08:00 06-01 .. 08:00 06-30
        pytest.param("HYPE", "2025-06-01 05:00", "2025-06-30 10:00", 175, id="binance-HYPE-4h-june"),
        # binance BTC every 8h: 16:00 06-03 .. 16:00 06-28
        pytest.param("BTC", "2025-06-03 13:00", "2025-06-28 22:00", 76, id="binance-BTC-8h-june"),
    ],
)
def test_real_sample_matches_notebook_loop(raw, tables, coin, open_h, close_h, n_settlements) -> None:
    o, c = pd.Timestamp(open_h, tz="UTC"), pd.Timestamp(close_h, tz="UTC")
    pos = pd.DataFrame(
        {"position_id": [7], "venue": ["binance"], "symbol": [f"{coin}/USDT:USDT"],
         "open_hour": [o], "close_hour": [c], "notional_usd": [25_000.0]}
    )
    pnl = carry_pnl(pos, tables["ohlcv"], tables["funding"])
    path, fees, total = notebook_pnl(raw, "binance", coin, o, c, 25_000.0)
    assert len(path) == n_settlements
    assert pnl["settlement_rate"].notna().sum() == n_settlements
    assert_matches_notebook(pnl, path, fees, total)


def test_real_sample_with_mark_prices_matches_notebook_loop(raw, tables) -> None:
    # The 36-symbol set states each settlement's mark price: funding is priced at the mark.
    f36 = raw["funding36"][raw["funding36"]["venue_symbol"] == "BTCUSDT"]
    mark_by_raw_ts = dict(zip(f36["settlement_ts"], f36["mark_price"], strict=True))
    funding = tables["funding"]
    funding = funding[(funding["venue"] == "binance") & (funding["symbol"] == BTC)].copy()
    funding["mark_price"] = funding["raw_ts"].map(mark_by_raw_ts)
    o, c = pd.Timestamp("2025-09-02 03:00", tz="UTC"), pd.Timestamp("2025-09-29 17:00", tz="UTC")
    pos = pd.DataFrame(
        {"position_id": [0], "venue": ["binance"], "symbol": [BTC], "open_hour": [o], "close_hour": [c],
         "notional_usd": [40_000.0]}
    )
    pnl = carry_pnl(pos, tables["ohlcv"], funding)
    path, fees, total = notebook_pnl(raw, "binance", "BTC", o, c, 40_000.0, use_mark=True)
    assert_matches_notebook(pnl, path, fees, total)
    settled = pnl[pnl["settlement_rate"].notna()]
    marks = funding.set_index("settlement_ts")["mark_price"]
    assert settled["funding_price"].tolist() == settled["hour"].map(marks).tolist()


def test_real_june_scan_walk_and_pnl_end_to_end(raw, tables) -> None:
    start, end = pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2025-07-01", tz="UTC")
    uni = md.universe_scan(tables["ohlcv"], tables["funding"], md.hours_of(start, end))
    signals = scan(uni)
    hype = signals[(signals["venue"] == "binance") & (signals["symbol"] == HYPE)]
    btc = signals[(signals["venue"] == "binance") & (signals["symbol"] == BTC)]
    # binance HYPE settles 6x a day, BTC 3x: APR = rate x 2190 and rate x 1095
    assert set(hype["interval_hours"]) == {4.0}
    assert set(btc["interval_hours"]) == {8.0}
    assert hype["funding_apr"].to_numpy() == pytest.approx(hype["funding_rate"].to_numpy() * 2190, rel=REL)
    assert btc["funding_apr"].to_numpy() == pytest.approx(btc["funding_rate"].to_numpy() * 1095, rel=REL)
    positions = walk_positions(signals, bankroll_usd=100_000.0)
    assert len(positions) > 0
    pnl = carry_pnl(positions, tables["ohlcv"], tables["funding"], end=end)
    for pid, rows in pnl.groupby("position_id"):
        p = positions.set_index("position_id").loc[pid]
        close_h = p["close_hour"] if pd.notna(p["close_hour"]) else end - HOUR
        coin = p["symbol"].split("/")[0]
        path, fees, total = notebook_pnl(raw, p["venue"], coin, p["open_hour"], close_h, 10_000.0)
        if pd.isna(p["close_hour"]):  # still open: no exit trade yet
            exit_fees = fees - 0.0008 * 20_000.0
            fees, total = fees - exit_fees, total + exit_fees
        assert_matches_notebook(rows, path, fees, total)
