"""The replay folder's files: their layout, how each dataset is read, checked and grouped per instrument.

``ReplayExchange`` (``resources.exchange.replay``) serves windows of what this module reads. Each
dataset (candles, funding, open interest, mark/index, trades) is read on first use and cached per
folder; a file that cannot be read, a column that is not numeric or a stamp without a time zone is
a ``SourceFrameError`` naming the file. Only exact copies repeated across files are dropped: a
conflicting row is kept for the checks to name.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from quant import frames
from quant.frames import SourceFrameError
from quant.market_data.funding import infer_interval_hours

DEFAULT_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"

# The first window's files keep their old names (tests corrupt a copy of exactly these).
CANDLES_FILE = "perp_ohlcv_1h/binance_bybit_2025.parquet"
FUNDING_FILE = "funding/binance_bybit_hyperliquid_2025.parquet"
FUNDING_36_FILE = "funding/binance_36_symbols_2025.parquet"
#: One file per window, in window order; every file of a dataset has the same columns and dtypes.
CANDLES_FILES = (CANDLES_FILE, "perp_ohlcv_1h/binance_bybit_2026.parquet")
FUNDING_FILES = (FUNDING_FILE, "funding/binance_bybit_hyperliquid_2026.parquet")
FUNDING_36_FILES = (FUNDING_36_FILE, "funding/binance_36_symbols_2026.parquet")
#: Open interest is one file (2025-12-07 11:00 -> 2026-03-07 10:00): it starts inside the gap.
OI_FILE = "open_interest/hyperliquid_oi_1h.parquet"
TRADES_FILES = {
    ("binance", "BTC/USDT:USDT"): "trades/usdm_btcusdt_20240808.gz",
    ("binance", "ETH/USDT:USDT"): "trades/usdm_ethusdt_20240808.gz",
}
#: The files a replay data folder must hold (trades are optional: read when asked for).
REQUIRED_FILES = (*CANDLES_FILES, *FUNDING_FILES, *FUNDING_36_FILES, OI_FILE)
#: What the errors tell a person to fix.
LAYOUT_HINT = "a replay data folder (PERPETUA_DATA_ROOT, or a resource's sample_dir) needs the layout of data/sample"
#: Quote currency of each venue's linear perps in the sample (hyperliquid settles in USDC).
VENUE_QUOTE = {"binance": "USDT", "bybit": "USDT", "hyperliquid": "USDC"}
#: Half-open [start, end) UTC windows where every candle instrument of the sample universe has its
#: bar each hour (Binance HYPE only from its 2025-05-30 listing, see ``quant.market_data.universe``).
#: Window 1 starts at 12:00, the first hour DOGE and SOL have a bar (BTC and ETH start at 11:00).
#: Window 2 ends at 10:00: BTC and ETH's last bar is 09:00 on both venues, while DOGE, SOL and HYPE
#: also have a 10:00 bar (served by ``candles``, but not an hour where every instrument is complete).
#: Between the windows (2025-10-01 -> 2026-01-14) the data is withheld on purpose: no data, not a gap.
SAMPLE_WINDOWS: tuple[tuple[pd.Timestamp, pd.Timestamp], ...] = (
    (pd.Timestamp("2025-03-06 12:00", tz="UTC"), pd.Timestamp("2025-10-01 00:00", tz="UTC")),
    (pd.Timestamp("2026-01-15 00:00", tz="UTC"), pd.Timestamp("2026-03-05 10:00", tz="UTC")),
)



def coin_symbol(venue: str, coin: str) -> str:
    """``("binance", "BTC")`` -> ``"BTC/USDT:USDT"`` (ccxt unified linear perp symbol)."""
    quote = VENUE_QUOTE[venue]
    return f"{coin}/{quote}:{quote}"


def venue_symbol_to_unified(venue_symbol: str) -> str:
    """``"ARBUSDC"`` -> ``"ARB/USDC:USDC"``; ``"BTCUSDT"`` -> ``"BTC/USDT:USDT"``."""
    for quote in ("USDT", "USDC"):
        if venue_symbol.endswith(quote):
            return f"{venue_symbol[: -len(quote)]}/{quote}:{quote}"
    raise ValueError(f"cannot map venue symbol {venue_symbol!r} to a unified symbol")


@dataclass(frozen=True)
class _Series:
    """One (venue, symbol) series sorted by ``ts`` with int64 ns keys for fast window slicing."""

    keys: np.ndarray
    frame: pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Series:
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        return cls(keys=frame["ts"].to_numpy(dtype="datetime64[ns]").view("int64"), frame=frame)

    def window(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        lo = np.searchsorted(self.keys, start.value, side="left")
        hi = np.searchsorted(self.keys, end.value, side="left")
        return self.frame.iloc[lo:hi].reset_index(drop=True)


def _group(df: pd.DataFrame, schema: dict[str, str], name: str) -> dict[tuple[str, str], _Series]:
    out: dict[tuple[str, str], _Series] = {}
    for (venue, symbol), part in df.groupby(["venue", "symbol"], sort=True):
        out[(str(venue), str(symbol))] = _Series.of(frames.conform(part, schema, name=name))
    return out


def require_files(root: Path, files: tuple[str, ...] = REQUIRED_FILES) -> None:
    """A FileNotFoundError naming ``root`` when it is no folder, or naming every one of ``files`` it lacks."""
    if not root.is_dir():
        raise FileNotFoundError(f"replay data folder not found: {root} ({LAYOUT_HINT})")
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"replay data folder {root} lacks {', '.join(missing)}; {LAYOUT_HINT}")


def _read_all(root: Path, files: tuple[str, ...], keys: list[str], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every file of one dataset, concatenated, sorted; a row a later file shares with an earlier one is dropped.

    Only rows repeated ACROSS files (where windows touch) are dropped: a duplicate inside one
    file is the source's own defect and is served as recorded, for the checks to catch.

    A ``file`` column keeps the index in ``files`` each row came from (its window). The files
    must agree on columns and dtypes: a file that differs is an error here, not a silent upcast
    or a column of NaN further down.
    """
    parts = [_read_one(root, f, numeric) for f in files]
    first = {c: str(t) for c, t in parts[0].dtypes.items()}
    for f, part in zip(files[1:], parts[1:], strict=True):
        got = {c: str(t) for c, t in part.dtypes.items()}
        if got != first:
            raise ValueError(f"{f} does not match the schema of {files[0]}: {got} != {first}")
    kept = [parts[0].assign(file=0)]
    columns = list(parts[0].columns)
    for i, part in enumerate(parts[1:], start=1):
        # Only exact copies are dropped (every column equal): a later file's DIFFERENT row for the same
        # key is a conflict the checks must see, not something file order may settle.
        seen = pd.concat([p[columns] for p in kept], ignore_index=True).drop_duplicates()
        fresh = part.merge(seen, on=columns, how="left", indicator=True)["_merge"].eq("left_only").to_numpy()
        kept.append(part.loc[fresh].assign(file=i))
    df = pd.concat(kept, ignore_index=True)
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


#: Files of each dataset, for the error that names them.
DATASET_FILES = {
    "candles": CANDLES_FILES, "funding": (*FUNDING_FILES, *FUNDING_36_FILES),
    "open_interest": (OI_FILE,), "mark_index": FUNDING_36_FILES,
}


def _dataset(sample_dir: str, name: str) -> dict[tuple[str, str], _Series]:
    """One dataset of the replay folder, grouped per (venue, symbol); a SourceFrameError naming its files when unreadable."""
    table, error = _read_dataset(sample_dir, name)
    if error is not None:
        raise error
    return table


@functools.lru_cache(maxsize=16)
def _read_dataset(sample_dir: str, name: str) -> tuple[dict[tuple[str, str], _Series], SourceFrameError | None]:
    """The dataset or why it cannot be read, cached either way: a broken file is read once, not on every call."""
    try:
        return _LOADERS[name](Path(sample_dir)), None
    except SourceFrameError as exc:
        error = SourceFrameError(f"{name} in {', '.join(DATASET_FILES[name])} ({sample_dir}): {exc}")
        error.__cause__ = exc
    except (OSError, ValueError, TypeError, pa.ArrowException, KeyError) as exc:
        error = SourceFrameError(f"{name} in {', '.join(DATASET_FILES[name])} ({sample_dir}) cannot be read: "
                                 f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
    return {}, error


def _load_candles(root: Path) -> dict:
    candles = _read_all(root, CANDLES_FILES, ["venue", "coin", "timestamp"], numeric=("o", "h", "l", "c", "v"))
    candles = candles.rename(columns={"timestamp": "ts", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"})
    candles["symbol"] = [coin_symbol(v, c) for v, c in zip(candles["venue"], candles["coin"], strict=True)]
    return _group(candles, dict(frames.CANDLES), "replay.candles")


@functools.lru_cache(maxsize=4)
def _f36(root: Path) -> pd.DataFrame:
    return _read_all(root, FUNDING_36_FILES, ["venue", "venue_symbol", "settlement_ts"],
                     numeric=("rate_raw", "interval_hours", "mark_price"))


def _load_funding_table(root: Path) -> dict:
    return _group(_load_funding(root, _f36(root)), dict(frames.FUNDING), "replay.funding")


def _load_oi(root: Path) -> dict:
    oi = _read_one(root, OI_FILE, ("oi_usd",)).rename(columns={"timestamp": "ts"})
    oi["symbol"] = [coin_symbol(v, c) for v, c in zip(oi["venue"], oi["coin"], strict=True)]
    return _group(oi, dict(frames.OPEN_INTEREST), "replay.open_interest")


def _load_mark(root: Path) -> dict:
    f36 = _f36(root)
    mark = pd.DataFrame(
        {
            "venue": f36["venue"],
            "symbol": f36["venue_symbol"].map(venue_symbol_to_unified),
            "ts": f36["settlement_ts"],
            "mark_price": f36["mark_price"],
            "index_price": np.nan,
        }
    )
    return _group(mark, dict(frames.MARK_INDEX), "replay.mark_index")


_LOADERS = {"candles": _load_candles, "funding": _load_funding_table, "open_interest": _load_oi, "mark_index": _load_mark}


def _read_one(root: Path, file: str, numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """One Parquet file of the folder; a SourceFrameError naming it when it is truncated or not Parquet,
    or naming the column, row and value where a ``numeric`` column holds something else."""
    try:
        df = pd.read_parquet(root / file)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SourceFrameError(f"{root / file} is not a readable Parquet file: {type(exc).__name__}: {exc}") from exc
    for col in numeric:
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):
            bad = pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
            raise SourceFrameError(f"{root / file}: column {col!r} must hold numbers, found {df[col].dtype}: "
                                   f"row {row} is {df[col].iloc[row]!r}")
    return df


def _three_venue_funding(root: Path) -> pd.DataFrame:
    """The 3-venue funding files with ``interval_hours`` inferred inside each file.

    The files hold no interval, so it is inferred from the spacing to the previous settlement
    (``quant.market_data.funding.infer_interval_hours``). Each file is one contiguous window: inferring per
    file keeps the months between the windows from being read as one very long interval (the
    first settlement of a window takes the spacing to the next one, as a series' first always does).
    """
    three = _read_all(root, FUNDING_FILES, ["venue", "coin", "timestamp"], numeric=("funding_rate",))
    three = three.rename(columns={"timestamp": "ts"})
    three["symbol"] = [coin_symbol(v, c) for v, c in zip(three["venue"], three["coin"], strict=True)]
    three = three.sort_values(["venue", "symbol", "ts"], kind="stable")
    three["interval_hours"] = three.groupby(["venue", "symbol", "file"], sort=False)["ts"].transform(infer_interval_hours)
    return three


def _load_funding(root: Path, f36: pd.DataFrame) -> pd.DataFrame:
    """Union of the 3-venue funding files and the 36-symbol Binance set, one row per settlement.

    The 36-symbol set states ``interval_hours``; the 3-venue files do not (see
    ``_three_venue_funding``). Where both hold the same Binance settlement, the row that states
    its interval wins.
    """
    three = _three_venue_funding(root)
    f36 = pd.DataFrame(
        {
            "venue": f36["venue"],
            "symbol": f36["venue_symbol"].map(venue_symbol_to_unified),
            "ts": f36["settlement_ts"],
            "funding_rate": f36["rate_raw"],
            "interval_hours": f36["interval_hours"],
        }
    )
    three = three[["venue", "symbol", "ts", "funding_rate", "interval_hours"]]
    key = ["venue", "symbol", "grid"]
    stated = f36.assign(grid=f36["ts"].dt.round("h"))[[*key, "funding_rate"]]
    matched = three.assign(grid=three["ts"].dt.round("h")).reset_index().merge(stated, on=key, how="left",
                                                                               suffixes=("", "_36"))
    # The same settlement in both sets at the same rate: keep the row that states its interval. A
    # different rate is a conflict, not a copy: both rows are served, and the unique_rows rule of
    # funding_settlements names them (never resolved silently by file order). A duplicate inside
    # one set is served as recorded too.
    same = np.isclose(matched["funding_rate"], matched["funding_rate_36"], rtol=1e-9, atol=1e-12)
    copies = three.index.isin(matched.loc[same, "index"])
    both = pd.concat([f36, three.loc[~copies]], ignore_index=True)
    return both.reset_index(drop=True)


def _iter_trade_messages(path: str) -> Iterator[dict]:
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, payload = line.partition(" ")
            if '@trade"' not in payload:
                continue
            yield json.loads(payload)["data"]


@functools.lru_cache(maxsize=4)
def _load_trades(path: str) -> _Series:
    """Binance USD-M ``@trade`` messages: T (trade time ms), t, p, q, m (buyer is maker)."""
    rows = [(m["T"], m["t"], float(m["p"]), float(m["q"]), bool(m["m"])) for m in _iter_trade_messages(path)]
    df = pd.DataFrame(rows, columns=["ts", "trade_id", "price", "qty", "is_buyer_maker"])
    df["ts"] = pd.to_datetime(df["ts"], unit="ms", utc=True)
    return _Series.of(frames.conform(df, frames.TRADES, name="replay.trades"))
