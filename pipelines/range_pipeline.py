"""Two processes over one range: the layers of the next chunk of hours are computed while the book steps this one.

The book is one state machine and steps its hours in order; every layer before it (sources,
universe, features, regime, carry, cascade, tail hedge, ML, strategies) is a function of its
hours and their declared look-back only, so the layers of a chunk of hours equal that chunk's
rows of a whole-range call (the range-equals-hours property the audited backfills rest on;
``tests/pipelines/test_range_pipeline.py`` checks it on the synthetic universe), and the book
stepped chunk by chunk from the state it ended the last chunk in equals the book stepped over the
whole range. On two cores the range then costs about the book plus the first chunk's layers,
not the sum of all stages.

:func:`pipelined` yields each chunk's tables in order: the first chunk computed here (the worker
is still importing), every later one by a worker process started with ``spawn`` (a clean
interpreter: no inherited threads of pyarrow, numba or torch's OpenMP, which a ``fork`` could
leave holding locks), at most ``ahead`` chunks in front of the consumer so memory stays bounded.
A maker is a picklable callable ``maker(hours) -> tables``. The worker's exception reaches the
consumer as :class:`WorkerError` with the worker's traceback; a worker that dies (killed, out of
memory) is an error too, never a hang; the worker is stopped when the consumer stops early.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

Tables = dict[str, pd.DataFrame]
Maker = Callable[[pd.DatetimeIndex], Tables]
#: Hours per chunk: long enough that each chunk's look-back (44 days) is a small extra, short
#: enough that the first chunk (computed before the book can start) is a small part of the range.
CHUNK_H = 2000
#: Chunks the worker may hold ready in front of the book.
AHEAD = 3
#: Seconds between checks that the worker is still alive while waiting for its next chunk.
POLL_S = 0.5


class WorkerError(RuntimeError):
    """The worker process failed (its traceback is in the message) or died."""


@dataclass(frozen=True)
class Chunk:
    """One chunk's tables and where its time went: ``seconds`` computing them, ``waited_s`` the consumer waited."""

    hours: pd.DatetimeIndex
    tables: Tables
    seconds: float
    waited_s: float = 0.0
    in_worker: bool = False


@dataclass
class _Failure:
    text: str
    chunk: int = field(default=-1)


def chunks_of(hours: pd.DatetimeIndex, chunk_h: int = CHUNK_H) -> list[pd.DatetimeIndex]:
    """``hours`` cut into consecutive runs of at most ``chunk_h`` (ValueError for a non-positive size)."""
    if chunk_h < 1:
        raise ValueError(f"chunk_h must be a positive number of hours, got {chunk_h}")
    return [hours[i:i + chunk_h] for i in range(0, len(hours), chunk_h)]


def _produce(inbox: mp.Queue, out: mp.Queue, first: int) -> None:
    """The worker: the maker and its chunks from ``inbox``, then each chunk's tables in order onto ``out``; a
    failure as :class:`_Failure`, then stop.

    The maker comes through a queue, not as the process's arguments: ``spawn`` writes its arguments
    to the child while the parent still holds the pipe's read end, so a child that dies before
    reading them all (an unguarded ``__main__`` re-run at its start) would block the parent forever."""
    maker, chunks = inbox.get()
    for i, hours in enumerate(chunks, start=first):
        try:
            t = time.perf_counter()
            tables = maker(hours)
            out.put((i, tables, time.perf_counter() - t))
        except BaseException:  # noqa: BLE001 - every failure must reach the consumer, not die here silently
            out.put(_Failure(traceback.format_exc(), i))
            return


def _next(q: mp.Queue, worker: mp.process.BaseProcess, i: int) -> tuple[Tables, float]:
    while True:
        try:
            item = q.get(timeout=POLL_S)
        except queue.Empty:
            if not worker.is_alive():
                hint = ("; a script that starts a range run must guard its entry point with "
                        "`if __name__ == \"__main__\":` (the worker re-imports it)") if i == 1 else ""
                raise WorkerError(f"the layer worker died (exit code {worker.exitcode}) before chunk {i}{hint}") from None
            continue
        if isinstance(item, _Failure):
            raise WorkerError(f"the layer worker failed on chunk {item.chunk}:\n{item.text}")
        got, tables, seconds = item
        if got != i:  # the queue is FIFO from one producer: a gap would be a bug, never silently skipped
            raise WorkerError(f"the layer worker sent chunk {got} where chunk {i} was due")
        return tables, seconds


def pipelined(maker: Maker, chunks: list[pd.DatetimeIndex], *, ahead: int = AHEAD,
              processes: bool = True) -> Iterator[Chunk]:
    """Each chunk's tables, in order: the first made here, the rest by a worker process (``processes=False``: all here)."""
    if not chunks:
        return
    if not processes or len(chunks) == 1:
        for hours in chunks:
            t = time.perf_counter()
            tables = maker(hours)
            yield Chunk(hours, tables, time.perf_counter() - t)
        return
    ctx = mp.get_context("spawn")
    q, inbox = ctx.Queue(maxsize=max(1, ahead)), ctx.Queue()
    worker = ctx.Process(target=_produce, args=(inbox, q, 1), name="perpetua-range-layers", daemon=True)
    worker.start()
    inbox.put((maker, chunks[1:]))
    try:
        t = time.perf_counter()
        tables = maker(chunks[0])
        yield Chunk(chunks[0], tables, time.perf_counter() - t)
        for i in range(1, len(chunks)):
            t = time.perf_counter()
            tables, seconds = _next(q, worker, i)
            yield Chunk(chunks[i], tables, seconds, waited_s=time.perf_counter() - t, in_worker=True)
        # every chunk is here: the worker's interpreter teardown (~1 s) is not waited for, it is stopped below
    finally:
        if worker.is_alive():
            worker.terminate()
            worker.join(timeout=10)
        if worker.is_alive():  # SIGTERM not acted on in time (seen on a loaded machine): never leave it running
            worker.kill()
            worker.join()
        for each in (q, inbox):
            each.close()
            each.cancel_join_thread()  # never wait at exit on a pipe a dead worker no longer reads
