"""The fill simulator: hand-checked fills, the no-counterparty rule, and a plain-loop reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant.book.fills import BPS, FillParams, simulate_fills
from quant.book.orders import OrderIntent, client_order_id, intents_frame

H = pd.Timestamp("2025-09-01 08:00", tz="UTC")
X = H + pd.Timedelta(hours=1)  # the execution bar
SYM = "BTC/USDT:USDT"


def bar(o=100.0, h=102.0, lo=98.0, c=101.0, v=50.0, hour=X, symbol=SYM, venue="binance") -> dict:
    return {"hour": hour, "venue": venue, "symbol": symbol, "open": o, "high": h, "low": lo, "close": c, "volume": v}


def intent(side="buy", qty=1.0, kind="limit", limit=99.0, leg="perp", symbol=SYM, layer="L2") -> OrderIntent:
    return OrderIntent(H, "binance", symbol, side, qty, kind, limit, layer, leg, "test")


def fill(one: OrderIntent, bars: list[dict], params: FillParams | None = None) -> pd.Series:
    return simulate_fills(intents_frame([one]), pd.DataFrame(bars), params).iloc[0]


# -- the no-counterparty rule ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("side", "limit", "low", "high", "status", "price"),
    [
        ("buy", 99.0, 98.0, 102.0, "filled", 99.0),  # traded through 99
        ("buy", 98.0, 98.0, 102.0, "no_counterparty", math.nan),  # a touch is not a fill
        ("buy", 97.0, 98.0, 102.0, "no_counterparty", math.nan),  # never reached
        ("buy", 101.0, 98.0, 102.0, "filled", 100.0),  # open below the limit: fills at the open
        ("sell", 101.0, 98.0, 102.0, "filled", 101.0),
        ("sell", 102.0, 98.0, 102.0, "no_counterparty", math.nan),  # touch
        ("sell", 99.0, 98.0, 102.0, "filled", 100.0),  # open above the limit: fills at the open
    ],
)
def test_limit_fills_only_strictly_through_the_price(side, limit, low, high, status, price):
    got = fill(intent(side=side, limit=limit), [bar(lo=low, h=high)])
    assert got["status"] == status
    if math.isnan(price):
        assert math.isnan(got["fill_price"])
        assert got["filled_qty"] == 0.0
        assert got["fee"] == 0.0
    else:
        assert got["fill_price"] == price
        # maker fee 2 bps of notional: e.g. 1 × 99 × 0.0002 = 0.0198
        assert got["fee"] == pytest.approx(price * 2 * BPS, rel=1e-12)


def test_market_order_pays_slippage_and_taker_fee():
    got = fill(intent(side="buy", kind="market", limit=None, qty=2.0), [bar(o=100.0)])
    # 100 × (1 + 5 bps) = 100.05; notional 200.10; taker 5 bps = 0.10005
    assert got["fill_price"] == pytest.approx(100.05, rel=1e-12)
    assert got["notional"] == pytest.approx(200.10, rel=1e-12)
    assert got["fee"] == pytest.approx(0.10005, rel=1e-12)
    sell = fill(intent(side="sell", kind="market", limit=None), [bar(o=100.0)])
    assert sell["fill_price"] == pytest.approx(99.95, rel=1e-12)


def test_stop_sell_fills_at_the_trigger_or_the_gap_less_10bps():
    got = fill(intent(side="sell", kind="stop", limit=99.0), [bar(o=100.0, lo=98.0)])
    assert got["fill_price"] == pytest.approx(99.0 * (1 - 10 * BPS), rel=1e-12)  # 98.901
    gap = fill(intent(side="sell", kind="stop", limit=99.0), [bar(o=97.0, h=97.5, lo=96.0, c=97.0)])
    assert gap["fill_price"] == pytest.approx(97.0 * 0.999, rel=1e-12)  # gapped through: the open
    idle = fill(intent(side="sell", kind="stop", limit=97.0), [bar(lo=98.0)])
    assert idle["status"] == "not_triggered"
    assert idle["filled_qty"] == 0.0


def test_partial_fill_capped_at_volume_share():
    got = fill(intent(qty=10.0, limit=99.0), [bar(v=50.0)])  # 10% of 50 = 5
    assert got["status"] == "partial"
    assert got["filled_qty"] == 5.0
    assert got["notional"] == pytest.approx(495.0)


def test_no_bar_or_no_volume_is_no_counterparty():
    assert fill(intent(kind="market", limit=None), [bar(hour=H)])["reason"] == "no market data for the execution hour"
    got = fill(intent(kind="market", limit=None), [bar(v=0.0)])
    assert got["status"] == "no_counterparty"
    assert got["reason"] == "no volume traded in the execution hour"
    unknown = fill(intent(symbol="NOPE/USDT:USDT"), [bar()])
    assert unknown["status"] == "no_counterparty"
    # an hour with no bars at all (every market silent) is no counterparty, not an index error
    silent = simulate_fills(intents_frame([intent(kind="market", limit=None)]), pd.DataFrame([bar()]).iloc[0:0])
    assert silent["status"].tolist() == ["no_counterparty"]
    assert silent["filled_qty"].tolist() == [0.0]


@pytest.mark.parametrize(("field", "value"), [("open", 0.0), ("low", -1.0), ("close", np.nan), ("volume", -5.0)])
def test_bad_bars_raise_instead_of_filling(field, value):
    with pytest.raises(ValueError, match="bad bar for binance BTC/USDT:USDT"):
        fill(intent(), [bar(**{"o" if field == "open" else "lo" if field == "low" else "c" if field == "close" else "v": value})])


# -- intents -------------------------------------------------------------------------------

def test_client_order_id_is_deterministic_per_hour_layer_symbol_leg():
    a = client_order_id(H, "L1", SYM, "perp", "binance")
    assert a == client_order_id(H, "L1", SYM, "perp", "binance")
    assert len({a, client_order_id(H, "L1", SYM, "spot", "binance"), client_order_id(X, "L1", SYM, "perp", "binance"),
                client_order_id(H, "L2", SYM, "perp", "binance"), client_order_id(H, "L1", "ETH/USDT:USDT", "perp", "binance"),
                client_order_id(H, "L1", SYM, "perp", "bybit")}) == 6
    assert a.startswith("pp-L1-")
    assert len(a) == 30


def test_rerun_of_an_hour_cannot_create_a_second_order():
    with pytest.raises(ValueError, match="duplicate client order id"):
        intents_frame([intent(), intent()])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qty": 0.0}, "positive number"),
        ({"qty": float("nan")}, "positive number"),
        ({"kind": "limit", "limit": None}, "needs a positive price"),
        ({"kind": "limit", "limit": -3.0}, "needs a positive price"),
        ({"kind": "market", "limit": 100.0}, "has no limit price"),
        ({"side": "short"}, "side must be"),
        ({"layer": "L9"}, "layer must be"),
    ],
)
def test_bad_intents_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        intent(**kwargs)


# -- a second, independent computation ----------------------------------------------------

def _loop_reference(intents: pd.DataFrame, bars: pd.DataFrame, p: FillParams) -> list[tuple[str, float, float, float]]:
    """The same rules written as a plain loop over rows, as a reviewer would."""
    index = {(r["venue"], r["symbol"], r["hour"]): r for _, r in bars.iterrows()}
    out = []
    for _, it in intents.iterrows():
        b = index.get((it["venue"], it["symbol"], it["exec_hour"]))
        px = math.nan
        if b is not None and b["volume"] > 0:
            if it["order_type"] == "market":
                px = b["open"] * (1 + p.entry_slippage_bps / 1e4) if it["side"] == "buy" else b["open"] * (1 - p.entry_slippage_bps / 1e4)
            elif it["order_type"] == "limit":
                if it["side"] == "buy" and b["low"] < it["limit"]:
                    px = min(it["limit"], b["open"])
                if it["side"] == "sell" and b["high"] > it["limit"]:
                    px = max(it["limit"], b["open"])
            else:
                if it["side"] == "sell" and b["low"] <= it["limit"]:
                    px = min(it["limit"], b["open"]) * (1 - p.stop_slippage_bps / 1e4)
                if it["side"] == "buy" and b["high"] >= it["limit"]:
                    px = max(it["limit"], b["open"]) * (1 + p.stop_slippage_bps / 1e4)
        qty = min(it["qty"], p.max_volume_share * b["volume"]) if not math.isnan(px) else 0.0
        fee_bps = p.maker_fee_bps if it["order_type"] == "limit" else p.taker_fee_bps
        out.append((it["client_order_id"], qty, px, qty * (0 if math.isnan(px) else px) * fee_bps / 1e4))
    return out


def test_vectorised_fills_equal_a_plain_loop_on_real_bars():
    raw = pd.read_parquet("data/sample/perp_ohlcv_1h/binance_bybit_2025.parquet")
    raw = raw[(raw["timestamp"] >= "2025-09-01") & (raw["timestamp"] < "2025-09-03")]
    bars = pd.DataFrame({
        "hour": raw["timestamp"].astype("datetime64[ns, UTC]"), "venue": raw["venue"],
        "symbol": raw["coin"] + "/USDT:USDT", "open": raw["o"], "high": raw["h"], "low": raw["l"],
        "close": raw["c"], "volume": raw["v"],
    })
    rng = np.random.default_rng(7)
    intents = []
    for k, row in enumerate(bars.sample(300, random_state=3).itertuples()):
        kind = ["market", "limit", "stop"][k % 3]
        side = ["buy", "sell"][(k // 3) % 2]
        limit = None if kind == "market" else row.close * (1 + rng.normal(0, 0.01))
        intents.append(OrderIntent(row.hour - pd.Timedelta(hours=1), row.venue, row.symbol, side,
                                   float(rng.uniform(0.1, 5e4)), kind, limit, "L2", f"leg{k}", "fuzz"))
    frame = intents_frame(intents)
    p = FillParams()
    got = simulate_fills(frame, bars, p)
    ref = _loop_reference(frame, bars, p)
    assert got["client_order_id"].tolist() == [r[0] for r in ref]
    np.testing.assert_allclose(got["filled_qty"], [r[1] for r in ref], rtol=1e-12)
    np.testing.assert_allclose(got["fill_price"], [r[2] for r in ref], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got["fee"], [r[3] for r in ref], rtol=1e-12)
    assert set(got["status"]) >= {"filled", "no_counterparty"}


def test_two_bars_for_one_hour_is_an_error():
    with pytest.raises(ValueError, match="two bars for binance BTC/USDT:USDT"):
        fill(intent(), [bar(), bar(o=101.0)])


def test_fill_one_is_the_rule_simulate_fills_applies_to_each_intent():
    from quant.book.fills import ORDER_KIND_CODES, REASON_OF_CODE, STATUS_OF_CODE, STATUSES, fill_one

    assert set(STATUS_OF_CODE) == set(STATUSES)
    p = FillParams()
    cases = [("buy", "limit", 99.0, bar()), ("sell", "limit", 102.0, bar()), ("buy", "market", None, bar()),
             ("sell", "stop", 99.0, bar(o=97.0, h=97.5, lo=96.0, c=97.0)), ("sell", "stop", 97.0, bar()),
             ("buy", "limit", 99.0, bar(v=5.0)), ("buy", "market", None, bar(v=0.0)), ("buy", "market", None, None)]
    for side, kind, limit, b in cases:
        one = intent(side=side, kind=kind, limit=limit, qty=1.0)
        got = fill(one, [b] if b else [bar(hour=X + pd.Timedelta(hours=5))])
        o, h, lo, v = (math.nan,) * 4 if b is None else (b["open"], b["high"], b["low"], b["volume"])
        filled, price, notional, fee, status, reason = fill_one(
            side == "buy", ORDER_KIND_CODES[kind], 1.0, math.nan if limit is None else limit, o, h, lo, v, p.maker_fee_bps,
            p.taker_fee_bps, p.entry_slippage_bps, p.stop_slippage_bps, p.max_volume_share)
        assert (STATUS_OF_CODE[status], REASON_OF_CODE[reason]) == (got["status"], got["reason"])
        assert (filled, notional, fee) == (got["filled_qty"], got["notional"], got["fee"])
        assert price == got["fill_price"] or (math.isnan(price) and math.isnan(got["fill_price"]))
