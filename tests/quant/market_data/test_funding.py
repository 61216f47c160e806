"""quant.market_data.funding: interval inference, snapping to the settlement grid, grid membership, APR.

Every expected number is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.market_data.funding import annualise, infer_interval_hours, on_settlement_grid, snap_to_grid

REL = 1e-9


def stamps(*iso: str) -> pd.Series:
    """UTC nanosecond timestamps from ISO strings (millisecond jitter kept)."""
    return pd.Series([pd.Timestamp(s, tz="UTC") for s in iso]).astype("datetime64[ns, UTC]")


# -- infer_interval_hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            # Binance 8h with real jitter: every gap is 8h ± a few ms -> rounds to 8.
            ["2025-09-01 00:00:00.001", "2025-09-01 08:00:00.000", "2025-09-01 16:00:00.003", "2025-09-02 00:00:00.000"],
            [8.0, 8.0, 8.0, 8.0],
            id="steady-8h",
        ),
        pytest.param(
            # 00 -> 08 -> 16 are 8h apart, 16 -> 20 -> 00 are 4h apart; each row carries the gap
            # that ENDED at it, so the switch shows at the 20:00 row, not before.
            ["2025-09-01 00:00", "2025-09-01 08:00", "2025-09-01 16:00", "2025-09-01 20:00", "2025-09-02 00:00"],
            [8.0, 8.0, 8.0, 4.0, 4.0],
            id="switch-8h-to-4h",
        ),
        pytest.param(
            # 00 -> 04 -> 08 are 4h apart, then 08 -> 16 -> 00 are 8h.
            ["2025-09-01 00:00", "2025-09-01 04:00", "2025-09-01 08:00", "2025-09-01 16:00", "2025-09-02 00:00"],
            [4.0, 4.0, 4.0, 8.0, 8.0],
            id="switch-4h-to-8h",
        ),
        pytest.param(
            # Two rows 4h apart: the first has no previous one and takes the next spacing (4).
            ["2025-09-01 12:00", "2025-09-01 16:00"],
            [4.0, 4.0],
            id="first-row-takes-next-spacing",
        ),
        pytest.param(
            # 08:00:00.014 -> 15:59:59.998 is 7h59m59.984s = 7.99999556h -> 8; then 2ms late -> 8.
            ["2025-09-01 08:00:00.014", "2025-09-01 15:59:59.998", "2025-09-02 00:00:00.002"],
            [8.0, 8.0, 8.0],
            id="jitter-both-sides",
        ),
        pytest.param(
            # Hyperliquid settles hourly.
            ["2025-09-01 10:00", "2025-09-01 11:00:00.003", "2025-09-01 12:00"],
            [1.0, 1.0, 1.0],
            id="hourly",
        ),
    ],
)
def test_infer_interval_hours(raw: list[str], expected: list[float]) -> None:
    got = infer_interval_hours(stamps(*raw))
    assert got.dtype == "float64"
    assert got.tolist() == expected


def test_infer_interval_hours_lone_settlement_is_nan() -> None:
    got = infer_interval_hours(stamps("2025-09-01 16:00:00.003"))
    assert len(got) == 1
    assert math.isnan(got.iloc[0])


def test_infer_interval_hours_keeps_the_callers_index() -> None:
    # A groupby-transform hands each group over with its original (non-zero-based) index.
    ts = stamps("2025-09-01 00:00", "2025-09-01 04:00", "2025-09-01 12:00").set_axis([40, 41, 42])
    got = infer_interval_hours(ts)
    assert got.index.tolist() == [40, 41, 42]
    assert got.tolist() == [4.0, 4.0, 8.0]


# -- snap_to_grid -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "grid", "offset_ms"),
    [
        ("2025-09-01 16:00:00.003", "2025-09-01 16:00", 3.0),  # 3 ms late
        ("2025-09-01 15:59:59.998", "2025-09-01 16:00", -2.0),  # 2 ms early: negative jitter
        ("2025-09-01 08:00:00.000", "2025-09-01 08:00", 0.0),  # exactly on the hour
        ("2025-09-01 23:59:59.990", "2025-09-02 00:00", -10.0),  # 10 ms early rolls the date over
        ("2025-09-01 03:17:00", "2025-09-01 03:00", 1_020_000.0),  # 17 min = 17 * 60 * 1000 ms late
        ("2025-09-01 03:45:00", "2025-09-01 04:00", -900_000.0),  # 15 min = 900 000 ms early
    ],
)
def test_snap_to_grid(raw: str, grid: str, offset_ms: float) -> None:
    snapped, offset = snap_to_grid(stamps(raw))
    assert snapped.iloc[0] == pd.Timestamp(grid, tz="UTC")
    assert offset.iloc[0] == pytest.approx(offset_ms, rel=REL, abs=1e-9)


def test_snap_to_grid_is_elementwise_on_a_series() -> None:
    snapped, offset = snap_to_grid(stamps("2025-09-01 15:59:59.998", "2025-09-01 16:00:00.003"))
    assert snapped.tolist() == [pd.Timestamp("2025-09-01 16:00", tz="UTC")] * 2
    assert offset.tolist() == pytest.approx([-2.0, 3.0], rel=REL)


# -- on_settlement_grid -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapped", "offset_ms", "interval_h", "expected"),
    [
        # 8h grid is 00/08/16.
        ("2025-09-01 00:00", 1.0, 8.0, True),
        ("2025-09-01 08:00", 3.0, 8.0, True),
        ("2025-09-01 16:00", -2.0, 8.0, True),
        ("2025-09-01 04:00", 0.0, 8.0, False),  # 4 mod 8 = 4
        ("2025-09-01 12:00", 0.0, 8.0, False),  # 12 mod 8 = 4
        # 4h grid is 00/04/08/12/16/20.
        ("2025-09-01 04:00", 0.0, 4.0, True),
        ("2025-09-01 20:00", 5.0, 4.0, True),
        ("2025-09-01 06:00", 0.0, 4.0, False),  # 6 mod 4 = 2
        # 1h grid: every hour, but only within the 60 s tolerance.
        ("2025-09-01 03:00", 0.0, 1.0, True),
        ("2025-09-01 03:00", 1_020_000.0, 1.0, False),  # raw 03:17: 17 min off the grid
        ("2025-09-01 03:00", 60_000.0, 1.0, True),  # exactly the 60 s tolerance
        ("2025-09-01 03:00", -60_001.0, 1.0, False),  # 1 ms beyond it
        # An interval no venue uses, or none at all, is never on the grid.
        ("2025-09-01 06:00", 0.0, 3.0, False),
        ("2025-09-01 00:00", 0.0, float("nan"), False),
    ],
)
def test_on_settlement_grid(snapped: str, offset_ms: float, interval_h: float, expected: bool) -> None:
    got = on_settlement_grid(stamps(snapped), pd.Series([offset_ms]), pd.Series([interval_h]))
    assert got.dtype == bool
    assert bool(got.iloc[0]) is expected


def test_on_settlement_grid_row_by_row() -> None:
    # Each row is judged against its own interval: 04:00 is on the 4h grid and off the 8h grid.
    snapped = stamps("2025-09-01 04:00", "2025-09-01 04:00", "2025-09-01 16:00")
    got = on_settlement_grid(snapped, pd.Series([0.0, 0.0, 2.0]), pd.Series([4.0, 8.0, 8.0]))
    assert got.tolist() == [True, False, True]


def test_on_settlement_grid_from_raw_jittered_stamps() -> None:
    # The whole path a settlement takes: raw stamp -> snap -> grid check.
    snapped, offset = snap_to_grid(stamps("2025-09-01 15:59:59.998", "2025-09-01 03:17:00"))
    got = on_settlement_grid(snapped, offset, pd.Series([8.0, 1.0]))
    assert got.tolist() == [True, False]


# -- annualise --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "interval_h", "apr"),
    [
        (0.0001, 8.0, 0.1095),  # 1 bp x (24 / 8 = 3 a day) x 365 = 0.0001 x 1095
        (0.0001, 4.0, 0.219),  # 1 bp x 6 a day x 365 = 0.0001 x 2190
        (0.0001, 1.0, 0.876),  # 1 bp x 24 a day x 365 = 0.0001 x 8760
        (0.0001, 2.0, 0.438),  # 1 bp x 12 a day x 365 = 0.0001 x 4380
        (-0.0002, 8.0, -0.219),  # negative funding stays negative: -0.0002 x 1095
        (0.000375, 8.0, 0.410625),  # 3.75 bp x 1095
        (0.0, 8.0, 0.0),
    ],
)
def test_annualise_scalar(rate: float, interval_h: float, apr: float) -> None:
    assert annualise(rate, interval_h) == pytest.approx(apr, rel=REL, abs=1e-15)


def test_annualise_series_is_row_by_row() -> None:
    rates = pd.Series([0.0001, 0.0001, 0.0001], index=[7, 8, 9])
    intervals = pd.Series([8.0, 4.0, 1.0], index=[7, 8, 9])
    got = annualise(rates, intervals)
    assert isinstance(got, pd.Series)
    assert got.index.tolist() == [7, 8, 9]
    assert got.tolist() == pytest.approx([0.1095, 0.219, 0.876], rel=REL)


def test_annualise_nan_interval_is_nan() -> None:
    got = annualise(pd.Series([0.0001]), pd.Series([np.nan]))
    assert math.isnan(got.iloc[0])


# An independent reference: the APR written as a plain loop, settlements per year counted
# from the hours in a year, with no vectorised arithmetic shared with ``annualise``.
APR_TABLE = [
    (0.0001, 8.0),
    (0.00025, 8.0),
    (-0.00013, 8.0),
    (0.0005, 4.0),
    (0.0000125, 1.0),
    (-0.0000031, 1.0),
    (0.0002, 2.0),
    (0.0075, 4.0),
    (0.03, 8.0),
]


def _apr_by_loop(table: list[tuple[float, float]]) -> list[float]:
    hours_per_year = 365 * 24
    out = []
    for rate, interval_h in table:
        settlements = 0
        hour = 0.0
        while hour < hours_per_year:  # count the settlements in a year, one by one
            settlements += 1
            hour += interval_h
        out.append(rate * settlements)
    return out


def test_annualise_matches_a_plain_loop_reference() -> None:
    rates = pd.Series([r for r, _ in APR_TABLE])
    intervals = pd.Series([i for _, i in APR_TABLE])
    expected = _apr_by_loop(APR_TABLE)
    # Anchor the reference itself on one hand-checked row: 8760 h / 8 h = 1095 settlements.
    assert expected[0] == pytest.approx(0.1095, rel=REL)
    assert annualise(rates, intervals).tolist() == pytest.approx(expected, rel=REL)
