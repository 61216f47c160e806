"""Open interest per coin for the cascade score: borrowed only where an instrument has none, hour by hour."""

from __future__ import annotations

import pandas as pd

from quant.cascade.inputs import coin_open_interest

H = pd.date_range("2026-02-01", periods=3, freq="h", tz="UTC")


def _oi(venue: str, symbol: str, hours, value: float) -> pd.DataFrame:
    return pd.DataFrame({"hour": hours, "venue": venue, "symbol": symbol, "ts": hours, "oi_usd": value})


def _bars(*pairs) -> pd.DataFrame:
    return pd.DataFrame([{"venue": v, "symbol": s} for v, s in pairs])


def test_a_perp_without_its_own_reads_its_coins_from_one_lender():
    oi = pd.concat([_oi("hyperliquid", "BTC/USDC:USDC", H, 1e9), _oi("okx", "BTC/USDT:USDT", H, 5e8)], ignore_index=True)
    out = coin_open_interest(oi, _bars(("binance", "BTC/USDT:USDT"), ("bybit", "ETH/USDT:USDT")))
    mine = out[out["venue"] == "binance"]
    assert len(mine) == 3  # one lender (hyperliquid sorts first), never both: no duplicate hours
    assert (mine["oi_usd"] == 1e9).all()
    assert (mine["symbol"] == "BTC/USDT:USDT").all()
    assert not (out["venue"] == "bybit").any()  # no ETH open interest anywhere: nothing invented


def test_own_open_interest_wins_and_borrowing_is_decided_hour_by_hour():
    oi = pd.concat([_oi("hyperliquid", "BTC/USDC:USDC", H, 1e9), _oi("binance", "BTC/USDT:USDT", H[1:], 7e8)],
                   ignore_index=True)
    out = coin_open_interest(oi, _bars(("binance", "BTC/USDT:USDT")))
    mine = out[out["venue"] == "binance"].sort_values("hour")
    assert mine["oi_usd"].tolist() == [1e9, 7e8, 7e8]  # borrowed only for the hour it has none
    one_by_one = pd.concat([coin_open_interest(oi[oi["hour"] == h], _bars(("binance", "BTC/USDT:USDT"))) for h in H])
    assert sorted(one_by_one[one_by_one["venue"] == "binance"]["oi_usd"]) == sorted(mine["oi_usd"])
