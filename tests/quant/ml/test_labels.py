"""Labels net of costs (``quant.ml.labels``): hand-checked numbers, and no price before or beyond the horizon used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.ml.labels import COST_PER_TRADE, forward_labels, net_return

T0 = pd.Timestamp("2026-02-02", tz="UTC")


def bars(closes: list[float], symbol: str = "BTC/USDT:USDT") -> pd.DataFrame:
    hours = pd.date_range(T0, periods=len(closes), freq="h")
    return pd.DataFrame({"hour": hours, "venue": "binance", "symbol": symbol, "close": closes})


def test_the_round_trip_pays_the_cost_on_both_trades_by_hand() -> None:
    # buy 100 paying 0.4% (100.4), sell 102 keeping 99.6% (101.592): 101.592 / 100.4 - 1 = 1.18725%
    assert COST_PER_TRADE == 0.004
    assert net_return(np.array([100.0]), np.array([102.0]))[0] == pytest.approx(0.0118725099601594, abs=1e-15)
    # a 0.5% move does not pay the 0.8% round trip: 100.098 / 100.4 - 1 = -0.30080%
    assert net_return(np.array([100.0]), np.array([100.5]))[0] == pytest.approx(-0.0030079681274900, abs=1e-15)


def test_labels_by_hand() -> None:
    got = forward_labels(bars([100.0, 101.0, 102.0, 100.5, 99.0]), horizon_h=2)
    assert got["fwd_return"].iloc[0] == pytest.approx(0.02)  # 100 -> 102
    assert got["label"].tolist()[:3] == [1.0, 0.0, 0.0]  # +1.19% net; 101 -> 100.5; 102 -> 99
    assert np.isnan(got["label"].iloc[3])  # 03:00 + 2h is past the data: unknown, never 0
    assert np.isnan(got["label"].iloc[4])
    assert got["label_end"].iloc[0] == T0 + pd.Timedelta(hours=2)


def test_a_label_uses_only_the_entry_close_and_the_close_at_the_horizon() -> None:
    closes = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0]
    base = forward_labels(bars(closes), horizon_h=3)
    for moved in range(len(closes)):
        changed = list(closes)
        changed[moved] *= 1.5
        got = forward_labels(bars(changed), horizon_h=3)
        uses = {h for h in range(len(closes)) if moved in (h, h + 3)}
        for h in range(len(closes) - 3):
            same = got["net_return"].iloc[h] == base["net_return"].iloc[h]
            assert same == (h not in uses), (moved, h)


def test_a_gap_leaves_the_label_unknown() -> None:
    b = bars([100.0, 101.0, 102.0, 103.0])
    b = b[b["hour"] != T0 + pd.Timedelta(hours=2)]
    got = forward_labels(b, horizon_h=2)
    assert np.isnan(got.loc[got["hour"] == T0, "label"]).all()  # the 02:00 bar is missing


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="horizon_h"):
        forward_labels(bars([100.0, 101.0]), horizon_h=0)
    with pytest.raises(ValueError, match="cost_per_trade"):
        forward_labels(bars([100.0, 101.0]), cost_per_trade=1.0)
    twice = pd.concat([bars([100.0, 101.0]), bars([100.0])])
    with pytest.raises(ValueError, match="two bars for binance BTC/USDT:USDT"):
        forward_labels(twice)
