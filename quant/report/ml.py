"""The ML sleeve's report: the book's ML layer beside its own signals and two naive baselines, deflated.

Every return is net of :data:`quant.ml.labels.COST_PER_TRADE` (0.4 %) on each buy and each sell,
and every comparison runs over the ledger's hours. A "trade" below is one such buy or sell (a
round trip is two), so the ``trades`` column counts what paid the cost.

* **ML sleeve (book)** — the ledger's ML rows: r_t = Δ(Σ pnl_usd of the layer)_t / bankroll, the
  first change from 0 (``quant.report.tables.layer_pnl``); ``return_pct`` = the last cumulative
  P&L / bankroll; ``trades`` = the layer's fills with ``filled_qty > 0`` (NaN without fills).
* **a signal** (the stack's ``probability``, a base model's ``p_<model>``) — per prediction row
  ``quant.ml.metrics.trade_returns(p, net_return)``: the net return of a long trade opened at the
  hour's close and sold ``horizon_h`` hours later (``quant.ml.labels.forward_labels`` on the
  bars) where p > 0.5, else 0. A row whose ``status`` is not ``ok`` or whose p is NaN never
  trades. The hourly series is the mean over the hour's rows (a 1/n equal-weight book of
  horizon trades), over the hours that have predictions; its Sharpe is that series'. An hour with
  a taken trade whose exit bar is not stored is unscored (NaN, dropped). ``return_pct`` =
  Σ_rows trade_return / (n_hour · horizon_h): the capital split into ``horizon_h`` tranches, one
  opening each hour's cohort, so overlapping trades are never counted as more than the capital.
* **buy-and-hold** — equal weight of the symbols predicted, bought at the first hour's close
  (paying 0.4 %) and sold at the last hour's close (paying 0.4 %): per symbol
  close_T·(1 − c) / (close_0·(1 + c)) − 1, averaged; hourly returns from the portfolio's value
  (the first hour's is the entry cost −c/(1 + c), the last one's includes the exit cost).
* **always flat** — 0 return, no trades, Sharpe undefined (NaN).

Sharpe ratios in the table are annualised (mean / std, ddof 1, × √8760). The deflated Sharpe
ratio (``quant.report.deflated``, Bailey & López de Prado 2014) is

    DSR = Φ( (SR − SR0) · √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) ),
    SR0 = √V · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) ),

with SR, γ3, γ4 the per-hour Sharpe, skewness and raw kurtosis of the returns judged, T their
count, V the variance of the trials' per-hour Sharpe ratios and N the number of trials:
:func:`count_trials`, every tradeable model (the five base models and the stack, never the regime
classifier) and configuration ever trained, a refit of one (model, config, code_version) on
another fold counted once. The trials' Sharpe ratios are those of the six signals above.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from quant.book.orders import ML_LAYER
from quant.ml.labels import COST_PER_TRADE, forward_labels, net_return
from quant.ml.metrics import sharpe, trade_returns
from quant.ml.models import BASE_MODELS
from quant.ml.predictions import STATUS_OK
from quant.report.deflated import DeflatedSharpe, deflated_sharpe
from quant.report.tables import HOURS_PER_YEAR, layer_pnl, require_columns

STACK = "stack"
#: Models whose signal is a strategy (trial); the regime classifier is not one.
TRADEABLE_MODELS = (*BASE_MODELS, STACK)
PROBABILITY_COLUMN = {**{m: f"p_{m}" for m in BASE_MODELS}, STACK: "probability"}
PREDICTION_REPORT_COLUMNS = ("hour", "venue", "symbol", "status", "horizon_h", *PROBABILITY_COLUMN.values())
BAR_COLUMNS = ("hour", "venue", "symbol", "close")
KEYS = ["venue", "symbol", "hour"]
ROW_BOOK, ROW_STACK, ROW_HOLD, ROW_FLAT = "ML sleeve (book)", "stack signal", "buy-and-hold", "always flat"
ML_TABLE_COLUMNS = ("return_pct", "sharpe", "dsr", "trades")
#: Buys and sells of a round trip.
TRADES_PER_ROUND_TRIP = 2


@dataclass(frozen=True)
class SignalReturns:
    """One model's signal over the predicted hours (see the module docstring)."""

    hourly: pd.Series  # index hour; mean trade return of the hour's rows, NaN where unscored
    return_pct: float
    trades: int  # buys + sells of the scored round trips
    unscored: int  # taken trades whose exit bar is not stored

    @property
    def sr(self) -> float:
        """Per-hour (not annualised) Sharpe ratio; NaN where undefined."""
        return sharpe(self.hourly.to_numpy(), 1.0)


@dataclass(frozen=True)
class MlSleeveReport:
    """The ML section of the performance report.

    ``table``: index = the five rows (:data:`ROW_BOOK`, :data:`ROW_STACK`, ``best base model
    (<name>)``, :data:`ROW_HOLD`, :data:`ROW_FLAT`), columns :data:`ML_TABLE_COLUMNS`
    (``return_pct`` a fraction, ``sharpe`` annualised, ``dsr`` a probability, ``trades`` a count;
    NaN where undefined or not applicable). ``deflated``: the book sleeve's deflated Sharpe, whose
    ``sr0`` comes from the trials' Sharpe variance and whose ``n_trials`` is the N it deflates by:
    ``n_trials`` (the journal's :func:`count_trials`), raised to the number of signals scored where
    the journal lists fewer (and to 1). ``trial_sharpes``: per-hour SR of each signal.
    """

    table: pd.DataFrame
    sharpe: float
    deflated: DeflatedSharpe
    n_trials: int
    trial_sharpes: Mapping[str, float]
    best_base: str | None
    hours: int
    predicted_hours: int
    predictions_ok: int
    cost_per_trade: float = COST_PER_TRADE
    notes: tuple[str, ...] = ()


def _canonical(config: object) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def count_trials(trials: Iterable[Mapping]) -> int:
    """Number of distinct (model, config, code_version) among ``trials`` whose model is tradeable.

    ``trials``: :meth:`resources.model_store.MlModelStore.trials` records (``model``, ``config``,
    ``code_version``, …). The regime classifier is left out (not a strategy); the same model and
    configuration refitted on many folds is one trial; a new configuration or code version is a new
    one. ``config`` is compared as canonical JSON (key order does not matter).
    """
    seen = {(t["model"], _canonical(t.get("config")), str(t.get("code_version")))
            for t in trials if t.get("model") in TRADEABLE_MODELS}
    return len(seen)


def row_net_returns(predictions: pd.DataFrame, bars: pd.DataFrame, cost_per_trade: float = COST_PER_TRADE) -> np.ndarray:
    """Per prediction row: the net return of its long horizon trade (NaN: not ``ok`` or no exit bar)."""
    out = np.full(len(predictions), np.nan)
    ok = (predictions["status"] == STATUS_OK).to_numpy()
    if not ok.any() or bars.empty:
        return out
    rows = pd.MultiIndex.from_frame(predictions[KEYS])
    for h in sorted({int(v) for v in predictions.loc[ok, "horizon_h"]}):
        labels = forward_labels(bars[list(BAR_COLUMNS)], h, cost_per_trade)
        where = labels.set_index(KEYS)["net_return"]
        got = where.reindex(rows).to_numpy(dtype="float64")
        take = ok & (predictions["horizon_h"].to_numpy() == h)
        out[take] = got[take]
    return out


def signal_returns(predictions: pd.DataFrame, net: np.ndarray, column: str) -> SignalReturns:
    """The equal-weight hourly book of one probability column's trades (module docstring)."""
    ok = (predictions["status"] == STATUS_OK).to_numpy()
    p = np.where(ok, predictions[column].to_numpy(dtype="float64"), np.nan)
    r = trade_returns(p, net)
    taken = p > 0.5
    horizon = np.maximum(predictions["horizon_h"].to_numpy(dtype="float64"), 1.0)
    unknown = taken & np.isnan(r)
    frame = pd.DataFrame({"hour": predictions["hour"].to_numpy(), "r": r, "capital": r / horizon, "unknown": unknown,
                          "trade": taken & ~unknown})
    by_hour = frame.groupby("hour", sort=True).agg(r=("r", "mean"), capital=("capital", "mean"),
                                                   unknown=("unknown", "any"), trades=("trade", "sum"))
    scored = by_hour[~by_hour["unknown"]]
    return SignalReturns(hourly=by_hour["r"].where(~by_hour["unknown"]).astype("float64"),
                         return_pct=float(scored["capital"].sum()),
                         trades=TRADES_PER_ROUND_TRIP * int(scored["trades"].sum()), unscored=int(unknown.sum()))


def buy_and_hold(bars: pd.DataFrame, symbols: list[tuple[str, str]], hours: pd.DatetimeIndex,
                 cost_per_trade: float = COST_PER_TRADE) -> tuple[np.ndarray, float, int, list[str]]:
    """Equal weight of ``symbols`` bought at ``hours[0]``'s close, sold at ``hours[-1]``'s (module docstring).

    Returns the hourly returns over ``hours``, the total return, the trades (two per symbol held)
    and the symbols left out for want of a close at the first hour. Closes are carried forward.
    """
    closes = bars.pivot_table(index="hour", columns=["venue", "symbol"], values="close", aggfunc="last")
    closes = closes.reindex(hours).ffill()
    held = [s for s in symbols if s in closes.columns and math.isfinite(float(closes[s].iloc[0]))]
    left_out = [f"{v} {s}" for v, s in symbols if (v, s) not in held]
    if not held:
        return np.full(len(hours), np.nan), math.nan, 0, left_out
    px = closes[held].to_numpy(dtype="float64")
    value = px / px[0] / (1.0 + cost_per_trade)
    value[-1] = net_return(px[0], px[-1], cost_per_trade) + 1.0
    book = value.mean(axis=1)
    returns = np.diff(book, prepend=1.0) / np.concatenate([[1.0], book[:-1]])
    return returns, float(book[-1] - 1.0), TRADES_PER_ROUND_TRIP * len(held), left_out


def _window(predictions: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    require_columns(predictions, PREDICTION_REPORT_COLUMNS, "predictions")
    rows = predictions.assign(hour=_utc_ns(predictions["hour"]))
    return rows[rows["hour"].isin(hours)].reset_index(drop=True)


def _book_trades(fills: pd.DataFrame | None) -> float:
    if fills is None:
        return math.nan
    require_columns(fills, ("layer", "filled_qty"), "fills")
    return float(((fills["layer"] == ML_LAYER) & (fills["filled_qty"].to_numpy(dtype="float64") > 0)).sum())


def _row(ret: float = math.nan, annual: float = math.nan, dsr: float = math.nan, trades: float = math.nan) -> dict:
    return {"return_pct": ret, "sharpe": annual, "dsr": dsr, "trades": trades}


def _utc_ns(hours: pd.Series) -> pd.Series:
    return pd.to_datetime(hours, utc=True).astype("datetime64[ns, UTC]")


def _signal_rows(signals: Mapping[str, SignalReturns], best: str | None,
                 dsr: Callable[[np.ndarray], DeflatedSharpe], notes: list[str]) -> dict[str, dict]:
    """The stack's and the best base model's rows (all NaN where there is no such signal)."""
    out = {}
    for label, model in ((ROW_STACK, STACK), (f"best base model ({best or 'none'})", best)):
        s = signals.get(model) if model else None
        if s is None:
            out[label] = _row()
            continue
        r = s.hourly.to_numpy()
        out[label] = _row(s.return_pct, sharpe(r, HOURS_PER_YEAR), dsr(r).dsr, float(s.trades))
        if s.unscored:
            notes.append(f"{label}: {s.unscored} trade(s) whose exit bar is not stored are left out")
    return out


def _hold_row(rows: pd.DataFrame, bars: pd.DataFrame, hours: pd.DatetimeIndex, cost: float, notes: list[str]) -> dict:
    symbols = sorted({(str(v), str(s)) for v, s in zip(rows["venue"], rows["symbol"], strict=True)})
    if not symbols:
        return _row()
    returns, total, trades, left_out = buy_and_hold(bars, symbols, hours, cost)
    if left_out:
        notes.append(f"buy-and-hold leaves out {', '.join(left_out)}: no close at the first hour")
    return _row(total, sharpe(returns, HOURS_PER_YEAR), math.nan, float(trades))


def ml_sleeve_report(ledger: pd.DataFrame, predictions: pd.DataFrame, bars: pd.DataFrame, trials: Iterable[Mapping],
                     bankroll: float, *, fills: pd.DataFrame | None = None,
                     cost_per_trade: float = COST_PER_TRADE) -> MlSleeveReport:
    """The ML sleeve, its signals and the baselines over the ledger's hours (module docstring).

    Parameters
    ----------
    ledger : the ``ledger_1h`` frame (cumulative USD since the book started; ``layer_table``'s rules).
    predictions : ``model_predictions_1h`` rows (``PREDICTION_REPORT_COLUMNS``); rows outside the
        ledger's hours are ignored; may be empty (then only the book and flat rows have numbers).
    bars : ``perp_ohlcv_1h`` rows (``hour, venue, symbol, close``) of the hours and up to the
        horizon after them (the exits).
    trials : :meth:`MlModelStore.trials` records; counted by :func:`count_trials`.
    bankroll : the book's starting capital, USD, > 0.
    fills : the ``fills_1h`` frame, to count the book's ML trades (optional: NaN without).
    cost_per_trade : fraction paid on each buy and each sell.

    Returns
    -------
    MlSleeveReport
        The table, the book sleeve's annualised Sharpe and deflated Sharpe (its SR0 from the
        variance of the trials' Sharpe ratios), the trial count and the notes the text prints.
    """
    if not (math.isfinite(float(bankroll)) and bankroll > 0):
        raise ValueError(f"bankroll must be a finite number > 0, got {bankroll}")
    pnl = layer_pnl(ledger)[ML_LAYER]
    hours = pd.DatetimeIndex(pnl.index)
    require_columns(bars, BAR_COLUMNS, "bars")
    bars = bars.assign(hour=_utc_ns(bars["hour"]))
    rows = _window(predictions, hours)
    book_r = np.diff(pnl.to_numpy(), prepend=0.0) / float(bankroll)
    net = row_net_returns(rows, bars, cost_per_trade)
    signals = {m: signal_returns(rows, net, PROBABILITY_COLUMN[m]) for m in TRADEABLE_MODELS} if len(rows) else {}
    trial_sr = {m: s.sr for m, s in signals.items()}
    finite = [v for v in trial_sr.values() if math.isfinite(v)]
    counted = count_trials(trials)
    n_trials = max(counted, len(finite), 1)
    notes = []
    if counted < len(finite):
        notes.append(f"the trials journal lists {counted} tradeable trial(s), fewer than the {len(finite)} signals "
                     f"scored: deflating by {n_trials}")
    predicted_hours = int(rows["hour"].nunique())
    not_ok = rows.loc[rows["status"] != STATUS_OK, "status"].value_counts()
    if len(not_ok):
        notes.append("rows not traded: " + "; ".join(f"{n} {status}" for status, n in not_ok.head(3).items()))
    if 0 < predicted_hours < len(hours):
        notes.append(f"the signals cover the {predicted_hours} predicted hour(s) of the {len(hours)}")

    def dsr(returns: np.ndarray) -> DeflatedSharpe:
        got = deflated_sharpe(returns, n_trials, finite)
        if not (counted or finite):  # one "trial" would be a plain PSR against 0, not a deflation
            return replace(got, sr0=math.nan, dsr=math.nan, reason="no trials: the ML store has fitted no model")
        return got

    book_dsr = dsr(book_r)
    base = {m: trial_sr[m] for m in BASE_MODELS if math.isfinite(trial_sr.get(m, math.nan))}
    best = max(base, key=lambda m: base[m]) if base else None  # ties: the first in BASE_MODELS
    table = {
        ROW_BOOK: _row(float(pnl.iloc[-1]) / float(bankroll), sharpe(book_r, HOURS_PER_YEAR), book_dsr.dsr,
                       _book_trades(fills)),
        **_signal_rows(signals, best, dsr, notes),
        ROW_HOLD: _hold_row(rows, bars, hours, cost_per_trade, notes),
        ROW_FLAT: _row(0.0, math.nan, math.nan, 0.0),
    }
    frame = pd.DataFrame.from_dict(table, orient="index")[list(ML_TABLE_COLUMNS)].astype("float64")
    frame.index.name = "strategy"
    return MlSleeveReport(table=frame, sharpe=float(frame.loc[ROW_BOOK, "sharpe"]), deflated=book_dsr, n_trials=counted,
                          trial_sharpes=trial_sr, best_base=best, hours=len(hours), predicted_hours=predicted_hours,
                          predictions_ok=int((rows["status"] == STATUS_OK).sum()), cost_per_trade=cost_per_trade,
                          notes=tuple(notes))
