"""The cascade score's open interest: each traded perp reads its own, else its coin's from the venue that has it.

Open interest measures crowding in a coin, and a liquidation cascade runs across venues: a Binance
BTC perp is forced by the same crowd whose positions Hyperliquid reports. The bundled sample has
open interest only from Hyperliquid (no Hyperliquid candles) and candles only from Binance and
Bybit (no open interest), so joined on the exact (venue, symbol) nothing would ever be scored. Here
an instrument with candles and no open interest of its own takes its coin's open interest from
the first venue (alphabetically) that reports it, relabelled to the instrument; instruments with
their own open interest keep it. What is borrowed is said in ``README.md`` (L2) and in the asset.
"""

from __future__ import annotations

import pandas as pd


def coin_of(symbol: str) -> str:
    return str(symbol).split("/", 1)[0]


def coin_open_interest(oi: pd.DataFrame, ohlcv: pd.DataFrame) -> pd.DataFrame:
    """``oi`` plus, for every (venue, symbol) of ``ohlcv`` with no open interest rows, its coin's rows.

    Parameters
    ----------
    oi : ``open_interest_table`` rows (``hour, venue, symbol, ts, oi_usd``).
    ohlcv : candle rows (``venue, symbol`` used).

    Returns
    -------
    The same columns; borrowed rows carry the instrument's venue and symbol and the lender's values.
    """
    if oi.empty or ohlcv.empty:
        return oi
    own = set(zip(oi["venue"].astype(str), oi["symbol"].astype(str), strict=True))
    coins = oi.assign(_coin=oi["symbol"].map(coin_of), _venue=oi["venue"].astype(str))
    lender = coins.groupby("_coin")["_venue"].min()
    wanted = ohlcv[["venue", "symbol"]].astype(str).drop_duplicates()
    parts = [oi]
    for venue, symbol in wanted.itertuples(index=False):
        coin = coin_of(symbol)
        if (venue, symbol) in own or coin not in lender.index:
            continue
        rows = coins[(coins["_coin"] == coin) & (coins["_venue"] == lender[coin])]
        parts.append(rows.drop(columns=["_coin", "_venue"]).assign(venue=venue, symbol=symbol))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else oi
    return out.astype({"venue": oi["venue"].dtype, "symbol": oi["symbol"].dtype})
