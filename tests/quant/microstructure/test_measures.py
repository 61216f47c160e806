"""quant.microstructure: VPIN (BVC, aggressor, kline), OFI, Hawkes, Kyle's lambda.

Hand-checked examples (arithmetic in the comments), then every vectorised/numba function against
the plain-Python loops of ``tests.references.microstructure`` on the REAL BTC and ETH trades and book
tickers of data/sample (2024-08-08 23:54-24:00 UTC), then a Hawkes fit on an Ogata simulation.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest

from quant.microstructure import measures as ms
from quant.microstructure.hawkes import _loglik_grad
from resources.exchange.replay import DEFAULT_SAMPLE_DIR, TRADES_FILES, ReplayExchange
from tests.references import microstructure as ref

REL = 1e-9
T0 = pd.Timestamp("2024-08-08 00:00", tz="UTC")
SEC = 1_000_000_000
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def trades_frame(rows: list[tuple[float, float, float, bool]]) -> pd.DataFrame:
    """(seconds after T0, price, qty, is_buyer_maker) rows as a frames.TRADES frame."""
    sec, price, qty, maker = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex([T0 + pd.Timedelta(seconds=s) for s in sec], tz="UTC").as_unit("ns"),
            "trade_id": np.arange(len(rows), dtype=np.int64),
            "price": np.asarray(price, dtype=float),
            "qty": np.asarray(qty, dtype=float),
            "is_buyer_maker": np.asarray(maker, dtype=bool),
        }
    )


def book_tickers(symbol: str) -> pd.DataFrame:
    """The ``@bookTicker`` messages of the sample file (b, B, a, A at exchange time T), in file order."""
    rows = []
    with gzip.open(DEFAULT_SAMPLE_DIR / TRADES_FILES[("binance", symbol)], "rt") as fh:
        for line in fh:
            if "@bookTicker" in line:
                d = json.loads(line.partition(" ")[2])["data"]
                rows.append((d["T"], float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"])))
    book = pd.DataFrame(rows, columns=list(ms.BOOK_COLUMNS))
    book["ts"] = pd.to_datetime(book["ts"], unit="ms", utc=True)
    return book


@pytest.fixture(scope="module", params=SYMBOLS)
def real(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    end = pd.Timestamp("2024-08-10", tz="UTC")
    return request.param, ReplayExchange().trades("binance", request.param, T0, end)


def columns(t: pd.DataFrame) -> tuple[list, ...]:
    ns = pd.DatetimeIndex(t["ts"]).as_unit("ns").asi8
    return ns.tolist(), t["price"].tolist(), t["qty"].tolist(), t["is_buyer_maker"].tolist()


def assert_buckets(got: pd.DataFrame, want: list[ref.Bucket]) -> None:
    assert len(got) == len(want) > 0
    assert got["vpin"].notna().sum() == len(got) - 49  # NaN for exactly the first window - 1 buckets
    assert pd.DatetimeIndex(got["ts"]).as_unit("ns").asi8.tolist() == [w[0] for w in want]
    for i, col in enumerate(["buy_usd", "sell_usd", "imbalance", "vpin"], start=1):
        np.testing.assert_allclose(got[col].to_numpy(), [w[i] for w in want], rtol=REL, atol=0)


# -- VPIN by hand -------------------------------------------------------------------------------------


def test_bvc_buy_fraction_is_normal_cdf() -> None:
    # Phi(0) = 1/2, Phi(1) = 0.8413447460685429, Phi(-2) = 0.02275013194817922 (normal tables).
    got = ms.bvc_buy_fraction(np.array([0.0, 0.01, -0.02]), 0.01)
    assert got.tolist() == pytest.approx([0.5, 0.8413447460685429, 0.02275013194817922], rel=REL)
    assert np.isnan(ms.bvc_buy_fraction(np.array([0.0, 0.0]), 0.0)).all()  # no price variation


def test_volume_buckets_split_a_bar_pro_rata() -> None:
    # Bars of 30, 50, 40 USD with buy share 1, 1/2, 0; buckets of 50:
    # #1 = 30 of bar 0 (buy 30) + 20 of bar 1 (buy 10, sell 10) -> buy 40, sell 10, filled in bar 1;
    # #2 = 30 of bar 1 (15/15) + 20 of bar 2 (sell 20) -> buy 15, sell 35, filled in bar 2;
    # the last 20 USD of bar 2 never fill a bucket and are dropped.
    idx, buy, sell = ms.volume_buckets(np.array([30.0, 50.0, 40.0]), np.array([1.0, 0.5, 0.0]), 50.0)
    assert idx.tolist() == [1, 2]
    assert buy.tolist() == pytest.approx([40.0, 15.0], rel=REL)
    assert sell.tolist() == pytest.approx([10.0, 35.0], rel=REL)
    # imbalance 30/50 = 0.6 and 20/50 = 0.4; VPIN over 2 buckets: NaN (never 0) then 0.5.
    vpin = ms.vpin_series(np.abs(buy - sell) / 50.0, 2)
    assert math.isnan(vpin[0])
    assert vpin[1] == pytest.approx(0.5, rel=REL)


def test_time_bars_by_hand() -> None:
    # Trades at 0.2 s (100 x 1, buy), 0.7 s (102 x 2, sell), 2.1 s (101 x 3, buy); 1 s bars:
    # bar [0, 1): last 102, notional 100 + 204 = 304 USD, qty 3, signed 1 - 2 = -1, labelled 1 s;
    # bar [1, 2) is empty and skipped; bar [2, 3): last 101, 303 USD, qty 3, signed +3, labelled 3 s.
    ns = np.array([200_000_000, 700_000_000, 2_100_000_000])
    bars = ms.time_bars(ns, np.array([100.0, 102.0, 101.0]), np.array([1.0, 2.0, 3.0]), np.array([False, True, False]))
    assert bars.end_ns.tolist() == [SEC, 3 * SEC]
    assert bars.last_price.tolist() == [102.0, 101.0]
    assert bars.notional_usd.tolist() == pytest.approx([304.0, 303.0], rel=REL)
    assert bars.qty.tolist() == [3.0, 3.0]
    assert bars.signed_qty.tolist() == [-1.0, 3.0]


@pytest.mark.parametrize(("n", "window"), [(40, 1), (40, 3), (40, 7), (5, 7), (0, 2)])
def test_vpin_series_is_the_plain_window_mean(n: int, window: int) -> None:
    # The running sum re-sums every `window` steps; every value must equal the plain mean of its window.
    x = np.random.default_rng(n + window).random(n)
    got = ms.vpin_series(x, window)
    want = [math.nan if k < window - 1 else sum(x[k - window + 1 : k + 1]) / window for k in range(n)]
    np.testing.assert_allclose(got, want, rtol=REL)


def test_vpin_series_nan_only_where_the_window_holds_one() -> None:
    # Window 3, NaN at bucket 2: windows ending at 2, 3, 4 hold it; 5 and 6 are clean (the running
    # sum must forget the NaN even though the next exact re-sum is only at bucket 6).
    x = np.array([0.1, 0.2, np.nan, 0.4, 0.5, 0.6, 0.7])
    got = ms.vpin_series(x, 3)
    assert np.isnan(got[:5]).all()
    assert got[5:].tolist() == pytest.approx([0.5, 0.6], rel=REL)


def test_distinct_event_times_collapse_same_timestamp_trades() -> None:
    # Three fills at 00:00:00.100 (one taker order), one at 00:00:01.600: two arrivals, 1.5 s apart.
    ts = pd.Series([T0 + pd.Timedelta(milliseconds=m) for m in (100, 100, 100, 1600)])
    assert ms.distinct_event_times(ts).tolist() == [0.0, 1.5]


def test_vpin_bvc_by_hand() -> None:
    # 1 s bars: A (0.2 s) 100 x 1, B (1.5 s) 101 x 1 = 101 USD, C (2.5 s) 100 x 2 = 200 USD.
    # A has no previous bar and is dropped. dlog p = ln(1.01) = +d, ln(100/101) = -d, d = 0.00995033;
    # sigma = stdev(+d, -d) = d sqrt 2, so z = +-1/sqrt 2: P(buy) = 0.76024994 (B), 0.23975006 (C).
    # Buckets of 100: #1 = 100 of B: buy 76.024994, imbalance |76.025 - 23.975|/100 = 0.52049988;
    # #2 = 1 of B + 99 of C: buy 0.76025 + 99 x 0.23975 = 24.495506, imbalance 0.51008988;
    # #3 = 100 of C: buy 23.975006, imbalance 0.52049988. VPIN(2) = NaN, 0.51529488, 0.51529488.
    got = ms.vpin_bvc(trades_frame([(0.2, 100.0, 1.0, False), (1.5, 101.0, 1.0, False), (2.5, 100.0, 2.0, True)]),
                      bucket_usd=100.0, window=2)
    b = got.buckets
    assert got.method == "bvc"
    assert got.approximate  # 2 classified bars for 301 / 100 buckets: 0.66 bars per bucket, far under 10
    assert "0.66 bars per bucket" in got.note
    assert got.sigma == pytest.approx(0.009950330853168092 * math.sqrt(2), rel=REL)
    assert b["ts"].tolist() == [T0 + pd.Timedelta(seconds=s) for s in (2, 3, 3)]  # end of the filling bar
    assert b["buy_usd"].tolist() == pytest.approx([76.02499389065233, 24.495505987160723, 23.975006109347678], rel=REL)
    assert b["imbalance"].tolist() == pytest.approx([0.5204998778130465, 0.5100898802567855, 0.5204998778130465], rel=REL)
    assert math.isnan(b["vpin"].iloc[0])
    assert b["vpin"].iloc[1:].tolist() == pytest.approx([0.515294879034916] * 2, rel=REL)
    assert got.latest == pytest.approx(0.515294879034916, rel=REL)
    given = ms.vpin_bvc(trades_frame([(0.2, 100.0, 1.0, False), (1.5, 101.0, 1.0, False), (2.5, 100.0, 2.0, True)]),
                        bucket_usd=100.0, window=2, sigma=got.sigma)
    assert given.buckets["imbalance"].tolist() == b["imbalance"].tolist()


def test_vpin_aggressor_by_hand() -> None:
    # Buy 60 USD, sell 70 USD, buy 20 USD; buckets of 50:
    # #1 = 50 buy -> imbalance 1 (trade 0); #2 = 10 buy + 40 sell -> 0.6 (trade 1);
    # #3 = 30 sell + 20 buy -> 0.2 (trade 2). VPIN(3) = NaN, NaN, (1 + 0.6 + 0.2)/3 = 0.6.
    got = ms.vpin_aggressor(trades_frame([(0.1, 10.0, 6.0, False), (0.2, 10.0, 7.0, True), (0.3, 10.0, 2.0, False)]),
                            bucket_usd=50.0, window=3)
    b = got.buckets
    assert b["imbalance"].tolist() == pytest.approx([1.0, 0.6, 0.2], rel=REL)
    assert b["vpin"].isna().tolist() == [True, True, False]
    assert b["vpin"].iloc[2] == pytest.approx(0.6, rel=REL)
    assert b["ts"].tolist() == [T0 + pd.Timedelta(seconds=s) for s in (0.1, 0.2, 0.3)]


def test_vpin_kline_is_flagged_and_sizes_buckets_from_daily_volume() -> None:
    # Closes 100, 110, 99, volumes 1, 2, 3 -> notional 100 + 220 + 297 = 617 USD over 3 h = 1/8 day:
    # daily volume 4936, bucket 4936 / 50 = 98.72. Candle 1 is dropped (no dlog): 220 + 297 = 517
    # USD -> 5 full buckets. sigma = |ln 1.1 - ln 0.9| / sqrt 2 = 0.14189561, z = ln 1.1 / sigma =
    # 0.67169224, Phi = 0.74911018: bucket 1 imbalance = 2 x 0.74911018 - 1 = 0.49822036.
    candles = pd.DataFrame({"ts": pd.date_range(T0, periods=3, freq="h", unit="ns"), "close": [100.0, 110.0, 99.0],
                            "volume": [1.0, 2.0, 3.0]})
    got = ms.vpin_kline(candles, window=2)
    assert got.approximate
    assert "not for gating" in got.note
    assert got.method == "kline_bvc"
    assert got.bucket_usd == pytest.approx(98.72, rel=REL)
    assert len(got.buckets) == 5
    assert got.buckets["imbalance"].iloc[0] == pytest.approx(0.49822035736528014, rel=REL)
    assert got.buckets["ts"].iloc[0] == T0 + pd.Timedelta(hours=2)  # close of the 01:00 candle
    none = ms.vpin_kline(candles.iloc[:0])
    assert none.buckets.empty
    assert math.isnan(none.bucket_usd)
    with pytest.raises(ValueError, match="bucket_usd"):
        ms.vpin_kline(candles, bucket_usd=-1.0)


# -- OFI, Hawkes, Kyle by hand ---------------------------------------------------------------------------


def test_ofi_by_hand() -> None:
    # (bid, bid qty, ask, ask qty) at 0.1, 0.5, 1.2, 3.7, 3.9 s:
    # n1 bid same 100: +7 - 5; ask same: -4 + 4            -> e = 2  (bucket 0 s)
    # n2 bid up 100.5: +1; ask same 101: -3 + 4             -> e = 2  (bucket 1 s)
    # n3 bid down 100: -1 (old qty); ask down 100.8: -2     -> e = -3 (bucket 3 s)
    # n4 bid same: +6 - 6; ask up 101.2: +2 (old qty)       -> e = 2  (bucket 3 s)
    book = pd.DataFrame({
        "ts": [T0 + pd.Timedelta(seconds=s) for s in (0.1, 0.5, 1.2, 3.7, 3.9)],
        "bid_price": [100.0, 100.0, 100.5, 100.0, 100.0], "bid_qty": [5.0, 7.0, 1.0, 6.0, 6.0],
        "ask_price": [101.0, 101.0, 101.0, 100.8, 101.2], "ask_qty": [4.0, 4.0, 3.0, 2.0, 9.0],
    })
    e = ms.ofi_events(book["bid_price"], book["bid_qty"], book["ask_price"], book["ask_qty"])
    assert e.tolist() == [2.0, 2.0, -3.0, 2.0]
    got = ms.ofi_buckets(book, bucket_seconds=1.0)
    assert got["ts"].tolist() == [T0 + pd.Timedelta(seconds=s) for s in range(4)]
    assert got["ofi"].tolist() == [2.0, 2.0, 0.0, -1.0]
    assert got["n_events"].tolist() == [1, 1, 0, 2]


def test_hawkes_intensity_by_hand() -> None:
    # Events 0, 1, 2 s; mu 0.5, alpha 1, beta ln 2 so exp(-beta) = 1/2.
    # At the events (left limits): 0.5; 0.5 + 1/2 = 1; 0.5 + 1/4 + 1/2 = 1.25.
    # At -1 and 0: no event strictly before -> 0.5; at 0.5: 0.5 + 2^-0.5; at 3: 0.5 + 1/8 + 1/4 + 1/2.
    t, beta = np.array([0.0, 1.0, 2.0]), math.log(2.0)
    assert ms.hawkes_intensity(t, 0.5, 1.0, beta).tolist() == pytest.approx([0.5, 1.0, 1.25], rel=REL)
    at = np.array([-1.0, 0.0, 0.5, 3.0])
    assert ms.hawkes_intensity(t, 0.5, 1.0, beta, at).tolist() == pytest.approx(
        [0.5, 0.5, 1.2071067811865475, 1.375], rel=REL)
    # log L on [0, 3] = ln(0.5 x 1 x 1.25) - 0.5 x 3 - (1/ln 2)(7/8 + 3/4 + 1/2) = -5.035730591134783.
    assert ms.hawkes_log_likelihood(t, 0.5, 1.0, beta, start=0.0, end=3.0) == pytest.approx(-5.035730591134783, rel=REL)
    assert ms.branching_ratio(0.8, 1.6) == pytest.approx(0.5, rel=REL)


def test_kyle_lambda_by_hand() -> None:
    # Bars (1 s): last prices 100, 102, 105, 110, 116 -> dP = 2, 3, 5, 6; signed qty of bars 1..4 =
    # 1, 2, 4 - 1 = 3, 4. Centred x = -1.5, -0.5, 0.5, 1.5; y = -2, -1, 1, 2: Sxx = 5, Sxy = 7, Syy = 10.
    # slope 7/5 = 1.4; intercept 4 - 1.4 x 2.5 = 0.5; residuals 0.1, -0.3, 0.3, -0.1, SSR 0.2;
    # R^2 = 1 - 0.2/10 = 0.98; se = sqrt(0.2 / 2 / 5) = 0.14142136, t = 9.899494936611665.
    rows = [(0.5, 100.0, 1.0, False), (1.5, 102.0, 1.0, False), (2.5, 105.0, 2.0, False),
            (3.2, 110.0, 4.0, False), (3.4, 110.0, 1.0, True), (4.5, 116.0, 4.0, False)]
    got = ms.kyle_lambda(trades_frame(rows))
    assert (got.slope, got.intercept, got.t_stat, got.r_squared) == pytest.approx((1.4, 0.5, 9.899494936611665, 0.98), rel=REL)
    assert got.n_bars == 4


@pytest.mark.parametrize(
    ("x", "y"),
    [
        pytest.param([1.0, 2.0], [1.0, 2.0], id="two-bars"),
        pytest.param([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], id="flat-volume"),
        pytest.param([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], id="price-never-moved"),
        pytest.param([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], id="nan"),
    ],
)
def test_kyle_lambda_degenerate_is_nan(x: list[float], y: list[float]) -> None:
    got = ms.ols_price_impact(np.array(x), np.array(y))
    assert all(math.isnan(v) for v in (got.slope, got.intercept, got.t_stat, got.r_squared))


# -- bad input ------------------------------------------------------------------------------------------

GOOD = [(0.1, 100.0, 1.0, False), (0.2, 100.0, 1.0, True)]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        pytest.param([(0.2, 100.0, 1.0, False), (0.1, 100.0, 1.0, True)], "non-decreasing", id="time-goes-back"),
        pytest.param([(0.1, 100.0, -1.0, False), (0.2, 100.0, 1.0, True)], "qty", id="negative-qty"),
        pytest.param([(0.1, np.nan, 1.0, False), (0.2, 100.0, 1.0, True)], "price", id="nan-price"),
        pytest.param([(0.1, 0.0, 1.0, False), (0.2, 100.0, 1.0, True)], "price", id="zero-price"),
    ],
)
@pytest.mark.parametrize("fn", [ms.vpin_bvc, ms.vpin_aggressor, ms.kyle_lambda])
def test_bad_trades_raise(fn, rows: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fn(trades_frame(rows))


def test_naive_timestamps_and_bad_knobs_raise() -> None:
    naive = trades_frame(GOOD).assign(ts=lambda d: d["ts"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        ms.vpin_bvc(naive)
    with pytest.raises(ValueError, match="bucket_usd"):
        ms.vpin_aggressor(trades_frame(GOOD), bucket_usd=0.0)
    with pytest.raises(ValueError, match="window"):
        ms.vpin_aggressor(trades_frame(GOOD), window=0)
    with pytest.raises(ValueError, match="bar length"):
        ms.vpin_bvc(trades_frame(GOOD), bar_seconds=-1.0)


def test_empty_windows_are_empty_or_nan_never_zero() -> None:
    empty = trades_frame([])
    for result in (ms.vpin_bvc(empty), ms.vpin_aggressor(empty)):
        assert result.buckets.empty
        assert math.isnan(result.latest)
    assert math.isnan(ms.kyle_lambda(empty).slope)
    # Fewer buckets than the window: every VPIN is NaN.
    few = ms.vpin_aggressor(trades_frame(GOOD), bucket_usd=50.0, window=50)
    assert len(few.buckets) == 4
    assert few.buckets["vpin"].isna().all()
    # No price variation: BVC cannot classify, VPIN is NaN.
    flat = ms.vpin_bvc(trades_frame([(0.5, 100.0, 1.0, False), (1.5, 100.0, 1.0, True), (2.5, 100.0, 1.0, True)]),
                       bucket_usd=50.0, window=1)
    assert len(flat.buckets) == 4
    assert flat.buckets["vpin"].isna().all()
    assert ms.ofi_buckets(pd.DataFrame({c: [] for c in ms.BOOK_COLUMNS}).astype({"ts": "datetime64[ns, UTC]"})).empty


def test_hawkes_bad_input() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        ms.hawkes_intensity(np.array([0.0, 1.0, 1.0]), 1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        ms.hawkes_intensity(np.array([0.0, np.nan]), 1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="mu > 0"):
        ms.hawkes_intensity(np.array([0.0, 1.0]), -1.0, 0.5, 1.0)
    # A failed fit's NaN parameters propagate as NaN intensities, never a number.
    assert np.isnan(ms.hawkes_intensity(np.array([0.0, 1.0]), math.nan, math.nan, math.nan)).all()
    assert ms.hawkes_intensity(np.array([]), 0.5, 1.0, 2.0, at=np.array([1.0])).tolist() == [0.5]
    fit = ms.fit_hawkes(np.arange(5.0))
    assert not fit.converged
    assert math.isnan(fit.mu)
    assert fit.n_events == 5
    with pytest.raises(ValueError, match="non-decreasing"):
        ms.distinct_event_times(pd.Series(pd.to_datetime([2, 1], unit="s", utc=True)))


def test_ofi_bad_input() -> None:
    with pytest.raises(ValueError, match="bid_qty"):
        ms.ofi_events(np.array([1.0, 1.0]), np.array([1.0, -1.0]), np.array([2.0, 2.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="one length"):
        ms.ofi_events(np.array([1.0, 1.0]), np.array([1.0]), np.array([2.0, 2.0]), np.array([1.0, 1.0]))


# -- against the plain-Python loops on the real sample ------------------------------------------------------


def test_vpin_bvc_matches_loop_on_real_trades(real: tuple[str, pd.DataFrame]) -> None:
    _, t = real
    ts, price, qty, _ = columns(t)
    got = ms.vpin_bvc(t, bucket_usd=50_000.0, window=50, bar_seconds=1.0)
    want, sigma = ref.vpin_bvc(ts, price, qty, 50_000.0, 50, SEC)
    assert got.sigma == pytest.approx(sigma, rel=REL)
    assert_buckets(got.buckets, want)
    # Every completed bucket holds exactly 50,000 USD, however bars were split across it.
    np.testing.assert_allclose(got.buckets["buy_usd"] + got.buckets["sell_usd"], 50_000.0, rtol=REL)


def test_vpin_aggressor_matches_loop_on_real_trades(real: tuple[str, pd.DataFrame]) -> None:
    _, t = real
    ts, price, qty, maker = columns(t)
    got = ms.vpin_aggressor(t, bucket_usd=50_000.0)  # the fixed-bucket option
    assert_buckets(got.buckets, ref.vpin_aggressor(ts, price, qty, maker, 50_000.0, 50))


def test_vpin_kline_matches_loop_on_real_candles() -> None:
    candles = ReplayExchange().candles("binance", "BTC/USDT:USDT", T0, pd.Timestamp("2026-01-01", tz="UTC"))
    got = ms.vpin_kline(candles)
    opens = pd.DatetimeIndex(candles["ts"]).as_unit("ns").asi8.tolist()
    want = ref.vpin_kline(opens, candles["close"].tolist(), candles["volume"].tolist(), 3600 * SEC, got.bucket_usd, 50)
    assert_buckets(got.buckets, want)


def test_ofi_matches_loop_on_real_book_tickers(real: tuple[str, pd.DataFrame]) -> None:
    book = book_tickers(real[0])
    got = ms.ofi_buckets(book, bucket_seconds=1.0)
    ns = pd.DatetimeIndex(book["ts"]).as_unit("ns").asi8.tolist()
    want = ref.ofi(ns, *(book[c].tolist() for c in ms.BOOK_COLUMNS[1:]), SEC)
    assert pd.DatetimeIndex(got["ts"]).as_unit("ns").asi8.tolist() == [w[0] for w in want]
    np.testing.assert_allclose(got["ofi"].to_numpy(), [w[1] for w in want], rtol=REL, atol=1e-9)
    assert got["n_events"].tolist() == [w[2] for w in want]


def test_kyle_lambda_matches_loop_on_real_trades(real: tuple[str, pd.DataFrame]) -> None:
    _, t = real
    got = ms.kyle_lambda(t, bar_seconds=1.0)
    want = ref.kyle_lambda(*columns(t), SEC)
    assert (got.slope, got.intercept, got.t_stat, got.r_squared, got.n_bars) == pytest.approx(want, rel=REL)


def test_hawkes_matches_loops_on_real_trade_arrivals(real: tuple[str, pd.DataFrame]) -> None:
    _, t = real
    times = ms.distinct_event_times(t["ts"])
    mu, alpha, beta = 8.0, 19.0, 40.0
    got = ms.hawkes_intensity(times, mu, alpha, beta)
    np.testing.assert_allclose(got, ref.hawkes_intensity_recursive(times.tolist(), mu, alpha, beta), rtol=REL)
    head = times[:1500]  # the direct double sum is O(n^2): its first 1500 events, and a grid over them
    np.testing.assert_allclose(got[:1500], ref.hawkes_intensity_direct(head.tolist(), mu, alpha, beta, head), rtol=REL)
    grid = np.arange(-0.5, head[-1] + 0.5, 0.2)
    np.testing.assert_allclose(ms.hawkes_intensity(head, mu, alpha, beta, grid),
                               ref.hawkes_intensity_direct(head.tolist(), mu, alpha, beta, grid), rtol=REL)
    end = times[-1] + 0.5
    assert ms.hawkes_log_likelihood(times, mu, alpha, beta, start=0.0, end=end) == pytest.approx(
        ref.hawkes_log_likelihood(times.tolist(), mu, alpha, beta, 0.0, end), rel=REL)


def test_fit_hawkes_on_real_trade_arrivals_is_stationary_and_clustered(real: tuple[str, pd.DataFrame]) -> None:
    times = ms.distinct_event_times(real[1]["ts"])
    fit = ms.fit_hawkes(times)
    assert fit.converged
    assert 0.0 < fit.branching_ratio < ms.MAX_BRANCHING  # clustered (> 0) but stationary (< 1)
    assert fit.mu < len(times) / times[-1]  # the baseline is below the mean rate: the rest is excitation


def test_hawkes_gradient_matches_finite_differences(real: tuple[str, pd.DataFrame]) -> None:
    times = ms.distinct_event_times(real[1]["ts"])
    point, horizon = np.array([8.0, 19.0, 40.0]), times[-1] + 0.5
    _, *grad = _loglik_grad(times, horizon, *point)
    for k in range(3):
        h = np.zeros(3)
        h[k] = 1e-5 * point[k]
        fd = (_loglik_grad(times, horizon, *(point + h))[0] - _loglik_grad(times, horizon, *(point - h))[0]) / (2 * h[k])
        assert grad[k] == pytest.approx(fd, rel=1e-5, abs=1e-3)


# -- Hawkes fit on a simulated process --------------------------------------------------------------------


def test_fit_hawkes_recovers_simulated_parameters() -> None:
    # mu 0.5/s, alpha 1, beta 2 (branching 0.5): E[N] = mu T / (1 - n) = 20,000 events on T = 20,000 s.
    mu, alpha, beta, horizon = 0.5, 1.0, 2.0, 20_000.0
    times = np.array(ref.simulate_hawkes(mu, alpha, beta, horizon, seed=7))
    assert len(times) == pytest.approx(20_000, rel=0.1)
    fit = ms.fit_hawkes(times, start=0.0, end=horizon)
    assert fit.converged
    assert not fit.at_bound
    assert (fit.mu, fit.alpha, fit.beta) == pytest.approx((mu, alpha, beta), rel=0.1)
    assert fit.branching_ratio == pytest.approx(0.5, rel=0.05)
    assert fit.log_likelihood == pytest.approx(
        ref.hawkes_log_likelihood(times.tolist(), fit.mu, fit.alpha, fit.beta, 0.0, horizon), rel=REL)
