"""The performance report: per-layer and per-symbol tables, the equity curve and its sparkline.

The face of ``quant.report``: import from here; each name lives in the module it is imported from.
"""

from __future__ import annotations

from quant.report.display import (
    format_layer_table,
    markdown_layer_table,
    plot_equity_png,
)
from quant.report.sparkline import (
    sparkline_markdown,
    sparkline_png,
)
from quant.report.tables import (
    equity_curve,
    layer_table,
    symbol_table,
)

__all__ = [
    "equity_curve",
    "format_layer_table",
    "layer_table",
    "markdown_layer_table",
    "plot_equity_png",
    "sparkline_markdown",
    "sparkline_png",
    "symbol_table",
]
