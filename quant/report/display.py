"""The report as people read it: the equity and drawdown plot, the layer and ML tables as text and Markdown."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

from quant.report.ml import MlSleeveReport
from quant.report.tables import CURVE_COLUMNS, HOURS_PER_YEAR, LAYER_TABLE_COLUMNS, require_columns


def plot_equity_png(curve: pd.DataFrame, title: str) -> bytes:
    """PNG of ``curve`` (:func:`equity_curve`): equity and peak on top, drawdown % filled below.

    Uses a bare ``matplotlib.figure.Figure`` (no pyplot, no global figure registry, no backend
    switch), so nothing stays open. A one-hour curve draws its points as markers.
    """
    from matplotlib.figure import Figure  # here, not at the top: it costs ~0.5 s at code-location load

    require_columns(curve, CURVE_COLUMNS, "curve")
    if curve.empty:
        raise ValueError("no curve hours: the equity curve is empty, there is nothing to plot")
    index = pd.DatetimeIndex(curve.index)
    x = (index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index).to_numpy()
    marker = "o" if len(curve) == 1 else None
    fig = Figure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(x, curve["equity_usd"].to_numpy(dtype="float64"), marker=marker, label="equity")
    top.plot(x, curve["peak_equity_usd"].to_numpy(dtype="float64"), marker=marker, linestyle="--", label="peak")
    top.set_ylabel("USD")
    top.ticklabel_format(axis="y", useOffset=False, style="plain")
    if len(curve) == 1:  # matplotlib would pad a single date by years either side
        top.set_xlim(x[0] - np.timedelta64(1, "h"), x[0] + np.timedelta64(1, "h"))
    top.set_title(title)
    top.legend(loc="upper left")
    drawdown_pct = -100.0 * curve["drawdown"].to_numpy(dtype="float64")
    bottom.fill_between(x, drawdown_pct, 0.0, color="tab:red", alpha=0.4, step="post")
    bottom.plot(x, drawdown_pct, color="tab:red", marker=marker, drawstyle="steps-post")
    bottom.set_ylabel("drawdown %")
    bottom.set_xlabel("hour (UTC)")
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        fig.clear()
    return buffer.getvalue()


_DISPLAY_HEADERS = ("layer", "P&L USD", "return %", "APR %", "Sharpe", "max DD %", "fees", "funding",
                    "fills", "rejected")


def _number(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)


def _layer_cells(table: pd.DataFrame) -> list[list[str]]:
    require_columns(table, LAYER_TABLE_COLUMNS, "layer table")
    return [
        [str(layer), _number(r["pnl_usd"], ",.2f"), _number(100 * r["return_pct"], ".2f"),
         _number(100 * r["apr"], ".2f"), _number(r["sharpe"], ".2f"), _number(100 * r["max_drawdown"], ".2f"),
         _number(r["fees_usd"], ",.2f"), _number(r["funding_usd"], ",.2f"), str(int(r["fills"])),
         str(int(r["rejected"]))]
        for layer, r in table.iterrows()
    ]


def format_layer_table(table: pd.DataFrame) -> str:
    """Fixed-width text of :func:`layer_table` for a terminal: a header, a rule, one line per layer.

    Percent columns are the table's fractions × 100; an undefined ratio prints ``n/a``.
    """
    cells = _layer_cells(table)
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(_DISPLAY_HEADERS)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        first = values[0].ljust(widths[0])
        return "  ".join([first, *(v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))])

    return "\n".join([line(_DISPLAY_HEADERS), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def markdown_layer_table(table: pd.DataFrame) -> str:
    """:func:`layer_table` as a Markdown table (for Dagster ``MetadataValue.md``), same cells as text."""
    cells = _layer_cells(table)
    rows = [
        "| " + " | ".join(_DISPLAY_HEADERS) + " |",
        "|" + "|".join([":---", *["---:"] * (len(_DISPLAY_HEADERS) - 1)]) + "|",
        *("| " + " | ".join(r) + " |" for r in cells),
    ]
    return "\n".join(rows)



_ML_HEADERS = ("strategy", "return %", "Sharpe", "DSR", "trades")


def _ml_cells(table: pd.DataFrame) -> list[list[str]]:
    return [
        [str(name), _number(100 * r["return_pct"], ".2f"), _number(r["sharpe"], ".2f"), _number(r["dsr"], ".3f"),
         _number(r["trades"], ".0f")]
        for name, r in table.iterrows()
    ]


def _ml_lines(report: MlSleeveReport) -> tuple[str, list[str]]:
    """The section's title and the sentences under its table (predictions, the deflation, notes)."""
    title = (f"ML sleeve over {report.hours} hour(s), net of {100 * report.cost_per_trade:g}% a trade "
             "(trades = buys + sells)")
    lines = []
    if report.predicted_hours == 0:
        lines.append("no predictions: model_predictions_1h holds no row for these hours (only the book and flat rows)")
    else:
        lines.append(f"{report.predictions_ok} ok prediction row(s) over {report.predicted_hours} predicted hour(s)")
    d = report.deflated
    n = d.n_trials if math.isfinite(d.sr0) else report.n_trials
    lines.append(f"DSR = P(true Sharpe > SR0), deflated over {n} trial(s): every distinct (model, config, code "
                 "version) ever trained, the regime classifier left out (not a strategy)")
    lines.append(f"SR0 = {_number(d.sr0, '.4f')} per hour ({_number(d.sr0 * math.sqrt(HOURS_PER_YEAR), '.2f')} "
                 f"annualised): the expected best Sharpe of {n} zero-skill trials, from the variance of the trials' "
                 "Sharpe ratios (Bailey & López de Prado 2014)")
    if d.reason:
        lines.append(f"book DSR n/a: {d.reason}")
    return title, [*lines, *report.notes]


def format_ml_table(report: MlSleeveReport) -> str:
    """The ML section as fixed-width text: a title, the table (percent = fraction × 100, ``n/a`` where
    undefined or not applicable), then what the DSR deflates by and any notes."""
    cells = _ml_cells(report.table)
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(_ML_HEADERS)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "  ".join([values[0].ljust(widths[0]), *(v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))])

    title, notes = _ml_lines(report)
    return "\n".join([title, line(_ML_HEADERS), "  ".join("-" * w for w in widths), *(line(r) for r in cells), *notes])


def markdown_ml_table(report: MlSleeveReport) -> str:
    """The ML section as Markdown (for Dagster ``MetadataValue.md``): same cells and sentences as the text."""
    title, notes = _ml_lines(report)
    rows = [
        f"**{title}**", "",
        "| " + " | ".join(_ML_HEADERS) + " |",
        "|" + "|".join([":---", *["---:"] * (len(_ML_HEADERS) - 1)]) + "|",
        *("| " + " | ".join(r) + " |" for r in _ml_cells(report.table)),
        "", *(f"- {n}" for n in notes),
    ]
    return "\n".join(rows)
