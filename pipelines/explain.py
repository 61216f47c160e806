"""``perpetua explain ORDER_ID``: one order's chain from the market data to its P&L, read from storage.

market data -> features and regime -> the layer's signal -> the layer's allocation -> the intent
(with its reason) -> the safeguards' verdict -> the fill -> funding -> P&L, each step with the
asset, its partition (hour), Dagster's data version and the run that wrote it (from the instance).

An order is decided at the end of its hour H (``order_intents_1h``) from H's data and works during
H + 1h, where the fill simulator fills it or says why not (``fills_1h``, which carries the order's
client id: a fill has no id of its own, so either table's id is the order's). The position it opens
or changes is ``(layer, venue, position)`` in ``positions_1h`` and ``ledger_1h``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import DagsterInstance
from upath import UPath

from checks.engine import partition_key
from pipelines.environments import Settings
from pipelines.explain_steps import fill_step, funding_step, pnl_step
from pipelines.lineage import HOUR, recorded
from quant.book.orders import CLIENT_ID_HASH_CHARS, CLIENT_ID_PREFIX
from resources.storage import MissingPartitionError, read_hours

#: Each layer's signal table and the columns the chain shows of it.
SIGNALS = {
    "L1": ("carry_signals_1h", ["venue", "symbol", "funding_apr", "volume_24h_usd", "eligible", "entry", "exit", "reason"]),
    "L2": ("cascade_signals_1h", ["venue", "symbol", "score", "direction", "status", "armed", "triggered", "close"]),
    "L3": ("tail_hedge_signals_1h", ["currency", "status", "underlying_usd", "put_instrument", "call_instrument",
                                     "put_ask_usd", "call_ask_usd", "premium_usd", "source"]),
    "ML": ("model_predictions_1h", ["venue", "symbol", "probability", "expected_return", "regime", "fold", "model_version",
                                    "status"]),
    "ST": ("strategy_signals_1h", ["strategy", "venue", "symbol", "status", "side", "entry", "stop", "target", "confidence",
                                   "reason"]),
}
MARKET_COLUMNS = ["venue", "symbol", "open", "high", "low", "close", "quote_volume"]
FEATURE_COLUMNS = ["venue", "symbol", "mom_24h", "vol_24h", "vol_7d", "atr_14", "breakout_up", "breakout_down"]
REGIME_COLUMNS = ["venue", "symbol", "regime", "trend_score", "range_score", "high_vol_score", "crash_score"]
ALLOCATION_COLUMNS = ["layer", "strength", "weight", "budget_usd", "cap_usd", "equity_usd", "risk_level",
                      "kill_switch_active", "reason", "note"]
#: Most rows a step prints of a table (a coin on several venues).
MAX_ROWS = 6
#: How a client order id looks (``quant.book.orders.client_order_id``).
ID_FORM = f"{CLIENT_ID_PREFIX}-<layer>-<{CLIENT_ID_HASH_CHARS} hex digits>"


@dataclass
class Step:
    """One link of the chain: what it says, and where it is stored and recorded."""

    name: str
    asset: str
    hour: pd.Timestamp | None
    lines: list[str] = field(default_factory=list)
    data_version: str | None = None
    run_id: str | None = None

    def text(self) -> str:
        where = "" if self.hour is None else (
            f"  [{self.asset} {partition_key(self.hour)}, data version {(self.data_version or '-')[:16]}, "
            f"run {self.run_id or 'no record'}]")
        return "\n".join([f"{self.name}{where}", *(f"    {ln}" for ln in self.lines)])


def find(root: str, order_id: str) -> dict[str, pd.Timestamp]:
    """asset -> the hour of the row with ``client_order_id == order_id`` in order_intents_1h and fills_1h."""
    found, looked = {}, []
    for asset in ("order_intents_1h", "fills_1h"):
        folder = UPath(root) / asset
        days = sorted(folder.glob("*.parquet")) if folder.exists() else []
        looked.append(f"{folder} ({len(days)} day files" + (f", {days[0].stem} .. {days[-1].stem})" if days else ")"))
        for path in days:
            with path.open("rb") as fh:
                table = pq.read_table(fh, columns=["hour", "client_order_id"])
            hit = table.filter(pc.equal(table.column("client_order_id"), order_id))
            if hit.num_rows:
                found[asset] = pd.Timestamp(hit.column("hour")[0].as_py()).tz_convert("UTC")
                break
    if not found:
        raise ValueError(f"no order or fill with client order id {order_id!r}: looked in {' and '.join(looked)}; "
                         f"a client order id looks like {ID_FORM} (the client_order_id column of order_intents_1h or fills_1h)")
    return found


def rows_at(root: str, asset: str, hour: pd.Timestamp) -> pd.DataFrame | None:
    """``asset``'s rows of ``hour`` (None where that hour is not stored)."""
    try:
        return read_hours(root, asset, pd.DatetimeIndex([hour]))
    except MissingPartitionError:
        return None


def coin(symbol: str, position: str) -> str:
    """The coin an order is about: ``BTC`` of ``BTC/USDT:USDT``; ``ETH`` of an option position ``ETH-24MAR25``."""
    if "/" in symbol:
        return symbol.split("/")[0]
    return position.split("-")[0]


def show(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    cols = [c for c in columns if c in frame.columns]
    if frame.empty:
        return ["(no rows)"]
    text = frame[cols].head(MAX_ROWS).to_string(index=False, max_colwidth=70, float_format=lambda x: f"{x:,.6g}")
    return text.splitlines() + ([f"... {len(frame) - MAX_ROWS} more"] if len(frame) > MAX_ROWS else [])


def of_coin(frame: pd.DataFrame | None, name: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    if "symbol" in frame.columns:
        return frame[frame["symbol"].astype(str).str.split("/").str[0] == name]
    if "currency" in frame.columns:
        return frame[frame["currency"] == name]
    return frame


def explain(instance: DagsterInstance, s: Settings, order_id: str) -> str:
    """The chain of ``order_id`` as text (``ValueError`` naming where it looked for an unknown id)."""
    order_id = order_id.strip()
    root = s.storage_root
    where = find(root, order_id)
    if "order_intents_1h" not in where:
        raise ValueError(f"{order_id} is in fills_1h at {where['fills_1h']:%Y-%m-%d %H:00} UTC but its intent "
                         f"(order_intents_1h at {where['fills_1h'] - HOUR:%Y-%m-%d %H:00}) is not stored: re-materialise that hour")
    hour = where["order_intents_1h"]
    intents = rows_at(root, "order_intents_1h", hour)
    intent = intents[intents["client_order_id"] == order_id].iloc[0]
    name = coin(str(intent["symbol"]), str(intent["position"]))
    exec_hour = pd.Timestamp(intent["exec_hour"]).tz_convert("UTC")
    steps = []

    def step(title: str, asset: str, at: pd.Timestamp, lines: list[str]) -> Step:
        rec = recorded(instance, asset, pd.DatetimeIndex([at])).get(partition_key(at))
        st = Step(title, asset, at, lines, rec.data_version if rec else None, rec.run_id if rec else None)
        steps.append(st)
        return st

    step("1 market data", "perp_ohlcv_1h", hour, show(of_coin(rows_at(root, "perp_ohlcv_1h", hour), name), MARKET_COLUMNS))
    step("2 features", "features_1h", hour, show(of_coin(rows_at(root, "features_1h", hour), name), FEATURE_COLUMNS))
    step("  regime", "regime_scores_1h", hour, show(of_coin(rows_at(root, "regime_scores_1h", hour), name), REGIME_COLUMNS))
    signal, columns = SIGNALS.get(str(intent["layer"]), (None, []))
    if signal is not None:
        rows = of_coin(rows_at(root, signal, hour), name)
        if "strategy" in rows.columns and str(intent["leg"]) in set(rows["strategy"].astype(str)):
            rows = rows[rows["strategy"].astype(str) == str(intent["leg"])]
        step(f"3 signal ({intent['layer']})", signal, hour, show(rows, columns))
    allocations = rows_at(root, "layer_allocations_1h", hour)
    mine = allocations[allocations["layer"] == intent["layer"]] if allocations is not None else pd.DataFrame()
    step("4 allocation", "layer_allocations_1h", hour, show(mine, ALLOCATION_COLUMNS))
    limit = "" if pd.isna(intent["limit"]) else f" at {intent['limit']:,.6g}"
    step("5 intent", "order_intents_1h", hour, [
        f"{intent['side']} {intent['qty']:,.6g} {intent['symbol']} on {intent['venue']}, {intent['order_type']}{limit}, "
        f"layer {intent['layer']} leg {intent['leg']}, position {intent['position']}, works {exec_hour:%Y-%m-%d %H:00} UTC",
        f"reference price {intent['reference_price']:,.6g}, notional {intent['notional_usd']:,.2f} USD"
        + (", reduce-only" if bool(intent["reduce_only"]) else ""),
        f"reason: {intent['reason']}"])
    verdict = "approved" if bool(intent["approved"]) else f"REJECTED: {intent['rejection']}"
    step("6 safeguards", "order_intents_1h", hour, [
        verdict, f"position after {intent['position_after_usd']:,.2f} USD, layer deployed after "
        f"{intent['deployed_after_usd']:,.2f} USD of bankroll {intent['bankroll_usd']:,.2f}; kill switch "
        f"{'ACTIVE' if bool(intent['kill_switch_active']) else 'clear'}"])
    fills = rows_at(root, "fills_1h", exec_hour)
    step("7 fill", "fills_1h", exec_hour, fill_step(fills, order_id, intent))
    filled = fills is not None and bool(((fills["client_order_id"] == order_id) & (fills["filled_qty"] > 0)).any())
    if filled:
        funding_lines, last = funding_step(root, intent, exec_hour)
        step("8 funding", "funding_settlements", exec_hour, funding_lines)
        step("9 P&L", "ledger_1h", exec_hour, pnl_step(root, intent, exec_hour, fills, last))
    head = f"order {order_id}: {intent['layer']} {intent['side']} {intent['symbol']} ({intent['venue']}), decided " \
           f"{hour:%Y-%m-%d %H:00} UTC"
    return "\n".join([head, *(st.text() for st in steps)])
