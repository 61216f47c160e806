"""The performance report: hand-checked layer numbers, attribution, plots, text, bad input and a loop reference."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from quant.report.display import (
    format_layer_table,
    markdown_layer_table,
    plot_equity_png,
)
from quant.report.tables import (
    LAYER_TABLE_COLUMNS,
    equity_curve,
    layer_table,
    symbol_table,
)

BANKROLL = 10_000.0
T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
MONEY = ("realised_usd", "unrealised_usd", "fees_usd", "funding_usd")
BTC = ("L1", "binance", "BTC/USDT:USDT")
ETH = ("L2", "bybit", "ETH/USDT:USDT")


def inst(hour: int, key: tuple[str, str, str], realised: float, unrealised: float, fees: float, funding: float) -> dict:
    layer, venue, symbol = key
    return {"hour": T0 + pd.Timedelta(hours=hour), "layer": layer, "venue": venue, "symbol": symbol,
            "realised_usd": realised, "unrealised_usd": unrealised, "fees_usd": fees, "funding_usd": funding,
            "pnl_usd": realised + unrealised - fees + funding}


def book(rows: list[dict], hours: int, bankroll: float = BANKROLL) -> pd.DataFrame:
    """Instrument rows plus one total row per hour (instruments carried forward), equity, peak, drawdown."""
    last: dict[tuple, dict] = {}
    out, peak = [], bankroll
    for h in range(hours):
        for r in rows:
            if r["hour"] == T0 + pd.Timedelta(hours=h):
                last[(r["layer"], r["venue"], r["symbol"])] = r
        total = {c: sum(r[c] for r in last.values()) for c in (*MONEY, "pnl_usd")}
        total.update(hour=T0 + pd.Timedelta(hours=h), layer="total", venue="all", symbol="all")
        equity = bankroll + total["pnl_usd"]
        peak = max(peak, equity)
        out.append(total)
        for r in [*(r for r in rows if r["hour"] == total["hour"]), total]:
            r.update(equity_usd=equity, peak_equity_usd=peak, drawdown=1 - equity / peak, risk_level="normal")
    frame = pd.DataFrame([*rows, *out])
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame


def hand_ledger() -> pd.DataFrame:
    # L1 BTC pnl 0, 10, 30, 20 (= realised + unrealised − fees + funding); L2 ETH from hour 2: −5, −15.
    # total pnl 0, 10, 25, 5; equity 10,000, 10,010, 10,025, 10,005.
    return book([
        inst(0, BTC, 0, 1, 1, 0), inst(1, BTC, 0, 12, 2, 0), inst(2, BTC, 10, 22, 2, 0), inst(3, BTC, 15, 8, 3, 0),
        inst(2, ETH, 0, -4, 2, 1), inst(3, ETH, 0, -16, 2, 3),
    ], hours=4)


def fill(layer: str, venue: str, symbol: str, filled_qty: float, status: str) -> dict:
    return {"client_order_id": f"{layer}-{symbol}-{status}", "exec_hour": T0, "hour": T0, "venue": venue,
            "symbol": symbol, "side": "buy", "order_type": "limit", "layer": layer, "leg": "perp", "qty": 1.0,
            "filled_qty": filled_qty, "fill_price": 100.0 if filled_qty else np.nan, "notional": 100.0 * filled_qty,
            "fee": 0.02 * filled_qty, "status": status, "reason": "test", "modelled": True}


def hand_fills() -> pd.DataFrame:
    # L1: 2 filled + 1 partial (3 fills, 1 partial) + 1 not_triggered; L2: 1 filled + 1 rejected;
    # L3: one rejected order on an instrument the ledger never saw.
    return pd.DataFrame([
        fill(*BTC, 1.0, "filled"), fill(*BTC, 1.0, "filled"), fill(*BTC, 0.4, "partial"), fill(*BTC, 0.0, "not_triggered"),
        fill(*ETH, 1.0, "filled"), fill(*ETH, 0.0, "no_counterparty"),
        fill("L3", "okx", "SOL/USDT:USDT", 0.0, "no_counterparty"),
    ])


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return layer_table(hand_ledger(), hand_fills(), BANKROLL)


def test_layer_table_shape_rows_and_columns(table):
    assert list(table.index) == ["L1", "L2", "L3", "ML", "ST", "total"]  # the book's five layers, then the book
    assert table.index.name == "layer"
    assert list(table.columns) == list(LAYER_TABLE_COLUMNS)


@pytest.mark.parametrize(("layer", "pnl", "realised", "unrealised", "fees", "funding"), [
    ("L1", 20.0, 15.0, 8.0, 3.0, 0.0),
    ("L2", -15.0, 0.0, -16.0, 2.0, 3.0),
    ("L3", 0.0, 0.0, 0.0, 0.0, 0.0),
    ("total", 5.0, 15.0, -8.0, 5.0, 3.0),
])
def test_money_is_the_last_hour(table, layer, pnl, realised, unrealised, fees, funding):
    row = table.loc[layer]
    assert [row["pnl_usd"], row["realised_usd"], row["unrealised_usd"], row["fees_usd"], row["funding_usd"]] == \
        pytest.approx([pnl, realised, unrealised, fees, funding], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("layer", "ret", "apr"), [
    ("L1", 20 / 10_000, 20 / 10_000 * 8760 / 4),  # 0.002, 4.38
    ("L2", -15 / 10_000, -15 / 10_000 * 8760 / 4),  # −0.0015, −3.285
    ("L3", 0.0, 0.0),
    ("total", 5 / 10_000, 5 / 10_000 * 8760 / 4),  # 0.0005, 1.095
])
def test_return_and_simple_apr(table, layer, ret, apr):
    assert table.loc[layer, "return_pct"] == pytest.approx(ret, rel=1e-9, abs=1e-15)
    assert table.loc[layer, "apr"] == pytest.approx(apr, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("layer", "drawdown"), [
    ("L1", 10 / 10_030),  # 10,000 → 10,010 → 10,030 (peak) → 10,020
    ("L2", 15 / 10_000),  # 10,000 (peak, the bankroll) → 10,000 → 9,995 → 9,985
    ("L3", 0.0),
    ("total", 20 / 10_025),  # equity 10,000 → 10,010 → 10,025 (peak) → 10,005
])
def test_max_drawdown(table, layer, drawdown):
    assert table.loc[layer, "max_drawdown"] == pytest.approx(drawdown, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("layer", "changes"), [
    ("L1", [0, 10, 20, -10]),  # mean 5, sample stdev √(500/3) = 12.9099 → 0.3873 × √8760 = 36.25
    ("L2", [0, 0, -5, -10]),
    ("total", [0, 10, 15, -20]),
])
def test_sharpe_is_mean_over_sample_stdev_of_hourly_changes(table, layer, changes):
    # sample standard deviation (ddof = 1, statistics.stdev), first change = first hour's pnl − 0
    expected = statistics.mean(changes) / statistics.stdev(changes) * math.sqrt(8760)
    assert table.loc[layer, "sharpe"] == pytest.approx(expected, rel=1e-9)
    population = statistics.mean(changes) / statistics.pstdev(changes) * math.sqrt(8760)
    assert table.loc[layer, "sharpe"] != pytest.approx(population, rel=1e-6)


def test_l1_sharpe_golden(table):
    assert table.loc["L1", "sharpe"] == pytest.approx(5 / math.sqrt(500 / 3) * math.sqrt(8760), rel=1e-12)
    assert table.loc["L1", "sharpe"] == pytest.approx(36.2491, rel=1e-5)


def test_total_row_equals_sum_of_layers_for_money(table):
    for column in ("pnl_usd", "realised_usd", "unrealised_usd", "fees_usd", "funding_usd", "fills", "rejected", "partial"):
        assert table.loc["total", column] == pytest.approx(table.loc[["L1", "L2", "L3"], column].sum(), abs=1e-9)


def test_layer_that_never_traded_shows_zeros_and_nan_sharpe(table):
    l3 = table.loc["L3"]
    for column in ("pnl_usd", "realised_usd", "unrealised_usd", "fees_usd", "funding_usd", "return_pct", "apr",
                   "max_drawdown", "fills", "partial"):
        assert l3[column] == 0, column
    assert math.isnan(l3["sharpe"])  # zero variance: undefined, not 0
    assert l3["rejected"] == 1  # the one rejected L3 order never reached the ledger


def test_fill_counts(table):
    assert table[["fills", "rejected", "partial"]].to_dict("index") == {
        "L1": {"fills": 3, "rejected": 0, "partial": 1},
        "L2": {"fills": 1, "rejected": 1, "partial": 0},
        "L3": {"fills": 0, "rejected": 1, "partial": 0},
        "ML": {"fills": 0, "rejected": 0, "partial": 0},
        "ST": {"fills": 0, "rejected": 0, "partial": 0},
        "total": {"fills": 4, "rejected": 2, "partial": 1},
    }


def test_ml_layer_has_its_own_row_and_lays_out_in_text_and_markdown():
    # ML AAA from hour 1: pnl 4 (unrealised 5 − fees 1), then 10 (realised 12 − fees 2); L1 BTC as in hand_ledger.
    ml = ("ML", "binance", "AAA/USDT:USDT")
    ledger = book([
        inst(0, BTC, 0, 1, 1, 0), inst(1, BTC, 0, 12, 2, 0), inst(2, BTC, 10, 22, 2, 0), inst(3, BTC, 15, 8, 3, 0),
        inst(1, ml, 0, 5, 1, 0), inst(3, ml, 12, 0, 2, 0),
    ], hours=4)
    fills = pd.DataFrame([fill(*ml, 2.0, "filled"), fill(*ml, 2.0, "filled"), fill(*ml, 0.0, "no_counterparty")])
    out = layer_table(ledger, fills, BANKROLL)
    assert out.loc["ML", "pnl_usd"] == pytest.approx(10.0)
    assert out.loc["ML", "return_pct"] == pytest.approx(10 / 10_000)
    changes = [0.0, 4.0, 0.0, 6.0]  # hour 2 carries hour 1's row forward
    assert out.loc["ML", "sharpe"] == pytest.approx(
        statistics.mean(changes) / statistics.stdev(changes) * math.sqrt(8760), rel=1e-9)
    assert (out.loc["ML", "fills"], out.loc["ML", "rejected"]) == (2, 1)
    assert out.loc["total", "pnl_usd"] == pytest.approx(20.0 + 10.0)
    text = format_layer_table(out).splitlines()
    assert text[5].split()[:4] == ["ML", "10.00", "0.10", "219.00"]
    assert len({len(line) for line in text}) == 1
    assert "| ML | 10.00 | 0.10 | 219.00 |" in markdown_layer_table(out)


def test_empty_fills_frame_counts_zero():
    fills = hand_fills().iloc[0:0]
    out = layer_table(hand_ledger(), fills, BANKROLL)
    assert (out[["fills", "rejected", "partial"]] == 0).all().all()


def test_missing_instrument_rows_are_carried_forward_and_zero_before_the_first():
    # L1 BTC pnl 4 then 6; L1 DOGE pnl 7 at hour 1 only (no row at hour 2, carried: 7); L3 SOL from hour 2: −2.
    # L1 per hour: 4, 13, 13 → last 13; L1 changes 4, 9, 0.
    doge, sol = ("L1", "binance", "DOGE/USDT:USDT"), ("L3", "okx", "SOL/USDT:USDT")
    ledger = book([inst(0, BTC, 4, 0, 0, 0), inst(1, BTC, 6, 0, 0, 0), inst(2, BTC, 6, 0, 0, 0),
                   inst(1, doge, 7, 0, 0, 0), inst(2, sol, 0, -1, 1, 0)], hours=3)
    assert not ((ledger["symbol"] == doge[2]) & (ledger["hour"] == T0 + pd.Timedelta(hours=2))).any()
    out = layer_table(ledger, hand_fills().iloc[0:0], BANKROLL)
    assert out.loc["L1", "pnl_usd"] == pytest.approx(13.0)
    assert out.loc["L3", "pnl_usd"] == pytest.approx(-2.0)
    assert out.loc["total", "pnl_usd"] == pytest.approx(11.0)
    expected = statistics.mean([4, 9, 0]) / statistics.stdev([4, 9, 0]) * math.sqrt(8760)
    assert out.loc["L1", "sharpe"] == pytest.approx(expected, rel=1e-9)


def test_one_hour_ledger_has_undefined_sharpe_and_full_year_apr():
    out = layer_table(book([inst(0, BTC, 0, 3, 1, 0)], hours=1), hand_fills().iloc[0:0], BANKROLL)
    assert out.loc["L1", "apr"] == pytest.approx(2 / 10_000 * 8760)
    assert out["sharpe"].isna().all()


def test_an_hour_with_no_instrument_yet_has_only_its_total_row():
    out = layer_table(book([inst(1, ETH, 0, 5, 0, 0)], hours=2), hand_fills().iloc[0:0], BANKROLL)
    assert out.loc["L2", "pnl_usd"] == pytest.approx(5.0)
    assert out.loc["L2", "sharpe"] == pytest.approx(statistics.mean([0, 5]) / statistics.stdev([0, 5]) * math.sqrt(8760))


def test_symbol_table_orders_by_pnl_and_attributes_fills():
    out = symbol_table(hand_ledger(), hand_fills())
    assert list(out.columns) == ["layer", "venue", "symbol", "pnl_usd", "realised_usd", "unrealised_usd",
                                 "fees_usd", "funding_usd", "fills", "rejected"]
    assert list(out["symbol"]) == ["BTC/USDT:USDT", "SOL/USDT:USDT", "ETH/USDT:USDT"]  # 20, 0, −15
    assert list(out["pnl_usd"]) == pytest.approx([20.0, 0.0, -15.0])
    assert list(out["fills"]) == [3, 0, 1]
    assert list(out["rejected"]) == [0, 1, 1]
    assert out.iloc[2][["realised_usd", "unrealised_usd", "fees_usd", "funding_usd"]].tolist() == pytest.approx([0, -16, 2, 3])
    assert "total" not in set(out["layer"])


def test_symbol_table_files_fills_under_their_position_when_the_frame_has_one():
    # the book keys a carry pair by its perp: the spot leg's fills count towards the perp's ledger row
    spot = [fill("L1", "binance", "BTC/USDT", 1.0, "filled"), fill("L1", "binance", "BTC/USDT", 0.0, "no_counterparty")]
    fills = pd.DataFrame([fill(*BTC, 1.0, "filled"), *spot, fill(*ETH, 1.0, "filled")])
    fills["position"] = [BTC[2], BTC[2], BTC[2], ""]  # an empty position falls back to the symbol
    out = symbol_table(hand_ledger(), fills)
    assert list(out["symbol"]) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert list(out["fills"]) == [2, 1]
    assert list(out["rejected"]) == [1, 0]


def test_symbol_table_of_a_book_that_never_traded_is_empty():
    out = symbol_table(book([], hours=2), hand_fills().iloc[0:0])
    assert out.empty
    assert "pnl_usd" in out.columns


def test_equity_curve_comes_from_the_total_rows():
    curve = equity_curve(hand_ledger())
    assert curve.index.name == "hour"
    assert list(curve.index) == [T0 + pd.Timedelta(hours=h) for h in range(4)]
    assert curve["equity_usd"].tolist() == pytest.approx([10_000, 10_010, 10_025, 10_005])
    assert curve["peak_equity_usd"].tolist() == pytest.approx([10_000, 10_010, 10_025, 10_025])
    assert curve["drawdown"].tolist() == pytest.approx([0, 0, 0, 20 / 10_025])


@pytest.mark.parametrize("hours", [4, 1])
def test_plot_equity_png_returns_png_bytes(hours):
    curve = equity_curve(hand_ledger()).iloc[:hours]
    png = plot_equity_png(curve, "Perpetua equity")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000


def test_format_layer_table_one_line_per_layer(table):
    text = format_layer_table(table)
    lines = text.splitlines()
    assert len(lines) == 8
    assert lines[0].split()[:3] == ["layer", "P&L", "USD"]
    assert [line.split()[0] for line in lines[2:]] == ["L1", "L2", "L3", "ML", "ST", "total"]
    # L1: P&L 20.00, return 0.20 %, APR 438.00 %, Sharpe 36.25, max DD 0.10 %, fees 3.00, funding 0.00, 3 fills, 0 rejected
    assert lines[2].split() == ["L1", "20.00", "0.20", "438.00", "36.25", "0.10", "3.00", "0.00", "3", "0"]
    assert lines[4].split()[4] == "n/a"  # L3 Sharpe is undefined
    assert len({len(line) for line in lines}) == 1  # fixed width


def test_markdown_layer_table(table):
    lines = markdown_layer_table(table).splitlines()
    assert lines[0].startswith("| layer | P&L USD | return % | APR % | Sharpe |")
    assert len(lines) == 8
    assert lines[5].startswith("| ML | 0.00 |")
    assert lines[6].startswith("| ST | 0.00 |")
    assert lines[7].startswith("| total | 5.00 |")


def test_plain_loop_reference_on_a_random_book():
    # Independent computation: the last pnl of every instrument summed by a plain loop over rows.
    rng = np.random.default_rng(7)
    keys = [("L1", "binance", "BTC/USDT:USDT"), ("L1", "bybit", "BTC/USDT:USDT"), ("L2", "binance", "ETH/USDT"),
            ("L3", "deribit", "BTC-28MAR24-70000-C"), ("L3", "deribit", "BTC-28MAR24-50000-P")]
    starts = [0, 3, 10, 20, 21]
    rows = [inst(h, key, *rng.normal(0, 50, 2), abs(rng.normal(1, 0.5)), rng.normal(0, 2))
            for key, start in zip(keys, starts, strict=True) for h in range(start, 48) if rng.random() > 0.2 or h == start]
    ledger = book(rows, hours=48)
    out = layer_table(ledger, hand_fills().iloc[0:0], BANKROLL)
    last_pnl: dict[tuple, float] = {}
    for _, r in ledger.sort_values("hour").iterrows():
        if r["layer"] != "total":
            last_pnl[(r["layer"], r["venue"], r["symbol"])] = r["pnl_usd"]
    total = 0.0
    for value in last_pnl.values():
        total += value
    assert abs(out.loc["total", "pnl_usd"] - total) < 1e-9
    assert abs(out.loc[["L1", "L2", "L3"], "pnl_usd"].sum() - total) < 1e-9
    # layer series by a loop over hours (carry forward per instrument), then Sharpe and drawdown by hand
    for layer in ("L1", "L2", "L3"):
        carried: dict[tuple, float] = {}
        series = []
        for h in range(48):
            for r in rows:
                if r["layer"] == layer and r["hour"] == T0 + pd.Timedelta(hours=h):
                    carried[(r["venue"], r["symbol"])] = r["pnl_usd"]
            series.append(sum(carried.values()))
        changes = [b - a for a, b in zip([0.0, *series[:-1]], series, strict=True)]
        assert out.loc[layer, "sharpe"] == pytest.approx(statistics.mean(changes) / statistics.stdev(changes) * math.sqrt(8760), rel=1e-9)
        peak, worst = BANKROLL, 0.0
        for value in series:
            peak = max(peak, BANKROLL + value)
            worst = max(worst, 1 - (BANKROLL + value) / peak)
        assert out.loc[layer, "max_drawdown"] == pytest.approx(worst, rel=1e-9, abs=1e-15)


# ---- bad input -------------------------------------------------------------------------------------


def test_missing_ledger_columns_are_named():
    with pytest.raises(ValueError, match=r"ledger is missing columns \['fees_usd', 'drawdown'\]"):
        layer_table(hand_ledger().drop(columns=["fees_usd", "drawdown"]), hand_fills(), BANKROLL)


def test_missing_fills_columns_are_named():
    with pytest.raises(ValueError, match=r"fills is missing columns \['status'\]"):
        layer_table(hand_ledger(), hand_fills().drop(columns=["status"]), BANKROLL)


@pytest.mark.parametrize("call", [
    lambda ledger: layer_table(ledger, hand_fills(), BANKROLL),
    lambda ledger: symbol_table(ledger, hand_fills()),
    equity_curve,
])
def test_empty_ledger(call):
    with pytest.raises(ValueError, match="no ledger hours"):
        call(hand_ledger().iloc[0:0])


def test_an_hour_without_its_total_row():
    ledger = hand_ledger()
    ledger = ledger.drop(ledger.index[(ledger["layer"] == "total") & (ledger["hour"] == T0 + pd.Timedelta(hours=2))])
    with pytest.raises(ValueError, match="no total row for ledger hour 2024-03-01 02:00:00"):
        layer_table(ledger, hand_fills(), BANKROLL)


@pytest.mark.parametrize("bankroll", [0.0, -1.0, math.nan, math.inf])
def test_bad_bankroll(bankroll):
    with pytest.raises(ValueError, match="bankroll_usd must be a finite number > 0"):
        layer_table(hand_ledger(), hand_fills(), bankroll)


def test_nan_money_names_the_row():
    ledger = hand_ledger()
    ledger.loc[(ledger["symbol"] == "ETH/USDT:USDT") & (ledger["hour"] == T0 + pd.Timedelta(hours=3)), "funding_usd"] = np.nan
    with pytest.raises(ValueError, match=r"ledger row \(hour 2024-03-01 03:00:00\+00:00, L2, bybit, ETH/USDT:USDT\): funding_usd is nan"):
        layer_table(ledger, hand_fills(), BANKROLL)


def test_total_that_disagrees_with_its_instruments():
    ledger = hand_ledger()
    ledger.loc[(ledger["layer"] == "total") & (ledger["hour"] == T0 + pd.Timedelta(hours=1)), "pnl_usd"] += 1.0
    with pytest.raises(ValueError, match="total row at 2024-03-01 01:00:00.*disagrees.*pnl_usd total 11.0 vs sum 10.0"):
        layer_table(ledger, hand_fills(), BANKROLL)


def test_gap_in_hours():
    ledger = hand_ledger()
    ledger = ledger.loc[ledger["hour"] != T0 + pd.Timedelta(hours=1)]
    with pytest.raises(ValueError, match="not contiguous: 2024-03-01 00:00:00.* is followed by 2024-03-01 02:00:00"):
        layer_table(ledger, hand_fills(), BANKROLL)


def test_unknown_layer_and_duplicate_rows_and_naive_hours():
    ledger = hand_ledger()
    with pytest.raises(ValueError, match=r"unknown layers \['L9'\]"):
        layer_table(ledger.replace({"layer": {"L2": "L9"}}), hand_fills(), BANKROLL)
    with pytest.raises(ValueError, match=r"fills have unknown layers \['L9'\]"):
        layer_table(ledger, hand_fills().replace({"layer": {"L3": "L9"}}), BANKROLL)
    with pytest.raises(ValueError, match="two rows for"):
        layer_table(pd.concat([ledger, ledger.iloc[:1]]), hand_fills(), BANKROLL)
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        equity_curve(ledger.assign(hour=ledger["hour"].dt.tz_localize(None)))


def test_empty_curve_and_incomplete_table_cannot_be_rendered(table):
    with pytest.raises(ValueError, match="no curve hours"):
        plot_equity_png(equity_curve(hand_ledger()).iloc[0:0], "x")
    with pytest.raises(ValueError, match=r"layer table is missing columns \['sharpe'\]"):
        format_layer_table(table.drop(columns=["sharpe"]))
