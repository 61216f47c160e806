"""The performance report: per-layer and per-instrument P&L, risk ratios and the equity curve.

Input is the ``ledger_1h`` frame over a window of hours (one row per (hour, layer, venue,
symbol) for every instrument ever traded, plus one ``layer == "total"`` row per hour holding the
book) and the ``fills_1h`` frame of the same window. The ledger's money columns are CUMULATIVE
since the book started, so the report assumes the window starts at the book's first hour: the
first hour's P&L change is its cumulative P&L minus 0, and ``return_pct`` / ``apr`` divide the
last hour's cumulative P&L by the bankroll and by the window's length.

Definitions (per layer, the layer's P&L being the sum over its instruments at each hour, an
instrument's row carried forward over hours where it is missing and 0 before its first row):

* ``return_pct = pnl / bankroll`` — a FRACTION (0.002 is 0.2 %), as is every ratio here;
* ``apr = return_pct × 8760 / hours`` — simple (not compounded) annualisation, ``hours`` the
  number of hours in the ledger;
* ``sharpe = mean(Δpnl) / std(Δpnl, ddof=1) × √8760`` over the hourly P&L changes — the sample
  standard deviation (ddof = 1, as ``statistics.stdev``), no risk-free rate (Sharpe 1966 with
  the usual √periods annualisation, cf. vectorbt ``returns/nb.py`` ``sharpe_ratio_1d_nb``);
  NaN with fewer than two hours or a (numerically) zero standard deviation;
* ``max_drawdown`` — the largest fall from a running peak as a fraction of that peak, of
  ``bankroll + layer P&L`` (peak seeded with the bankroll) for a layer and of the book's
  ``equity_usd`` (peak seeded with the ledger's first ``peak_equity_usd``) for the total.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quant.book.orders import LAYERS

TOTAL = "total"
HOURS_PER_YEAR = 8760
#: Hourly P&L changes whose sample std is below this (USD) are constant up to float noise
#: (0.1 + 0.2 − 0.3 is 5.6e-17): their Sharpe is undefined, not 1e15.
MIN_PNL_STD_USD = 1e-9
#: The total row must equal the sum of its instruments within abs + rel × |value| (USD).
TOTAL_ABS_TOL_USD = 1e-6
TOTAL_REL_TOL = 1e-9

KEY_COLUMNS = ("hour", "layer", "venue", "symbol")
MONEY_COLUMNS = ("pnl_usd", "realised_usd", "unrealised_usd", "fees_usd", "funding_usd")
BOOK_COLUMNS = ("equity_usd", "peak_equity_usd", "drawdown")
LEDGER_REPORT_COLUMNS = KEY_COLUMNS + MONEY_COLUMNS + BOOK_COLUMNS
FILLS_REPORT_COLUMNS = ("layer", "venue", "symbol", "filled_qty", "status")
LAYER_TABLE_COLUMNS = MONEY_COLUMNS + (
    "return_pct", "apr", "sharpe", "max_drawdown", "fills", "rejected", "partial",
)
SYMBOL_TABLE_COLUMNS = ("layer", "venue", "symbol") + MONEY_COLUMNS + ("fills", "rejected")
CURVE_COLUMNS = BOOK_COLUMNS


def require_columns(frame: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _check_finite(ledger: pd.DataFrame) -> None:
    values = ledger[list(MONEY_COLUMNS + BOOK_COLUMNS)].to_numpy(dtype="float64")
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        row = ledger.iloc[i]
        column = (MONEY_COLUMNS + BOOK_COLUMNS)[j]
        raise ValueError(
            f"ledger row (hour {row['hour']}, {row['layer']}, {row['venue']}, {row['symbol']}): "
            f"{column} is {values[i, j]}, money must be a finite number"
        )
    if (ledger["peak_equity_usd"].to_numpy(dtype="float64") <= 0).any():
        row = ledger.loc[ledger["peak_equity_usd"] <= 0].iloc[0]
        raise ValueError(f"ledger hour {row['hour']}: peak_equity_usd must be > 0, got {row['peak_equity_usd']}")


def _check_grid(ledger: pd.DataFrame) -> pd.DatetimeIndex:
    """One total row per hour and contiguous hours; returns the sorted hour grid."""
    unknown = sorted({str(v) for v in ledger["layer"].unique()} - set(LAYERS) - {TOTAL})
    if unknown:
        raise ValueError(f"ledger has unknown layers {unknown}; expected {list(LAYERS)} or {TOTAL!r}")
    dup = ledger.duplicated(list(KEY_COLUMNS))
    if dup.any():
        row = ledger.loc[dup].iloc[0]
        raise ValueError(
            f"ledger has two rows for (hour {row['hour']}, {row['layer']}, {row['venue']}, {row['symbol']})"
        )
    hours = pd.DatetimeIndex(ledger["hour"].drop_duplicates().sort_values(), name="hour")
    with_total = pd.DatetimeIndex(ledger.loc[ledger["layer"] == TOTAL, "hour"])
    lacking = hours.difference(with_total)
    if len(lacking):
        raise ValueError(f"no total row for ledger hour {lacking[0]} ({len(lacking)} hour(s) lack one)")
    gaps = np.flatnonzero(hours[1:] - hours[:-1] != pd.Timedelta(hours=1))
    if len(gaps):
        k = int(gaps[0])
        raise ValueError(f"ledger hours are not contiguous: {hours[k]} is followed by {hours[k + 1]}")
    return hours


def _validated_ledger(ledger: pd.DataFrame) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    require_columns(ledger, LEDGER_REPORT_COLUMNS, "ledger")
    if ledger.empty:
        raise ValueError("no ledger hours: the ledger frame is empty, there is nothing to report")
    if not isinstance(ledger["hour"].dtype, pd.DatetimeTZDtype):
        raise ValueError(f"ledger hour must be timezone-aware UTC, got dtype {ledger['hour'].dtype}")
    ledger = ledger.assign(hour=ledger["hour"].dt.tz_convert("UTC"))
    _check_finite(ledger)
    return ledger, _check_grid(ledger)


def _validated_fills(fills: pd.DataFrame) -> pd.DataFrame:
    require_columns(fills, FILLS_REPORT_COLUMNS, "fills")
    unknown = sorted({str(v) for v in fills["layer"].unique()} - set(LAYERS))
    if unknown:
        raise ValueError(f"fills have unknown layers {unknown}; expected {list(LAYERS)}")
    return fills


def _validated_bankroll(bankroll_usd: float) -> float:
    value = float(bankroll_usd)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"bankroll_usd must be a finite number > 0, got {bankroll_usd}")
    return value


def _instrument_panel(ledger: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """[hours × (money column, layer, venue, symbol)] cumulative money per instrument.

    An instrument's missing hours carry its last row forward; hours before its first row are 0.
    """
    rows = ledger.loc[ledger["layer"] != TOTAL]
    wide = rows.pivot(index="hour", columns=["layer", "venue", "symbol"], values=list(MONEY_COLUMNS))
    return wide.reindex(hours).ffill().fillna(0.0)


def _layer_sums(panel: pd.DataFrame, column: str) -> pd.DataFrame:
    """[hours × LAYERS] sum of ``column`` over each layer's instruments (0 for a layer with none)."""
    by_layer = panel[column].T.groupby(level="layer").sum().T if panel.shape[1] else pd.DataFrame(index=panel.index)
    return by_layer.reindex(columns=list(LAYERS), fill_value=0.0).astype("float64")


def _total_rows(ledger: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    return ledger.loc[ledger["layer"] == TOTAL].set_index("hour").reindex(hours)


def _check_totals(sums: dict[str, pd.DataFrame], totals: pd.DataFrame) -> None:
    for column in MONEY_COLUMNS:
        summed = sums[column].sum(axis=1).to_numpy()
        booked = totals[column].to_numpy(dtype="float64")
        off = np.abs(summed - booked) > TOTAL_ABS_TOL_USD + TOTAL_REL_TOL * np.abs(booked)
        if off.any():
            k = int(np.flatnonzero(off)[0])
            raise ValueError(
                f"ledger total row at {totals.index[k]} disagrees with the sum of its instruments: "
                f"{column} total {booked[k]} vs sum {summed[k]}"
            )


def _sharpe(cum_pnl: np.ndarray) -> float:
    """Annualised Sharpe of hourly changes of ``cum_pnl`` (first change: from 0); NaN if undefined."""
    changes = np.diff(cum_pnl, prepend=0.0)
    if len(changes) < 2:
        return math.nan
    std = float(np.std(changes, ddof=1))
    if not std > MIN_PNL_STD_USD:
        return math.nan
    return float(np.mean(changes)) / std * math.sqrt(HOURS_PER_YEAR)


def _max_drawdown(curve: np.ndarray, start_peak: float) -> float:
    """Largest ``1 − value / running peak`` with the peak seeded at ``start_peak`` (> 0)."""
    peak = np.maximum(np.maximum.accumulate(curve), start_peak)
    return float(max(np.max(1.0 - curve / peak), 0.0))


def _position_of(fills: pd.DataFrame) -> pd.Series:
    """The ledger key of each fill: its ``position`` (the book files a carry pair's spot leg under
    the perp, an option under its strangle) where the frame has one, else its ``symbol``."""
    symbol = fills["symbol"].astype(object)
    if "position" not in fills.columns:
        return symbol
    position = fills["position"].astype(object)
    return position.where(position.notna() & (position != ""), symbol)


def _fill_counts(fills: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    counted = pd.DataFrame({
        **{c: fills[c].astype(str) for c in by},
        "fills": (fills["filled_qty"].to_numpy(dtype="float64") > 0).astype("int64"),
        "rejected": (fills["status"] == "no_counterparty").to_numpy().astype("int64"),
        "partial": (fills["status"] == "partial").to_numpy().astype("int64"),
    })
    return counted.groupby(by).sum()


def layer_table(ledger: pd.DataFrame, fills: pd.DataFrame, bankroll_usd: float) -> pd.DataFrame:
    """Per-layer performance over the ledger's window (definitions in the module docstring).

    Parameters
    ----------
    ledger : the ``ledger_1h`` frame, many hours; money in USD, cumulative since the book started.
    fills : the ``fills_1h`` frame of the same window (every row is counted; none is filtered).
    bankroll_usd : the book's starting capital, USD, > 0.

    Returns
    -------
    Index ``layer`` = the book's layers (``quant.book.orders.LAYERS``: L1, L2, L3, ML) and total,
    always all of them; columns ``LAYER_TABLE_COLUMNS``:
    money at the last hour (USD; 0, never NaN, for a layer that never traded), ``return_pct``,
    ``apr`` and ``max_drawdown`` as fractions, ``sharpe`` = mean / SAMPLE std (ddof = 1) of the
    hourly P&L changes × √8760, the first change being the first hour's P&L − 0 (NaN where
    undefined: fewer than two hours or zero variance), and fill counts (``fills``: filled_qty > 0; ``rejected``: status
    no_counterparty; ``partial``: status partial). The total row's money and equity come from the
    ledger's total rows, which must equal the sum of the instruments (checked).

    Raises
    ------
    ValueError
        Missing columns, an empty ledger, an hour without its total row, non-contiguous hours,
        non-finite money, unknown layers, a total that disagrees with its instruments, or a
        bankroll that is not a finite number > 0.
    """
    bankroll = _validated_bankroll(bankroll_usd)
    ledger, hours = _validated_ledger(ledger)
    fills = _validated_fills(fills)
    panel = _instrument_panel(ledger, hours)
    sums = {c: _layer_sums(panel, c) for c in MONEY_COLUMNS}
    totals = _total_rows(ledger, hours)
    _check_totals(sums, totals)
    counts = _fill_counts(fills, ["layer"]).reindex(list(LAYERS), fill_value=0)
    counts.loc[TOTAL] = counts.sum()
    rows = {}
    for layer in (*LAYERS, TOTAL):
        if layer == TOTAL:
            series = {c: totals[c].to_numpy(dtype="float64") for c in MONEY_COLUMNS}
            drawdown = _max_drawdown(totals["equity_usd"].to_numpy(dtype="float64"),
                                     float(totals["peak_equity_usd"].iloc[0]))
        else:
            series = {c: sums[c][layer].to_numpy() for c in MONEY_COLUMNS}
            drawdown = _max_drawdown(bankroll + series["pnl_usd"], bankroll)
        ret = series["pnl_usd"][-1] / bankroll
        rows[layer] = {
            **{c: float(series[c][-1]) for c in MONEY_COLUMNS},
            "return_pct": ret,
            "apr": ret * HOURS_PER_YEAR / len(hours),
            "sharpe": _sharpe(series["pnl_usd"]),
            "max_drawdown": drawdown,
            **{c: int(counts.loc[layer, c]) for c in ("fills", "rejected", "partial")},
        }
    table = pd.DataFrame.from_dict(rows, orient="index")[list(LAYER_TABLE_COLUMNS)]
    table.index.name = "layer"
    return table


def layer_pnl(ledger: pd.DataFrame) -> pd.DataFrame:
    """Each layer's cumulative P&L per hour: the sum of its instruments' ``pnl_usd``.

    Returns
    -------
    Index ``hour`` (UTC, the ledger's contiguous hours); columns ``LAYERS``, USD since the book
    started, an instrument carried forward over hours where it has no row and 0 before its first
    (0 throughout for a layer that never traded).
    """
    ledger, hours = _validated_ledger(ledger)
    sums = _layer_sums(_instrument_panel(ledger, hours), "pnl_usd")
    sums.index.name = "hour"
    return sums


def symbol_table(ledger: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Per-instrument attribution at the ledger's last hour, best P&L first.

    Parameters
    ----------
    ledger : the ``ledger_1h`` frame (as for :func:`layer_table`); total rows are left out.
    fills : the ``fills_1h`` frame of the same window. A fill counts towards the ledger row of its
        ``position`` when the frame has that column (a carry pair's spot leg is booked under its
        perp), else towards its own ``symbol``.

    Returns
    -------
    One row per (layer, venue, symbol) in the ledger or in ``fills`` (a position whose orders
    all went unfilled has no ledger row: it shows 0 money and its counts); columns
    ``SYMBOL_TABLE_COLUMNS``, money in USD at the last hour, sorted by ``pnl_usd`` descending
    (ties by layer, venue, symbol), index 0..n−1.
    """
    ledger, hours = _validated_ledger(ledger)
    fills = _validated_fills(fills)
    keys = ["layer", "venue", "symbol"]
    panel = _instrument_panel(ledger, hours)
    last = pd.DataFrame({c: panel[c].iloc[-1] for c in MONEY_COLUMNS}) if panel.shape[1] else pd.DataFrame()
    if last.empty:
        last = pd.DataFrame(columns=list(MONEY_COLUMNS), index=pd.MultiIndex.from_tuples([], names=keys))
    counts = _fill_counts(fills.assign(symbol=_position_of(fills)), keys)[["fills", "rejected"]]
    table = last.join(counts, how="outer")
    table[list(MONEY_COLUMNS)] = table[list(MONEY_COLUMNS)].astype("float64").fillna(0.0)
    table[["fills", "rejected"]] = table[["fills", "rejected"]].fillna(0).astype("int64")
    table = table.reset_index().sort_values(["pnl_usd", *keys], ascending=[False, True, True, True])
    return table[list(SYMBOL_TABLE_COLUMNS)].reset_index(drop=True)


def equity_curve(ledger: pd.DataFrame) -> pd.DataFrame:
    """The book's equity, peak and drawdown (fraction) per hour, from the ledger's total rows.

    Returns
    -------
    Index ``hour`` (UTC, ascending, one row per ledger hour); columns ``CURVE_COLUMNS`` (USD, USD,
    fraction).
    """
    ledger, hours = _validated_ledger(ledger)
    curve = _total_rows(ledger, hours)[list(CURVE_COLUMNS)].astype("float64")
    curve.index.name = "hour"
    return curve


