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

import numpy as np
import pandas as pd


def coin_of(symbol: str) -> str:
    return str(symbol).split("/", 1)[0]


def coin_open_interest(oi: pd.DataFrame, ohlcv: pd.DataFrame) -> pd.DataFrame:
    """``oi`` plus, for every (venue, symbol) of ``ohlcv``, its coin's rows in the hours it has none of its own.

    Parameters
    ----------
    oi : ``open_interest_table`` rows (``hour, venue, symbol, ts, oi_usd``).
    ohlcv : candle rows (``venue, symbol`` used).

    Returns
    -------
    The same columns; borrowed rows carry the instrument's venue and symbol and the lender's values.
    One lender per instrument: the first other (venue, symbol) of its coin reporting, alphabetically. Whether an hour is
    borrowed is decided hour by hour, so a range equals its hours computed one by one.
    """
    if oi.empty or ohlcv.empty:
        return oi
    venue, symbol = oi["venue"].astype(str).tolist(), oi["symbol"].astype(str).tolist()
    reporters = sorted(set(zip(venue, symbol, strict=True)))  # alphabetical: the first of a coin lends
    rows_of = pd.DataFrame({"venue": venue, "symbol": symbol}).groupby(["venue", "symbol"], sort=False).indices
    stamps = pd.DatetimeIndex(oi["hour"]).asi8
    rows, labels = [], []
    for v, s in dict.fromkeys(zip(ohlcv["venue"].astype(str).tolist(), ohlcv["symbol"].astype(str).tolist(), strict=True)):
        lender = next(((lv, ls) for lv, ls in reporters if coin_of(ls) == coin_of(s) and (lv, ls) != (v, s)), None)
        if lender is None:
            continue
        at = rows_of[lender]
        own = rows_of.get((v, s))
        missing = np.ones(len(at), dtype=bool) if own is None else ~np.isin(stamps[at], stamps[own])
        if missing.any():
            rows.append(at[missing])
            labels.append((v, s, int(missing.sum())))
    if not rows:
        return oi.astype({"venue": oi["venue"].dtype, "symbol": oi["symbol"].dtype})
    borrowed = oi.iloc[np.concatenate(rows)].reset_index(drop=True)
    sizes = [n for _, _, n in labels]
    for name, at in (("venue", 0), ("symbol", 1)):  # relabelled to the borrowing instrument
        borrowed[name] = np.repeat(np.array([label[at] for label in labels], dtype=object), sizes)
    out = pd.concat([oi, borrowed], ignore_index=True)
    return out.astype({"venue": oi["venue"].dtype, "symbol": oi["symbol"].dtype})
