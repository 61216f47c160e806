"""L3 tail hedge, hour by hour: the long OTM strangle the layer would buy at the end of each hour.

For hour H (the window [H, H+1h)) the decision is taken at H+1h, on what is known by then:

* the underlying: the close of the hour's perp candle on the first venue of
  :attr:`HedgeUnderlying.venues` that has one (Binance ETH/USDT, else Bybit); none -> status
  "no underlying";
* the chain: a snapshot taken inside the hour is the hour's own and is used as it is
  (``modelled`` False); otherwise the latest snapshot taken before H is recentred on the close
  at H+1h (:func:`quant.options.model.recentre_chain`, ``modelled`` True); a snapshot taken at or
  after H+1h is never used for hour H (it would look ahead) -> status "no chain for this hour";
* the strangle: :func:`quant.options.strangle.select_strangle`; when it finds none, its message
  is the status.

Stateless: what the book actually holds, sizes and rolls is the trading book's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.options.chain import OptionChain
from quant.options.model import modelled_source, recentre_chain
from quant.options.strangle import Strangle, StrangleConfig, StrangleSelectionError, select_strangle
from quant.options.tail_range import recentred_strangles

HOUR = pd.Timedelta(hours=1)
STATUS_OK = "ok"
STATUS_NO_UNDERLYING = "no underlying"
STATUS_NO_CHAIN = "no chain for this hour"
#: The chain could not be used (read, parsed or recentred): L3 holds, the other layers go on.
STATUS_CHAIN_UNUSABLE = "chain unusable"
#: ``source`` of a row that had no chain to select from.
SOURCE_NONE = "none"

HEDGE_COLUMNS = [
    "hour", "currency", "underlying_usd", "chain_as_of", "modelled", "source", "status", "expiry", "dte_days",
    "put_instrument", "call_instrument", "put_strike", "call_strike", "put_iv", "call_iv", "put_ask_usd",
    "call_ask_usd", "put_mark_usd", "call_mark_usd", "put_delta", "call_delta", "theta_usd", "vega_usd",
    "premium_usd",
]
UTC_NS = "datetime64[ns, UTC]"
HEDGE_DTYPES = {
    **{c: "float64" for c in HEDGE_COLUMNS},
    "hour": UTC_NS, "chain_as_of": UTC_NS, "expiry": UTC_NS, "modelled": "bool",
    **{c: "str" for c in ("currency", "source", "status", "put_instrument", "call_instrument")},
}


@dataclass(frozen=True)
class HedgeUnderlying:
    """What the hedge is on: the option currency and the perp whose close prices it.

    ``venues`` are tried in order; one contract of an inverse Deribit option is one coin.
    """

    currency: str = "ETH"
    symbol: str = "ETH/USDT:USDT"
    venues: tuple[str, ...] = ("binance", "bybit")

    @property
    def reference(self) -> str:
        """The price a modelled chain is recentred on, in words."""
        return f"the {self.currency} perp close"


def underlying_closes(ohlcv: pd.DataFrame, hours: pd.DatetimeIndex, underlying: HedgeUnderlying) -> pd.Series:
    """Per hour, the close (USD) of ``underlying.symbol`` on its first venue with a positive close.

    Parameters
    ----------
    ohlcv : ``ohlcv_table`` rows (``hour``, ``venue``, ``symbol``, ``close``).
    hours : the hours wanted.

    Returns
    -------
    Float series indexed by ``hours``; NaN where no venue has a candle (never 0).
    """
    out = pd.Series(np.nan, index=hours, dtype="float64")
    if ohlcv.empty:
        return out
    rows = ohlcv[(ohlcv["symbol"].astype(str) == underlying.symbol) & (ohlcv["close"] > 0)]
    for venue in underlying.venues:
        closes = rows[rows["venue"].astype(str) == venue].drop_duplicates("hour", keep="last").set_index("hour")["close"]
        missing = out.isna().to_numpy()
        out[missing] = closes.reindex(hours).to_numpy(dtype="float64")[missing]
    return out


def pick_chain(snapshots: Sequence[OptionChain], hour: pd.Timestamp) -> tuple[OptionChain | None, bool]:
    """The snapshot hour ``hour`` may use, and whether it is the hour's own.

    Returns
    -------
    (the latest snapshot taken inside [hour, hour + 1h), True), else (the latest taken before
    ``hour``, False), else (None, False): a snapshot from after the hour is never used.
    """
    own = [s for s in snapshots if hour <= s.as_of < hour + HOUR]
    if own:
        return max(own, key=lambda s: s.as_of), True
    before = [s for s in snapshots if s.as_of < hour]
    return (max(before, key=lambda s: s.as_of), False) if before else (None, False)


def _strangle_fields(s: Strangle) -> dict[str, object]:
    return {
        "expiry": s.expiry, "dte_days": s.dte_days,
        "put_instrument": s.put.instrument, "call_instrument": s.call.instrument,
        "put_strike": s.put.strike, "call_strike": s.call.strike, "put_iv": s.put.iv, "call_iv": s.call.iv,
        "put_ask_usd": s.put.ask_usd, "call_ask_usd": s.call.ask_usd,
        "put_mark_usd": s.put.mark_usd, "call_mark_usd": s.call.mark_usd,
        "put_delta": s.put.delta, "call_delta": s.call.delta,
        "theta_usd": s.theta_usd, "vega_usd": s.vega_usd, "premium_usd": s.premium_usd,
    }


def hedge_row(
    snapshots: Sequence[OptionChain],
    hour: pd.Timestamp,
    underlying_usd: float,
    config: StrangleConfig,
    underlying: HedgeUnderlying,
) -> dict[str, object]:
    """One row of :data:`HEDGE_COLUMNS` for ``hour`` (missing fields are filled by the table).

    ``chain_as_of`` / ``modelled`` / ``source`` describe the chain the strangle was chosen from
    (``chain_as_of`` is when its implied vols were observed); NaT / False / "none" when the hour
    had no chain to choose from.
    """
    row: dict[str, object] = {
        "hour": hour, "currency": underlying.currency, "underlying_usd": underlying_usd,
        "chain_as_of": pd.NaT, "modelled": False, "source": SOURCE_NONE,
    }
    snapshot, own = pick_chain(snapshots, hour)
    if not math.isfinite(underlying_usd):
        return {**row, "status": STATUS_NO_UNDERLYING}
    if snapshot is None:
        return {**row, "status": STATUS_NO_CHAIN}
    try:
        chain = snapshot if own else recentre_chain(snapshot, underlying_usd, hour + HOUR, reference=underlying.reference)
    except ValueError as exc:  # e.g. every option of the snapshot has expired: nothing to recentre on
        return {**row, "chain_as_of": snapshot.as_of, "status": f"{STATUS_CHAIN_UNUSABLE}: {exc}"}
    row.update(chain_as_of=snapshot.as_of, modelled=chain.modelled, source=chain.source)
    try:
        strangle = select_strangle(chain, config)
    except StrangleSelectionError as exc:  # NoOtmOptions / NoEligibleExpiry / NoEligibleStrike
        return {**row, "status": str(exc)}
    return {**row, "status": STATUS_OK, **_strangle_fields(strangle)}


def tail_hedge_signals(
    snapshots: Sequence[OptionChain],
    ohlcv: pd.DataFrame,
    hours: pd.DatetimeIndex,
    config: StrangleConfig | None = None,
    underlying: HedgeUnderlying | None = None,
) -> pd.DataFrame:
    """One row per hour: the strangle the L3 layer would buy at the hour's end (module docstring).

    Parameters
    ----------
    snapshots : parsed market chains of ``underlying.currency`` (``modelled`` False), any times;
        each hour picks its own with :func:`pick_chain`. Parse them once per window: each hour
        only recentres.
    ohlcv : ``ohlcv_table`` rows of ``hours`` (the hours' own candles).
    hours : the hours to decide, whole UTC hours.
    config : strangle rules; default :class:`StrangleConfig` (14–60 days, 15-delta legs).
    underlying : currency and perp; default ETH on Binance, else Bybit.

    Returns
    -------
    :data:`HEDGE_COLUMNS` with :data:`HEDGE_DTYPES`, sorted by hour. Prices and greeks are per
    ONE contract (one coin) of each leg, USD: ``theta_usd`` per calendar day (≤ 0), ``vega_usd``
    per vol point, ``premium_usd`` both legs at the ask; ``put_iv`` / ``call_iv`` at the mark.
    ``status`` is "ok" or why there is no strangle; every number is NaN unless "ok".
    """
    config = config or StrangleConfig()
    underlying = underlying or HedgeUnderlying()
    hours = pd.DatetimeIndex(hours).as_unit("ns")
    if any(s.modelled for s in snapshots):
        raise ValueError("snapshots must be market chains; modelled chains are built here, per hour")
    closes = underlying_closes(ohlcv, hours, underlying).to_numpy(dtype="float64")
    fast = _recentred(snapshots, hours, closes, config, underlying)
    rows = [fast.get(i) or hedge_row(snapshots, h, float(c), config, underlying)
            for i, (h, c) in enumerate(zip(hours, closes, strict=True))]
    return _table(rows)


def _recentred(snapshots: Sequence[OptionChain], hours: pd.DatetimeIndex, closes: np.ndarray, config: StrangleConfig,
               underlying: HedgeUnderlying) -> dict[int, dict[str, object]]:
    """The rows of the hours that recentre a snapshot, computed per snapshot over all its hours at once
    (:func:`quant.options.tail_range.recentred_strangles`, the same numbers as :func:`hedge_row`); an hour
    it does not decide is left to ``hedge_row``."""
    groups: dict[int, list[int]] = {}
    picked: dict[int, OptionChain] = {}
    for i, (h, c) in enumerate(zip(hours, closes, strict=True)):
        snapshot, own = pick_chain(snapshots, h)
        if snapshot is not None and not own and math.isfinite(c):
            groups.setdefault(id(snapshot), []).append(i)
            picked[id(snapshot)] = snapshot
    out: dict[int, dict[str, object]] = {}
    for key, at in groups.items():
        snapshot = picked[key]
        source = modelled_source(snapshot, underlying.reference)
        fields = recentred_strangles(snapshot, hours[at], closes[at], config)
        for i, got in zip(at, fields, strict=True):
            if got is not None:
                out[i] = {"hour": hours[i], "currency": underlying.currency, "underlying_usd": float(closes[i]),
                          "chain_as_of": snapshot.as_of, "modelled": True, "source": source, "status": STATUS_OK, **got}
    return out


def _table(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=HEDGE_COLUMNS) if rows else pd.DataFrame(columns=HEDGE_COLUMNS)
    for column in ("chain_as_of", "expiry"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.astype(HEDGE_DTYPES).sort_values("hour", kind="stable").reset_index(drop=True)
