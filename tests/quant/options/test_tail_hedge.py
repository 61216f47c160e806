"""quant.options.tail_hedge: which price and which chain each hour uses, and the hourly strangle table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant.options.chain import OptionChain, parse_book_summary
from quant.options.model import MODELLED_PREFIX, recentre_chain
from quant.options.strangle import select_strangle
from quant.options.tail_hedge import (
    HEDGE_COLUMNS,
    HEDGE_DTYPES,
    SOURCE_NONE,
    STATUS_NO_CHAIN,
    STATUS_NO_UNDERLYING,
    HedgeUnderlying,
    pick_chain,
    tail_hedge_signals,
    underlying_closes,
)

BOOK_CSV = Path(__file__).resolve().parents[3] / "data" / "sample" / "deribit" / "eth_book_summary_20240108.csv"
H = pd.Timestamp("2025-06-10 12:00", tz="UTC")
HOUR = pd.Timedelta(hours=1)
ETH = "ETH/USDT:USDT"
NUMBERS = [c for c, t in HEDGE_DTYPES.items() if t == "float64" and c != "underlying_usd"]


@pytest.fixture(scope="module")
def snapshot() -> OptionChain:
    return parse_book_summary(pd.read_csv(BOOK_CSV, index_col=0))


def candles(rows: list[tuple[pd.Timestamp, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["hour", "venue", "symbol", "close"])


def hours(n: int) -> pd.DatetimeIndex:
    return pd.date_range(H, periods=n, freq="h", tz="UTC", unit="ns")


# -- the underlying -----------------------------------------------------------------------------


def test_binance_close_first_then_bybit_then_nothing():
    ohlcv = candles([
        (H, "bybit", ETH, 2501.0), (H, "binance", ETH, 2500.0),  # both: binance wins
        (H + HOUR, "bybit", ETH, 2511.0),  # bybit only
        (H + 2 * HOUR, "binance", "BTC/USDT:USDT", 100_000.0),  # another symbol only
        (H + 3 * HOUR, "binance", ETH, 0.0), (H + 3 * HOUR, "bybit", ETH, 2530.0),  # a zero close is no price
    ])
    got = underlying_closes(ohlcv, hours(4), HedgeUnderlying())
    assert got.iloc[[0, 1, 3]].tolist() == [2500.0, 2511.0, 2530.0]
    assert np.isnan(got.iloc[2])
    assert underlying_closes(ohlcv.iloc[:0], hours(2), HedgeUnderlying()).isna().all()


# -- the chain of an hour -------------------------------------------------------------------------


def test_pick_chain_prefers_the_hours_own_snapshot_and_never_a_later_one(snapshot):
    old = dataclasses.replace(snapshot, as_of=H - pd.Timedelta(days=3))
    own = dataclasses.replace(snapshot, as_of=H + pd.Timedelta(minutes=20))
    later = dataclasses.replace(snapshot, as_of=H + HOUR)
    assert pick_chain([old, own, later], H) == (own, True)
    assert pick_chain([old, later], H) == (old, False)
    assert pick_chain([later], H) == (None, False)
    assert pick_chain([], H) == (None, False)


# -- the table --------------------------------------------------------------------------------


def test_a_2025_hour_is_modelled_from_the_2024_surface(snapshot):
    df = tail_hedge_signals([snapshot], candles([(H, "binance", ETH, 2764.25)]), hours(1))
    assert list(df.columns) == HEDGE_COLUMNS
    assert {c: str(t) for c, t in df.dtypes.items()} == HEDGE_DTYPES
    r = df.iloc[0]
    assert (r["status"], r["currency"], bool(r["modelled"])) == ("ok", "ETH", True)
    assert r["source"] == "modelled: 2024-01-08 Deribit ETH IV surface recentred on the ETH perp close"
    assert r["chain_as_of"] == snapshot.as_of
    assert r["put_strike"] < 2764.25 < r["call_strike"]
    assert 14 <= r["dte_days"] <= 60
    assert r["expiry"] - (H + HOUR) == pd.Timedelta(days=r["dte_days"])
    assert r["put_instrument"].startswith(MODELLED_PREFIX)
    assert r["call_instrument"].startswith(MODELLED_PREFIX)
    expected = select_strangle(recentre_chain(snapshot, 2764.25, H + HOUR))
    assert r["premium_usd"] == pytest.approx(expected.premium_usd, rel=1e-12)
    assert r["premium_usd"] == pytest.approx(r["put_ask_usd"] + r["call_ask_usd"], rel=1e-12)
    assert r["theta_usd"] == pytest.approx(expected.put.theta_usd + expected.call.theta_usd, rel=1e-12)
    assert r["theta_usd"] < 0 < r["vega_usd"]
    assert r["put_delta"] < 0 < r["call_delta"]


def test_the_hours_own_snapshot_is_used_as_it_is(snapshot):
    live = dataclasses.replace(snapshot, as_of=H + pd.Timedelta(minutes=30))
    r = tail_hedge_signals([live], candles([(H, "binance", ETH, 2230.0)]), hours(1)).iloc[0]
    assert (r["status"], bool(r["modelled"]), r["source"]) == ("ok", False, "deribit book summary")
    s = select_strangle(live)
    assert (r["put_instrument"], r["call_instrument"]) == (s.put.instrument, s.call.instrument)
    assert r["put_ask_usd"] == s.put.ask_usd


def test_a_later_snapshot_is_never_used_for_an_earlier_hour(snapshot):
    later = dataclasses.replace(snapshot, as_of=H + HOUR)
    r = tail_hedge_signals([later], candles([(H, "binance", ETH, 2230.0)]), hours(1)).iloc[0]
    assert r["status"] == STATUS_NO_CHAIN
    assert (pd.isna(r["chain_as_of"]), bool(r["modelled"]), r["source"]) == (True, False, SOURCE_NONE)
    assert r[NUMBERS].isna().all()


def test_no_price_gives_no_underlying_and_nan_numbers(snapshot):
    df = tail_hedge_signals([snapshot], candles([(H + HOUR, "bybit", ETH, 2500.0)]), hours(2))
    assert df["status"].tolist() == [STATUS_NO_UNDERLYING, "ok"]
    assert np.isnan(df["underlying_usd"].iloc[0])
    assert df.iloc[0][NUMBERS].isna().all()
    assert pd.isna(df["put_instrument"].iloc[0])
    assert pd.isna(df["expiry"].iloc[0])


def test_a_chain_without_otm_calls_gives_a_status_not_a_crash(snapshot):
    puts_only = dataclasses.replace(snapshot, quotes=snapshot.quotes[~snapshot.quotes["is_call"]])
    r = tail_hedge_signals([puts_only], candles([(H, "binance", ETH, 2500.0)]), hours(1)).iloc[0]
    assert r["status"] == "no OTM calls in the chain"
    assert bool(r["modelled"])
    assert r[NUMBERS].isna().all()


def test_no_expiry_in_the_window_is_a_status(snapshot):
    short = snapshot.quotes[snapshot.quotes["dte_days"] < 5]
    r = tail_hedge_signals([dataclasses.replace(snapshot, quotes=short)], candles([(H, "binance", ETH, 2500.0)]),
                           hours(1)).iloc[0]
    assert r["status"].startswith("no expiry with 14-60 days to expiry")


def test_a_range_equals_its_hours_one_by_one(snapshot):
    ohlcv = candles([(H + i * HOUR, "binance", ETH, 2500.0 + 7 * i) for i in range(4) if i != 2])
    ranged = tail_hedge_signals([snapshot], ohlcv, hours(4))
    one_by_one = pd.concat([tail_hedge_signals([snapshot], ohlcv, hours(4)[i : i + 1]) for i in range(4)],
                           ignore_index=True)
    pd.testing.assert_frame_equal(ranged, one_by_one)
    assert ranged["status"].tolist() == ["ok", "ok", STATUS_NO_UNDERLYING, "ok"]


def test_modelled_snapshots_are_refused(snapshot):
    moved = recentre_chain(snapshot, 2500.0, H)
    with pytest.raises(ValueError, match="market chains"):
        tail_hedge_signals([moved], candles([]), hours(1))
