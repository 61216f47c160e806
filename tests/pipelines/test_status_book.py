"""`perpetua status`'s book block from a hand-built store: bankroll, cash, what is at risk per layer
(|qty × mark| summed by hand), each layer's budget and cap, and the open positions."""

from __future__ import annotations

import pandas as pd

from pipelines.status import book_detail
from resources.storage import write_hours

HOUR = pd.Timestamp("2026-02-10 12:00", tz="UTC")
H = pd.DatetimeIndex([HOUR])


def _frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"hour": pd.Series([HOUR] * n, dtype="datetime64[ns, UTC]"), **cols})


def test_the_book_block_sums_the_risk_per_layer_and_lists_every_leg(tmp_path):
    root = str(tmp_path)
    write_hours(root, "ledger_1h", H, _frame(layer=["L1", "total"], cash_usd=[0.0, 91_234.5], equity_usd=[0.0, 99_876.54],
                                             peak_equity_usd=[0.0, 100_500.0], risk_level=["normal", "caution"]))
    write_hours(root, "positions_1h", H, _frame(
        layer=["L1", "L1", "L3"], venue=["binance", "binance", "deribit"],
        instrument=["BTC/USDT:USDT", "BTC/USDT", "model:ETH-26JAN24-1900-P"], leg=["perp", "spot", "put"],
        qty=[-0.1, 0.1, 20.0], mark=[60_000.0, 59_950.0, 12.5], unrealised_usd=[-3.0, 2.5, -10.0]))
    write_hours(root, "layer_allocations_1h", H, _frame(layer=["L1", "L3", "total"], budget_usd=[30_000.0, 7_500.0, 37_500.0],
                                                        cap_usd=[50_000.0, 50_000.0, 100_000.0], kill_switch_active=[False, True, False]))
    write_hours(root, "order_intents_1h", H, _frame(bankroll_usd=[250_000.0]))
    lines = book_detail(root)
    assert lines[0] == ("  bankroll 250,000.00 USD   cash 91,234.50 USD   equity 99,876.54 USD   peak 100,500.00 USD   "
                        "risk level caution")
    # L1: 0.1 x 60,000 + 0.1 x 59,950 = 11,995; L3: 20 x 12.5 = 250
    assert lines[1].endswith("L1 11,995.00 USD (2 legs), L3 250.00 USD (1 legs)")
    assert lines[2] == "  layers: L1 budget 30,000 / cap 50,000 USD, L3 budget 7,500 / cap 50,000 USD (kill switch)"
    assert lines[4].split() == ["L1", "binance", "BTC/USDT:USDT", "perp", "qty", "-0.1", "mark", "60,000",
                                "unrealised", "-3.00", "USD"]
    assert len(lines) == 7
    assert book_detail(str(tmp_path / "empty")) == []
