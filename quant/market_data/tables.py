"""Pure transforms from exchange frames to the hourly market-data tables.

Every table carries an ``hour`` column: the UTC hour partition the row belongs to. Storage splits
on it, so a row lands in exactly one hourly file whichever window computed it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from quant.market_data.continuity import SIGMA_WINDOW_H, log_returns, previous_close, prior_sigma
from quant.market_data.funding import SNAP_TOLERANCE, annualise, on_settlement_grid, snap_to_grid
from quant.quality import STALE_HOURS, flat_hours

HOUR = pd.Timedelta(hours=1)
#: Bars summed into the 24h volume of the universe scan.
VOLUME_WINDOW_BARS = 24
#: How far back the scan looks for the latest settlement (longest interval in use is 8h).
FUNDING_LOOKBACK = pd.Timedelta(hours=24)

OHLCV_COLUMNS = [
    "hour", "venue", "symbol", "ts", "open", "high", "low", "close", "volume", "quote_volume", "flat_hours",
    "prev_close", "sigma_1h",
]
FUNDING_COLUMNS = [
    "hour", "venue", "symbol", "settlement_ts", "raw_ts", "offset_ms",
    "funding_rate", "interval_hours", "funding_apr", "on_grid",
]
OI_COLUMNS = ["hour", "venue", "symbol", "ts", "oi_usd", "prev_oi_usd"]
UNIVERSE_COLUMNS = [
    "hour", "venue", "symbol", "bars_24h", "volume_24h_usd",
    "last_funding_rate", "last_funding_interval_hours", "last_funding_apr", "last_settlement_ts",
]


def hours_of(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The hour starts in ``[start, end)``."""
    return pd.date_range(start, end, freq="h", inclusive="left", tz="UTC", unit="ns")


def _stack(parts: Iterable[tuple[str, str, pd.DataFrame]]) -> pd.DataFrame:
    """The parts' rows one after the other, led by their ``venue`` and ``symbol`` (one concat, not one copy per part)."""
    parts = list(parts)
    if not parts:
        return pd.DataFrame()
    df = pd.concat([frame for _, _, frame in parts], ignore_index=True)
    sizes = [len(frame) for _, _, frame in parts]
    for name, at in (("symbol", 1), ("venue", 0)):
        df.insert(0, name, np.repeat(np.array([part[at] for part in parts], dtype=object), sizes))
    return df


def _finish(df: pd.DataFrame, columns: list[str], sort: list[str]) -> pd.DataFrame:
    df = df.loc[:, columns].sort_values(sort, kind="stable").reset_index(drop=True)
    stamps = {c: "datetime64[ns, UTC]" for c in columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)}
    return df.astype({"venue": "str", "symbol": "str", **stamps})


def _ns(stamps: pd.Series) -> pd.Series:
    """UTC nanosecond stamps whatever precision the source used (pandas 3 defaults to µs)."""
    return pd.to_datetime(stamps, utc=True).astype("datetime64[ns, UTC]")


def ohlcv_table(parts: Iterable[tuple[str, str, pd.DataFrame]], start: pd.Timestamp) -> pd.DataFrame:
    """One row per (venue, symbol, hour) from per-instrument candle frames.

    Each part should hold bars from ``start - OHLCV_WARMUP`` so that the look-back columns are
    exact from the first hour of the window; rows before ``start`` are dropped afterwards:

    * ``flat_hours``: how long the price has not moved (:func:`quant.quality.flat_hours`);
    * ``prev_close``: the close of the hour before (NaN when that bar does not exist);
    * ``sigma_1h``: σ of the previous week's hourly log returns (:func:`quant.market_data.continuity.prior_sigma`).

    All three come from the source's own bars, so an hour computes the same alone or inside a
    range; :func:`revised_bars` says where the source no longer agrees with what was stored.
    ``quote_volume = volume × close`` (USD) — an estimate: the venue's own figure sums each
    trade at its own price, which 1h bars do not carry.
    """
    parts = [(v, s, b if b["ts"].is_monotonic_increasing else b.sort_values("ts", kind="stable")) for v, s, b in parts]
    df = _stack(parts)
    if not df.empty:  # the look-back columns per instrument (each part on its own), then the rows before ``start`` dropped
        df["flat_hours"] = np.concatenate([flat_hours(b).to_numpy() for _, _, b in parts])
        df["prev_close"] = np.concatenate([previous_close(b["ts"], b["close"]) for _, _, b in parts])
        df["sigma_1h"] = np.concatenate([prior_sigma(log_returns(b["ts"], b["close"])) for _, _, b in parts])
        df = df[(df["ts"] >= start).to_numpy()].reset_index(drop=True)
    if df.empty:
        df = pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS})
        df["hour"] = df["ts"] = pd.Series(dtype="datetime64[ns, UTC]")
        df["venue"] = df["symbol"] = pd.Series(dtype="str")
        df["flat_hours"] = pd.Series(dtype="int64")
    df["hour"] = df["ts"].dt.floor("h")
    df["quote_volume"] = df["volume"] * df["close"]
    return _finish(df, OHLCV_COLUMNS, ["hour", "venue", "symbol"])


#: Relative difference between a stored close and the source's close of the same hour that counts as a revision.
REVISION_TOLERANCE = 1e-9


def revised_bars(parts: Iterable[tuple[str, str, pd.DataFrame]], stored: pd.DataFrame, hour: pd.Timestamp) -> list[str]:
    """Where the source's bar of ``hour`` differs from the one stored for it (or is gone): one sentence each.

    The window's look-backs are computed from the source; the book already traded on the stored
    hour. A source that re-stamped its feed (naive local time read as UTC), was edited, or revised
    a closed bar disagrees with storage here, and the run must stop rather than mix the two.
    """
    have = {(v, s): c for v, s, c in zip(stored["venue"], stored["symbol"], stored["close"], strict=True)}
    out = []
    for venue, symbol, bars in parts:
        if (venue, symbol) not in have:
            continue
        bar = bars[bars["ts"] == hour]
        kept = float(have[(venue, symbol)])
        if bar.empty:
            out.append(f"{venue} {symbol}: the source has no bar for {hour:%Y-%m-%d %H:00} UTC, stored close {kept:.8g}")
            continue
        now = float(bar["close"].iloc[-1])
        if not abs(now - kept) <= REVISION_TOLERANCE * max(abs(kept), 1e-300):
            out.append(f"{venue} {symbol}: the source's {hour:%Y-%m-%d %H:00} UTC close is {now:.8g}, the stored one {kept:.8g}")
    return out


#: Bars before the window that ``ohlcv_table`` needs for exact look-back columns: a week of returns
#: for ``sigma_1h`` (SIGMA_WINDOW_H returns need one more close), which covers ``flat_hours``'
#: STALE_HOURS (the first bar of a series can never count as flat: it has no previous close).
OHLCV_WARMUP = pd.Timedelta(hours=max(STALE_HOURS, SIGMA_WINDOW_H + 1))


def funding_table(parts: Iterable[tuple[str, str, pd.DataFrame]]) -> pd.DataFrame:
    """One row per settlement, snapped to the grid; ``hour`` is the snapped settlement's hour.

    A raw stamp more than :data:`quant.market_data.funding.SNAP_TOLERANCE` from the grid keeps its offset
    and ``on_grid = False`` so the quality check can name it; it is never silently moved.
    """
    df = _stack(parts)
    if df.empty:
        df = pd.DataFrame(
            {
                "venue": pd.Series(dtype="str"), "symbol": pd.Series(dtype="str"),
                "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                "funding_rate": pd.Series(dtype="float64"), "interval_hours": pd.Series(dtype="float64"),
            }
        )
    df = df.rename(columns={"ts": "raw_ts"})
    df["raw_ts"] = _ns(df["raw_ts"])
    snapped, offset_ms = snap_to_grid(df["raw_ts"])
    df["settlement_ts"] = snapped
    df["offset_ms"] = offset_ms.astype("float64")
    df["hour"] = (df["raw_ts"] + SNAP_TOLERANCE).dt.floor("h")
    df["funding_apr"] = annualise(df["funding_rate"], df["interval_hours"])
    df["on_grid"] = on_settlement_grid(snapped, df["offset_ms"], df["interval_hours"])
    return _finish(df, FUNDING_COLUMNS, ["hour", "venue", "symbol", "raw_ts"])


def open_interest_table(
    parts: Iterable[tuple[str, str, pd.DataFrame]], start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per (venue, symbol, hour) of open interest in USD.

    ``prev_oi_usd`` is the open interest one hour earlier (NaN where that hour is not in the
    part): the jump rule compares the two. Parts may start :data:`OI_WARMUP` before ``start``;
    rows before ``start`` are dropped after use.
    """
    kept = []
    for venue, symbol, df in parts:
        df = df.sort_values("ts", kind="stable").reset_index(drop=True)
        df["prev_oi_usd"] = previous_close(df["ts"], df["oi_usd"])
        kept.append((venue, symbol, df if start is None else df[df["ts"] >= start]))
    df = _stack(kept)
    if df.empty:
        df = pd.DataFrame(
            {
                "venue": pd.Series(dtype="str"), "symbol": pd.Series(dtype="str"),
                "ts": pd.Series(dtype="datetime64[ns, UTC]"), "oi_usd": pd.Series(dtype="float64"),
                "prev_oi_usd": pd.Series(dtype="float64"),
            }
        )
    df["hour"] = df["ts"].dt.floor("h")
    return _finish(df, OI_COLUMNS, ["hour", "venue", "symbol"])


#: Open interest fetched before the window for ``prev_oi_usd``.
OI_WARMUP = HOUR


def universe_scan(ohlcv: pd.DataFrame, funding: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """Scan inputs per (venue, symbol, hour), as known at the END of each hour.

    Parameters
    ----------
    ohlcv : ``ohlcv_table`` rows covering ``hours`` plus the 23 hours before.
    funding : ``funding_table`` rows covering ``hours`` plus :data:`FUNDING_LOOKBACK` before.
    hours : the hours to scan.

    Returns
    -------
    One row per (venue, symbol, hour) for every instrument seen in either input.
    ``volume_24h_usd`` is the sum of the last 24 bars' quote volume, NaN unless all 24 bars
    exist (a partial window is not a 24h volume). The funding columns hold the latest
    settlement at or before the hour's end, NaN when none in the last 24h.
    """
    keys = pd.concat([ohlcv[["venue", "symbol"]], funding[["venue", "symbol"]]]).drop_duplicates()
    keys = keys.sort_values(["venue", "symbol"]).reset_index(drop=True)
    grid = keys.merge(pd.DataFrame({"hour": hours}), how="cross")
    grid = _attach_volume(grid, ohlcv, hours)
    grid = _attach_funding(grid, funding)
    # A row exists only where the look-back itself saw the instrument, so an hour's rows do not
    # depend on data before or after it (listings, delistings) in the computed range.
    grid = grid[(grid["bars_24h"] > 0) | grid["last_settlement_ts"].notna()]
    return _finish(grid, UNIVERSE_COLUMNS, ["hour", "venue", "symbol"])


def _attach_volume(grid: pd.DataFrame, ohlcv: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    if ohlcv.empty or not len(hours):
        grid["bars_24h"] = 0
        grid["volume_24h_usd"] = np.nan
        return grid
    full = pd.date_range(hours[0] - (VOLUME_WINDOW_BARS - 1) * HOUR, hours[-1], freq="h", tz="UTC", unit="ns")
    wide = ohlcv.pivot_table(index="hour", columns=["venue", "symbol"], values="quote_volume", aggfunc="sum")
    wide = wide.reindex(full)
    values = wide.to_numpy()
    total = _window_sums(values)
    count = _window_sums(~np.isnan(values)).astype("int64")
    # the long table hour-major, columns in order (what DataFrame.stack gives, without its cost)
    n_hours, n_cols = total.shape
    long = pd.DataFrame(
        {
            "hour": pd.DatetimeIndex(hours).repeat(n_cols),
            "venue": np.tile(wide.columns.get_level_values("venue").to_numpy(), n_hours),
            "symbol": np.tile(wide.columns.get_level_values("symbol").to_numpy(), n_hours),
            "volume_24h_usd": total.ravel(),
            "bars_24h": count.ravel(),
        }
    )
    out = grid.merge(long, on=["venue", "symbol", "hour"], how="left")
    out["bars_24h"] = out["bars_24h"].fillna(0).astype("int64")
    return out


def _window_sums(values: np.ndarray) -> np.ndarray:
    """Sum of each trailing window of :data:`VOLUME_WINDOW_BARS` rows, NaN if any is missing.

    Every window is summed on its own, in the same order, so an hour's value does not depend on
    where the computed range starts (a running add/subtract sum drifts in the last bits, which
    would break "a backfill equals its hours one by one, bit for bit").
    """
    windows = np.lib.stride_tricks.sliding_window_view(values, VOLUME_WINDOW_BARS, axis=0)
    return windows.sum(axis=-1)


def _attach_funding(grid: pd.DataFrame, funding: pd.DataFrame) -> pd.DataFrame:
    cols = ["last_funding_rate", "last_funding_interval_hours", "last_funding_apr", "last_settlement_ts"]
    if funding.empty:
        for c in cols[:-1]:
            grid[c] = np.nan
        grid["last_settlement_ts"] = pd.Series(pd.NaT, index=grid.index, dtype="datetime64[ns, UTC]")
        return grid
    funding = funding.assign(settlement_ts=_ns(funding["settlement_ts"]))
    f = funding.sort_values("settlement_ts", kind="stable")[
        ["venue", "symbol", "settlement_ts", "funding_rate", "interval_hours", "funding_apr"]
    ].rename(
        columns={
            "funding_rate": "last_funding_rate",
            "interval_hours": "last_funding_interval_hours",
            "funding_apr": "last_funding_apr",
        }
    )
    f["last_settlement_ts"] = f["settlement_ts"]
    g = grid.assign(as_of=grid["hour"] + HOUR - pd.Timedelta(1, "ns")).sort_values("as_of", kind="stable")
    merged = pd.merge_asof(
        g, f, left_on="as_of", right_on="settlement_ts", by=["venue", "symbol"],
        direction="backward", tolerance=FUNDING_LOOKBACK,
    )
    return merged.drop(columns=["as_of", "settlement_ts"])
