"""Jobs side by side (``quant.ml.lanes``): each gives what it gives alone; serial jobs keep their order and thread."""

from __future__ import annotations

import threading
import time

import pytest

from quant.ml.lanes import side_by_side


def _jobs(log: list):
    def job(key, pause):
        def run():
            time.sleep(pause)
            log.append((key, threading.get_ident()))
            return key * 10
        return run
    return {k: job(k, p) for k, p in [(1, 0.03), (2, 0.0), (3, 0.02), (4, 0.0), (5, 0.01)]}


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_job_runs_once_and_the_serial_ones_in_order_on_one_thread(threads):
    log: list = []
    got = side_by_side(_jobs(log), [3, 1, 5], threads)
    assert list(got) == [1, 2, 3, 4, 5]  # the jobs' order, whatever finished first
    assert {k: v for k, (v, _) in got.items()} == {1: 10, 2: 20, 3: 30, 4: 40, 5: 50}
    assert all(seconds >= 0.0 for _, seconds in got.values())
    assert sorted(k for k, _ in log) == [1, 2, 3, 4, 5]
    serial = [(k, t) for k, t in log if k in (1, 3, 5)]
    assert [k for k, _ in serial] == [3, 1, 5]
    assert len({t for _, t in serial}) == 1


def test_two_threads_run_jobs_at_once():
    barrier = threading.Barrier(2, timeout=5)  # only passes when both jobs run at the same time
    jobs = {"a": barrier.wait, "b": barrier.wait}
    assert set(side_by_side(jobs, ["a"], 2)) == {"a", "b"}


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failing_job_raises(threads):
    def boom():
        raise RuntimeError("model failed")
    with pytest.raises(RuntimeError, match="model failed"):
        side_by_side({"ok": lambda: 1, "bad": boom}, ["ok"], threads)
