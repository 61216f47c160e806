"""L1 funding carry, the decisions: scan the perps, then pick at most ten with hysteresis.

Design (Perpetua L1 card): short a perp and hold the same base quantity of spot, collecting the
funding a short receives while the rate is positive. ENTRY when the annualised funding is above
20 % AND the 24h volume above $10M; EXIT when it falls below 3 % (between the two a held position
stays and a new one is not opened); at most 10 positions, equal weight. Two gates sit on top:

* VPIN (Easley, López de Prado & O'Hara 2012, "Flow toxicity and liquidity in a high-frequency
  world"), only where trade data exists: enter only while VPIN < 0.80, exit once VPIN > 0.90.
  A missing VPIN is "no data": by default it does not block an entry (most instruments have no
  trade feed) and it never forces an exit; ``CarryParams.block_on_missing_vpin`` flips the entry side.
* hibernation: a boolean per hour (e.g. regime == "range" with low funding dispersion) that
  stops new entries; exits still happen.

Every comparison is strict and a NaN never passes one (CONVENTIONS "Numbers"): a NaN APR or
volume never enters, and a NaN APR never triggers the APR exit either — a held position whose
funding is unknown stays, and its reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.market_data.funding import KNOWN_INTERVALS_H, annualise

#: Enter above this annualised funding (decimal, 0.20 = 20 %/yr).
ENTRY_APR = 0.20
#: Exit below this annualised funding.
EXIT_APR = 0.03
#: Enter only above this 24h perp quote volume, USD.
MIN_VOLUME_USD = 10e6
#: Largest number of carry positions held at once.
MAX_POSITIONS = 10
#: Fee per leg per trade in basis points (perp and spot, at entry and at exit).
FEE_BPS_PER_LEG = 8.0
#: Enter only while VPIN is below this.
VPIN_ENTER = 0.80
#: Exit once VPIN is above this.
VPIN_EXIT = 0.90
BPS = 1e-4

Key = tuple[str, str]
SCAN_REQUIRED = [
    "hour", "venue", "symbol", "volume_24h_usd", "last_funding_rate", "last_funding_interval_hours",
]
SCAN_COLUMNS = [
    "hour", "venue", "symbol", "funding_rate", "interval_hours", "funding_apr", "volume_24h_usd", "vpin",
    "vpin_gate", "hibernating", "eligible", "entry", "exit", "reason",
]


@dataclass(frozen=True)
class CarryParams:
    """Thresholds of the L1 carry layer; defaults are the design card's numbers.

    ``entry_apr``/``exit_apr`` are decimals per year, ``min_volume_usd`` USD per 24h,
    ``fee_bps_per_leg`` basis points of each leg's notional per trade.
    """

    entry_apr: float = ENTRY_APR
    exit_apr: float = EXIT_APR
    min_volume_usd: float = MIN_VOLUME_USD
    max_positions: int = MAX_POSITIONS
    fee_bps_per_leg: float = FEE_BPS_PER_LEG
    vpin_enter: float = VPIN_ENTER
    vpin_exit: float = VPIN_EXIT
    block_on_missing_vpin: bool = False

    def __post_init__(self) -> None:
        if not self.exit_apr < self.entry_apr:
            raise ValueError(f"exit_apr {self.exit_apr} must be below entry_apr {self.entry_apr}: hysteresis")
        if not self.vpin_enter <= self.vpin_exit:
            raise ValueError(f"vpin_enter {self.vpin_enter} must not exceed vpin_exit {self.vpin_exit}")
        if self.max_positions < 1 or self.fee_bps_per_leg < 0:
            raise ValueError("max_positions must be >= 1 and fee_bps_per_leg >= 0")

    @property
    def weight_per_position(self) -> float:
        """Equal weight: the fraction of bankroll each position's notional takes."""
        return 1.0 / self.max_positions

    @property
    def fee_rate(self) -> float:
        """Fee per leg per trade as a decimal of the leg's notional (8 bps -> 0.0008)."""
        return self.fee_bps_per_leg * BPS


def scan(
    universe: pd.DataFrame, params: CarryParams | None = None, *, hibernate: pd.Series | None = None
) -> pd.DataFrame:
    """Entry and exit signals per (venue, symbol, hour) from ``quant.market_data.universe_scan`` rows.

    Parameters
    ----------
    universe : rows with ``hour, venue, symbol, volume_24h_usd`` (USD), ``last_funding_rate``
        (per interval) and ``last_funding_interval_hours``; an optional ``vpin`` column (0..1).
    params : thresholds; the design defaults when None.
    hibernate : bool per hour (index = hour). True stops new entries that hour. Every scanned
        hour must be present: an unknown regime is an error, not a guess.

    Returns
    -------
    One row per (venue, symbol, hour), sorted by hour, venue, symbol. ``funding_apr`` is
    recomputed as ``rate × 24 / interval_hours × 365`` (NaN for an interval outside
    ``KNOWN_INTERVALS_H``). ``eligible``: APR > entry_apr and volume > min_volume_usd.
    ``entry``: eligible and both gates open. ``exit``: APR < exit_apr or VPIN > vpin_exit.
    ``vpin_gate`` is one of "pass", "block", "exit", "no data"; ``reason`` says why in words.
    """
    p = params or CarryParams()
    require_columns(universe, SCAN_REQUIRED, "universe")
    keys = ["venue", "symbol", "hour"]
    dup = universe.duplicated(keys)
    if dup.any():
        first = tuple(universe.loc[dup, keys].iloc[0])
        raise ValueError(f"universe: duplicate (venue, symbol, hour) row {first}")
    u = universe.sort_values(["hour", "venue", "symbol"], kind="stable").reset_index(drop=True)
    interval = u["last_funding_interval_hours"].astype("float64")
    out = u[["hour", "venue", "symbol"]].copy()
    out["funding_rate"] = u["last_funding_rate"].astype("float64")
    out["interval_hours"] = interval
    out["funding_apr"] = annualise(out["funding_rate"], interval.where(interval.isin(KNOWN_INTERVALS_H)))
    out["volume_24h_usd"] = u["volume_24h_usd"].astype("float64")
    out["vpin"] = u["vpin"].astype("float64") if "vpin" in u else np.nan
    out["hibernating"] = _hibernating(out["hour"], hibernate)
    _decide(out, p)
    out["reason"] = _reasons(out, p)
    return out.loc[:, SCAN_COLUMNS]


def require_columns(df: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}")


def _hibernating(hours: pd.Series, hibernate: pd.Series | None) -> pd.Series:
    if hibernate is None:
        return pd.Series(False, index=hours.index)
    flags = hibernate.reindex(pd.DatetimeIndex(hours))
    if flags.isna().any():
        raise ValueError(f"hibernate: no flag for hour {hours[flags.isna().to_numpy()].iloc[0]}")
    return pd.Series(flags.to_numpy(dtype=bool), index=hours.index)


def _decide(out: pd.DataFrame, p: CarryParams) -> None:
    apr, vol, vpin = out["funding_apr"], out["volume_24h_usd"], out["vpin"]
    has_vpin = vpin.notna()
    vpin_open = (vpin < p.vpin_enter) | (~has_vpin & (not p.block_on_missing_vpin))
    out["vpin_gate"] = np.select(
        [~has_vpin, vpin > p.vpin_exit, vpin >= p.vpin_enter], ["no data", "exit", "block"], "pass"
    )
    out["eligible"] = (apr > p.entry_apr) & (vol > p.min_volume_usd)
    out["entry"] = out["eligible"] & vpin_open & ~out["hibernating"]
    out["exit"] = (apr < p.exit_apr) | (vpin > p.vpin_exit)


def _join(parts: list[tuple[pd.Series, pd.Series | str]], index: pd.Index) -> pd.Series:
    """Comma-join, row by row, the texts whose mask is True."""
    out = pd.Series("", index=index, dtype="str")
    for mask, text in parts:
        sep = pd.Series(np.where(out == "", "", ", "), index=index, dtype="str")
        out = out.where(~mask, out + sep + text)
    return out


def _reasons(s: pd.DataFrame, p: CarryParams) -> pd.Series:
    apr, vol, vpin = s["funding_apr"], s["volume_24h_usd"], s["vpin"]
    apr_txt = "apr " + apr.map("{:.2%}".format)
    vol_txt = "volume $" + (vol / 1e6).map("{:.1f}M".format)
    vpin_txt = "vpin " + vpin.map("{:.2f}".format)
    idx = s.index
    why_not = _join(
        [
            (apr.isna(), f"apr unknown (rate or interval missing; {p.entry_apr:.0%} needs a number)"),
            (apr <= p.entry_apr, apr_txt + f" <= {p.entry_apr:.0%}"),
            (vol.isna(), "24h volume unknown"),
            (vol <= p.min_volume_usd, vol_txt + f" <= ${p.min_volume_usd / 1e6:.0f}M"),
            (vpin >= p.vpin_enter, vpin_txt + f" >= {p.vpin_enter:.2f}"),
            (vpin.isna() & p.block_on_missing_vpin, "vpin no data (policy: block)"),
            (s["hibernating"], "hibernating"),
        ],
        idx,
    )
    entry = "entry: " + apr_txt + ", " + vol_txt + ", vpin " + s["vpin_gate"]
    text = entry.where(s["entry"], "no entry: " + why_not)
    exits = _join(
        [
            (apr < p.exit_apr, apr_txt + f" < {p.exit_apr:.0%}"),
            (vpin > p.vpin_exit, vpin_txt + f" > {p.vpin_exit:.2f}"),
        ],
        idx,
    )
    text = text.where(~s["exit"], text + "; exit: " + exits)
    return text.where(apr.notna(), text + "; held positions stay (unknown apr never exits)")


@dataclass(frozen=True)
class Selection:
    """One hour's book decision. Keys are (venue, symbol); each tuple is sorted.

    ``hold``: held positions that stay (``unscanned`` ones included: held but without a scan row
    this hour, so they cannot be judged and stay). ``passed_over``: entry signals beyond the free
    slots, best first.
    """

    hold: tuple[Key, ...]
    enter: tuple[Key, ...]
    exit: tuple[Key, ...]
    unscanned: tuple[Key, ...]
    passed_over: tuple[Key, ...]

    @property
    def positions(self) -> frozenset[Key]:
        return frozenset(self.hold) | frozenset(self.enter)


def select_positions(
    rows: pd.DataFrame, held: set[Key] | frozenset[Key], params: CarryParams | None = None
) -> Selection:
    """Hysteresis book update for ONE hour of :func:`scan` rows.

    Held positions stay until their ``exit`` flag; free slots (``max_positions`` minus those
    that stay) go to ``entry`` rows not already held, ranked by ``funding_apr`` descending, then
    ``volume_24h_usd`` descending, then venue and symbol ascending (deterministic on ties).
    More held positions than ``max_positions`` (after a config change) are kept, none added.
    """
    p = params or CarryParams()
    if rows["hour"].nunique() > 1:
        raise ValueError(f"select_positions: rows span {rows['hour'].nunique()} hours; pass one hour")
    if rows.duplicated(["venue", "symbol"]).any():
        raise ValueError("select_positions: duplicate (venue, symbol) rows")
    return _select(
        list(zip(rows["venue"], rows["symbol"], strict=True)),
        rows["entry"].to_numpy(dtype=bool),
        rows["exit"].to_numpy(dtype=bool),
        rows["funding_apr"].to_numpy(dtype="float64"),
        rows["volume_24h_usd"].to_numpy(dtype="float64"),
        frozenset(held),
        p.max_positions,
    )


def _select(
    keys: list[Key], entry: np.ndarray, exit_: np.ndarray, apr: np.ndarray, vol: np.ndarray,
    held: frozenset[Key], max_positions: int,
) -> Selection:
    scanned = set(keys)
    exits = sorted(k for k, x in zip(keys, exit_, strict=True) if x and k in held)
    stay = sorted(held - set(exits))
    candidates = [i for i, k in enumerate(keys) if entry[i] and k not in held]
    # NaN volume sorts last; APR of an entry row is never NaN.
    candidates.sort(key=lambda i: (-apr[i], -np.nan_to_num(vol[i], nan=-np.inf), keys[i]))
    slots = max(max_positions - len(stay), 0)
    ranked = [keys[i] for i in candidates]
    return Selection(
        hold=tuple(stay),
        enter=tuple(sorted(ranked[:slots])),
        exit=tuple(exits),
        unscanned=tuple(k for k in stay if k not in scanned),
        passed_over=tuple(ranked[slots:]),
    )


POSITION_COLUMNS = ["position_id", "venue", "symbol", "open_hour", "close_hour", "notional_usd"]


def walk_positions(
    scanned: pd.DataFrame, bankroll_usd: float, params: CarryParams | None = None,
    *, held: frozenset[Key] = frozenset(),
) -> pd.DataFrame:
    """Run :func:`select_positions` hour by hour over :func:`scan` output (state carries).

    Parameters
    ----------
    scanned : :func:`scan` rows for a range of hours.
    bankroll_usd : capital, USD; each new position's notional is ``bankroll × weight_per_position``.
    held : positions held before the first hour (they get no row: their entry is not known).

    Returns
    -------
    One row per position opened in the range (``POSITION_COLUMNS``): filled at the close of
    ``open_hour`` and of ``close_hour``; ``close_hour`` is NaT while still open at the end.
    This is the input :func:`quant.carry.ledger.carry_pnl` prices.
    """
    p = params or CarryParams()
    s = scanned.sort_values(["hour", "venue", "symbol"], kind="stable")
    keys = list(zip(s["venue"], s["symbol"], strict=True))
    cols = [s[c].to_numpy(dtype=t) for c, t in (("entry", bool), ("exit", bool))]
    apr, vol = s["funding_apr"].to_numpy("float64"), s["volume_24h_usd"].to_numpy("float64")
    bounds = np.flatnonzero(np.r_[True, s["hour"].to_numpy()[1:] != s["hour"].to_numpy()[:-1], True])
    hours = s["hour"].to_numpy()
    book, opened, closed = frozenset(held), {}, []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        sel = _select(keys[a:b], cols[0][a:b], cols[1][a:b], apr[a:b], vol[a:b], book, p.max_positions)
        hour = pd.Timestamp(hours[a])
        closed += [(k, opened.pop(k), hour) for k in sel.exit if k in opened]
        opened.update({k: hour for k in sel.enter})
        book = sel.positions
    closed += [(k, t, pd.NaT) for k, t in opened.items()]
    closed.sort(key=lambda r: (r[1], r[0]))
    return pd.DataFrame(
        {
            "position_id": np.arange(len(closed), dtype="int64"),
            "venue": pd.Series([k[0] for k, _, _ in closed], dtype="str"),
            "symbol": pd.Series([k[1] for k, _, _ in closed], dtype="str"),
            "open_hour": pd.Series([t for _, t, _ in closed], dtype="datetime64[ns, UTC]"),
            "close_hour": pd.Series([c for _, _, c in closed], dtype="datetime64[ns, UTC]"),
            "notional_usd": bankroll_usd * p.weight_per_position,
        }
    )
