"""The two-process range engine (``pipelines.range_pipeline``): chunks in order, failures that reach the consumer,
and the chunked layers + book equal to one whole-range serial run on the synthetic universe."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import range_scale as rs
from pipelines.range_pipeline import WorkerError, chunks_of, pipelined
from quant.book.step import fresh_state
from tests.support.range_makers import Count, FailOn, Slow

HOURS = pd.date_range("2025-03-01", periods=10, freq="h", tz="UTC")


def test_chunks_cover_the_hours_in_order_and_a_bad_size_is_refused() -> None:
    parts = chunks_of(HOURS, 4)
    assert [len(c) for c in parts] == [4, 4, 2]
    assert pd.DatetimeIndex([h for c in parts for h in c]).equals(HOURS)
    with pytest.raises(ValueError, match="positive number of hours, got 0"):
        chunks_of(HOURS, 0)


@pytest.mark.parametrize("processes", [True, False])
def test_every_chunk_comes_once_in_order_the_first_made_here(processes: bool) -> None:
    got = list(pipelined(Count(), chunks_of(HOURS, 3), processes=processes))
    assert [c.hours[0] for c in got] == list(HOURS[::3])
    assert pd.concat([c.tables["rows"] for c in got])["hour"].tolist() == list(HOURS)
    pids = [int(c.tables["rows"]["pid"].iloc[0]) for c in got]
    assert pids[0] == os.getpid()
    assert (set(pids[1:]) == {pids[1]} and pids[1] != os.getpid()) if processes else set(pids) == {os.getpid()}
    assert [c.in_worker for c in got] == [False] + [processes] * 3


def test_a_failure_in_the_worker_reaches_the_consumer_with_its_traceback() -> None:
    gen = pipelined(FailOn(HOURS[6]), chunks_of(HOURS, 3))
    seen = [next(gen).hours[0], next(gen).hours[0]]
    with pytest.raises(WorkerError, match=r"(?s)failed on chunk 2:.*ArithmeticError: bad hour 2025-03-01 06:00"):
        next(gen)
    assert seen == [HOURS[0], HOURS[3]]  # the chunks before the failure were handed over, none after


def test_a_worker_that_dies_is_an_error_not_a_hang() -> None:
    with pytest.raises(WorkerError, match=r"died \(exit code 7\) before chunk 1"):
        list(pipelined(FailOn(HOURS[3], die=True), chunks_of(HOURS, 3)))


def test_a_consumer_that_stops_early_stops_the_worker() -> None:
    import multiprocessing as mp

    gen = pipelined(Slow(), chunks_of(HOURS, 1), ahead=1)
    next(gen)
    next(gen)
    workers = [p for p in mp.active_children() if p.name == "perpetua-range-layers"]
    assert workers
    gen.close()
    assert not workers[0].is_alive()


def test_the_chunked_two_process_range_equals_the_whole_range_run_serially() -> None:
    """Layers by chunk (each with its own look-back, in the worker) and the book stepped chunk by chunk equal every
    layer called once over the whole range and the book stepped over it in one call — what ``range_scale`` times."""
    symbols, n = 3, 500
    hours = rs.md.hours_of(rs.FIRST_HOUR, rs.FIRST_HOUR + n * pd.Timedelta(hours=1))
    first = rs.FIRST_HOUR - rs.LOOKBACK
    parts = rs.raw_parts(symbols, first, hours[-1] + pd.Timedelta(hours=1))
    rs._CHAIN[:] = [rs.parse_book_summary_cached(rs.ReplayOptions().book_summary(rs.HEDGE.currency))]
    whole = rs.source_tables(parts, first)
    for name in rs.needed(["book"])[1:-1]:
        _, out, call = rs.STAGES[name]
        whole[out] = call(whole, hours)
    serial, _ = rs._book_chunk(fresh_state(), {k: rs._window(whole[k], hours) for k in rs.BOOK_INPUTS}, hours)

    maker = rs.SyntheticLayers(parts, [s for s in rs.needed(["book"]) if s not in ("sources", "book")], keep_tables=True)
    state, books, inputs = fresh_state(), [], []
    for chunk in pipelined(maker, chunks_of(hours, 180)):
        inputs.append(chunk.tables)
        out, state = rs._book_chunk(state, chunk.tables, chunk.hours)  # on the inputs the worker split by hour
        books.append(out)
    assert len(books) == 3
    for k in rs.BOOK_INPUTS:
        pd.testing.assert_frame_equal(pd.concat([t[k] for t in inputs], ignore_index=True),
                                      rs._window(whole[k], hours).reset_index(drop=True), check_exact=True, obj=k)
    for field in ("ledger", "positions", "intents", "fills", "allocations"):
        chunked = pd.concat([getattr(b, field) for b in books], ignore_index=True)
        assert len(chunked) > 0, field
        pd.testing.assert_frame_equal(chunked, getattr(serial, field).reset_index(drop=True), check_exact=True, obj=field)


def test_an_unguarded_script_fails_with_the_fix_named_instead_of_hanging(tmp_path) -> None:
    """spawn re-imports the script that started the run: without a ``__main__`` guard the worker dies at its start.
    The maker (here a megabyte of it) goes through a queue, so the parent is never left blocked on the worker's pipe."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "import pandas as pd\n"
        "from pipelines.range_pipeline import WorkerError, chunks_of, pipelined\n"
        "from tests.support.range_makers import Count\n"
        "maker = Count()\n"
        "maker.ballast = b'x' * 1_000_000\n"
        "hours = pd.date_range('2025-03-01', periods=4, freq='h', tz='UTC')\n"
        "try:\n"
        "    list(pipelined(maker, chunks_of(hours, 2)))\n"
        "except WorkerError as exc:\n"
        "    print('WorkerError:', exc)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "WorkerError: the layer worker died (exit code 1) before chunk 1" in out.stdout, out.stderr[-2000:]
    assert 'guard its entry point with `if __name__ == "__main__":`' in out.stdout
