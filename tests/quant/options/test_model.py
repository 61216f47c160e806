"""quant.options.model: the bundled 2024-01-08 Deribit ETH chain recentred on a new time and price.

Hand-checked numbers use a ratio of exactly 1.5: the nearest expiry (9JAN24) has the forward
2223.125725, so ``underlying_usd = 3334.6885875`` multiplies every strike and forward by 1.5.
The 26JAN24 forward 2241.65 becomes 3362.475; its 1900 put and 2700 call become 2850 and 4050,
and their asks of 0.0155 and 0.012 ETH cost 0.0155 × 3362.475 = 52.1183625 USD and
0.012 × 3362.475 = 40.3497 USD.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant.options.chain import CHAIN_COLUMNS, SOURCE_BOOK_SUMMARY, OptionChain, parse_book_summary
from quant.options.model import MODELLED_PREFIX, anchor_forward, recentre_chain
from quant.options.strangle import StrangleConfig, select_strangle

BOOK_CSV = Path(__file__).resolve().parents[3] / "data" / "sample" / "deribit" / "eth_book_summary_20240108.csv"
AS_OF = pd.Timestamp("2024-01-08 11:19:41.429", tz="UTC")
NEAR_FORWARD = 2223.125725  # ETH-9JAN24 underlying_price in the CSV (2223.12572505…)
LATER = pd.Timestamp("2025-06-10 13:00", tz="UTC")
REL = 1e-9
PRICES = ["mark_usd", "bid_usd", "ask_usd"]
COINS = ["mark_coin", "bid_coin", "ask_coin"]


@pytest.fixture(scope="module")
def snapshot() -> OptionChain:
    return parse_book_summary(pd.read_csv(BOOK_CSV, index_col=0))


def _row(chain: OptionChain, instrument: str) -> pd.Series:
    q = chain.quotes.set_index("instrument")
    return q.loc[instrument if not chain.modelled else MODELLED_PREFIX + instrument]


def _same(a: pd.Series, b: pd.Series, rel: float = REL) -> None:
    """Equal where both are numbers, NaN in the same places."""
    x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
    assert np.array_equal(np.isnan(x), np.isnan(y)), a.name
    assert y[~np.isnan(y)] == pytest.approx(x[~np.isnan(x)], rel=rel, abs=1e-12), a.name


def test_a_parsed_snapshot_is_a_market_chain(snapshot):
    assert (snapshot.modelled, snapshot.source) == (False, SOURCE_BOOK_SUMMARY)
    assert anchor_forward(snapshot) == pytest.approx(NEAR_FORWARD, rel=1e-10)


def test_recentring_on_its_own_forward_and_time_changes_no_number(snapshot):
    same = recentre_chain(snapshot, NEAR_FORWARD, AS_OF)
    assert same.modelled
    assert tuple(same.quotes.columns) == CHAIN_COLUMNS
    assert (same.quotes["instrument"] == MODELLED_PREFIX + snapshot.quotes["instrument"]).all()
    for column in [*PRICES, *COINS, "strike", "underlying_usd", "dte_days", "t_years", "iv", "bid_iv", "ask_iv",
                   "delta", "gamma", "vega_usd", "theta_usd", "open_interest"]:
        _same(snapshot.quotes[column], same.quotes[column])
    assert (same.quotes["expiry"] == snapshot.quotes["expiry"]).all()
    assert (same.quotes["two_sided"] == snapshot.quotes["two_sided"]).all()
    assert (same.quotes["otm"] == snapshot.quotes["otm"]).all()


def test_hand_checked_prices_at_one_and_a_half_times_the_price(snapshot):
    moved = recentre_chain(snapshot, NEAR_FORWARD * 1.5, LATER)
    put, call = _row(moved, "ETH-26JAN24-1900-P"), _row(moved, "ETH-26JAN24-2700-C")
    assert put["underlying_usd"] == pytest.approx(3362.475, rel=REL)
    assert (put["strike"], call["strike"]) == (pytest.approx(2850.0, rel=REL), pytest.approx(4050.0, rel=REL))
    assert put["ask_usd"] == pytest.approx(52.1183625, rel=REL)
    assert call["ask_usd"] == pytest.approx(40.3497, rel=REL)
    assert (put["ask_coin"], call["ask_coin"]) == (pytest.approx(0.0155, rel=REL), pytest.approx(0.012, rel=REL))
    # the mark, priced independently: Black-76 with math.erf at the snapshot's mark IV
    f, k, t, vol = 3362.475, 2850.0, put["t_years"], _row(snapshot, "ETH-26JAN24-1900-P")["iv"]
    d1 = (math.log(f / k) + vol * vol * t / 2) / (vol * math.sqrt(t))
    n = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    assert put["mark_usd"] == pytest.approx(k * n(-(d1 - vol * math.sqrt(t))) - f * n(-d1), rel=REL)


def test_doubling_the_price_doubles_strikes_and_usd_prices_and_keeps_coin_prices_and_deltas(snapshot):
    base = recentre_chain(snapshot, 2000.0, LATER).quotes
    double = recentre_chain(snapshot, 4000.0, LATER).quotes
    for column in ["strike", "underlying_usd", *PRICES, "vega_usd"]:
        _same(2.0 * base[column], double[column])
    for column in [*COINS, "delta", "iv", "dte_days"]:
        _same(base[column], double[column])
    _same(base["gamma"] / 2.0, double["gamma"])
    assert (base["otm"] == double["otm"]).all()


def test_theta_per_day_in_usd_scales_by_the_ratio(snapshot):
    ratio = 1.37
    moved = recentre_chain(snapshot, NEAR_FORWARD * ratio, LATER).quotes
    _same(ratio * snapshot.quotes["theta_usd"], moved["theta_usd"])
    assert (moved["theta_usd"].dropna() <= 0).all()


def test_one_ratio_keeps_the_basis_curve(snapshot):
    moved = recentre_chain(snapshot, 3000.0, LATER)
    old, new = snapshot.expiries(), moved.expiries()
    assert new["underlying_usd"].iloc[0] == pytest.approx(3000.0, rel=REL)
    _same(old["underlying_usd"] / NEAR_FORWARD, new["underlying_usd"] / 3000.0)


def test_days_to_expiry_are_kept_and_expiries_shift_with_the_clock(snapshot):
    moved = recentre_chain(snapshot, 3000.0, LATER)
    assert moved.as_of == LATER
    assert (moved.quotes["expiry"] - snapshot.quotes["expiry"] == LATER - AS_OF).all()
    assert (moved.quotes["dte_days"] == snapshot.quotes["dte_days"]).all()
    assert moved.expiries()["dte_days"].iloc[0] == pytest.approx(0.861326, abs=1e-6)
    assert moved.source == "modelled: 2024-01-08 Deribit ETH IV surface recentred on a given underlying price"
    assert recentre_chain(snapshot, 3000.0, LATER, reference="the ETH perp close").source.endswith(
        "recentred on the ETH perp close"
    )


def test_select_strangle_on_the_recentred_chain_straddles_the_new_forward(snapshot):
    moved = recentre_chain(snapshot, 2700.0, LATER)
    s = select_strangle(moved, StrangleConfig())
    assert s.put.strike < s.underlying_usd < s.call.strike
    assert s.put.strike < 2700.0 < s.call.strike
    assert 14 <= s.dte_days <= 60
    assert s.expiry - LATER == pd.Timedelta(days=s.dte_days)
    # the move keeps deltas, open interest and days to expiry: the same contracts are chosen
    original = select_strangle(snapshot, StrangleConfig())
    assert (s.put.instrument, s.call.instrument) == (
        MODELLED_PREFIX + original.put.instrument, MODELLED_PREFIX + original.call.instrument,
    )
    assert s.premium_usd == pytest.approx(original.premium_usd * 2700.0 / NEAR_FORWARD, rel=1e-9)


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf, None, "3000"])
def test_a_price_that_is_not_positive_is_refused(snapshot, price):
    with pytest.raises(ValueError, match="positive finite price"):
        recentre_chain(snapshot, price, LATER)  # type: ignore[arg-type]


def test_a_naive_or_earlier_time_is_refused(snapshot):
    with pytest.raises(ValueError, match="timezone-aware"):
        recentre_chain(snapshot, 3000.0, pd.Timestamp("2025-06-10 13:00"))
    with pytest.raises(ValueError, match="back in time"):
        recentre_chain(snapshot, 3000.0, AS_OF - pd.Timedelta(seconds=1))


def test_a_modelled_chain_is_not_recentred_again(snapshot):
    moved = recentre_chain(snapshot, 3000.0, LATER)
    with pytest.raises(ValueError, match="already modelled"):
        recentre_chain(moved, 3100.0, LATER + pd.Timedelta(hours=1))


def test_a_chain_without_a_live_forward_is_refused(snapshot):
    dead = dataclasses.replace(snapshot, quotes=snapshot.quotes.assign(underlying_usd=np.nan))
    with pytest.raises(ValueError, match="no live expiry"):
        recentre_chain(dead, 3000.0, LATER)
