"""The operator's service verbs: ``init-db``, the startup check of ``run``, and the pre-live checklist.

* :func:`init_db` — the Dagster instance (its ``dagster.yaml``: SQLite by default, Postgres when
  it says so; schema migrated), the kill-switch table and the order journal, created where missing;
  nothing existing is changed.
* :func:`startup_problems` — what stops ``perpetua run`` from starting: the kill switch tripped,
  orders the journal cannot settle (sent or unknown on the venue), or the book's positions
  disagreeing with the venues' (``quant.reconcile``). Without a venue configured (local, paper:
  simulated fills) only the kill switch is read.
* :func:`prelive_checklist` — the designs' checks before live money, each OK / FAIL / SKIP with
  its reason: the kill switch present and clear, the feed fresh, the hourly cycle up (no hour
  missing, no failed run) over the last day, signals producing intents, the risk parameters inside
  their bounds, the run error rate, and reconciliation. ``perpetua prelive`` refuses (exit 1)
  while any check fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from pipelines.environments import Settings, order_router
from quant.book.params import BookParams
from quant.reconcile import describe
from resources.broker.base import UNKNOWN, UNSETTLED
from resources.broker.journal import OrderJournal
from resources.kill_switch import KillSwitchStore
from resources.redaction import redact
from resources.storage import read_hours, stored_hours

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
#: The last day: what "up" and "error rate" look back over.
DAY = pd.Timedelta(hours=24)
#: The newest stored hour may be this old (the hourly run lands a few minutes after its hour ends).
FRESH_WITHIN = pd.Timedelta(hours=2)
#: Failed runs of the last day, at most this share of all runs.
MAX_ERROR_RATE = 0.05


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"  {self.status:4s}  {self.name:22s} {self.detail}"


def init_db(s: Settings, instance) -> list[str]:
    """Create what the instance, the kill switch and the order journal need; what was done, in lines."""
    instance.upgrade()
    storage = type(instance.event_log_storage).__name__
    KillSwitchStore(s.kill_switch_url).dispose()
    OrderJournal(s.kill_switch_url).dispose()
    where = redact(s.kill_switch_url)
    return [f"instance: {s.home} (event log: {storage}; schema up to date)",
            f"kill switch: table perpetua_kill_switch at {where}",
            f"order journal: tables perpetua_orders, perpetua_order_events, perpetua_order_resolutions at {where}"]


def startup_problems(s: Settings, router=None) -> list[str]:
    """Why the service must not start (empty: it may). ``router``: the order path (default the environment's)."""
    problems = []
    active = KillSwitchStore(s.kill_switch_url).active()
    if active:
        problems.append(f"the kill switch is tripped ({len(active)}): {active[0].source}: {active[0].reason} "
                        "(perpetua kill-switch reset --by NAME)")
    router = router if router is not None else order_router(s)
    if not router.venues:
        return problems
    broker = router.broker()
    unsettled = [r for r in broker.reconcile() if r.state in UNSETTLED]
    for r in unsettled:
        what = "unknown on the venue" if r.state == UNKNOWN else r.state
        problems.append(f"order {r.client_order_id} ({r.venue} {r.symbol} {r.side} {r.qty:g}) is {what}: {r.reason}")
    from assets.reconciliation import venue_drift

    _, drift = venue_drift(s.storage_root, broker, sorted(router.venues))
    if len(drift):
        problems.append(f"book and venue disagree: {describe(drift, limit=len(drift))}")
    return problems


def prelive_checklist(s: Settings, instance, now: pd.Timestamp | None = None, params: BookParams | None = None,
                      router=None) -> list[Check]:
    """Every pre-live check, in order (see the module docstring)."""
    now = pd.Timestamp(now if now is not None else datetime.now(UTC))
    params = params or BookParams()
    checks = []
    try:
        active = KillSwitchStore(s.kill_switch_url).active()
        checks.append(Check("kill switch", FAIL if active else OK,
                            f"tripped: {active[0].source}: {active[0].reason}" if active else "present and clear"))
    except Exception as exc:  # noqa: BLE001 - any failure to read it is the check failing
        checks.append(Check("kill switch", FAIL, f"cannot be read: {redact(str(exc))}"))
    candles = stored_hours(s.storage_root, "perp_ohlcv_1h")
    if not len(candles):
        checks.append(Check("feed freshness", FAIL, "no candles stored"))
        checks.append(Check("uptime", FAIL, "nothing stored"))
    else:
        age = now - (candles[-1] + pd.Timedelta(hours=1))
        checks.append(Check("feed freshness", OK if age <= FRESH_WITHIN else FAIL,
                            f"newest stored hour {candles[-1]:%Y-%m-%d %H:00} UTC, {age.total_seconds() / 3600:.1f} h ago"
                            f" (at most {FRESH_WITHIN.total_seconds() / 3600:.0f} h)"))
        day = pd.date_range(candles[-1] - DAY + pd.Timedelta(hours=1), candles[-1], freq="h")
        ledger = set(stored_hours(s.storage_root, "ledger_1h"))
        missing = [h for h in day if h not in ledger]
        checks.append(Check("uptime", FAIL if missing else OK,
                            f"{len(missing)} of the last 24 hours have no book (first {missing[0]:%Y-%m-%d %H:00})" if missing
                            else "the book has every one of the last 24 hours"))
        intents = read_hours(s.storage_root, "order_intents_1h", pd.DatetimeIndex([h for h in day if h in ledger]))
        approved = int(intents["approved"].sum()) if len(intents) else 0
        checks.append(Check("signal volume", OK if approved else FAIL,
                            f"{len(intents)} intents, {approved} approved in the last 24 stored hours"))
    checks.append(_risk_bounds(params))
    checks.append(_error_rate(instance, now))
    router = router if router is not None else order_router(s)
    if not router.venues:
        checks.append(Check("reconciliation", SKIP, "no venue configured (orders are simulated)"))
    else:
        problems = [p for p in startup_problems(s, router) if not p.startswith("the kill switch")]
        checks.append(Check("reconciliation", FAIL if problems else OK, "; ".join(problems) or "book and venues agree"))
    return checks


def _risk_bounds(p: BookParams) -> Check:
    """The book's risk settings inside the designs' bounds."""
    r, a = p.risk, p.allocator
    bad = []
    if not r.reduce_risk_dd < r.reduce_exposure_dd < r.halt_dd <= 0.25:
        bad.append(f"drawdown ladder {r.reduce_risk_dd:.0%} < {r.reduce_exposure_dd:.0%} < {r.halt_dd:.0%} <= 25% broken")
    if not 0 < r.daily_loss_limit <= 0.10:
        bad.append(f"daily loss limit {r.daily_loss_limit:.0%} not in (0, 10%]")
    if not 0 < r.risk_per_trade_max <= 0.02:
        bad.append(f"risk per trade {r.risk_per_trade_max:.1%} not in (0, 2%]")
    if r.min_reward_risk < 2.0:
        bad.append(f"reward to risk {r.min_reward_risk:g} below 2")
    if not 0 < a.max_total_pct <= 1.0:
        bad.append(f"total exposure {a.max_total_pct:.0%} of the bankroll not in (0, 100%]")
    if not 0 < a.max_position_pct <= a.max_total_pct:
        bad.append(f"a position's cap {a.max_position_pct:.0%} above the total {a.max_total_pct:.0%}")
    detail = "; ".join(bad) or (f"drawdown ladder {r.reduce_risk_dd:.0%}/{r.reduce_exposure_dd:.0%}/{r.halt_dd:.0%}, "
                                f"daily loss {r.daily_loss_limit:.0%}, risk per trade <= {r.risk_per_trade_max:.1%}, "
                                f"total exposure <= {a.max_total_pct:.0%}")
    return Check("risk parameters", FAIL if bad else OK, detail)


def _error_rate(instance, now: pd.Timestamp) -> Check:
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(filters=RunsFilter(created_after=(now - DAY).to_pydatetime(), created_before=now.to_pydatetime()))
    done = [r for r in runs if r.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)]
    if not done:
        return Check("error rate", FAIL, "no finished run in the last 24 hours")
    failed = sum(r.status == DagsterRunStatus.FAILURE for r in done)
    rate = failed / len(done)
    return Check("error rate", OK if rate <= MAX_ERROR_RATE else FAIL,
                 f"{failed} of {len(done)} runs failed in the last 24 hours ({rate:.0%}; at most {MAX_ERROR_RATE:.0%})")
