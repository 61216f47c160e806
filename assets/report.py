"""The performance report: per-layer and per-symbol attribution, equity and drawdown, as one asset.

It reads the stored book (``ledger_1h``, ``fills_1h``) over the latest unbroken run of hours and
attaches the tables and the equity/drawdown plot to its materialisation, so the Dagster UI shows
them; the same files are written under ``<storage root>/reports/`` for people and the CLI. The ML
section (``quant.report.ml``) also reads the stored ``model_predictions_1h`` of those hours (none
for a book older than the sleeve: the section says "no predictions"), the ``perp_ohlcv_1h`` bars
through the last trades' exits, and every trial the ``ml_models`` store ever fitted.
"""

import base64

import pandas as pd
from dagster import AssetDep, AssetExecutionContext, MaterializeResult, MetadataValue, asset
from upath import UPath

from assets.metadata import money, pct
from quant.market_data.tables import HOUR
from quant.ml.predictions import PREDICTION_COLUMNS, STATUS_OK
from quant.report.display import (
    format_layer_table,
    format_ml_table,
    markdown_layer_table,
    markdown_ml_table,
    plot_equity_png,
)
from quant.report.ml import BAR_COLUMNS, ml_sleeve_report
from quant.report.sparkline import sparkline_markdown
from quant.report.strategies import markdown_strategy_table, strategy_table
from quant.report.tables import (
    equity_curve,
    layer_table,
    symbol_table,
)
from resources.partitions import HOURLY
from resources.storage import PARTITION_KEY_FORMAT, MissingPartitionError, read_hours, stored_hours

GROUP = "reports"
PREDICTIONS, BARS = "model_predictions_1h", "perp_ohlcv_1h"


def book_hours(materialised: set[str]) -> pd.DatetimeIndex:
    """The latest unbroken run of hourly partition keys (the current book; a gap starts a new one)."""
    if not materialised:
        return pd.DatetimeIndex([], tz="UTC")
    hours = pd.DatetimeIndex(sorted(pd.Timestamp(HOURLY.time_window_for_partition_key(k).start) for k in materialised)).tz_convert("UTC")
    gaps = (hours[1:] - hours[:-1]) != pd.Timedelta(hours=1)
    first = int(gaps.nonzero()[0][-1]) + 1 if gaps.any() else 0
    return hours[first:]


def _stored_rows(root: str, name: str, start: pd.Timestamp, end: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    """The stored rows of ``name`` in [start, end) (hours never stored are skipped); none stored: no rows of ``columns``."""
    hours = stored_hours(root, name, start, end)
    rows = read_hours(root, name, hours) if len(hours) else pd.DataFrame()
    return rows if len(rows.columns) else pd.DataFrame(columns=columns)


def ml_inputs(root: str, hours: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored predictions of ``hours`` and the bars from the first hour to the last trade's exit."""
    predictions = _stored_rows(root, PREDICTIONS, hours[0], hours[-1] + HOUR, PREDICTION_COLUMNS)
    ok = predictions[predictions["status"] == STATUS_OK]
    horizon = int(ok["horizon_h"].max()) if len(ok) else 0
    bars = _stored_rows(root, BARS, hours[0], hours[-1] + (horizon + 1) * HOUR, list(BAR_COLUMNS))
    return predictions, bars[list(BAR_COLUMNS)]


def build_report(root: str, hours: pd.DatetimeIndex, trials: list[dict] | None = None) -> dict:
    """Every table and the plot of the book over ``hours`` (read from the Parquet store at ``root``).

    The bankroll is the ledger's own: equity − P&L of its total rows (one value, or it is an error).
    ``trials``: every model the ML store ever fitted (:meth:`MlModelStore.trials`), the DSR's count.
    """
    ledger = read_hours(root, "ledger_1h", hours)
    fills = read_hours(root, "fills_1h", hours)
    try:  # the open strategy positions of the last hour (a store without them: entries less exits)
        positions = read_hours(root, "positions_1h", hours[-1:])
    except MissingPartitionError:
        positions = None
    total = ledger[ledger["layer"] == "total"]
    bankrolls = (total["equity_usd"] - total["pnl_usd"]).round(6).unique()
    if len(bankrolls) != 1:
        raise ValueError(f"the ledger's bankroll changed inside the window ({sorted(bankrolls)[:3]}...): report each book apart")
    layers = layer_table(ledger, fills, float(bankrolls[0]))
    curve = equity_curve(ledger)
    title = f"Perpetua book {hours[0]:%Y-%m-%d %H:00} .. {hours[-1]:%Y-%m-%d %H:00} UTC"
    modelled = int(fills["modelled"].astype(bool).sum()) if len(fills) else 0
    predictions, bars = ml_inputs(root, hours)
    ml = ml_sleeve_report(ledger, predictions, bars, trials or [], float(bankrolls[0]), fills=fills)
    strategies = strategy_table(ledger, fills, positions)
    return {"layers": layers, "symbols": symbol_table(ledger, fills), "curve": curve, "png": plot_equity_png(curve, title),
            "title": title, "modelled_fills": modelled, "text": format_layer_table(layers), "ml": ml,
            "ml_text": format_ml_table(ml), "strategies": strategies}


@asset(group_name=GROUP, deps=[AssetDep(n) for n in ("ledger_1h", "fills_1h", "positions_1h", PREDICTIONS, BARS)],
       required_resource_keys={"hourly_parquet", "ml_models"}, kinds={"pandas", "matplotlib"})
def performance_report(context: AssetExecutionContext) -> MaterializeResult:
    """Per-layer table (L1, L2, L3, ML, ST, total: P&L, return, APR, Sharpe, max drawdown, fees, funding,
    fills and fills rejected for lack of a counterparty), per-symbol attribution, and the equity
    and drawdown plot of the current book. L1 spot legs and L3 options are valued by model where
    the sample has no market (the count of modelled fills is in the metadata). The ML section sets
    the sleeve beside its stack signal, the best base model, buy-and-hold and always-flat, net of
    0.4% a trade, with the deflated Sharpe ratio over every model and configuration ever trained.
    The strategies table gives each registry strategy's P&L, entries and exits (stop, target, time).
    """
    root = context.resources.hourly_parquet.root
    # storage is the truth: the instance forgets hours on purge-runs or a new DAGSTER_HOME
    hours = book_hours({f"{h:{PARTITION_KEY_FORMAT}}" for h in stored_hours(root, "ledger_1h")})
    if hours.empty:
        return MaterializeResult(metadata={"note": MetadataValue.text("no book yet: materialise the hourly cycle first")})
    report = build_report(root, hours, context.resources.ml_models.trials())
    out = UPath(root) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "equity.png").write_bytes(report["png"])
    (out / "layers.txt").write_text(report["text"])
    (out / "ml.txt").write_text(report["ml_text"])
    (out / "strategies.txt").write_text(markdown_strategy_table(report["strategies"]) + "\n")
    report["symbols"].to_csv(str(out / "symbols.csv"), index=False)
    image = base64.b64encode(report["png"]).decode()
    total = report["layers"].loc["total"]
    ml = report["ml"]
    return MaterializeResult(metadata={
        "layers": MetadataValue.md(markdown_layer_table(report["layers"])),
        # inline in the UI (under Dagster's 1,000-character limit); the full plot below opens on a click
        "equity_sparkline": MetadataValue.md(sparkline_markdown(report["curve"]["equity_usd"].to_numpy(), "equity")),
        "equity_and_drawdown": MetadataValue.md(f"![equity and drawdown](data:image/png;base64,{image})"),
        "plot_file": MetadataValue.path(str(out / "equity.png")),
        "symbols": MetadataValue.md(_markdown(report["symbols"].head(20))),
        "hours": MetadataValue.int(len(hours)),
        "window": MetadataValue.text(report["title"]),
        "pnl_usd": MetadataValue.float(money(total["pnl_usd"])),
        "max_drawdown_pct": MetadataValue.float(pct(total["max_drawdown"])),
        "rejected_fills": MetadataValue.int(int(total["rejected"])),
        "modelled_fills": MetadataValue.int(report["modelled_fills"]),
        "ml_sleeve": MetadataValue.md(markdown_ml_table(ml)),
        "ml_sharpe": MetadataValue.float(round(ml.sharpe, 4)),
        "ml_deflated_sharpe": MetadataValue.float(round(ml.deflated.dsr, 4)),
        "ml_trials": MetadataValue.int(ml.n_trials),
        "strategies": MetadataValue.md(markdown_strategy_table(report["strategies"])),
    })


def _markdown(df: pd.DataFrame) -> str:
    if df.empty:
        return "no trades"
    cells = [[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])


REPORT_ASSETS = [performance_report]
