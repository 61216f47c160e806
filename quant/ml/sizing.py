"""Sizing of the ML sleeve (hourly spot, long only, no leverage): which predictions trade, how big, and when they end.

Pure: the hour's predictions (``quant.ml.predictions``) and the held positions in, one decision
row per instrument out. The book (``quant.book.wants.ml_wants``) turns the rows into orders.

Entries — a prediction row may open a position only when ``status`` is ``ok``, every number the
sizing reads is finite (``probability``, ``expected_return``, ``sigma_1h`` > 0, ``corr_btc_7d``,
``horizon_h`` ≥ 1), ``expected_return > min_edge`` (0: the expected edge exceeds the round trip's
0.8% costs, already netted in the prediction) and ``probability ≥ min_probability``. Candidates
go best ``expected_return`` first (ties: probability, then venue, symbol). Each is sized so that a
stop ``stop_sigmas`` × σ_1h × √horizon_h below the entry loses ``base_risk_pct`` of equity
(volatility-adjusted risk per trade, the design's 2%)::

    stop_frac = stop_sigmas · sigma_1h · √horizon_h
    notional  = equity · risk_pct / stop_frac,   qty = notional / price

then cut to the room left under three caps, all percentages of the bankroll: the sleeve's
exposure (``max_exposure_pct``, 20%, and never above the allocator's budget for the layer), the
correlation cluster (``max_cluster_pct``, 10%) and ``max_positions`` (10). A position the caps
cut below ``min_position_pct`` (1%, the book's own safeguard minimum) is not opened.

Clusters — from ``corr_btc_7d``: ``|corr| ≥ cluster_corr`` (0.7) is the shared cluster
``btc_beta`` (those coins move as one bet on BTC); anything less is the symbol's own cluster (the
same coin on two venues is one cluster). A held position whose correlation is unknown this hour
counts against ``btc_beta`` (the cautious guess for a crypto coin).

Drawdown ladder — the book's levels (``quant.book.risk``, from PEAK equity), cumulative:
``reduce_risk`` (≥ 10%) halves the risk per trade; ``reduce_exposure`` (≥ 15%) halves it too and
multiplies the exposure cap by 0.25; ``halt`` (≥ 20%) opens nothing. Exits are never held back.

Exits — a held position is sold whole (a reduce-only market sell at the next hour's open) when,
at the close of the decision hour, the first of these holds:

1. **stop** — the close is at or below the stop set at entry (watched on closes: no resting stop
   order, so a gap through the stop can lose more than the planned risk);
2. **signal turned** — the hour has an ``ok`` prediction whose ``expected_return ≤ min_edge``;
3. **horizon** — the hour is at or past the position's ``expiry`` (entry decision hour +
   ``horizon_h``: the label's exit close) and the hour has no fresh signal that would open it.

A missing or non-``ok`` prediction before the horizon is no reason to sell. A position being sold
still occupies its slot and its exposure during the hour it is decided (the sale fills with the
next hour's entries), so the caps never count room that is not yet free.

Costs — ``cost_per_trade`` (0.4% a spot trade, ``quant.ml.labels.COST_PER_TRADE``) is what the
book's fill simulator charges the sleeve on every buy and every sell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.market_data.tables import HOUR
from quant.ml.labels import COST_PER_TRADE
from quant.ml.predictions import PREDICTION_COLUMNS, STATUS_OK

#: The book's drawdown-ladder levels (``quant.book.risk.LEVEL_MULTIPLIER``; quant.ml may not import quant.book).
NORMAL, REDUCE_RISK, REDUCE_EXPOSURE, HALT = "normal", "reduce_risk", "reduce_exposure", "halt"
RISK_LEVELS = (NORMAL, REDUCE_RISK, REDUCE_EXPOSURE, HALT)
BTC_BETA = "btc_beta"
ACTIONS = ("enter", "hold", "exit", "skip")
TARGET_COLUMNS = [
    "venue", "symbol", "action", "qty", "price", "notional_usd", "stop", "expiry", "cluster",
    "probability", "expected_return", "reason",
]
HELD_COLUMNS = ["venue", "symbol", "qty", "mark", "stop", "expiry"]
_NEEDED = ("probability", "expected_return", "sigma_1h", "corr_btc_7d", "horizon_h")


@dataclass(frozen=True)
class MlSleeveParams:
    """The ML sleeve's knobs; money as fractions of equity (risk) or of the bankroll (caps).

    Attributes
    ----------
    base_risk_pct : equity lost when a trade's stop is hit (0.02).
    stop_sigmas : the stop sits this many horizon σ below the entry (σ_1h · √horizon_h).
    max_positions : open positions at most.
    max_exposure_pct, max_cluster_pct : the sleeve's and one correlation cluster's notional caps.
    cluster_corr : |corr_btc_7d| from which a coin joins the ``btc_beta`` cluster.
    min_edge : expected net return a trade needs (strictly more).
    min_probability : meta-learner probability a trade needs (at least).
    min_position_pct : smallest position worth opening (the book's safeguard minimum).
    cost_per_trade : fee and spread of one spot trade, charged on the buy and on the sell.
    reduce_risk_factor, reduce_exposure_factor : the ladder's cuts of risk per trade and of the exposure cap.
    """

    base_risk_pct: float = 0.02
    stop_sigmas: float = 2.0
    max_positions: int = 10
    max_exposure_pct: float = 0.20
    max_cluster_pct: float = 0.10
    cluster_corr: float = 0.7
    min_edge: float = 0.0
    min_probability: float = 0.5
    min_position_pct: float = 0.01
    cost_per_trade: float = COST_PER_TRADE
    reduce_risk_factor: float = 0.5
    reduce_exposure_factor: float = 0.25

    def __post_init__(self) -> None:
        for name in ("base_risk_pct", "max_exposure_pct", "max_cluster_pct", "cluster_corr", "min_probability",
                     "min_position_pct", "cost_per_trade", "reduce_risk_factor", "reduce_exposure_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
        if not (math.isfinite(self.stop_sigmas) and self.stop_sigmas > 0):
            raise ValueError(f"stop_sigmas must be a positive number, got {self.stop_sigmas}")
        if int(self.max_positions) != self.max_positions or self.max_positions < 0:
            raise ValueError(f"max_positions must be a whole number >= 0, got {self.max_positions}")
        if not math.isfinite(self.min_edge):
            raise ValueError(f"min_edge must be a number, got {self.min_edge}")


def cluster_of(symbol: str, corr_btc_7d: float, params: MlSleeveParams | None = None) -> str:
    """``btc_beta`` for |corr| ≥ ``cluster_corr`` or an unknown (NaN) correlation, else the symbol itself."""
    p = params or MlSleeveParams()
    if not math.isfinite(corr_btc_7d) or abs(corr_btc_7d) >= p.cluster_corr:
        return BTC_BETA
    return symbol


def stop_fraction(sigma_1h: float, horizon_h: float, params: MlSleeveParams | None = None) -> float:
    """Distance from entry to stop as a fraction of the entry: ``stop_sigmas · σ_1h · √horizon_h``."""
    return (params or MlSleeveParams()).stop_sigmas * sigma_1h * math.sqrt(horizon_h)


def risk_pct_at(risk_level: str, params: MlSleeveParams | None = None) -> float:
    """Risk per trade at a ladder level: the base, halved from ``reduce_risk`` on, 0 at ``halt``."""
    p = params or MlSleeveParams()
    _check_level(risk_level)
    if risk_level == HALT:
        return 0.0
    return p.base_risk_pct * (p.reduce_risk_factor if risk_level in (REDUCE_RISK, REDUCE_EXPOSURE) else 1.0)


def exposure_cap_usd(bankroll: float, risk_level: str, params: MlSleeveParams | None = None) -> float:
    """The sleeve's notional cap at a ladder level, USD: 20% of bankroll, a quarter of it at ``reduce_exposure``, 0 at ``halt``."""
    p = params or MlSleeveParams()
    _check_level(risk_level)
    factor = {HALT: 0.0, REDUCE_EXPOSURE: p.reduce_exposure_factor}.get(risk_level, 1.0)
    return bankroll * p.max_exposure_pct * factor


def signal_reasons(predictions: pd.DataFrame, params: MlSleeveParams | None = None) -> pd.Series:
    """Per prediction row: "" where it may open a trade, else why not (index of ``predictions``)."""
    p = params or MlSleeveParams()
    out = pd.Series("", index=predictions.index, dtype=object)
    if predictions.empty:
        return out
    num = {c: pd.to_numeric(predictions[c], errors="coerce").to_numpy(dtype="float64") for c in _NEEDED}
    status = predictions["status"].astype(str).to_numpy()
    finite = np.logical_and.reduce([np.isfinite(v) for v in num.values()])
    shaped = finite & (num["sigma_1h"] > 0) & (num["horizon_h"] >= 1)
    rules = [
        (status != STATUS_OK, np.char.add("status: ", status.astype(str))),
        (~shaped, "no trade: a number the sizing needs is missing (NaN) or out of range"),
        (num["expected_return"] <= p.min_edge, "no edge: expected return net of costs is not above the minimum"),
        (num["probability"] < p.min_probability, "probability below the minimum"),
    ]
    for mask, why in reversed(rules):  # the first rule that applies names the reason
        out[mask] = np.asarray(why, dtype=object)[mask] if isinstance(why, np.ndarray) else why
    return out


def ml_strength(predictions: pd.DataFrame, params: MlSleeveParams | None = None) -> float:
    """The allocator's signal strength for the sleeve: the best probability among rows that may trade, 0 when none."""
    if predictions.empty:
        return 0.0
    ok = signal_reasons(predictions, params) == ""
    return float(predictions.loc[ok, "probability"].max()) if ok.any() else 0.0


def ml_targets(predictions: pd.DataFrame, held: pd.DataFrame, prices: pd.Series, hour: pd.Timestamp, equity: float,
               bankroll: float, risk_level: str, params: MlSleeveParams | None = None,
               budget_usd: float = math.inf) -> pd.DataFrame:
    """The sleeve's decisions at the close of ``hour``.

    Parameters
    ----------
    predictions : the hour's rows of ``model_predictions_1h`` (``PREDICTION_DTYPES``); rows of
        other hours are ignored. One row per (venue, symbol).
    held : open positions, ``HELD_COLUMNS``: ``qty`` base units (> 0, long only), ``mark`` the
        hour's close (USD), ``stop`` the stop price set at entry (NaN: none), ``expiry`` the hour
        from which the horizon exit applies.
    prices : the entry price of each instrument at the hour's close, USD, indexed by (venue, symbol).
    equity : portfolio equity, USD (risk per trade is a share of it).
    bankroll : the bankroll, USD (every cap is a share of it).
    risk_level : the book's drawdown-ladder level (``RISK_LEVELS``).
    budget_usd : the allocator's budget for the sleeve, USD; caps the exposure too (0: no entries).

    Returns
    -------
    ``TARGET_COLUMNS``, one row per held position (``hold`` / ``exit``) and per prediction row
    not held (``enter`` / ``skip``), in that order; exits and entries carry ``qty`` and ``price``.
    """
    p = params or MlSleeveParams()
    _check_inputs(risk_level, equity, bankroll)
    preds = _hour_rows(predictions, hour)
    why = signal_reasons(preds, p).tolist()
    rows = ml_decisions(preds.to_dict("records"), why, list(held.itertuples(index=False)), prices, hour, equity, bankroll,
                        risk_level, p, budget_usd)
    return pd.DataFrame(rows, columns=TARGET_COLUMNS).astype(
        {"qty": "float64", "price": "float64", "notional_usd": "float64", "stop": "float64",
         "probability": "float64", "expected_return": "float64"})


def _candidate_order(row: dict) -> tuple:
    """Best expected return first, then probability, venue, symbol; a missing number sorts last (as pandas does)."""
    er, pr = float(row["expected_return"]), float(row["probability"])
    return (math.isnan(er), 0.0 if math.isnan(er) else -er, math.isnan(pr), 0.0 if math.isnan(pr) else -pr,
            row["venue"], row["symbol"])


def ml_decisions(preds: list[dict], why: list[str], held: list, prices, hour: pd.Timestamp, equity: float, bankroll: float,
                 risk_level: str, params: MlSleeveParams, budget_usd: float = math.inf) -> list[dict]:
    """:func:`ml_targets` on records: the hour's prediction rows (dicts) with their :func:`signal_reasons`,
    the held positions (objects with ``HELD_COLUMNS`` attributes) and ``prices.get((venue, symbol))``;
    one dict per ``TARGET_COLUMNS`` row, in :func:`ml_targets`' order."""
    p = params
    _check_inputs(risk_level, equity, bankroll)
    by_key = {(r["venue"], r["symbol"]): i for i, r in enumerate(preds)}
    rows, held_keys = _held_rows(held, preds, why, by_key, hour, p)
    exposure = sum(r["notional_usd"] for r in rows)
    clusters: dict[str, float] = {}
    for r in rows:
        clusters[r["cluster"]] = clusters.get(r["cluster"], 0.0) + r["notional_usd"]
    room = _Room(cap=min(exposure_cap_usd(bankroll, risk_level, p), max(0.0, budget_usd)) - exposure,
                 cluster_cap=bankroll * p.max_cluster_pct, clusters=clusters, slots=p.max_positions - len(rows),
                 minimum=bankroll * p.min_position_pct)
    blocked = _entry_block(risk_level, budget_usd)
    order = sorted(range(len(preds)), key=lambda i: _candidate_order(preds[i]))
    for i in order:
        r = preds[i]
        if (r["venue"], r["symbol"]) in held_keys:
            continue
        base = _base_row(r, p)
        price = float(prices.get((r["venue"], r["symbol"]), math.nan))
        reason = why[i] or blocked or ("no price at the hour's close" if not (math.isfinite(price) and price > 0) else "")
        if reason:
            rows.append({**base, "action": "skip", "reason": reason})
            continue
        rows.append(room.size(base, r, price, equity, risk_pct_at(risk_level, p), hour, p))
    return rows


@dataclass
class _Room:
    """What is left under the caps while candidates are sized in order."""

    cap: float
    cluster_cap: float
    clusters: dict[str, float]
    slots: int
    minimum: float

    def size(self, base: dict, r, price: float, equity: float, risk_pct: float, hour: pd.Timestamp,
             p: MlSleeveParams) -> dict:
        if self.slots <= 0:
            return {**base, "action": "skip", "reason": f"already {p.max_positions} positions"}
        frac = stop_fraction(float(r["sigma_1h"]), float(r["horizon_h"]), p)
        wanted = equity * risk_pct / frac
        left_cluster = self.cluster_cap - self.clusters.get(base["cluster"], 0.0)
        notional = min(wanted, self.cap, left_cluster)
        if notional < self.minimum * (1 - 1e-9):
            bound = "exposure cap" if self.cap <= left_cluster else f"cluster {base['cluster']} cap"
            return {**base, "action": "skip", "reason": f"{bound}: room {max(notional, 0.0):,.0f} USD is below the minimum position"}
        self.cap -= notional
        self.clusters[base["cluster"]] = self.clusters.get(base["cluster"], 0.0) + notional
        self.slots -= 1
        cut = "" if notional >= wanted else " (cut to the caps)"
        return {**base, "action": "enter", "qty": notional / price, "price": price, "notional_usd": notional,
                "stop": price * (1.0 - frac) if frac < 1.0 else math.nan, "expiry": hour + int(r["horizon_h"]) * HOUR,
                "reason": (f"ML entry: p {r['probability']:.2f}, expected {r['expected_return']:+.2%} net, risk {risk_pct:.1%} of equity "
                           f"at a {frac:.2%} stop -> {notional:,.0f} USD{cut}")}


def _check_level(risk_level: str) -> None:
    if risk_level not in RISK_LEVELS:
        raise ValueError(f"risk_level must be one of {RISK_LEVELS}, got {risk_level!r}")


def _check_inputs(risk_level: str, equity: float, bankroll: float) -> None:
    _check_level(risk_level)
    if not all(math.isfinite(x) and x > 0 for x in (equity, bankroll)):
        raise ValueError(f"equity and bankroll must be positive amounts, got {equity} and {bankroll}")


def _entry_block(risk_level: str, budget_usd: float) -> str:
    if risk_level == HALT:
        return "drawdown halt: no new entries"
    if not budget_usd > 0:
        return "no budget for the sleeve this hour"
    return ""


def _hour_rows(predictions: pd.DataFrame, hour: pd.Timestamp) -> pd.DataFrame:
    preds = predictions if len(predictions) else pd.DataFrame(columns=PREDICTION_COLUMNS)
    if len(preds) and "hour" in preds:
        preds = preds[pd.to_datetime(preds["hour"], utc=True) == hour]
    preds = preds.reset_index(drop=True)
    dup = preds.duplicated(["venue", "symbol"], keep=False) if len(preds) else pd.Series(dtype=bool)
    if dup.any():
        first = preds[dup].iloc[0]
        raise ValueError(f"two predictions for {first['venue']} {first['symbol']} at {hour}")
    return preds


def _base_row(r: dict, p: MlSleeveParams) -> dict:
    return {"venue": r["venue"], "symbol": r["symbol"], "action": "skip", "qty": math.nan, "price": math.nan, "notional_usd": 0.0,
            "stop": math.nan, "expiry": pd.NaT, "cluster": cluster_of(str(r["symbol"]), float(r["corr_btc_7d"]), p),
            "probability": float(r["probability"]), "expected_return": float(r["expected_return"]), "reason": ""}


def _held_rows(held: list, preds: list[dict], why: list[str], by_key: dict, hour: pd.Timestamp,
               p: MlSleeveParams) -> tuple[list[dict], set]:
    rows, keys = [], set()
    for h in held:
        key = (h.venue, h.symbol)
        keys.add(key)
        i = by_key.get(key)
        pred = preds[i] if i is not None else None
        corr = float(pred["corr_btc_7d"]) if pred is not None else math.nan
        row = {"venue": h.venue, "symbol": h.symbol, "action": "hold", "qty": float(h.qty), "price": float(h.mark),
               "notional_usd": float(h.qty) * float(h.mark), "stop": float(h.stop), "expiry": h.expiry,
               "cluster": cluster_of(str(h.symbol), corr, p),
               "probability": math.nan if pred is None else float(pred["probability"]),
               "expected_return": math.nan if pred is None else float(pred["expected_return"]), "reason": "held"}
        exit_why = _exit_reason(h, pred, "" if i is None else str(why[i]), hour, p)
        if exit_why:
            row.update(action="exit", reason=exit_why)
        rows.append(row)
    return rows, keys


def _exit_reason(h, pred: dict | None, entry_why: str, hour: pd.Timestamp, p: MlSleeveParams) -> str:
    stop = float(h.stop)
    if math.isfinite(stop) and float(h.mark) <= stop:
        return f"ML exit: stop {stop:.6g} hit (close {float(h.mark):.6g})"
    er = math.nan if pred is None else float(pred["expected_return"])
    if pred is not None and pred["status"] == STATUS_OK and math.isfinite(er) and er <= p.min_edge:
        return f"ML exit: the signal turned (expected return {er:+.2%} net)"
    expiry = pd.Timestamp(h.expiry) if not pd.isna(h.expiry) else None
    if (expiry is None or hour >= expiry) and (pred is None or entry_why != ""):
        return "ML exit: horizon reached with no fresh signal" + (f" ({entry_why})" if entry_why else "")
    return ""
