"""The inline equity sparkline: the right shape, and short enough for Dagster to show inline."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from quant.report.sparkline import HEIGHT, MARGIN_PX, WIDTH, sparkline_markdown, sparkline_png

#: Dagster's UI shows markdown metadata inline only below this many characters.
INLINE_LIMIT = 1000


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 128  # True = ink


def test_a_rising_line_runs_from_bottom_left_to_top_right():
    ink = _pixels(sparkline_png(np.arange(10.0)))
    assert ink.shape == (HEIGHT, WIDTH)
    first, last = np.nonzero(ink[:, 0])[0], np.nonzero(ink[:, -1])[0]
    assert first.max() == HEIGHT - 1 - MARGIN_PX  # the minimum sits on the bottom margin
    assert last.min() == MARGIN_PX  # the maximum on the top margin


def test_nan_is_skipped_and_nothing_finite_is_an_error():
    assert _pixels(sparkline_png(np.array([1.0, np.nan, 3.0]))).any()
    with pytest.raises(ValueError, match="no finite value"):
        sparkline_png(np.array([np.nan, np.nan]))


def test_a_whole_sample_curve_fits_inline():
    curve = 100_000 + np.cumsum(np.random.default_rng(7).normal(0, 50, size=6_190))
    md = sparkline_markdown(curve, "equity")
    assert md.startswith("![equity](data:image/png;base64,")
    assert len(md) < INLINE_LIMIT
