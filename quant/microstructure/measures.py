"""Market microstructure from trades and best quotes: the public API, and VPIN on frames.

* VPIN (Easley, López de Prado, O'Hara 2012, "Flow Toxicity and Liquidity in a High-frequency
  World", RFS 25(5)) with the exact aggressor side (the default for gating), with bulk-volume
  classification, and a rough kline version (here; array kernels in
  :mod:`quant.microstructure.vpin`, bucket sizes in :mod:`quant.microstructure.calibration`);
* order-flow imbalance (Cont, Kukanov, Stoikov 2014) and Kyle's (1985) lambda
  (:mod:`quant.microstructure.flow`);
* Hawkes (1971) intensity and its maximum-likelihood fit (:mod:`quant.microstructure.hawkes`);
* plain-Python references of every formula, for tests and benchmarks only
  (:mod:`tests.references.microstructure`).

Input frames: trades as ``quant.frames.TRADES`` (``is_buyer_maker`` True = the aggressor sold),
candles as ``quant.frames.CANDLES``, best quotes with ``BOOK_COLUMNS``. Timestamps must be
timezone-aware and non-decreasing (ties allowed: exchanges stamp in ms). Bad input (NaN or
non-positive price, negative or NaN quantity, decreasing timestamps, mismatched lengths) raises
ValueError; an empty window gives an empty frame or NaN, never 0. Bars are epoch-aligned time bars
``[k·bar, (k+1)·bar)`` labelled by their END (the first instant they are known); empty bars are
skipped, so a price change spans the gap to the previous non-empty bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.microstructure.bars import (
    DEFAULT_BAR_SECONDS,
    Bars,
    _non_negative,
    _positive,
    _sides,
    _trade_arrays,
    _utc,
    _utc_ns,
    time_bars,
)
from quant.microstructure.calibration import (
    DEFAULT_BUCKET_USD,
    DEFAULT_BUCKETS_PER_DAY,
    DEFAULT_WINDOW,
    MIN_BARS_PER_BUCKET,
    _check_bucket,
    _check_window,
    bucket_size,
    daily_volume_estimate,
)
from quant.microstructure.flow import (
    BOOK_COLUMNS,
    KyleLambda,
    kyle_lambda,
    ofi_buckets,
    ofi_events,
    ols_price_impact,
)
from quant.microstructure.hawkes import (
    MAX_BRANCHING,
    HawkesFit,
    branching_ratio,
    distinct_event_times,
    fit_hawkes,
    hawkes_intensity,
    hawkes_log_likelihood,
)
from quant.microstructure.vpin import (
    VpinBuckets,
    _bucketed,
    _sample_std,
    bvc_buy_fraction,
    volume_buckets,
    vpin_aggressor_arrays,
    vpin_bvc_arrays,
    vpin_series,
)

__all__ = [
    "BOOK_COLUMNS", "COARSE_BARS_NOTE", "DEFAULT_BAR_SECONDS", "DEFAULT_BUCKETS_PER_DAY", "DEFAULT_BUCKET_USD",
    "DEFAULT_WINDOW", "KLINE_NOTE", "MAX_BRANCHING", "MIN_BARS_PER_BUCKET", "Bars", "HawkesFit", "KyleLambda",
    "VpinBuckets", "VpinResult", "branching_ratio", "bucket_size", "bvc_buy_fraction", "daily_volume_estimate",
    "distinct_event_times", "fit_hawkes", "hawkes_intensity", "hawkes_log_likelihood", "kyle_lambda",
    "ofi_buckets", "ofi_events", "ols_price_impact", "time_bars", "volume_buckets", "vpin_aggressor",
    "vpin_aggressor_arrays", "vpin_bvc", "vpin_bvc_arrays", "vpin_kline", "vpin_series",
]

#: Kline VPIN default bucket: average daily USD volume / 50 (ELO 2012's choice).
KLINE_BUCKETS_PER_DAY = DEFAULT_BUCKETS_PER_DAY
KLINE_BAR = pd.Timedelta(hours=1)
KLINE_NOTE = (
    "kline VPIN is a rough approximation: one buy fraction per candle, candle volume x close as "
    "notional; not for gating by default"
)
COARSE_BARS_NOTE = (
    "bulk-volume VPIN on bars too coarse for the buckets ({:.2g} bars per bucket, want >= {:g}): each "
    "bucket inherits a few bars' buy share, near 0 or 1; not for gating"
)


@dataclass(frozen=True)
class VpinResult:
    """One row of ``buckets`` per completed volume bucket: ``ts`` (UTC time the bucket filled),
    ``buy_usd``, ``sell_usd``, ``imbalance`` = |buy - sell| / bucket_usd and ``vpin`` = mean
    imbalance of the last ``window`` buckets (NaN until ``window`` buckets exist).

    ``bucket_usd`` is the bucket used (NaN when it could not be sized: no buckets then);
    ``sigma`` is the std of Delta log p used by BVC (NaN for the aggressor variant);
    ``approximate`` is True for the kline version and for BVC on bars too coarse for the buckets,
    which must not gate by default (``note`` says why).
    """

    buckets: pd.DataFrame
    method: str
    bucket_usd: float
    window: int
    sigma: float
    approximate: bool = False
    note: str = ""

    @property
    def latest(self) -> float:
        """VPIN of the last completed bucket; NaN if there is none yet."""
        return float(self.buckets["vpin"].iloc[-1]) if len(self.buckets) else math.nan


def _result(b: VpinBuckets, method: str, window: int, **flags: object) -> VpinResult:
    frame = pd.DataFrame(
        {"ts": _utc(b.end_ns), "buy_usd": b.buy_usd, "sell_usd": b.sell_usd, "imbalance": b.imbalance, "vpin": b.vpin}
    )
    return VpinResult(frame, method, float(b.bucket_usd), window, b.sigma, **flags)


def vpin_bvc(
    trades: pd.DataFrame,
    *,
    bucket_usd: float | None = None,
    daily_volume_usd: float | None = None,
    buckets_per_day: float = DEFAULT_BUCKETS_PER_DAY,
    window: int = DEFAULT_WINDOW,
    bar_seconds: float = DEFAULT_BAR_SECONDS,
    sigma: float | None = None,
) -> VpinResult:
    """VPIN with bulk-volume classification over time bars (Easley, López de Prado, O'Hara 2012).

    Trades are grouped into ``bar_seconds`` time bars; bar i's USD notional is classified as buys
    with probability ``Phi(Delta log p_i / sigma)``, Delta log p_i the log change of the last price
    from the previous non-empty bar (the first bar has none and is dropped), ``sigma`` the sample
    std (ddof 1) of those changes over the input window unless given. Then equal-volume buckets
    (:func:`bucket_size`: ADV / ``buckets_per_day`` unless ``bucket_usd`` is fixed) and
    ``VPIN = mean |V_buy - V_sell| / V_bucket`` over the last ``window`` buckets. BVC needs bars
    much smaller than a bucket: under ``MIN_BARS_PER_BUCKET`` bars per bucket on average the result
    is ``approximate`` (``COARSE_BARS_NOTE``); per-trade :func:`vpin_aggressor` has no such limit.

    Parameters
    ----------
    trades : pd.DataFrame
        ``ts``, ``price`` (USD), ``qty`` (base units); one row per trade.
    bucket_usd : float, optional
        A fixed bucket in USD notional, instead of the calibrated one.
    daily_volume_usd : float, optional
        Average daily volume in USD (e.g. the trailing 24h); default the trades' own notional per
        day of their first-to-last span.
    buckets_per_day : float
        ``V = daily volume / buckets_per_day`` (50 in ELO 2012).
    window : int
        Buckets per VPIN value.
    bar_seconds : float
        Time-bar length in seconds (1 s by default: crypto trades far faster than ELO's minutes).
    sigma : float, optional
        Std of Delta log p per bar; pass one estimated on past data to avoid in-window look-ahead.

    Returns
    -------
    VpinResult with ``method="bvc"``; an all-NaN ``vpin`` if sigma is 0 (price never moved).
    """
    ts_ns, price, qty = _trade_arrays(trades)
    b = vpin_bvc_arrays(ts_ns, price, qty, bucket_usd=bucket_usd, daily_volume_usd=daily_volume_usd,
                        buckets_per_day=buckets_per_day, window=window, bar_seconds=bar_seconds, sigma=sigma)
    if b.bars_per_bucket < MIN_BARS_PER_BUCKET:  # NaN (nothing classified) is not flagged
        return _result(b, "bvc", window, approximate=True,
                       note=COARSE_BARS_NOTE.format(b.bars_per_bucket, MIN_BARS_PER_BUCKET))
    return _result(b, "bvc", window)


def vpin_aggressor(
    trades: pd.DataFrame,
    *,
    bucket_usd: float | None = None,
    daily_volume_usd: float | None = None,
    buckets_per_day: float = DEFAULT_BUCKETS_PER_DAY,
    window: int = DEFAULT_WINDOW,
) -> VpinResult:
    """VPIN with each trade classified exactly by its aggressor (``is_buyer_maker`` False = buy).

    The VPIN to gate on. ELO 2012 classify volume in bulk because their data had no trade sides;
    Binance stamps the aggressor on every trade, so each trade's whole notional goes to its side
    and a trade crossing a bucket boundary is split at it. Unlike BVC this stays exact however
    small a bucket is against a time bar. Buckets are ELO's: ``V = daily volume /
    buckets_per_day`` (50) and VPIN over ``window`` (50) buckets, about a day of trading; trades
    worth less than one bucket give no bucket and no VPIN ("no data" at the gate, never 0).

    Parameters
    ----------
    trades : pd.DataFrame
        ``ts``, ``price`` (USD), ``qty`` (base units), ``is_buyer_maker`` (bool).
    bucket_usd, daily_volume_usd, buckets_per_day, window : float, float, float, int
        As in :func:`vpin_bvc`.

    Returns
    -------
    VpinResult with ``method="aggressor"``, ``sigma`` NaN; bucket ``ts`` = the trade that filled it.
    """
    ts_ns, price, qty = _trade_arrays(trades)
    b = vpin_aggressor_arrays(ts_ns, price, qty, _sides(trades), bucket_usd=bucket_usd,
                              daily_volume_usd=daily_volume_usd, buckets_per_day=buckets_per_day, window=window)
    return _result(b, "aggressor", window)


def vpin_kline(
    candles: pd.DataFrame,
    *,
    bucket_usd: float | None = None,
    window: int = DEFAULT_WINDOW,
    bar: pd.Timedelta = KLINE_BAR,
    sigma: float | None = None,
) -> VpinResult:
    """ROUGH kline VPIN: bulk-volume classification on candles (ELO 2012 applied to ``bar`` klines).

    Flagged ``approximate=True``: a whole candle gets one buy fraction ``Phi(Delta log close /
    sigma)`` and ``volume * close`` stands in for notional, so it is far noisier than tick VPIN and
    must not gate trading by default.

    Parameters
    ----------
    candles : pd.DataFrame
        ``ts`` (bar OPEN, UTC), ``close`` (USD), ``volume`` (base units); one row per bar, in order.
    bucket_usd : float, optional
        Bucket in USD; default the average daily USD volume / 50 (ELO's choice).
    window : int
        Buckets per VPIN value.
    bar : pd.Timedelta
        Candle length; a bucket's ``ts`` is the close (open + ``bar``) of the candle that filled it.
    sigma : float, optional
        Std of Delta log close; default the sample std over the input.

    Returns
    -------
    VpinResult with ``method="kline_bvc"``, ``approximate=True`` and ``note`` saying why; no buckets
    and ``bucket_usd`` NaN when the default cannot be sized (no candles or no volume).
    """
    ts_ns = _utc_ns(candles["ts"])
    close = _positive("close", candles["close"])
    volume_usd = _non_negative("volume", candles["volume"]) * close
    dlogp = np.diff(np.log(close))
    sig = _sample_std(dlogp) if sigma is None else float(sigma)
    guessed = bucket_usd is None
    if guessed:  # the candles' notional per day of candles, over ELO's 50 buckets a day
        bucket_usd = bucket_size(volume_usd.sum(), ts_ns.size * bar.value, buckets_per_day=KLINE_BUCKETS_PER_DAY)
    if guessed and math.isnan(bucket_usd):  # no candles or no volume: no bucket size, nothing to bucket
        empty = np.empty(0)
        b = VpinBuckets(np.empty(0, np.int64), empty, empty, empty, empty, sig, bucket_usd)
    else:
        bucket = _check_bucket(bucket_usd, volume_usd.sum())
        ends, frac = ts_ns[1:] + bar.value, bvc_buy_fraction(dlogp, sig)
        b = VpinBuckets(*_bucketed(ends, volume_usd[1:], frac, bucket, _check_window(window)), sig, bucket)
    return _result(b, "kline_bvc", window, approximate=True, note=KLINE_NOTE)
