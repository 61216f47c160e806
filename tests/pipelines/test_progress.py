"""The backfill's progress lines name the hour that stopped a run and the hours kept before it."""

from __future__ import annotations

import pandas as pd

from pipelines.progress import Progress
from pipelines.runner import ChunkResult


def test_a_failed_chunk_names_its_first_bad_hour_and_only_the_kept_hours_count_as_done(capsys):
    p = Progress("market_sources")
    a, b = pd.Timestamp("2026-02-05", tz="UTC"), pd.Timestamp("2026-02-07", tz="UTC")
    p.plan([("hourly_cycle", a, b)])
    p.chunk(ChunkResult("hourly_cycle", "2026-02-05-00:00", "2026-02-06-23:00", "r1", False, 10.0, 900,
                        {"perp_ohlcv_1h__continuity": 2}, "perp_ohlcv_1h: 1 blocking asset check failed",
                        first_failed_hour=pd.Timestamp("2026-02-05 18:00", tz="UTC")))
    p.chunk(ChunkResult("hourly_cycle", "2026-02-05-00:00", "2026-02-05-17:00", "r2", True, 4.0, 300,
                        kept_before_failure=True))
    out = capsys.readouterr().out
    assert "stopped at 2026-02-05 18:00 UTC: the first hour whose data failed a check" in out
    assert "perp_ohlcv_1h__continuity x2h" in out
    assert "kept the hours before the failure (2026-02-05-00:00 .. 2026-02-05-17:00)" in out
    assert p.done_hours == 18  # the failed run did none; its re-run kept 00:00..17:00
    assert "   18/48h" in out


def test_a_fold_run_that_starts_before_the_first_hour_is_printed_and_not_counted(capsys):

    p = Progress("market_sources", "ml_walk_forward")
    p.plan([("ml_walk_forward", pd.Timestamp("2025-03-03", tz="UTC"), pd.Timestamp("2025-03-10", tz="UTC")),
            ("hourly_cycle", pd.Timestamp("2025-03-06 13:00", tz="UTC"), pd.Timestamp("2025-03-06 16:00", tz="UTC"))])
    # the fold's week starts on the Monday before the partitions' first hour (2025-03-06 12:00)
    p.chunk(ChunkResult("ml_walk_forward", "2025-03-03-00:00", "2025-03-09-23:00", "r1", True, 1.0, 11))
    p.chunk(ChunkResult("hourly_cycle", "2025-03-06-13:00", "2025-03-06-15:00", "r2", True, 2.0, 90))
    out = capsys.readouterr().out
    assert "3 hours of the hourly cycle" in out
    assert "fold of the week 2025-03-03" in out
    assert p.done_hours == 3
