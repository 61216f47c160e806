"""quant.options_*: Black–Scholes / Black-76 math, the Deribit chain, strangle choice, sizing, rolls.

Golden numbers are worked by hand in the comment beside them (N(x) from standard tables); the
real-data tests run on the bundled ETH chain of 2024-01-08 11:19 UTC and Deribit's own 2021
ticker messages (mark_iv and greeks), which cross-check our Black-76 conventions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant.options import (
    IvMark,
    NoEligibleExpiryError,
    NoEligibleStrikeError,
    NoOtmOptionsError,
    OptionChain,
    RollConfig,
    RollReason,
    StrangleConfig,
    StranglePosition,
    ThetaBudget,
    black76_greeks,
    black_scholes_greeks,
    contracts_for_theta_budget,
    decide_roll,
    gbs_price,
    implied_vol,
    no_arbitrage_bounds,
    parse_book_summary,
    parse_instrument_names,
    select_strangle,
    size_strangle,
    value_strangle_by_model,
)
from quant.options.chain import CHAIN_COLUMNS
from quant.options.pricing import _gbs_price_scalar

REL = 1e-9
DERIBIT = Path(__file__).resolve().parents[3] / "data" / "sample" / "deribit"
BOOK_CSV = DERIBIT / "eth_book_summary_20240108.csv"
TICKERS_WS = DERIBIT / "DERIBIT.ws.1.0"
AS_OF = pd.Timestamp("2024-01-08 11:19:41.429", tz="UTC")


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return pd.read_csv(BOOK_CSV, index_col=0)


@pytest.fixture(scope="module")
def chain(book) -> OptionChain:
    return parse_book_summary(book)


def reference_price(s: float, k: float, t: float, vol: float, call: bool, r: float, b: float) -> float:
    """Haug's generalised BSM written out with math.erf: the independent reference."""
    n = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    d1 = (math.log(s / k) + (b + vol * vol / 2) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if call:
        return s * math.exp((b - r) * t) * n(d1) - k * math.exp(-r * t) * n(d2)
    return k * math.exp(-r * t) * n(-d2) - s * math.exp((b - r) * t) * n(-d1)


# -- pricing: textbook numbers ----------------------------------------------------------------


def test_black_scholes_textbook_example():
    # S=K=100, T=1, r=5 %, σ=20 %: d1 = (0 + 0.05 + 0.02)/0.2 = 0.35, d2 = 0.15, N(0.35) = 0.636831,
    # N(0.15) = 0.559618, n(0.35) = 0.375240, K·e^{-r} = 95.1229.
    g = black_scholes_greeks(100.0, 100.0, 1.0, 0.2, [True, False], rate=0.05)
    assert g.price == pytest.approx([10.4506, 5.5735], abs=5e-5)  # 63.6831 - 53.2325; parity
    assert g.delta == pytest.approx([0.636831, -0.363169], abs=1e-6)
    assert g.gamma == pytest.approx([0.0187620] * 2, abs=1e-7)  # 0.375240 / (100 · 0.2)
    assert g.vega == pytest.approx([0.375240] * 2, abs=1e-6)  # 100 · 0.375240 · 1 · 0.01
    # call: (-100·0.375240·0.2/2 - 0.05·95.1229·0.559618)/365 = (-3.75240 - 2.66160)/365
    # put:  (-3.75240 + 0.05·95.1229·0.440382)/365 = (-3.75240 + 2.09452)/365
    assert g.theta == pytest.approx([-6.41400 / 365, -1.65788 / 365], abs=1e-7)


def test_hull_greeks_example():
    # Hull, Options, Futures and Other Derivatives, ch. "The Greek letters": S=49, K=50, r=5 %,
    # σ=20 %, T=0.3846: call 2.40, delta 0.522, gamma 0.066, vega 12.1 per 100 vol points,
    # theta -4.31 per year.
    g = black_scholes_greeks(49.0, 50.0, 0.3846, 0.2, True, rate=0.05)
    assert float(g.price) == pytest.approx(2.40, abs=5e-3)
    assert float(g.delta) == pytest.approx(0.522, abs=5e-4)
    assert float(g.gamma) == pytest.approx(0.066, abs=5e-4)
    assert float(g.vega) * 100 == pytest.approx(12.1, abs=0.05)
    assert float(g.theta) * 365 == pytest.approx(-4.31, abs=5e-3)


def test_black76_hull_futures_put():
    # Hull, Black's model example: F=K=20, r=9 %, T=4/12, σ=25 % -> European futures put 1.12.
    # d1 = 0.25²/2·(1/3)/(0.25·√(1/3)) = 0.0722; p = e^{-0.03}·20·(N(0.0722) - N(-0.0722)).
    assert float(black76_greeks(20.0, 20.0, 4 / 12, 0.25, False, rate=0.09).price) == pytest.approx(1.12, abs=5e-3)


@pytest.mark.parametrize(("carry_is_rate", "rate"), [(True, 0.05), (False, 0.05), (False, 0.0), (True, -0.01)])
def test_prices_match_plain_loop_reference(carry_is_rate, rate):
    s = np.array([80.0, 100.0, 120.0, 2241.65, 2241.65])
    k = np.array([100.0, 100.0, 100.0, 1900.0, 2700.0])
    t = np.array([0.1, 1.0, 2.5, 0.0489, 0.0489])
    vol = np.array([0.3, 0.2, 0.6, 0.79, 0.74])
    b = rate if carry_is_rate else 0.0
    for call in (True, False):
        got = gbs_price(s, k, t, vol, call, rate, b)
        want = [reference_price(*x, call, rate, b) for x in zip(s, k, t, vol, strict=True)]
        assert got == pytest.approx(want, rel=REL)
        assert [_gbs_price_scalar(*x, call, rate, b) for x in zip(s, k, t, vol, strict=True)] == pytest.approx(
            want, rel=REL
        )


def test_black76_is_black_scholes_on_the_forward():
    # Black-76 on F = S·e^{rT} equals Black–Scholes on S, price and greeks (delta rescaled by e^{rT}).
    s, r, t = 100.0, 0.05, 0.75
    f = s * math.exp(r * t)
    bs = black_scholes_greeks(s, [90.0, 110.0], t, 0.3, [False, True], rate=r)
    b76 = black76_greeks(f, [90.0, 110.0], t, 0.3, [False, True], rate=r)
    assert b76.price == pytest.approx(bs.price, rel=REL)
    assert b76.vega == pytest.approx(bs.vega, rel=REL)
    assert b76.delta * math.exp(r * t) == pytest.approx(bs.delta, rel=REL)


@pytest.mark.parametrize(
    ("s", "k", "t", "vol", "call", "r", "b"),
    [
        (100.0, 100.0, 1.0, 0.2, True, 0.05, 0.05),
        (100.0, 130.0, 0.25, 0.45, True, 0.02, 0.0),
        (100.0, 70.0, 0.25, 0.45, False, 0.02, 0.0),
        (2241.65, 1900.0, 0.0489, 0.789, False, 0.0, 0.0),
        (2241.65, 2700.0, 0.0489, 0.742, True, 0.0, 0.0),
        (50.0, 55.0, 2.0, 0.15, False, 0.03, 0.01),
    ],
)
def test_greeks_match_finite_differences(s, k, t, vol, call, r, b):
    g = black_scholes_greeks(s, k, t, vol, call, r, r - b) if b else black76_greeks(s, k, t, vol, call, r)
    price = lambda s_=s, t_=t, v_=vol: float(gbs_price(s_, k, t_, v_, call, r, b))  # noqa: E731
    hs, hv, ht = s * 1e-4, 1e-5, 1e-6
    assert float(g.delta) == pytest.approx((price(s + hs) - price(s - hs)) / (2 * hs), rel=1e-6)
    assert float(g.gamma) == pytest.approx((price(s + hs) - 2 * price() + price(s - hs)) / hs**2, rel=1e-4)
    assert float(g.vega) == pytest.approx((price(v_=vol + hv) - price(v_=vol - hv)) / (2 * hv) * 0.01, rel=1e-6)
    assert float(g.theta) == pytest.approx(-(price(t_=t + ht) - price(t_=t - ht)) / (2 * ht) / 365, rel=1e-5)


def test_degenerate_inputs():
    # T=0 -> intrinsic, greeks NaN; vol=0 -> discounted forward intrinsic; bad inputs -> NaN.
    g = black76_greeks([120.0, 80.0, 100.0], 100.0, 0.0, 0.5, [True, True, False])
    assert g.price.tolist() == [20.0, 0.0, 0.0]
    assert np.isnan(g.delta).all()
    assert np.isnan(g.theta).all()
    assert float(gbs_price(100.0, 90.0, 1.0, 0.0, True, 0.05, 0.05)) == pytest.approx(100 - 90 * math.exp(-0.05))
    bad = gbs_price([100.0, -1.0, 100.0, 100.0], [100.0, 100.0, 0.0, 100.0], [-0.1, 1.0, 1.0, 1.0],
                    [0.2, 0.2, 0.2, np.nan], True)
    assert np.isnan(bad).all()
    assert black76_greeks(100.0, 100.0, 1.0, 0.2, [True, False]).gamma.shape == (2,)


def test_in_coin_divides_value_greeks_by_underlying():
    g = black76_greeks(2000.0, 2200.0, 0.1, 0.7, True)
    c = g.in_coin(2000.0)
    assert (float(c.price), float(c.vega), float(c.theta)) == pytest.approx(
        (float(g.price) / 2000, float(g.vega) / 2000, float(g.theta) / 2000), rel=REL
    )
    assert float(c.delta) == float(g.delta)


# -- implied vol ------------------------------------------------------------------------------


def test_implied_vol_round_trip_and_bounds():
    vols = np.array([0.1, 0.2, 0.8, 1.9, 5.0])
    prices = gbs_price(100.0, 110.0, 0.5, vols, False, 0.03, 0.0)
    assert implied_vol(prices, 100.0, 110.0, 0.5, False, 0.03) == pytest.approx(vols, rel=1e-9)
    lower, upper = no_arbitrage_bounds(100.0, 110.0, 0.5, False, 0.03)
    outside = [float(lower) - 0.01, float(lower), float(upper), float(upper) + 1.0, np.nan]
    assert np.isnan(implied_vol(outside, 100.0, 110.0, 0.5, False, 0.03)).all()
    assert np.isnan(implied_vol(1.0, 100.0, 100.0, 0.0, True))  # T = 0: no time value to invert
    assert implied_vol(10.4506, 100.0, 100.0, 1.0, True, 0.05, 0.05).shape == ()


# -- the chain --------------------------------------------------------------------------------


def test_chain_parses_the_real_snapshot(chain):
    q = chain.quotes
    assert (chain.as_of, chain.currency, len(q), tuple(q.columns)) == (AS_OF, "ETH", 684, CHAIN_COLUMNS)
    row = q.set_index("instrument").loc["ETH-26JAN24-1200-P"]
    # 2024-01-08 11:19:41.429 -> 2024-01-26 08:00: 17 days + 20:40:18.571 = 17 + 74418.571/86400 days.
    assert row["expiry"] == pd.Timestamp("2024-01-26 08:00", tz="UTC")
    assert row["dte_days"] == pytest.approx(17 + 74418.571 / 86400, rel=REL)
    assert row["t_years"] == pytest.approx((17 + 74418.571 / 86400) / 365, rel=REL)
    # prices in ETH x the 26JAN24 future 2241.65
    assert (row["mark_usd"], row["bid_usd"], row["ask_usd"]) == pytest.approx(
        (0.000853 * 2241.65, 0.0004 * 2241.65, 0.001 * 2241.65), rel=REL
    )
    assert (row["strike"], row["is_call"], row["two_sided"], row["otm"], row["open_interest"]) == (
        1200.0, False, True, True, 965.0,
    )
    empty = q.set_index("instrument").loc["ETH-12JAN24-2550-P"]  # no bid, no ask on the book
    assert (empty["two_sided"], empty["mark_coin"]) == (False, 0.149997)
    assert np.isnan(empty["bid_usd"])


def test_live_frame_without_derived_columns_parses_the_same(book, chain):
    live = book.drop(columns=["currency", "expire_date", "strike_price", "option_type"]).sample(frac=1, random_state=1)
    pd.testing.assert_frame_equal(parse_book_summary(live).quotes, chain.quotes)


def test_chain_rejects_what_it_cannot_read(book):
    with pytest.raises(ValueError, match="lacks"):
        parse_book_summary(book.drop(columns=["mark_price"]))
    with pytest.raises(ValueError, match="not Deribit option names"):
        parse_book_summary(book.assign(instrument_name="ETH-PERPETUAL"))
    with pytest.raises(ValueError, match="inverse"):
        parse_book_summary(book.assign(quote_currency="USDC"))
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_book_summary(book, as_of=pd.Timestamp("2024-01-08 12:00"))


def test_instrument_names_with_decimal_strikes():
    parts = parse_instrument_names(pd.Series(["XRP_USDC-7JUN24-0d625-C", "BTC-27DEC24-100000-P"]))
    assert parts["strike"].tolist() == [0.625, 100000.0]
    assert parts["expiry"].tolist() == [pd.Timestamp("2024-06-07 08:00", tz="UTC"),
                                        pd.Timestamp("2024-12-27 08:00", tz="UTC")]


def test_put_call_parity_on_the_real_chain(chain):
    q = chain.quotes
    pairs = q[q["is_call"]].merge(q[~q["is_call"]], on=["expiry", "strike"], suffixes=("_c", "_p"))
    assert len(pairs) == 342
    # Market marks: C - P = F - K (r = 0). Deribit computes each mark a few ms apart from the
    # snapshot's underlying_price, so the implied forward is off by up to 0.9 bp (≤ $0.20).
    implied_forward = pairs["mark_usd_c"] - pairs["mark_usd_p"] + pairs["strike"]
    assert (implied_forward / pairs["underlying_usd_c"] - 1).abs().max() < 1e-4
    # The model at one vol satisfies parity exactly on the chain's own inputs.
    args = (pairs["underlying_usd_c"], pairs["strike"], pairs["t_years_c"], pairs["iv_c"].fillna(0.8))
    diff = gbs_price(*args, True) - gbs_price(*args, False)
    assert diff == pytest.approx(pairs["underlying_usd_c"] - pairs["strike"], rel=REL, abs=1e-9)


def test_iv_round_trip_on_two_sided_rows(chain):
    q = chain.quotes[chain.quotes["two_sided"]]
    lower, _ = no_arbitrage_bounds(q["underlying_usd"], q["strike"], q["t_years"], q["is_call"], q["rate"])
    for side, iv_col in (("mark", "iv"), ("bid", "bid_iv"), ("ask", "ask_iv")):
        solved = q[iv_col].notna()
        back = gbs_price(q["underlying_usd"], q["strike"], q["t_years"], q[iv_col], q["is_call"], q["rate"])
        assert back[solved] == pytest.approx(q.loc[solved, f"{side}_usd"], rel=REL)
        # a side is unsolved only when it sits at or below intrinsic (stub bids on deep ITM rows)
        assert (q.loc[~solved, f"{side}_usd"] <= lower[~solved.to_numpy()]).all()
    assert (len(q), q["iv"].notna().sum(), q["ask_iv"].notna().sum(), q["bid_iv"].notna().sum()) == (408, 408, 408, 395)


def deribit_tickers() -> pd.DataFrame:
    """Every ``ticker.*`` subscription message in the recording, one row each."""
    rows = [json.loads(line.split(": ", 1)[1])["params"]["data"]
            for line in TICKERS_WS.read_text().splitlines()
            if '"method":"subscription"' in line and '"channel":"ticker.' in line]
    return pd.DataFrame(rows)


def test_greeks_match_deribit_tickers():
    t = deribit_tickers()
    parts = parse_instrument_names(t["instrument_name"])
    stamp = pd.to_datetime(t["timestamp"], unit="ms", utc=True)
    years = (parts["expiry"] - stamp).dt.total_seconds() / (365 * 86400)
    # Under a day to expiry Deribit's theta is the whole remaining value (a one-day decay), not
    # the instantaneous rate; those rows (ETH-23JUL21-2300-C) are left out.
    keep = years * 365 >= 1
    t, parts, years = t[keep], parts[keep], years[keep]
    fwd, call = t["underlying_price"].to_numpy(), (parts["option_type"] == "C").to_numpy()
    g = black76_greeks(fwd, parts["strike"], years, t["mark_iv"] / 100, call, t["interest_rate"])
    theirs = {k: np.array([x[k] for x in t["greeks"]]) for k in ("delta", "gamma", "vega", "theta")}
    assert len(t) == 83
    assert g.price / fwd == pytest.approx(t["mark_price"].to_numpy(), rel=1e-3)  # mark_price = Black-76 / F
    assert g.delta == pytest.approx(theirs["delta"], abs=2e-5)  # forward delta, not premium-adjusted
    assert g.gamma == pytest.approx(theirs["gamma"], abs=1e-5)  # Deribit rounds gamma to 5 dp
    assert g.vega == pytest.approx(theirs["vega"], rel=5e-4)  # USD per vol point
    assert g.theta == pytest.approx(theirs["theta"], rel=5e-4)  # USD per calendar day
    strike = parts["strike"].to_numpy()
    otm = np.where(call, strike > fwd, strike < fwd)
    iv = implied_vol(t["mark_price"].to_numpy() * fwd, fwd, strike, years, call, t["interest_rate"])
    assert iv[otm] * 100 == pytest.approx(t["mark_iv"].to_numpy()[otm], abs=0.05)  # vol points


# -- strangle selection -----------------------------------------------------------------------


def test_selects_a_sensible_strangle_from_the_real_chain(chain):
    s = select_strangle(chain)
    # DTEs 17.86 (26JAN24) and 45.86 (23FEB24) lie in [14, 60]; 17.86 is nearer 30. Puts: 1900-P
    # |delta| 0.1504 is nearest 0.15; calls: 2700-C 0.1465 beats 2600-C 0.2012.
    assert (s.put.instrument, s.call.instrument) == ("ETH-26JAN24-1900-P", "ETH-26JAN24-2700-C")
    assert s.put.strike < s.underlying_usd < s.call.strike
    assert 14 <= s.dte_days <= 60
    assert s.as_of == AS_OF
    assert s.premium_usd == pytest.approx((0.0155 + 0.012) * 2241.65, rel=REL)  # both asks
    for leg in (s.put, s.call):
        assert min(leg.bid_usd, leg.ask_usd) > 0
        assert leg.open_interest >= 100
        assert 0.10 <= abs(leg.delta) <= 0.25


def test_selects_by_percent_otm_and_by_target_dte(chain):
    s = select_strangle(chain, StrangleConfig(strike_by="otm_pct", otm_pct=0.15))
    # 2241.65·0.85 = 1905.4 -> 1900; 2241.65·1.15 = 2577.9 -> 2600 (22.1 away) over 2550 (27.9)
    assert (s.put.strike, s.call.strike) == (1900.0, 2600.0)
    later = select_strangle(chain, StrangleConfig(dte_min=20, dte_max=60, dte_target=45))
    assert later.expiry == pd.Timestamp("2024-02-23 08:00", tz="UTC")


def test_no_expiry_in_window(chain):
    # The snapshot lists 17.9 and 45.9 days, nothing in between: a 20–45 day window is empty.
    with pytest.raises(NoEligibleExpiryError, match="17.9, 45.9"):
        select_strangle(chain, StrangleConfig(dte_min=20, dte_max=45, dte_target=30))


def test_no_otm_options(book):
    itm = book[np.where(book["option_type"] == "C", book["strike_price"] < book["underlying_price"],
                        book["strike_price"] > book["underlying_price"])]
    with pytest.raises(NoOtmOptionsError, match="no OTM puts and no OTM calls in the chain"):
        select_strangle(parse_book_summary(itm))
    only_calls = book[(book["option_type"] == "C") | (book["strike_price"] > book["underlying_price"])]
    with pytest.raises(NoOtmOptionsError, match="no OTM puts"):
        select_strangle(parse_book_summary(only_calls))


def test_no_leg_passes_the_filters(chain):
    with pytest.raises(NoEligibleStrikeError, match="open interest >= 1e"):
        select_strangle(chain, StrangleConfig(min_open_interest=1e9))


@pytest.mark.parametrize(
    "kwargs", [{"dte_min": 40, "dte_target": 30}, {"delta_min": 0.3, "delta_target": 0.2}, {"otm_pct": 0.0},
               {"strike_by": "moneyness"}],
)
def test_strangle_config_rejects_nonsense(kwargs):
    with pytest.raises(ValueError, match="must|need"):
        StrangleConfig(**kwargs)


# -- sizing on the theta budget ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("theta", "bankroll", "pct", "step", "expected"),
    [
        (-4.0, 100_000.0, 0.005, 1.0, 125.0),  # 500 / 4 = 125
        (-4.92237215079097, 100_000.0, 0.005, 1.0, 101.0),  # 500 / 4.922 = 101.58 -> 101
        (-30.0, 10_000.0, 0.005, 0.1, 1.6),  # BTC: 50 / 30 = 1.667 -> 1.6
        (-1.0, 140.0, 0.005, 0.1, 0.7),  # 0.7 / 0.1 is 6.999… in floats; still 7 steps
        (-2.5, 1_000.0, 0.01, 1.0, 4.0),  # 10 / 2.5 = 4 exactly
        (-30.0, 1_000.0, 0.005, 1.0, 0.0),  # 5 / 30 = 0.17 < one contract -> none
    ],
)
def test_contracts_for_theta_budget(theta, bankroll, pct, step, expected):
    budget = ThetaBudget(theta_budget_pct=pct, min_trade_amount=step)
    assert contracts_for_theta_budget(theta, bankroll, budget) == expected


@pytest.mark.parametrize(("theta", "bankroll"), [(-4.0, 0.0), (-4.0, -1.0), (-4.0, math.nan), (-4.0, math.inf),
                                                 (0.0, 1000.0), (math.nan, 1000.0)])
def test_theta_budget_rejects_degenerate_inputs(theta, bankroll):
    with pytest.raises(ValueError, match="bankroll_usd|theta per contract"):
        contracts_for_theta_budget(theta, bankroll)


def test_size_strangle_on_the_real_chain(chain):
    s = select_strangle(chain)
    size = size_strangle(s, 100_000.0)
    # theta = -2.5591 (put) - 2.3632 (call) = -4.9224 USD/day; 0.5 % x 100k = 500 -> 101 contracts
    assert (size.contracts, size.budget_usd_per_day, size.below_minimum) == (101.0, 500.0, False)
    assert size.premium_usd == pytest.approx(101 * 61.645375, rel=REL)
    assert abs(size.theta_usd_per_day) <= 500 < 102 * abs(s.theta_usd)
    tiny = size_strangle(s, 500.0)  # 2.50 a day cannot carry one 4.92 strangle
    assert (tiny.contracts, tiny.below_minimum, tiny.theta_usd_per_day) == (0.0, True, 0.0)
    with pytest.raises(ValueError, match="bankroll_usd"):
        size_strangle(s, 0.0)
    with pytest.raises(ValueError, match="theta_budget_pct"):
        ThetaBudget(theta_budget_pct=0.0)


# -- roll rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dte", "put_delta", "call_delta", "value", "roll", "reason"),
    [
        (6.9, -0.15, 0.15, 80.0, True, RollReason.EXPIRY),
        (6.9, math.nan, 0.15, math.nan, True, RollReason.EXPIRY),  # expiry needs no prices
        (7.0, -0.15, 0.15, 80.0, False, RollReason.HOLD),  # "fewer than 7 days" is strict
        (20.0, -0.15, 0.15, 80.0, False, RollReason.HOLD),
        (20.0, -0.15, 0.15, 24.9, True, RollReason.DECAYED),  # 24.9 % of premium < 25 %
        (20.0, -0.15, 0.15, 25.0, False, RollReason.HOLD),
        (20.0, -0.45, 0.05, 80.0, True, RollReason.DELTA_DRIFT),  # put ran toward the money
        (20.0, -0.15, 0.04, 80.0, True, RollReason.DELTA_DRIFT),  # call no longer hedges
        (20.0, -0.40, 0.05, 80.0, False, RollReason.HOLD),  # band edges are inside
        (20.0, -0.60, 0.01, 10.0, True, RollReason.DECAYED),  # decay is checked before drift
        (20.0, -0.15, 0.15, math.nan, False, RollReason.UNPRICED),
        (20.0, math.nan, 0.15, 80.0, False, RollReason.UNPRICED),
    ],
)
def test_decide_roll(dte, put_delta, call_delta, value, roll, reason):
    decision = decide_roll(dte, put_delta, call_delta, value, premium_usd=100.0, config=RollConfig())
    assert (decision.roll, decision.reason) == (roll, reason)
    assert decision.detail


def test_decide_roll_rejects_degenerate_inputs():
    with pytest.raises(ValueError, match="premium_usd"):
        decide_roll(20.0, -0.15, 0.15, 50.0, premium_usd=0.0)
    with pytest.raises(ValueError, match="dte_days"):
        decide_roll(math.nan, -0.15, 0.15, 50.0, premium_usd=100.0)


# -- model valuation between snapshots --------------------------------------------------------


@pytest.fixture(scope="module")
def position(chain) -> StranglePosition:
    return StranglePosition.from_strangle(select_strangle(chain), contracts=101.0, currency="ETH")


def test_model_value_at_entry_reproduces_the_marks(chain, position):
    s = select_strangle(chain)
    v = value_strangle_by_model(position, s.underlying_usd, chain.as_of)
    assert v.value_usd == pytest.approx(101 * (s.put.mark_usd + s.call.mark_usd), rel=REL)
    assert v.value_coin == pytest.approx(v.value_usd / 2241.65, rel=REL)
    assert v.theta_usd_per_day == pytest.approx(101 * s.theta_usd, rel=REL)
    assert (v.modelled, v.iv_source, v.iv_as_of) == (True, "deribit mark_price, Black-76 solve", AS_OF)
    assert position.premium_usd == pytest.approx(101 * s.premium_usd, rel=REL)


def test_model_value_moves_with_time_and_price(chain, position):
    f = 2241.65
    now = value_strangle_by_model(position, f, chain.as_of)
    day_later = value_strangle_by_model(position, f, chain.as_of + pd.Timedelta(days=1))
    assert now.value_usd - day_later.value_usd == pytest.approx(-now.theta_usd_per_day, rel=0.05)
    rally = value_strangle_by_model(position, f * 1.10, chain.as_of)
    assert rally.call_value_usd > now.call_value_usd
    assert rally.put_value_usd < now.put_value_usd
    assert rally.delta > 0 > value_strangle_by_model(position, f * 0.9, chain.as_of).delta
    other = IvMark(1.0, 1.0, chain.as_of + pd.Timedelta(hours=1), "test surface")
    v = value_strangle_by_model(position, f, chain.as_of + pd.Timedelta(hours=2), iv=other)
    assert (v.iv_source, v.iv_as_of, v.modelled) == ("test surface", other.as_of, True)
    assert v.value_usd > now.value_usd  # 100 % vol is above both legs' entry IVs


def test_model_value_at_and_after_expiry(position):
    at_expiry = value_strangle_by_model(position, 1800.0, position.expiry)
    assert at_expiry.value_usd == pytest.approx(101 * (1900 - 1800), rel=REL)  # put intrinsic only
    assert math.isnan(at_expiry.delta)
    assert math.isnan(at_expiry.theta_usd_per_day)
    after = value_strangle_by_model(position, 1800.0, position.expiry + pd.Timedelta(hours=1))
    assert math.isnan(after.value_usd)


def test_model_value_refuses_look_ahead_and_naive_times(chain, position):
    with pytest.raises(ValueError, match="earlier"):
        value_strangle_by_model(position, 2241.65, chain.as_of - pd.Timedelta(minutes=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        value_strangle_by_model(position, 2241.65, pd.Timestamp("2024-01-09 00:00"))


def test_valuation_feeds_the_roll_decision(chain, position):
    v = value_strangle_by_model(position, 2241.65, chain.as_of + pd.Timedelta(days=11))
    decision = decide_roll(v.dte_days, v.put_delta, v.call_delta, v.value_usd, position.premium_usd)
    assert (decision.roll, decision.reason) == (True, RollReason.EXPIRY)  # 6.86 days left
