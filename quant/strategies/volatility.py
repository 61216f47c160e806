"""Volatility-family strategies: SkewFlow (fade an extreme perp premium) and QuantFlow (vol regime).

**SkewFlow.** The data hold no spot price, so the perp's premium over spot is proxied by its
funding rate: perpetual funding is set from the premium index, the perp-minus-index spread
averaged over the interval (Binance and Bybit funding rules; He, Manela, Ross & von Wachter 2022,
*Fundamentals of Perpetual Futures*, show funding tracks the perp-spot gap). At each settlement the
annualised funding ``funding_apr`` (so 4h and 8h intervals compare) is z-scored against the
``window`` settlements ending at it (ddof 1; NaN on a short or flat window). A premium that is
extreme in both senses, ``|z| ≥ entry_z`` and ``|funding_apr| ≥ min_abs_apr``, is faded at the
close of the settlement hour's bar: rich (``z > 0``) → short, cheap → long. Stop ``stop_atr`` ×
``atr_14`` beyond the entry, target ``reward_risk`` × the risk. Confidence ``min(1, |z| / (2 ·
entry_z))``.

**QuantFlow.** Realised-vol regime (Mandelbrot 1963 / Engle 1982: volatility clusters, and a
compressed market tends to expand — the Bollinger "squeeze"): the market is *compressed* when the
previous hour's ``vol_ratio = vol_24h / vol_7d ≤ compress_ratio``; a 24h breakout (``breakout_up``
/ ``breakout_down`` of ``features_1h``) out of compression is followed. Two confirmations:

* open interest (Hyperliquid's, matched to the bars by base coin): the ``oi_hours`` change
  ``oi_t / oi_{t−oi_hours} − 1``. Rising by ≥ ``min_oi_change`` (new positions behind the move)
  adds 0.25 confidence; below it the breakout is not traded; unknown leaves it unconfirmed.
* options, where a chain exists: ATM implied vol ``iv`` against realised ``vol_7d · √8760``
  (annualised). ``iv / rv ≥ min_iv_rv`` (the market prices more vol than has realised) adds 0.25;
  below it the breakout is not traded; no chain (the usual case: the bundled chain is one ETH
  snapshot of 2024-01-08, outside both windows) leaves it unconfirmed.

Base confidence 0.5, capped at 1.0. Stop ``stop_atr`` × ``atr_14``, target ``reward_risk`` × risk.
A chain frame has option rows with ``hour`` (or ``as_of``), ``currency`` (or ``instrument``
``ETH-26JAN24-2400-C``), ``strike``, ``underlying_usd`` and ``iv``; ``dte_days`` if present.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant.strategies.arrays import (
    HOUR_NS,
    Panel,
    base_coin,
    coin_codes,
    decision_frame,
    match,
    take,
    unique,
)
from quant.strategies.base import Param, Strategy, StrategyInput, decisions, ns, register, wanted

HOUR = pd.Timedelta(hours=1)
HOURS_PER_YEAR = 24 * 365
#: Confidence of an unconfirmed QuantFlow breakout and what each confirmation (OI, IV) adds.
QF_BASE_CONFIDENCE, QF_CONFIRM_STEP = 0.5, 0.25
#: Options counted as ATM: |ln(strike / forward)| at most this; expiries between these days.
ATM_LOG_MONEYNESS = 0.05
ATM_DTE_DAYS = (7.0, 60.0)
#: How long an option snapshot stays the chain's IV (hours).
CHAIN_STALE_H = 24


def _sides(x: np.ndarray, price: np.ndarray, risk: np.ndarray, reward_risk: float) -> tuple[np.ndarray, ...]:
    """(side, stop, target) for sign ``x`` (+1 long, −1 short) with stop ``risk`` away from ``price``."""
    side = np.where(x > 0, "long", "short")
    return side, price - x * risk, price + x * reward_risk * risk


def instrument_codes(frame: pd.DataFrame, vocab: dict[tuple[str, str], int]) -> np.ndarray:
    """Each row's (venue, symbol) as its code in ``vocab`` (new instruments are added; −1 for a missing name)."""
    (vc, venues), (sc, symbols) = pd.factorize(frame["venue"]), pd.factorize(frame["symbol"])
    venues, symbols = venues.tolist(), symbols.tolist()
    pair, inverse = np.unique(vc * len(symbols) + sc, return_inverse=True)
    codes = [vocab.setdefault((venues[k // len(symbols)], symbols[k % len(symbols)]), len(vocab)) for k in pair.tolist()]
    return np.where((vc < 0) | (sc < 0), -1, np.asarray(codes, dtype=np.int64)[inverse.ravel()])


def _column(frame: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """``frame[name]`` as float64 at positional ``rows`` (−1: NaN)."""
    return take(frame[name].to_numpy("float64", na_value=np.nan), rows)


# ---------------------------------------------------------------------------------------------- SkewFlow
def _z(apr: np.ndarray, window: int) -> np.ndarray:
    """Each value against the ``window`` values ending at it: (x − mean) / std (ddof 1); NaN on a short or flat window."""
    z = np.full(len(apr), np.nan)
    if len(apr) >= window:
        w = np.lib.stride_tricks.sliding_window_view(apr, window)
        sd = w.std(axis=1, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            z[window - 1:] = np.where(sd > 0, (apr[window - 1:] - w.mean(axis=1)) / sd, np.nan)
    return z


def funding_z(funding: pd.DataFrame, window: int) -> pd.DataFrame:
    """``funding`` with ``z``: each settlement's ``funding_apr`` against the ``window`` ending at it, per series."""
    parts = [g.assign(z=_z(g["funding_apr"].to_numpy("float64"), window))
             for _, g in funding.sort_values("hour").groupby(["venue", "symbol"], sort=False)]
    return pd.concat(parts) if parts else funding.assign(z=np.nan)


def _skewflow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    f, bars = data.funding, data.bars
    if bars.empty or f.empty or data.features.empty:
        return decisions()
    vocab: dict[tuple[str, str], int] = {}
    code, hour = instrument_codes(bars, vocab), ns(bars["hour"])
    traded = len(vocab)
    f_code, f_hour, f_apr = instrument_codes(f, vocab), ns(f["hour"]), f["funding_apr"].to_numpy("float64")
    z_all = np.full(len(f), np.nan)
    mine = np.flatnonzero((f_code >= 0) & (f_code < traded))  # only the traded instruments' series
    order = mine[np.lexsort((f_hour[mine], f_code[mine]))]
    for series in np.split(order, np.flatnonzero(np.diff(f_code[order])) + 1):
        z_all[series] = _z(f_apr[series], int(p["window"]))
    settled = match(code, hour, f_code, f_hour)
    z, apr = take(z_all, settled), take(f_apr, settled)
    atr = _column(data.features, "atr_14", match(code, hour, instrument_codes(data.features, vocab), ns(data.features["hour"])))
    with np.errstate(invalid="ignore"):
        hit = (np.abs(z) >= float(p["entry_z"])) & (np.abs(apr) >= float(p["min_abs_apr"])) & (atr > 0)
    rows = np.flatnonzero(wanted(hour, hit))
    z, apr = z[rows], apr[rows]
    x = -np.sign(z)  # fade: a rich premium is shorted
    close = bars["close"].to_numpy("float64")[rows]
    side, stop, target = _sides(x, close, float(p["stop_atr"]) * atr[rows], float(p["reward_risk"]))
    conf = np.minimum(1.0, np.abs(z) / (2 * float(p["entry_z"])))
    reasons = [f"SkewFlow: funding {a:+.2%} APR is {zz:+.2f} sd from its last {int(p['window'])} settlements "
               f"(perp premium proxy): fade {'rich' if zz > 0 else 'cheap'} premium; stop {float(p['stop_atr']):g} ATR "
               f"({s:.6g}), target {t:.6g}" for a, zz, s, t in zip(apr, z, stop, target, strict=True)]
    names = list(vocab)
    return decision_frame(hour[rows], [names[k][0] for k in code[rows]], [names[k][1] for k in code[rows]],
                          side, close, stop, target, conf, reasons)


# --------------------------------------------------------------------------------------------- QuantFlow
def oi_change(oi: pd.DataFrame, hours: int) -> pd.DataFrame:
    """(coin, hour, oi_change): ``oi_usd`` at hour over ``oi_usd`` ``hours`` earlier, minus 1, per symbol."""
    if oi.empty:
        return pd.DataFrame(columns=["coin", "hour", "oi_change"])
    cur = oi[["symbol", "hour", "oi_usd"]].assign(coin=oi["symbol"].map(base_coin))
    past = cur.assign(hour=cur["hour"] + hours * HOUR)[["symbol", "hour", "oi_usd"]]
    m = cur.merge(past, on=["symbol", "hour"], how="left", suffixes=("", "_past"))
    with np.errstate(invalid="ignore", divide="ignore"):
        chg = np.where(m["oi_usd_past"] > 0, m["oi_usd"] / m["oi_usd_past"] - 1, np.nan)
    # Several quotes of one coin (a venue with USDT and USDC books): the mean change.
    return m.assign(oi_change=chg).groupby(["coin", "hour"], as_index=False)["oi_change"].mean()


def _oi_change_at(oi: pd.DataFrame, hours: int, coins: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`oi_change` as arrays (coin code in ``coins``, hour ns, oi_change), one row per (coin, hour).

    Where every coin has one symbol and a symbol one row an hour, the mean over a (coin, hour) is
    its one change and the past is the coin's own row ``hours`` earlier: no merge or grouping.
    """
    if oi.empty:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    sym, symbols = pd.factorize(oi["symbol"])
    hour, usd = ns(oi["hour"]), oi["oi_usd"].to_numpy("float64", na_value=np.nan)
    one_each = len({base_coin(s) for s in symbols}) == len(symbols) and (sym >= 0).all()
    if not (one_each and unique(sym, hour)):
        table = oi_change(oi, hours)
        return coin_codes(table["coin"], coins), ns(table["hour"]), table["oi_change"].to_numpy("float64")
    coin = coin_codes(oi["symbol"], coins)
    past = match(coin, hour - hours * HOUR_NS, coin, hour)
    past_usd = take(usd, past)
    with np.errstate(invalid="ignore", divide="ignore"):
        return coin, hour, np.where(past_usd > 0, usd / past_usd - 1, np.nan)


def chain_atm_iv(chain: pd.DataFrame | None) -> pd.DataFrame:
    """(coin, hour, atm_iv): the median IV of near-the-money options per coin and snapshot hour (empty if none)."""
    cols = ["coin", "hour", "atm_iv"]
    if chain is None or chain.empty or not {"strike", "underlying_usd", "iv"} <= set(chain.columns):
        return pd.DataFrame(columns=cols)
    when = chain["hour"] if "hour" in chain else chain.get("as_of")
    coin = chain["currency"] if "currency" in chain else chain.get("instrument", pd.Series(dtype=object)).str.split("-").str[0]
    if when is None or coin is None:
        return pd.DataFrame(columns=cols)
    c = pd.DataFrame({"coin": coin, "hour": pd.to_datetime(when, utc=True).dt.floor("h"), "iv": chain["iv"],
                      "m": np.abs(np.log(chain["strike"] / chain["underlying_usd"]))})
    keep = c["m"] <= ATM_LOG_MONEYNESS
    if "dte_days" in chain:
        keep &= chain["dte_days"].between(*ATM_DTE_DAYS)
    c = c[keep & np.isfinite(c["iv"]) & (c["iv"] > 0)]
    return c.groupby(["coin", "hour"], as_index=False)["iv"].median().rename(columns={"iv": "atm_iv"})[cols]


def _atm_iv_at(chain: pd.DataFrame | None, coins: list[str], hour: np.ndarray) -> np.ndarray:
    """The chain's latest ATM IV per (coin, hour ns) at most :data:`CHAIN_STALE_H` old, NaN where none."""
    iv = chain_atm_iv(chain)
    if iv.empty:
        return np.full(len(hour), np.nan)
    left = pd.DataFrame({"coin": coins, "hour": pd.DatetimeIndex(hour.view("M8[ns]")).tz_localize("UTC"), "row": np.arange(len(hour))})
    iv = iv.astype({"hour": left["hour"].dtype}).sort_values("hour")
    out = pd.merge_asof(left.sort_values("hour"), iv, on="hour", by="coin", direction="backward", tolerance=CHAIN_STALE_H * HOUR)
    return out.sort_values("row")["atm_iv"].to_numpy("float64", na_value=np.nan)


def _qf_inputs(data: StrategyInput, p: Mapping[str, object]) -> tuple[Panel, np.ndarray, dict[str, np.ndarray]]:
    """Bars with features (rows of the bars panel, in its order) and, per row, the features, the previous
    hour's vol_ratio, the OI change and the chain's ATM IV."""
    bars, feats, vocab = Panel.of(data.bars), data.features, {}
    code = np.asarray([vocab.setdefault(name, len(vocab)) for name in bars.names], dtype=np.int64)[bars.instrument]
    at = match(code, bars.hour, instrument_codes(feats, vocab), ns(feats["hour"]))
    rows = np.flatnonzero(at >= 0)
    code, hour, at = code[rows], bars.hour[rows], at[rows]
    cols = {k: _column(feats, k, at) for k in ("vol_ratio", "vol_7d", "atr_14", "breakout_up", "breakout_down")}
    cols["vol_ratio_prev"] = take(cols["vol_ratio"], match(code, hour - HOUR_NS, code, hour))
    coins: dict[str, int] = {}
    coin = bars.coin_codes(coins)[rows]
    oi_coin, oi_hour, oi_chg = _oi_change_at(data.open_interest, int(p["oi_hours"]), coins)
    cols["oi_change"] = take(oi_chg, match(coin, hour, oi_coin, oi_hour))
    names = list(coins)
    cols["atm_iv"] = _atm_iv_at(data.chain, [names[k] for k in coin], hour)
    cols["close"] = bars["close"][rows]
    return bars, rows, cols


def _quantflow(data: StrategyInput, p: Mapping[str, object]) -> pd.DataFrame:
    if data.bars.empty or data.features.empty:
        return decisions()
    bars, rows, df = _qf_inputs(data, p)
    x = np.where(df["breakout_up"] == 1, 1.0, np.where(df["breakout_down"] == 1, -1.0, 0.0))
    oi = df["oi_change"]
    iv_rv = df["atm_iv"] / (df["vol_7d"] * np.sqrt(HOURS_PER_YEAR))
    with np.errstate(invalid="ignore"):
        oi_ok, iv_ok = oi >= float(p["min_oi_change"]), iv_rv >= float(p["min_iv_rv"])
        go = ((x != 0) & (df["vol_ratio_prev"] <= float(p["compress_ratio"])) & (df["atr_14"] > 0)
              & (np.isnan(oi) | oi_ok) & (np.isnan(iv_rv) | iv_ok))
    go = np.flatnonzero(wanted(bars.hour[rows], go))
    rows, x, oi, iv_rv, df = rows[go], x[go], oi[go], iv_rv[go], {k: v[go] for k, v in df.items()}
    conf = np.minimum(1.0, QF_BASE_CONFIDENCE + QF_CONFIRM_STEP * (np.isfinite(oi).astype(int) + np.isfinite(iv_rv).astype(int)))
    side, stop, target = _sides(x, df["close"], float(p["stop_atr"]) * df["atr_14"], float(p["reward_risk"]))
    reasons = [f"QuantFlow: 24h {'breakout up' if xx > 0 else 'breakdown'} out of compression (vol_24h/vol_7d {r:.2f} "
               f"<= {float(p['compress_ratio']):g}); OI {'n/a' if np.isnan(o) else f'{o:+.1%}'} over {int(p['oi_hours'])}h; "
               f"IV/RV {'n/a' if np.isnan(v) else f'{v:.2f}'}; stop {s:.6g}, target {t:.6g}"
               for xx, r, o, v, s, t in zip(x, df["vol_ratio_prev"], oi, iv_rv, stop, target, strict=True)]
    names = [bars.names[k] for k in bars.instrument[rows]]
    return decision_frame(bars.hour[rows], [v for v, _ in names], [s for _, s in names], side, df["close"], stop, target,
                          conf, reasons)


RISK_PARAMS = (
    Param("stop_atr", float, 1.5, 0.5, 5.0, "stop distance in atr_14"),
    Param("reward_risk", float, 2.5, 2.0, 5.0, "target distance / stop distance"),
)
SKEWFLOW = register(Strategy(
    "skewflow", _skewflow, family="volatility", lookback_h=90 * 8,  # the largest window of 8h settlements
    params=(
        Param("window", int, 21, 6, 90, "settlements in the funding z-score (21 = 7 days of 8h)"),
        Param("entry_z", float, 2.0, 1.0, 4.0, "|z| of funding_apr that counts as extreme"),
        Param("min_abs_apr", float, 0.05, 0.0, 1.0, "least |funding_apr| (decimal per year) to fade"),
        *RISK_PARAMS,
    ),
    doc="Fade an extreme perp premium, proxied by funding (no spot in the data)."))
QUANTFLOW = register(Strategy(
    "quantflow", _quantflow, family="volatility", lookback_h=24 * 7 + 24,
    params=(
        Param("compress_ratio", float, 0.7, 0.3, 1.0, "previous hour's vol_24h/vol_7d at most this is compressed"),
        Param("oi_hours", int, 24, 1, 168, "hours of the open-interest change"),
        Param("min_oi_change", float, 0.0, -0.05, 0.2, "least OI change (decimal) to follow a breakout either way"),
        Param("min_iv_rv", float, 1.0, 0.5, 2.0, "least ATM IV / annualised vol_7d"),
        *RISK_PARAMS,
    ),
    doc="Follow a breakout out of a compressed realised-vol regime, confirmed by OI and options IV where known."))
