"""Fold models fitted ahead, in a second process, while a backfill's hourly runs go on.

A fold's ensemble is a pure function of the stored hours before the fold, its config and the code.
A backfill that has materialised those hours can therefore fit the fold in another process while it
materialises the next ones, and the fold's own Dagster run (``assets.ml.ml_fold_models``) then
stores that ensemble instead of fitting it again — **only when it asks for exactly what the worker
answered**: the same fold, config and code version, and every stored input file of the fold still
the file the worker read (same inode, modification time and size: the store replaces a day file by
renaming a new one over it, so any rewrite changes them). Anything else (another config, a file
rewritten since, a worker that died) is a miss and the asset reads and fits in its own process, as
it always did: fitting ahead can make a backfill faster, never different. On two cores the fits
(native code: trees, BLAS, torch) then overlap Dagster's Python, and the fold's run skips reading
the fold's history again (1.5–3.6 s a fold on the bundled data).

The worker is one ``spawn`` process (a fresh interpreter: no forked thread pools), started at the
first fold submitted and shut down with the :class:`FitAhead` context.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: (store root, fold key) -> the worker's :class:`Fitted`, or None where the fold cannot train.
_PENDING: dict[tuple[str, str], Future] = {}


@dataclass(frozen=True)
class Fitted:
    """A fold fitted ahead. ``request``: what it is a function of (the fold's config, the code version
    and each stored input file it read, as ``assets.ml.fold_request`` gives them; None if a file
    changed while it read). ``blob``: the artifact's bytes as the fit dumped them — unpickling and
    pickling again does not reproduce an ensemble's bytes."""

    request: tuple | None
    record: dict
    blob: bytes
    fit_seconds: dict[str, float]
    seconds: float
    base_rate: float


#: ``fit(root, fold, config, threads) -> Fitted | None``, importable by a fresh process.
FitFn = Callable[[str, str, dict, int], "Fitted | None"]


class FitAhead:
    """A one-process pool that fits folds in submission order; ``with FitAhead(fit) as ahead: ahead.submit(...)``."""

    def __init__(self, fit: FitFn, threads: int = 1) -> None:
        self._fit = fit
        # one thread by default: the main process runs the hours on the other core
        self._threads = threads
        self._pool: ProcessPoolExecutor | None = None
        self._mine: list[tuple[str, str]] = []

    def submit(self, root: str, fold: str, config: dict) -> None:
        """Fit ``fold`` from the store at ``root`` in the worker (its hours before the fold must be stored)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        _PENDING[(root, fold)] = self._pool.submit(self._fit, root, fold, config, self._threads)
        self._mine.append((root, fold))

    def __enter__(self) -> FitAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        for key in self._mine:  # results never taken (the backfill stopped early) are dropped
            future = _PENDING.pop(key, None)
            if future is not None:
                future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def take(root: str, fold: str, request: tuple | None) -> Fitted | None:
    """The fold fitted ahead for ``request`` (waiting for it if the worker is still fitting), or None:
    nothing was submitted, the fold could not train there, the worker failed, or it answered another
    request — other config or code, or an input file rewritten since it was read."""
    future = _PENDING.pop((root, fold), None)
    if future is None:
        return None
    try:
        fitted = future.result()
    except Exception as exc:  # noqa: BLE001 - any worker failure is a miss: the asset fits itself
        log.warning("fold %s: the fit-ahead worker failed (%s: %s); fitting in this process", fold, type(exc).__name__, exc)
        return None
    if fitted is None:
        return None
    if request is None or fitted.request != request:
        log.warning("fold %s: fitted ahead from other inputs, config or code than this run's; fitting in this process", fold)
        return None
    return fitted
