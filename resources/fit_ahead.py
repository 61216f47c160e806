"""Fold models fitted ahead, in a second process, while a backfill's hourly runs go on.

A fold's ensemble is a pure function of the stored hours before the fold, its config and the code
(its artifact key hashes all three: ``quant.ml.artifacts.artifact_record``). A backfill that has
materialised those hours can therefore fit the fold in another process while it materialises the
next ones, and the fold's own Dagster run (``assets.ml.ml_fold_models``) then stores that ensemble
instead of fitting it again, **only when the key it computes itself is the key the ensemble was
fitted under**. Anything else (another config, other rows, a worker that died) is a miss and the
asset fits in its own process, as it always did: fitting ahead can make a backfill faster, never
different. On two cores the fits (native code: trees, BLAS, torch) then overlap Dagster's Python.

The worker is one ``spawn`` process (a fresh interpreter: no forked thread pools), started at the
first fold submitted and shut down with the :class:`FitAhead` context.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

log = logging.getLogger(__name__)

#: (store root, fold key) -> the worker's result: ``(record key, artifact bytes, each model's fit
#: seconds, fit wall seconds)`` or None. The bytes, not the ensemble: unpickling and pickling again
#: does not reproduce an ensemble's bytes, and its artifact must be the bytes the fit produced.
_PENDING: dict[tuple[str, str], Future] = {}

#: ``fit(root, fold, config) -> (record key, bytes, fit seconds, wall seconds) | None``, importable by a fresh process.
FitFn = Callable[[str, str, dict], "tuple[str, bytes, dict, float] | None"]


class FitAhead:
    """A one-process pool that fits folds in submission order; ``with FitAhead(fit) as ahead: ahead.submit(...)``."""

    def __init__(self, fit: FitFn) -> None:
        self._fit = fit
        self._pool: ProcessPoolExecutor | None = None
        self._mine: list[tuple[str, str]] = []

    def submit(self, root: str, fold: str, config: dict) -> None:
        """Fit ``fold`` from the store at ``root`` in the worker (its hours before the fold must be stored)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        _PENDING[(root, fold)] = self._pool.submit(self._fit, root, fold, config)
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


def take(root: str, fold: str, record_key: str) -> tuple[bytes, dict, float] | None:
    """The artifact bytes fitted ahead for ``fold`` under ``record_key``, each model's fit seconds and
    the fit's wall seconds (waiting for them
    if the worker is still fitting), or None: nothing was submitted, the fold could not train there,
    the worker failed, or it fitted under another key (other rows, config or code)."""
    future = _PENDING.pop((root, fold), None)
    if future is None:
        return None
    try:
        result = future.result()
    except Exception as exc:  # noqa: BLE001 - any worker failure is a miss: the asset fits itself
        log.warning("fold %s: the fit-ahead worker failed (%s: %s); fitting in this process", fold, type(exc).__name__, exc)
        return None
    if result is None:
        return None
    key, *fitted = result
    if key != record_key:
        log.warning("fold %s: fitted ahead under %s but this run trains %s; fitting in this process", fold, key, record_key)
        return None
    return tuple(fitted)
