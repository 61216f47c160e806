"""A one-bit PNG sparkline small enough to show inline in the Dagster UI.

Dagster renders a markdown metadata value inline only when it is under 1,000 characters; the full
equity plot (tens of KB) sits behind "[Show Markdown]". A 240×48 one-bit PNG of the equity curve
is ~450 bytes, ~600 characters as a data URI, so the report can show its shape at a glance.
"""

from __future__ import annotations

import base64
import io

import numpy as np

#: Pixels of the sparkline; one column per point at most.
WIDTH, HEIGHT = 240, 48
#: Rows kept free above and below the curve.
MARGIN_PX = 3


def sparkline_png(values: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A black-on-white line through ``values`` (oldest left), scaled to its own min..max.

    Parameters
    ----------
    values : the series, NaN points skipped; at least one finite value.
    width, height : pixels.

    Raises
    ------
    ValueError
        When no value is finite (nothing to draw, never a flat line made up).
    """
    from PIL import Image, ImageDraw  # matplotlib's own dependency

    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if not len(v):
        raise ValueError("no finite value to draw")
    v = v[np.linspace(0, len(v) - 1, min(len(v), width)).round().astype(int)]
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else 1.0
    ys = (height - 1 - MARGIN_PX) - (v - lo) / span * (height - 1 - 2 * MARGIN_PX)
    xs = np.linspace(0, width - 1, len(v)) if len(v) > 1 else np.array([width / 2])
    image = Image.new("1", (width, height), 1)
    points = list(zip(xs.round().tolist(), ys.round().tolist(), strict=True))
    ImageDraw.Draw(image).line(points if len(points) > 1 else points * 2, fill=0, width=1)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def sparkline_markdown(values: np.ndarray, label: str) -> str:
    """``![label](data:image/png;base64,…)`` of :func:`sparkline_png`."""
    return f"![{label}](data:image/png;base64,{base64.b64encode(sparkline_png(values)).decode()})"
