"""The hour's order intents: wants become intents with deterministic ids, screened by the safeguards (and the kill switch), with the exposure after each approved one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.book.orders import OrderIntent, intents_frame
from quant.book.params import (
    BOOK_INTENT_COLUMNS,
    INTENTS,
    BookParams,
)
from quant.book.safeguards import HEDGE_LEGS, LADDER_LAYER, Book, Candidate, RiskLimits, screen
from quant.book.wants import (
    Want,
)
from quant.frames import empty


def hour_intents(wants: list[Want], hour: pd.Timestamp, reference: dict, legs: pd.DataFrame, known: set[str],
             params: BookParams, kill_switch_active: bool) -> pd.DataFrame:
    if not wants:
        return empty(INTENTS)
    orders = [OrderIntent(hour, w.venue, w.symbol, w.side, w.qty, w.order_type, w.limit, w.layer, w.leg, w.reason, w.reduce_only)
              for w in wants]
    df = intents_frame(orders)
    df["instrument_kind"] = [w.kind for w in wants]
    df["position"] = [w.position for w in wants]
    df["stop"] = [w.stop for w in wants]
    df["target"] = [w.target for w in wants]
    df["expiry"] = pd.to_datetime([w.expiry for w in wants], utc=True)
    df["strike"] = [w.strike for w in wants]
    df["option_type"] = [w.option_type for w in wants]
    df["iv"] = [w.iv for w in wants]
    df["reference_price"] = [w.limit if w.limit is not None else reference.get((w.venue, w.symbol), np.nan) for w in wants]
    df["notional_usd"] = df["qty"] * df["reference_price"]
    limits = RiskLimits(params.bankroll_usd)
    exposure = open_exposure(legs)
    book = Book(exposure=dict(exposure))
    verdicts: list[str | None] = [None] * len(df)
    screened = []
    for i, r in enumerate(df.itertuples(index=False)):
        if kill_switch_active and not r.reduce_only:
            verdicts[i] = "kill switch active: only reduce-only orders pass until a person resets it"
        else:
            screened.append(i)
    cands = [Candidate(df.at[i, "client_order_id"], df.at[i, "layer"], df.at[i, "position"], df.at[i, "leg"],
                       float(df.at[i, "notional_usd"]), bool(df.at[i, "reduce_only"])) for i in screened]
    for i, v in zip(screened, screen(cands, book, limits, known), strict=True):
        verdicts[i] = v
    df["approved"] = [v is None for v in verdicts]
    df["rejection"] = [v or "" for v in verdicts]
    after_columns(df, exposure)
    df["bankroll_usd"] = params.bankroll_usd
    df["kill_switch_active"] = kill_switch_active
    return df.loc[:, BOOK_INTENT_COLUMNS]


def open_exposure(legs: pd.DataFrame) -> dict[str, float]:
    """Open exposure per safeguard key ``layer:position``: |qty × mark| of the non-hedge legs."""
    if legs.empty:
        return {}
    risk = legs[~legs["leg"].isin(list(HEDGE_LEGS))]
    usd = (risk["qty"].abs() * risk["mark"]).groupby(risk["layer"] + ":" + risk["symbol"]).sum()
    return {k: float(v) for k, v in usd.items() if v > 0}


def after_columns(df: pd.DataFrame, exposure: dict[str, float]) -> None:
    """Running exposure after each approved intent, computed apart from the screen (re-checked by the check)."""
    pos = dict(exposure)
    deployed = sum(exposure.values())
    ladder = sum(v for k, v in exposure.items() if k.startswith(f"{LADDER_LAYER}:"))
    after = np.full((len(df), 3), np.nan)
    for i, r in enumerate(df.itertuples(index=False)):
        key = f"{r.layer}:{r.position}"
        adds = r.approved and not r.reduce_only and r.leg not in HEDGE_LEGS
        if adds:
            pos[key] = pos.get(key, 0.0) + r.notional_usd
            deployed += r.notional_usd
            ladder += r.notional_usd if r.layer == LADDER_LAYER else 0.0
        after[i] = (pos.get(key, 0.0), deployed, ladder)
    df["position_after_usd"], df["deployed_after_usd"], df["ladder_after_usd"] = after.T

