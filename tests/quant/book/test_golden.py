"""The range engine equals the hour-by-hour pandas book it replaced, bit for bit, on both bundled windows.

The golden record (``tests/fixtures/book_golden``, written by ``tests.references.book_golden``
with the pandas book of commit 55b47d5) holds that book's carry, cascade and tail-hedge inputs
and a content hash of each of its five tables over each whole window: 5,004 hours of 2025 (905
fills) and 1,210 hours of 2026 with the kill switch holding the last 120 (1,406 fills). Bars,
funding and the synthetic ML predictions (so the sleeve trades) are recomputed from
``data/sample``. Every L1–L3 and ML path the windows exercise is in the hashes: fills, funding,
stops and targets, rolls, the ML exits, the kill switch's reduce-only hours. The record predates
the strategies layer: it runs with the allocator's split of then (``RECORD_PARAMS``) and leaves
out ST's allocation rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from quant.book.step import fresh_state, run_book
from quant.market_data import tables as md
from resources.exchange.replay import SAMPLE_WINDOWS
from tests.references.book_golden import (
    INPUTS,
    OUTPUTS,
    RECORD_PARAMS,
    kill_switch_from,
    recorded,
    table_hash,
    window_inputs,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "book_golden"
GOLDEN = json.loads((FIXTURE / "golden.json").read_text())


def _window(i: int) -> tuple[pd.Timestamp, pd.Timestamp, dict[str, pd.DataFrame]]:
    start, end = (pd.Timestamp(x) for x in SAMPLE_WINDOWS[i])
    return start, end, window_inputs(start, end, stored=FIXTURE, index=i)


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(SAMPLE_WINDOWS)))
def test_the_range_engine_reproduces_the_pandas_books_tables(i: int) -> None:
    start, end, inputs = _window(i)
    tables, state = run_book(fresh_state(), md.hours_of(start, end), *(inputs[n] for n in INPUTS[:5]), RECORD_PARAMS,
                             kill_switch_from=kill_switch_from(i, end), ml=inputs["ml"])
    got = {name: {"rows": len(t := recorded(name, getattr(tables, name))), "sha256": table_hash(t)} for name in OUTPUTS}
    assert got == GOLDEN[f"w{i}"]
    assert state.hour == end - pd.Timedelta(hours=1)
    assert state.ledger.equals(tables.ledger[tables.ledger["hour"] == state.hour].reset_index(drop=True))


@pytest.mark.slow
def test_a_window_in_two_ranges_chained_by_their_state_equals_one_range() -> None:
    start, end, inputs = _window(1)
    hours = md.hours_of(start, end)
    args = [inputs[n] for n in INPUTS[:5]]
    ks = kill_switch_from(1, end)
    first, state = run_book(fresh_state(), hours[:700], *args, RECORD_PARAMS, kill_switch_from=ks, ml=inputs["ml"])
    second, _ = run_book(state, hours[700:], *args, RECORD_PARAMS, kill_switch_from=ks, ml=inputs["ml"])
    for name in OUTPUTS:
        both = recorded(name, pd.concat([getattr(first, name), getattr(second, name)], ignore_index=True))
        assert table_hash(both) == GOLDEN["w1"][name]["sha256"], name
