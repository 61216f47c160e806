"""The hour's ledger rows: fills, funding and marks applied to the legs, one row per position and a total with equity, peak, drawdown and risk."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quant.book.ledger import LedgerArrays, run_ledger
from quant.book.params import (
    ALL,
    LEDGER_COLUMNS,
    LEG_KEY,
    MONEY,
    POSITION_KEY,
    TOTAL,
    BookParams,
)

if TYPE_CHECKING:
    from quant.book.step import BookState


def previous_total(state: BookState, params: BookParams) -> dict:
    if state.hour is None:
        b = params.bankroll_usd
        return {"equity_usd": b, "peak_equity_usd": b, "day_open_equity_usd": b, "day_peak_equity_usd": b,
                "session_paused": False, "daily_loss_halt": False}
    return state.ledger[state.ledger["layer"] == TOTAL].iloc[0].to_dict()


def apply_ledger(legs: pd.DataFrame, fills: pd.DataFrame, bars: pd.DataFrame, funding: pd.DataFrame,
                  hour: pd.Timestamp) -> pd.DataFrame:
    """Run the ledger core for one hour over ``legs``; returns the legs with new values."""
    if legs.empty:
        return legs
    legs = legs.reset_index(drop=True)
    n = len(legs)
    index = {tuple(k): i for i, k in enumerate(legs[LEG_KEY].to_numpy())}
    got = fills[fills["filled_qty"] > 0]
    leg_idx = np.array([index[(f.layer, f.venue, f.symbol, str(f.leg).split(":", 1)[0])] for f in got.itertuples()], dtype=np.int64)
    sign = np.where(got["side"].to_numpy() == "buy", 1.0, -1.0)
    fill_arrays = (leg_idx, np.zeros(len(got), np.int64), sign * got["filled_qty"].to_numpy(dtype="float64"),
                   got["fill_price"].to_numpy(dtype="float64"), got["fee"].to_numpy(dtype="float64"))
    closes = bars.set_index(["venue", "symbol"])["close"]
    mark = closes.reindex(pd.MultiIndex.from_arrays([legs["venue"], legs["instrument"]])).to_numpy(dtype="float64")
    is_perp = (legs["kind"] == "perp").to_numpy()
    f = funding.drop_duplicates(["venue", "symbol"], keep="last").set_index(["venue", "symbol"])["funding_rate"] if len(funding) else pd.Series(dtype="float64")
    keys = pd.MultiIndex.from_arrays([legs["venue"], legs["instrument"]])
    settles = is_perp & keys.isin(f.index)
    rate = f.reindex(keys).to_numpy(dtype="float64")
    start = LedgerArrays(
        qty=legs["qty"].to_numpy(dtype="float64")[:, None], avg_entry=legs["avg_entry"].to_numpy(dtype="float64")[:, None],
        realised=legs["realised_usd"].to_numpy(dtype="float64")[:, None], unrealised=np.zeros((n, 1)),
        fees=legs["fees_usd"].to_numpy(dtype="float64")[:, None], funding=legs["funding_usd"].to_numpy(dtype="float64")[:, None],
    )
    names = [f"{r.layer} {r.venue} {r.instrument} {r.leg} ({hour:%Y-%m-%d %H:00})" for r in legs.itertuples()]
    out = run_ledger(mark=mark[:, None], is_perp=is_perp, fills=fill_arrays, settles=settles[:, None], rate=rate[:, None],
                     funding_px=legs["mark"].to_numpy(dtype="float64")[:, None], start=start, names=names)
    legs = legs.copy()
    legs["qty"], legs["avg_entry"] = out.qty[:, 0], out.avg_entry[:, 0]
    legs["realised_usd"], legs["unrealised_usd"] = out.realised[:, 0], out.unrealised[:, 0]
    legs["fees_usd"], legs["funding_usd"] = out.fees[:, 0], out.funding[:, 0]
    legs["mark"] = mark
    return legs


def ledger_rows(prev: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Cumulative money per (layer, venue, position): previous totals + this hour's increments."""
    cum = ["realised_usd", "fees_usd", "funding_usd"]
    base = prev[prev["layer"] != TOTAL].set_index(POSITION_KEY)[cum] if len(prev) else pd.DataFrame(columns=cum)
    inc = after[[*LEG_KEY, "symbol", *cum]].copy()
    if len(before):
        old = before.set_index(LEG_KEY)[cum].reindex(pd.MultiIndex.from_frame(after[LEG_KEY])).fillna(0.0).to_numpy()
        inc[cum] = inc[cum].to_numpy(dtype="float64") - old
    inc = inc.groupby(POSITION_KEY)[cum].sum()
    unreal = after.groupby(POSITION_KEY)["unrealised_usd"].sum() if len(after) else pd.Series(dtype="float64")
    rows = base.astype("float64").add(inc, fill_value=0.0) if len(base) or len(inc) else base
    rows = rows.reindex(rows.index.union(unreal.index)) if len(unreal) else rows
    rows = rows.fillna(0.0)
    rows["unrealised_usd"] = unreal.reindex(rows.index).fillna(0.0) if len(rows) else []
    rows = rows.reset_index()
    rows.columns = [*POSITION_KEY, *rows.columns[3:]]
    return rows


def ledger_frame(rows: pd.DataFrame, risk: dict, hour: pd.Timestamp) -> pd.DataFrame:
    book = {c: risk[c] for c in LEDGER_COLUMNS if c in risk and c not in MONEY and c != "pnl_usd"}
    inst = rows.copy()
    if len(inst):
        inst["pnl_usd"] = inst["realised_usd"] + inst["unrealised_usd"] - inst["fees_usd"] + inst["funding_usd"]
        inst = inst.sort_values(POSITION_KEY, kind="stable")
    total = {"layer": TOTAL, "venue": ALL, "symbol": ALL, **{c: risk[c] for c in MONEY}, "pnl_usd": risk["pnl_usd"]}
    out = pd.concat([x for x in (inst, pd.DataFrame([total])) if len(x)], ignore_index=True)
    for c, v in book.items():
        out[c] = v
    out["hour"] = hour
    return out.loc[:, LEDGER_COLUMNS]

