"""The per-strategy table on a book where one strategy hits its target and another its stop."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from quant.report.strategies import markdown_strategy_table, strategy_table
from tests.quant.book.test_step import BTC, ETH, bars
from tests.quant.book.test_strategy_layer import decided, run


def book():
    b = bars([(0, BTC, 100, 100, 100, 100), (1, BTC, 101, 102, 100, 101), (2, BTC, 150, 210, 149, 205),
              (0, ETH, 100, 100, 100, 100), (1, ETH, 100, 100, 100, 100), (2, ETH, 60, 61, 40, 45)])
    rows = [(0, BTC, "long", 100.0, 50.0, 200.0, 0.8, "ema_cross"), (0, ETH, "long", 100.0, 50.0, 200.0, 0.7, "breakout")]
    out, _ = run(3, b.sort_values(["hour", "symbol"]), decided(rows))
    return out


def test_money_and_exits_per_strategy():
    out = book()
    table = strategy_table(out.ledger, out.fills)
    assert list(table.index) == ["ema_cross", "breakout"]  # best P&L first
    win, loss = table.loc["ema_cross"], table.loc["breakout"]
    # ema_cross: 20 BTC bought at 101.0505 (5 bps), sold at the 200 target (maker 2 bps)
    assert win["realised_usd"] == pytest.approx(20 * (200 - 101.0505))
    assert win["fees_usd"] == pytest.approx(20 * 101.0505 * 0.0005 + 20 * 200 * 0.0002)
    assert (win["entries"], win["targets"], win["stops"], win["target_share"]) == (1, 1, 0, 1.0)
    # breakout: 20 ETH bought at the open 100 + 5 bps, stopped at min(50, open 60) less 10 bps
    assert loss["realised_usd"] == pytest.approx(20 * (50 * 0.999 - 100.05))
    assert (loss["stops"], loss["targets"], loss["target_share"]) == (1, 0, 0.0)
    st_last = out.ledger[(out.ledger["layer"] == "ST") & (out.ledger["hour"] == out.ledger["hour"].max())]
    assert table["pnl_usd"].sum() == pytest.approx(st_last["pnl_usd"].sum())  # the ledger's own ST money
    text = markdown_strategy_table(table)
    assert "| ema_cross |" in text
    assert "| 100% |" in text


def test_no_strategy_traded():
    out = book()
    empty = strategy_table(out.ledger[out.ledger["layer"] != "ST"], out.fills.iloc[0:0])
    assert empty.empty
    assert markdown_strategy_table(empty) == "No strategy traded in this window."


def test_an_open_position_has_no_hit_rate_yet():
    b = bars([(i, BTC, 100, 100, 100, 100) for i in range(3)])
    out, _ = run(3, b, decided([(0, BTC, "long", 100.0, 50.0, 200.0, 0.8)]))
    row = strategy_table(out.ledger, out.fills, out.positions).loc["ema_cross"]
    assert (row["entries"], row["open_positions"]) == (1, 1)
    assert strategy_table(out.ledger, out.fills).loc["ema_cross", "open_positions"] == 1  # entries less exits
    assert math.isnan(row["target_share"])
    assert "n/a" in markdown_strategy_table(pd.DataFrame([row]).rename_axis("strategy"))
