"""VPIN that means what the L1 gate assumes: ELO's bucket calibration, per-trade classification.

Easley, López de Prado & O'Hara (2012), "Flow toxicity and liquidity in a high-frequency world":
V = average daily volume / 50 buckets, VPIN over n = 50 buckets. Hand-checked numbers on a
constructed trade list, then the project's VPIN against an independent per-trade loop on the
bundled Binance recording (2024-08-08 23:54-24:00 UTC), then what the 0.80 / 0.90 gates see there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.carry import VPIN_ENTER, VPIN_EXIT, scan
from quant.microstructure import measures as ms
from resources.exchange.replay import ReplayExchange
from tests.references import microstructure as ref

REL = 1e-9
T0 = pd.Timestamp("2024-08-08 00:00", tz="UTC")
SEC = 1_000_000_000
#: 30 x ELO's 50: a bucket of ~58 s of average volume, the largest the 6-minute recording fills 5 times.
MINUTE_BUCKETS_PER_DAY = 30 * ms.DEFAULT_BUCKETS_PER_DAY


def frame(rows: list[tuple[float, float, float, bool]]) -> pd.DataFrame:
    """(seconds after T0, price, qty, is_buyer_maker) rows as a frames.TRADES frame."""
    sec, price, qty, maker = zip(*rows, strict=True)
    return pd.DataFrame({
        "ts": pd.DatetimeIndex([T0 + pd.Timedelta(seconds=s) for s in sec]).as_unit("ns"),
        "trade_id": np.arange(len(rows), dtype=np.int64),
        "price": np.asarray(price, dtype=float),
        "qty": np.asarray(qty, dtype=float),
        "is_buyer_maker": np.asarray(maker, dtype=bool),
    })


# Six trades over 2.4 hours, 500 USD in all: buy 60, sell 70, buy 230, sell 50, buy 40, buy 50.
SIX = [(0.0, 10.0, 6.0, False), (1000.0, 10.0, 7.0, True), (2000.0, 46.0, 5.0, False),
       (3000.0, 25.0, 2.0, True), (5000.0, 20.0, 2.0, False), (8640.0, 25.0, 2.0, False)]


def test_bucket_is_daily_volume_over_buckets_per_day() -> None:
    # 500 USD over 8,640 s = 0.1 day -> 5,000 USD a day; / 50 buckets a day = 100 USD a bucket.
    span = 8640 * SEC
    assert ms.daily_volume_estimate(500.0, span) == pytest.approx(5000.0, rel=REL)
    assert ms.bucket_size(500.0, span) == pytest.approx(100.0, rel=REL)
    assert ms.bucket_size(500.0, span, daily_volume_usd=12_000.0, buckets_per_day=40) == pytest.approx(300.0, rel=REL)
    assert ms.bucket_size(500.0, span, bucket_usd=50_000.0) == 50_000.0  # the fixed bucket, kept as an option
    assert math.isnan(ms.bucket_size(500.0, 0))  # one instant: no rate, no bucket
    assert math.isnan(ms.bucket_size(0.0, span))  # nothing traded
    with pytest.raises(ValueError, match="not both"):
        ms.bucket_size(500.0, span, bucket_usd=100.0, daily_volume_usd=5000.0)
    with pytest.raises(ValueError, match="daily_volume_usd"):
        ms.bucket_size(500.0, span, daily_volume_usd=-1.0)
    with pytest.raises(ValueError, match="buckets_per_day"):
        ms.bucket_size(500.0, span, buckets_per_day=0.0)


def test_per_trade_vpin_by_hand() -> None:
    # Bucket V = 100 (above). Each trade wholly on its aggressor's side, split at the boundaries:
    # #1 = buy 60 + sell 40 of trade 2                      -> |60 - 40| / 100 = 0.2 (filled by trade 2)
    # #2 = sell 30 (rest of trade 2) + buy 70 of trade 3    -> 0.4 (trade 3)
    # #3 = buy 100 of trade 3                               -> 1.0 (trade 3: it crosses two boundaries)
    # #4 = buy 60 (rest of trade 3) + sell 40 of trade 4    -> 0.2 (trade 4)
    # #5 = sell 10 + buy 40 (trade 5) + buy 50 (trade 6)    -> 0.8 (trade 6, ending exactly on the boundary)
    # VPIN over n = 3: NaN, NaN, (0.2 + 0.4 + 1)/3 = 0.5333, (0.4 + 1 + 0.2)/3 = 0.5333, (1 + 0.2 + 0.8)/3 = 0.6667.
    buy, sell = [60.0, 70.0, 100.0, 60.0, 90.0], [40.0, 30.0, 0.0, 40.0, 10.0]
    imbalance, vpin = [0.2, 0.4, 1.0, 0.2, 0.8], [8 / 15, 8 / 15, 2 / 3]
    ends = [T0 + pd.Timedelta(seconds=s) for s in (1000, 2000, 2000, 3000, 8640)]
    for got in (ms.vpin_aggressor(frame(SIX), window=3),  # ADV estimated from the trades
                ms.vpin_aggressor(frame(SIX), daily_volume_usd=5000.0, window=3),
                ms.vpin_aggressor(frame(SIX), bucket_usd=100.0, window=3)):
        b = got.buckets
        assert got.bucket_usd == pytest.approx(100.0, rel=REL)
        assert b["ts"].tolist() == ends
        assert b["buy_usd"].tolist() == pytest.approx(buy, rel=REL)
        assert b["sell_usd"].tolist() == pytest.approx(sell, rel=REL)
        assert b["imbalance"].tolist() == pytest.approx(imbalance, rel=REL)
        assert b["vpin"].isna().tolist() == [True, True, False, False, False]
        assert b["vpin"].iloc[2:].tolist() == pytest.approx(vpin, rel=REL)
    # The reference loop, by the same hand numbers.
    sec, price, qty, maker = (list(c) for c in zip(*SIX, strict=True))
    bucket, rows = ref.vpin_per_trade([T0.value + int(s * SEC) for s in sec], price, qty, maker, 50, 3)
    assert bucket == pytest.approx(100.0, rel=REL)
    assert [r[0] for r in rows] == [e.value for e in ends]
    assert [r[1] for r in rows] == pytest.approx(buy, rel=REL)
    assert [r[2] for r in rows] == pytest.approx(sell, rel=REL)
    assert [r[3] for r in rows] == pytest.approx(imbalance, rel=REL)
    assert [r[4] for r in rows][2:] == pytest.approx(vpin, rel=REL)


def test_bvc_on_bars_coarser_than_buckets_is_flagged() -> None:
    # 1 s bars: 100 USD (0.2 s) is dropped (no previous bar), then 101 and 200 USD: 2 classified bars
    # for 301 USD. Buckets of 100 -> 2 x 100 / 301 = 0.6645 bars per bucket (< 10): approximate.
    rows = [(0.2, 100.0, 1.0, False), (1.5, 101.0, 1.0, False), (2.5, 100.0, 2.0, True)]
    coarse = ms.vpin_bvc(frame(rows), bucket_usd=100.0, window=2)
    assert coarse.approximate
    assert "not for gating" in coarse.note
    ns = np.array([int(r[0] * SEC) for r in rows])
    b = ms.vpin_bvc_arrays(ns, np.array([100.0, 101.0, 100.0]), np.array([1.0, 1.0, 2.0]), bucket_usd=100.0)
    assert b.bars_per_bucket == pytest.approx(200 / 301, rel=REL)
    # Buckets of 1,505 USD: 2 x 1,505 / 301 = exactly 10 bars per bucket -> not flagged.
    fine = ms.vpin_bvc(frame(rows), bucket_usd=1505.0, window=1)
    assert not fine.approximate
    assert fine.buckets.empty  # 301 USD never fills one


# -- the bundled recording ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["BTC/USDT:USDT", "ETH/USDT:USDT"])
def recording(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    return request.param, ReplayExchange().trades("binance", request.param, T0, T0 + pd.Timedelta(days=2))


def columns(t: pd.DataFrame) -> tuple[list, ...]:
    ns = pd.DatetimeIndex(t["ts"]).as_unit("ns").asi8
    return ns.tolist(), t["price"].tolist(), t["qty"].tolist(), t["is_buyer_maker"].tolist()


@pytest.mark.parametrize("buckets_per_day", [ms.DEFAULT_BUCKETS_PER_DAY, MINUTE_BUCKETS_PER_DAY, 50_000.0])
def test_vpin_equals_the_per_trade_loop_on_the_bundled_trades(recording, buckets_per_day: float) -> None:
    """``ms.vpin_aggressor`` against ``ref.vpin_per_trade``: the published method written as a plain
    loop from the paper (bucket V = daily volume / buckets per day, trades poured in order on their
    aggressor's side and split at boundaries, VPIN = sum |V_S - V_B| / (n V)), not a copy of the
    numba code. Same bucket, same classification; ADV from the recording's own span. ELO's 50 a
    day fills no bucket in six minutes (both say so); 50,000 a day gives ~200 buckets."""
    _, t = recording
    ns, price, qty, maker = columns(t)
    window = 5 if buckets_per_day == MINUTE_BUCKETS_PER_DAY else 50
    got = ms.vpin_aggressor(t, buckets_per_day=buckets_per_day, window=window)
    bucket, want = ref.vpin_per_trade(ns, price, qty, maker, buckets_per_day, window)
    assert got.bucket_usd == pytest.approx(bucket, rel=REL)
    b = got.buckets
    assert pd.DatetimeIndex(b["ts"]).as_unit("ns").asi8.tolist() == [w[0] for w in want]
    for i, col in enumerate(["buy_usd", "sell_usd", "imbalance", "vpin"], start=1):
        np.testing.assert_allclose(b[col].to_numpy(), [w[i] for w in want], rtol=REL, atol=0)
    if buckets_per_day == 50_000.0:
        assert len(b) > 150
        np.testing.assert_allclose(b["buy_usd"] + b["sell_usd"], got.bucket_usd, rtol=REL)


def test_the_old_default_trips_the_gates_on_ordinary_minutes() -> None:
    # The defect, measured: $50,000 buckets on BTC (~0.1 s of its ~$436,000 a second) read near 0
    # or 1 whichever way the trades are classified. BVC (1 s bars): mean 0.70, 30% of buckets > 0.90;
    # exact aggressor side: mean 0.92, 61% > 0.90 (taker runs average ~$69,000, above a bucket).
    t = ReplayExchange().trades("binance", "BTC/USDT:USDT", T0, T0 + pd.Timedelta(days=2))
    bvc = ms.vpin_bvc(t, bucket_usd=ms.DEFAULT_BUCKET_USD).buckets["vpin"].dropna()
    exact = ms.vpin_aggressor(t, bucket_usd=ms.DEFAULT_BUCKET_USD).buckets["vpin"].dropna()
    assert bvc.mean() == pytest.approx(0.703, abs=0.001)
    assert (bvc > VPIN_EXIT).mean() == pytest.approx(0.301, abs=0.001)
    assert exact.mean() == pytest.approx(0.920, abs=0.001)
    assert (exact > VPIN_EXIT).mean() == pytest.approx(0.611, abs=0.001)


def test_the_default_does_not_trip_the_gates_on_the_bundled_recording(recording) -> None:
    # ELO's bucket is ADV / 50: BTC $37.7B a day (the recording's $149.8M in 343 s) -> $754M;
    # ETH $6.18B -> $124M. Six minutes fill no bucket, so no VPIN: the gate says "no data" (it
    # neither blocks an entry by default nor forces an exit), never a false 0.90.
    symbol, t = recording
    got = ms.vpin_aggressor(t)
    assert got.bucket_usd == pytest.approx({"BTC/USDT:USDT": 754.2e6, "ETH/USDT:USDT": 123.6e6}[symbol], rel=1e-3)
    assert got.buckets.empty
    assert math.isnan(got.latest)
    hour = pd.Timestamp("2024-08-09 00:00", tz="UTC")
    row = scan(pd.DataFrame({"hour": [hour], "venue": ["binance"], "symbol": [symbol], "volume_24h_usd": [50e6],
                             "last_funding_rate": [0.0005], "last_funding_interval_hours": [8.0],
                             "vpin": [got.latest]})).iloc[0]
    assert (row["vpin_gate"], bool(row["entry"]), bool(row["exit"])) == ("no data", True, False)


def test_minute_buckets_of_the_bundled_recording_stay_under_the_gates(recording) -> None:
    # Buckets of ADV / 1,500 (~58 s of average volume; BTC $25.1M, ETH $4.1M): 5 buckets each.
    # Every bucket's imbalance is under 0.80 (BTC mean 0.27, max 0.75; ETH mean 0.22, max 0.60),
    # and so is VPIN over the 5. An ELO bucket is 30 of these: its imbalance is at most their mean.
    _, t = recording
    got = ms.vpin_aggressor(t, buckets_per_day=MINUTE_BUCKETS_PER_DAY, window=5).buckets
    assert len(got) == 5
    assert got["imbalance"].max() < VPIN_ENTER
    assert got["vpin"].dropna().max() < VPIN_ENTER


def test_coarser_buckets_never_raise_vpin(recording) -> None:
    # |sum of (buy - sell)| <= sum of |buy - sell|: a bucket of 2V that is exactly two buckets of V
    # has an imbalance at most the mean of theirs, so VPIN can only fall as buckets grow to ELO's.
    _, t = recording
    fine = ms.vpin_aggressor(t, buckets_per_day=2 * MINUTE_BUCKETS_PER_DAY, window=1).buckets["imbalance"].to_numpy()
    coarse = ms.vpin_aggressor(t, buckets_per_day=MINUTE_BUCKETS_PER_DAY, window=1).buckets["imbalance"].to_numpy()
    pairs = fine[: 2 * coarse.size].reshape(-1, 2).mean(axis=1)
    assert coarse.size == 5
    assert (coarse <= pairs + 1e-12).all()
    assert (coarse < pairs).any()
