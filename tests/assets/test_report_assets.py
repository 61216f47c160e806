"""performance_report over a stored book with an ML sleeve: the ML section in its metadata and in reports/ml.txt."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from dagster import materialize

from assets.report import performance_report
from quant.ml.predictions import PREDICTION_COLUMNS
from quant.report.display import format_ml_table
from quant.report.ml import ROW_BOOK, ROW_STACK, ml_sleeve_report
from resources.model_store import MlModelStore
from resources.storage import HourlyParquetIOManager, write_hours
from tests.quant.report.test_ml import ML, bars, journal, ledger, predictions
from tests.quant.report.test_report import BANKROLL, T0, fill

HOURS = pd.date_range(T0, periods=4, freq="h")


def _fills() -> pd.DataFrame:
    return pd.DataFrame([fill(*ML, 1.0, "filled"), fill(*ML, 1.0, "filled")]).assign(position="")


def _predictions() -> pd.DataFrame:
    extra = {"expected_return": 0.0, "regime": "range", "sigma_1h": 0.01, "corr_btc_7d": 0.5, "fold": "2024-02-26",
             "model_version": "k"}
    return predictions().assign(**extra)[PREDICTION_COLUMNS]


def _store(tmp_path, with_predictions: bool) -> tuple[str, MlModelStore]:
    root = str(tmp_path / "storage")
    write_hours(root, "ledger_1h", HOURS, ledger())
    write_hours(root, "fills_1h", HOURS, _fills())
    bar_hours = pd.date_range(T0, periods=5, freq="h")
    write_hours(root, "perp_ohlcv_1h", bar_hours, bars())
    if with_predictions:
        write_hours(root, "model_predictions_1h", HOURS, _predictions())
    store = MlModelStore(root=f"{root}/ml")
    path = tmp_path / "storage" / "ml" / "trials.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(t) + "\n" for t in journal()))
    return root, store


def _run(root: str, store: MlModelStore):
    result = materialize([performance_report], resources={"hourly_parquet": HourlyParquetIOManager(root=root),
                                                          "ml_models": store})
    assert result.success
    return result.asset_materializations_for_node("performance_report")[0].metadata


def test_the_report_carries_the_ml_section_in_metadata_and_ml_txt(tmp_path):
    root, store = _store(tmp_path, with_predictions=True)
    meta = _run(root, store)
    want = ml_sleeve_report(ledger(), _predictions(), bars(), journal(), BANKROLL, fills=_fills())
    assert meta["ml_trials"].value == 6  # two folds of one config: 5 base models + stack, regime left out
    assert meta["ml_sharpe"].value == pytest.approx(round(want.sharpe, 4))
    assert meta["ml_deflated_sharpe"].value == pytest.approx(round(want.deflated.dsr, 4))
    md = meta["ml_sleeve"].value
    for row in (ROW_BOOK, ROW_STACK, "best base model (random_forest)", "buy-and-hold", "always flat"):
        assert f"| {row} |" in md
    assert "| ML | 8.00 |" in meta["layers"].value  # the per-layer table has its ML row
    text = (tmp_path / "storage" / "reports" / "ml.txt").read_text()
    assert text == format_ml_table(want)
    assert text.splitlines()[3].split()[-1] == "2"  # the book's ML fills


def test_a_book_without_stored_predictions_says_no_predictions(tmp_path):
    root, store = _store(tmp_path, with_predictions=False)
    meta = _run(root, store)
    assert "no predictions" in meta["ml_sleeve"].value
    assert "no predictions" in (tmp_path / "storage" / "reports" / "ml.txt").read_text()
    # the per-strategy table is on the materialisation and in strategies.txt (no ST rows in this book)
    assert meta["strategies"].value == "No strategy traded in this window."
    assert (tmp_path / "storage" / "reports" / "strategies.txt").read_text().strip() == meta["strategies"].value
    assert meta["ml_trials"].value == 6
    assert math.isnan(meta["ml_deflated_sharpe"].value)  # no signal Sharpe ratios: SR0 is unknown
    assert meta["ml_sharpe"].value == pytest.approx(round(ml_sleeve_report(
        ledger(), _predictions().iloc[0:0], bars(), [], BANKROLL).sharpe, 4))
