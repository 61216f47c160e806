"""VPIN bucket sizes (Easley, López de Prado, O'Hara 2012, "Flow Toxicity and Liquidity in a
High-frequency World", Review of Financial Studies 25(5)) and the checks on VPIN's knobs.

Bucket size, as ELO calibrate it: ``V = average daily volume / buckets_per_day`` (50 a day) and
VPIN over ``n = 50`` buckets, so one VPIN spans about a day of trading. The average daily volume
is the caller's (e.g. the universe scan's ``volume_24h_usd``) or, when not given, the input's own
notional per day of its span (look-ahead inside the window, like BVC's sigma). A fixed
``bucket_usd`` remains an option. Buckets far smaller than that hold one or two taker orders and
read near 0 or 1 whatever the classification: on the bundled BTC recording a $50,000 bucket gives
a mean VPIN of 0.92 with the exact aggressor side (taker runs average ~$69,000).
"""

from __future__ import annotations

import math

from quant.microstructure.bars import NS_PER_SECOND

#: The former fixed bucket, USD notional (price x qty); still accepted as ``bucket_usd``.
DEFAULT_BUCKET_USD = 50_000.0
#: Default VPIN window: buckets averaged (ELO 2012 use n = 50).
DEFAULT_WINDOW = 50
#: Default buckets per day: V = average daily volume / 50 (ELO 2012).
DEFAULT_BUCKETS_PER_DAY = 50.0
#: BVC needs many bars per bucket (a bucket inside one bar inherits that bar's Phi, near 0 or 1);
#: fewer than this on average flags the result approximate. Our rule of thumb, not ELO's number.
MIN_BARS_PER_BUCKET = 10.0
NS_PER_DAY = 86_400 * NS_PER_SECOND
#: Refuse bucket sizes that would create more buckets than this (a unit mistake, not a request).
MAX_BUCKETS = 50_000_000


def _check_bucket(bucket_usd: float, total_usd: float) -> float:
    if not (math.isfinite(bucket_usd) and bucket_usd > 0):
        raise ValueError(f"bucket_usd must be positive, got {bucket_usd}")
    if total_usd / bucket_usd > MAX_BUCKETS:
        raise ValueError(f"bucket_usd={bucket_usd} makes more than {MAX_BUCKETS} buckets")
    return float(bucket_usd)


def daily_volume_estimate(total_usd: float, span_ns: int) -> float:
    """USD traded per day over a span: ``total_usd x NS_PER_DAY / span_ns``; NaN for a zero span."""
    return total_usd * NS_PER_DAY / span_ns if span_ns > 0 else math.nan


def bucket_size(
    total_usd: float,
    span_ns: int,
    *,
    bucket_usd: float | None = None,
    daily_volume_usd: float | None = None,
    buckets_per_day: float = DEFAULT_BUCKETS_PER_DAY,
) -> float:
    """The VPIN bucket in USD: ``bucket_usd`` if given, else ``V = ADV / buckets_per_day`` (ELO 2012).

    Parameters
    ----------
    total_usd, span_ns : float, int
        The input's notional (USD) and its first-to-last trade span (ns), for the ADV estimate.
    bucket_usd : float, optional
        A fixed bucket (USD); excludes ``daily_volume_usd``.
    daily_volume_usd : float, optional
        Average daily volume, USD; default :func:`daily_volume_estimate` of the input.
    buckets_per_day : float
        Buckets per day of average volume (50 in ELO 2012).

    Returns
    -------
    USD per bucket, validated; NaN when the ADV is unknown or zero (no span, no volume).
    """
    if bucket_usd is not None:
        if daily_volume_usd is not None:
            raise ValueError("give bucket_usd or daily_volume_usd, not both")
        return _check_bucket(bucket_usd, total_usd)
    if not (math.isfinite(buckets_per_day) and buckets_per_day > 0):
        raise ValueError(f"buckets_per_day must be positive, got {buckets_per_day}")
    if daily_volume_usd is None:
        adv = daily_volume_estimate(total_usd, span_ns)
    else:
        adv = float(daily_volume_usd)
        if not (math.isfinite(adv) and adv >= 0):
            raise ValueError(f"daily_volume_usd must be finite and non-negative, got {daily_volume_usd}")
    return _check_bucket(adv / buckets_per_day, total_usd) if adv > 0 else math.nan  # NaN ADV fails > 0


def _check_window(window: int) -> int:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return int(window)
