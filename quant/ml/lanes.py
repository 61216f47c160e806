"""Independent jobs run side by side on a few threads, each giving what it gives alone.

The models of a fold (``quant.ml.models.fit``) are independent: each is fitted from its own inputs
and seed, on one thread of its own (the libraries release the GIL while they compute). Running them
at once changes when each finishes, never what it learns. Jobs that share process-wide state —
torch's global random generator, which a net's initial weights are drawn from after its seed is
set — are given as ``serial``: they run one after another, in that order, on one thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def side_by_side(jobs: Mapping[K, Callable[[], object]], serial: Sequence[K], threads: int) -> dict[K, tuple[object, float]]:
    """Run every job of ``jobs`` once; what each returned and its wall seconds, by key.

    ``serial``: keys of jobs that run one after another in that order, on one thread, beside the
    others; the others start in ``jobs``' order as threads free up. ``threads`` <= 1 runs everything
    in the caller's thread, ``serial`` first. The first job to raise stops the jobs not yet started
    and its exception is raised.
    """
    def timed(key: K) -> tuple[object, float]:
        t0 = time.perf_counter()
        got = jobs[key]()
        return got, time.perf_counter() - t0

    def lane() -> dict[K, tuple[object, float]]:
        return {key: timed(key) for key in serial}

    alone = set(serial)
    rest = [key for key in jobs if key not in alone]
    if threads <= 1:
        out = lane() | {key: timed(key) for key in rest}
        return {key: out[key] for key in jobs}
    with ThreadPoolExecutor(threads, thread_name_prefix="fit") as pool:
        first = pool.submit(lane)
        futures = {key: pool.submit(timed, key) for key in rest}
        try:
            out = first.result()
            for key, future in futures.items():
                out[key] = future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return {key: out[key] for key in jobs}
