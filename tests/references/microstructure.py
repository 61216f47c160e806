"""Plain-Python references for :mod:`quant.microstructure`: each published formula as a naive loop.

Written straight from the papers (math and statistics only, no numpy in the loops) so the tests and
benchmarks can check the vectorised and numba code against an independent implementation. Not for
production use: O(n) Python loops (O(n^2) for the direct Hawkes sum). Inputs are plain sequences;
``is_buyer_maker`` True means the aggressor sold. Nothing here validates its input.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

Bucket = tuple[int, float, float, float, float]  # (end_ns, buy_usd, sell_usd, imbalance, vpin)


def normal_cdf(z: float) -> float:
    """Phi(z) = erfc(-z / sqrt 2) / 2, accurate in both tails."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def trade_bars(
    ts_ns: Sequence[int], price: Sequence[float], qty: Sequence[float], is_buyer_maker: Sequence[bool], bar_ns: int
) -> list[tuple[int, float, float, float]]:
    """Non-empty time bars [k bar, (k+1) bar): (end_ns, last price, USD notional, signed qty)."""
    bars: dict[int, list[float]] = {}
    for t, p, q, m in zip(ts_ns, price, qty, is_buyer_maker, strict=True):
        key = t // bar_ns
        if key not in bars:
            bars[key] = [p, 0.0, 0.0]
        bar = bars[key]
        bar[0] = p
        bar[1] += p * q
        bar[2] += -q if m else q
    return [((k + 1) * bar_ns, b[0], b[1], b[2]) for k, b in sorted(bars.items())]


def fill_buckets(
    end_ns: Sequence[int], volume: Sequence[float], buy_fraction: Sequence[float], bucket: float, window: int
) -> list[Bucket]:
    """ELO 2012: pour volume into equal buckets (pro-rata split), VPIN = mean imbalance of the last n."""
    out: list[Bucket] = []
    imbalances: list[float] = []
    room, buy, sell = bucket, 0.0, 0.0
    for end, v, f in zip(end_ns, volume, buy_fraction, strict=True):
        while v > 0:
            take = min(v, room)
            buy += f * take
            sell += (1.0 - f) * take
            room -= take
            v -= take
            if room <= 0:
                imbalances.append(abs(buy - sell) / bucket)
                last = imbalances[-window:]
                vpin = sum(last) / window if len(imbalances) >= window else math.nan
                out.append((end, buy, sell, imbalances[-1], vpin))
                room, buy, sell = bucket, 0.0, 0.0
    return out


def vpin_bvc(
    ts_ns: Sequence[int], price: Sequence[float], qty: Sequence[float], bucket: float, window: int, bar_ns: int
) -> tuple[list[Bucket], float]:
    """Bulk-volume VPIN: P(buy) = Phi(dlog p / sigma) per time bar; also returns sigma."""
    bars = trade_bars(ts_ns, price, qty, [False] * len(ts_ns), bar_ns)
    dlogp = [math.log(bars[i][1]) - math.log(bars[i - 1][1]) for i in range(1, len(bars))]
    sigma = statistics.stdev(dlogp)
    frac = [normal_cdf(d / sigma) for d in dlogp]
    return fill_buckets([b[0] for b in bars[1:]], [b[2] for b in bars[1:]], frac, bucket, window), sigma


def vpin_aggressor(
    ts_ns: Sequence[int],
    price: Sequence[float],
    qty: Sequence[float],
    is_buyer_maker: Sequence[bool],
    bucket: float,
    window: int,
) -> list[Bucket]:
    """VPIN with every trade classified by its aggressor."""
    volume = [p * q for p, q in zip(price, qty, strict=True)]
    frac = [0.0 if m else 1.0 for m in is_buyer_maker]
    return fill_buckets(list(ts_ns), volume, frac, bucket, window)


def vpin_per_trade(
    ts_ns: Sequence[int],
    price: Sequence[float],
    qty: Sequence[float],
    is_buyer_maker: Sequence[bool],
    buckets_per_day: float,
    window: int,
    daily_volume: float | None = None,
) -> tuple[float, list[Bucket]]:
    """ELO 2012 step by step, one trade at a time; returns (bucket V, buckets).

    1. V = average daily volume / buckets per day; without a daily volume, the USD traded over the
       trades' first-to-last span, scaled to 24 hours.
    2. Trades fill the open bucket in order, each wholly on its aggressor's side; a trade bigger
       than the room left fills the bucket and its remainder opens the next one (or several).
    3. VPIN after bucket tau = sum over buckets tau-n+1..tau of |V_S - V_B|, divided by n V.
    """
    notional = [p * q for p, q in zip(price, qty, strict=True)]
    if daily_volume is None:
        days = (ts_ns[-1] - ts_ns[0]) / (86_400 * 1_000_000_000)
        daily_volume = sum(notional) / days
    bucket = daily_volume / buckets_per_day
    out: list[Bucket] = []
    gaps: list[float] = []  # |V_S - V_B| of every closed bucket
    filled = vb = vs = 0.0
    for t, usd, sold in zip(ts_ns, notional, is_buyer_maker, strict=True):
        left = usd
        while left >= bucket - filled:  # the trade reaches the boundary: close the bucket
            part = bucket - filled
            vs, vb = (vs + part, vb) if sold else (vs, vb + part)
            left -= part
            gaps.append(abs(vs - vb))
            vpin = sum(gaps[-window:]) / (window * bucket) if len(gaps) >= window else math.nan
            out.append((t, vb, vs, gaps[-1] / bucket, vpin))
            filled = vb = vs = 0.0
        vs, vb = (vs + left, vb) if sold else (vs, vb + left)
        filled += left
    return bucket, out


def vpin_kline(
    open_ns: Sequence[int], close: Sequence[float], volume: Sequence[float], bar_ns: int, bucket: float, window: int
) -> list[Bucket]:
    """Kline VPIN: one Phi(dlog close / sigma) per candle, volume x close as notional."""
    dlogp = [math.log(close[i]) - math.log(close[i - 1]) for i in range(1, len(close))]
    sigma = statistics.stdev(dlogp)
    frac = [normal_cdf(d / sigma) for d in dlogp]
    notional = [volume[i] * close[i] for i in range(1, len(close))]
    ends = [open_ns[i] + bar_ns for i in range(1, len(close))]
    return fill_buckets(ends, notional, frac, bucket, window)


def ofi(
    ts_ns: Sequence[int],
    bid: Sequence[float],
    bid_qty: Sequence[float],
    ask: Sequence[float],
    ask_qty: Sequence[float],
    bucket_ns: int,
) -> list[tuple[int, float, int]]:
    """Cont-Kukanov-Stoikov OFI per time bucket: (bucket start ns, sum of e_n, count)."""
    sums: dict[int, list[float]] = {}
    for n in range(1, len(ts_ns)):
        e = 0.0
        if bid[n] >= bid[n - 1]:
            e += bid_qty[n]
        if bid[n] <= bid[n - 1]:
            e -= bid_qty[n - 1]
        if ask[n] <= ask[n - 1]:
            e -= ask_qty[n]
        if ask[n] >= ask[n - 1]:
            e += ask_qty[n - 1]
        cell = sums.setdefault(ts_ns[n] // bucket_ns, [0.0, 0])
        cell[0] += e
        cell[1] += 1
    if not sums:
        return []
    first, last = min(sums), max(sums)
    return [(k * bucket_ns, *sums.get(k, [0.0, 0])) for k in range(first, last + 1)]


def hawkes_intensity_direct(
    times: Sequence[float], mu: float, alpha: float, beta: float, at: Sequence[float]
) -> list[float]:
    """lambda(t) = mu + sum_{t_i < t} alpha exp(-beta (t - t_i)), the double sum of Hawkes (1971)."""
    out = []
    for t in at:
        lam = mu
        for ti in times:  # sorted: every event strictly before t, then stop
            if ti >= t:
                break
            lam += alpha * math.exp(-beta * (t - ti))
        out.append(lam)
    return out


def hawkes_intensity_recursive(times: Sequence[float], mu: float, alpha: float, beta: float) -> list[float]:
    """Left-limit intensity at each event by the recursion A_i = exp(-beta d)(1 + A_{i-1})."""
    out = []
    a = 0.0
    for i, t in enumerate(times):
        if i:
            a = math.exp(-beta * (t - times[i - 1])) * (1.0 + a)
        out.append(mu + alpha * a)
    return out


def hawkes_log_likelihood(
    times: Sequence[float], mu: float, alpha: float, beta: float, start: float, end: float
) -> float:
    """Ozaki (1979): sum log lambda(t_i) - integral of lambda over [start, end]."""
    log_sum = sum(math.log(lam) for lam in hawkes_intensity_recursive(times, mu, alpha, beta))
    compensator = mu * (end - start)
    for t in times:
        compensator += alpha / beta * (1.0 - math.exp(-beta * (end - t)))
    return log_sum - compensator


def simulate_hawkes(mu: float, alpha: float, beta: float, horizon: float, seed: int) -> list[float]:
    """Ogata (1981) thinning: propose at the current (non-increasing) intensity bound, accept w.p. lambda/bound."""
    rng = random.Random(seed)  # noqa: S311 -- a seeded simulation, not a secret
    t, excite, events = 0.0, 0.0, []
    while True:
        bound = mu + alpha * excite
        step = rng.expovariate(bound)
        t += step
        if t > horizon:
            return events
        excite *= math.exp(-beta * step)
        if rng.random() * bound <= mu + alpha * excite:
            events.append(t)
            excite += 1.0


def kyle_lambda(
    ts_ns: Sequence[int], price: Sequence[float], qty: Sequence[float], is_buyer_maker: Sequence[bool], bar_ns: int
) -> tuple[float, float, float, float, int]:
    """Kyle (1985) lambda by textbook OLS sums: (slope, intercept, t, R^2, n) of dP on signed volume."""
    bars = trade_bars(ts_ns, price, qty, is_buyer_maker, bar_ns)
    x = [b[3] for b in bars[1:]]
    y = [bars[i][1] - bars[i - 1][1] for i in range(1, len(bars))]
    n = len(x)
    sx, sy = sum(x), sum(y)
    sxx = sum(v * v for v in x) - sx * sx / n
    sxy = sum(u * v for u, v in zip(x, y, strict=True)) - sx * sy / n
    syy = sum(v * v for v in y) - sy * sy / n
    slope = sxy / sxx
    intercept = sy / n - slope * sx / n
    ssr = sum((v - intercept - slope * u) ** 2 for u, v in zip(x, y, strict=True))
    t_stat = slope / math.sqrt(ssr / (n - 2) / sxx)
    return slope, intercept, t_stat, 1.0 - ssr / syy, n
