"""Per-strategy performance of the strategies layer (ST): money from the ledger, trades from the fills.

Each strategy position is named ``<strategy>@<symbol>`` (``quant.book.strategy_layer``), so the
ledger attributes money to a strategy by its positions' names; fills tell entries (a leg that is
the strategy's name) from exits (``<strategy>:stop``, ``:target``, ``:time``). Money is the last
hour's cumulative USD of every position the strategy ever held; ``target_share`` is the share of
exits that were targets (NaN before the first exit), a hit rate that needs no trade matching.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.book.strategy_layer import STOP_EXIT, STRATEGY_LAYER, TARGET_EXIT, TIME_EXIT, strategy_of

STRATEGY_TABLE_COLUMNS = ["pnl_usd", "realised_usd", "unrealised_usd", "fees_usd", "funding_usd", "entries", "stops",
                          "targets", "time_exits", "open_positions", "target_share"]
_MONEY = ["pnl_usd", "realised_usd", "unrealised_usd", "fees_usd", "funding_usd"]


def strategy_table(ledger: pd.DataFrame, fills: pd.DataFrame, positions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per strategy the layer traded (index ``strategy``), :data:`STRATEGY_TABLE_COLUMNS`; empty when none did.

    ``ledger``, ``fills``, ``positions``: the book's ``ledger_1h``, ``fills_1h`` and ``positions_1h``
    frames over the report's window; without ``positions`` a strategy's open positions are its
    entries less its exits.
    """
    st = ledger[ledger["layer"] == STRATEGY_LAYER] if len(ledger) else ledger
    if st.empty:
        return pd.DataFrame(columns=STRATEGY_TABLE_COLUMNS, index=pd.Index([], name="strategy"))
    last = st[st["hour"] == ledger["hour"].max()]
    money = last.assign(strategy=last["symbol"].map(strategy_of)).groupby("strategy")[_MONEY].sum()
    got = fills[(fills["layer"] == STRATEGY_LAYER) & (fills["filled_qty"] > 0)] if len(fills) else fills
    parts = got["leg"].astype(str).str.split(":", n=1, expand=True).reindex(columns=[0, 1]) if len(got) else pd.DataFrame(columns=[0, 1])
    kinds = parts[1].fillna("entry")
    counts = pd.crosstab(parts[0], kinds) if len(got) else pd.DataFrame()
    out = money.copy()
    for column, kind in (("entries", "entry"), ("stops", STOP_EXIT), ("targets", TARGET_EXIT), ("time_exits", TIME_EXIT)):
        out[column] = counts[kind].reindex(out.index, fill_value=0).astype(int) if kind in counts else 0
    exits = out["stops"] + out["targets"] + out["time_exits"]
    if positions is not None:
        held = positions[(positions["layer"] == STRATEGY_LAYER) & (positions["hour"] == ledger["hour"].max())] if len(positions) else positions
        out["open_positions"] = (held["symbol"].map(strategy_of).value_counts().reindex(out.index, fill_value=0).astype(int)
                                 if len(held) else 0)
    else:
        out["open_positions"] = (out["entries"] - exits).clip(lower=0)
    out["target_share"] = np.where(exits > 0, out["targets"] / exits.where(exits > 0, 1), np.nan)
    return out.loc[:, STRATEGY_TABLE_COLUMNS].sort_values("pnl_usd", ascending=False)


def markdown_strategy_table(table: pd.DataFrame) -> str:
    """:func:`strategy_table` as Markdown (USD to the cent, the target share in %, n/a where undefined)."""
    if table.empty:
        return "No strategy traded in this window."
    head = "| strategy | P&L USD | fees | funding | entries | stops | targets | time exits | open | target share |"
    lines = [head, "|:---|" + "---:|" * 9]
    for name, r in table.iterrows():
        share = "n/a" if not np.isfinite(r["target_share"]) else f"{r['target_share']:.0%}"
        lines.append(f"| {name} | {r['pnl_usd']:,.2f} | {r['fees_usd']:,.2f} | {r['funding_usd']:,.2f} | {int(r['entries'])} | "
                     f"{int(r['stops'])} | {int(r['targets'])} | {int(r['time_exits'])} | {int(r['open_positions'])} | {share} |")
    return "\n".join(lines)
