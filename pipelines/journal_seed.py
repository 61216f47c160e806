"""The five standard hypotheses of the research journal, declared on the bundled sample's windows.

Windows (UTC, half-open; the sample holds 2025-03-06 12:00 → 2025-10-01 and 2026-01-15 → 2026-03-05 10:00):

* **train** 2025-05-10 → 2025-08-01 (1,992 h) — where a sweep chooses its parameters. It starts
  after the largest declared look-back of the five (ema_cross's 1,500 h from the data's first
  hour), so every strategy is warmed up on real history before its first decision.
* **validation** 2025-08-01 → 2025-10-01 (1,464 h) — the verdict. BTC over it: −1% buy and hold,
  trend z −0.10, most common label 'range' at 42%: mixed regimes, not one bull quarter.
* **test** 2026-02-01 → 2026-03-05 10:00 (778 h) — the one sealed look, four months after the
  validation window, through the February 2026 sell-off. The 408 h from the 2026 window's first
  hour serve as its look-back: the whole declared look-back of adx_trend, breakout and
  funding_harvest; for ema_cross (1,500 h declared) and rsi_reversion (650 h) the look-back is cut
  to 408 h, more than the seeds of the parameters tried need (EMA 5 × slow span ≤ 360 h; Wilder
  RSI(14) 182 h).

Thresholds (the same bar for every hypothesis, on the validation window and again on the test
window): APR ≥ 10% (simple, of the book's total equity: one strategy risking 1% of equity a
trade); annualised Sharpe ≥ 1.0; max drawdown ≤ 10% (the book's own first de-risking rung);
at least 20 filled entries (fewer is an anecdote); deflated Sharpe ≥ 0.95 over the journal's
trial count; a sweep's PBO < 0.5.

Two hypotheses are sweeps over values inside the strategy's declared ranges (so PBO is scored):
ema_cross (fast × slow, 9 configurations) and breakout (channel bars × reward-to-risk, 8).
"""

from __future__ import annotations

from datetime import UTC, datetime

from quant.research import Hypothesis, Thresholds, Window

TRAIN = Window(datetime(2025, 5, 10, tzinfo=UTC), datetime(2025, 8, 1, tzinfo=UTC))
VALIDATION = Window(datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC))
TEST = Window(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 5, 10, tzinfo=UTC))

#: The bar (see the module docstring for why each number).
MIN_APR = 0.10
MIN_SHARPE = 1.0
MAX_DRAWDOWN = 0.10
MIN_TRADES = 20
STANDARD_BAR = Thresholds(min_apr=MIN_APR, min_sharpe=MIN_SHARPE, max_drawdown=MAX_DRAWDOWN, min_trades=MIN_TRADES)


def _h(id_: str, strategy: str, claim: str, **kw) -> Hypothesis:
    return Hypothesis(id=id_, claim=claim, strategy=strategy, train=TRAIN, validation=VALIDATION, test=TEST,
                      thresholds=STANDARD_BAR, **kw)


def standard_hypotheses() -> list[Hypothesis]:
    """ema_cross, adx_trend, breakout, rsi_reversion and funding_harvest, as ``perpetua journal seed`` declares them."""
    return [
        _h("ema-cross-sweep", "ema_cross",
           "an EMA crossover on 1h closes, fast/slow spans chosen in-sample, trades trends at a profit",
           grid={"fast": [8, 12, 20], "slow": [26, 48, 72]}),
        _h("adx-trend", "adx_trend", "trading the DI's direction once Wilder's ADX(14) is above 25 (a trending market) pays"),
        _h("breakout-sweep", "breakout",
           "a close beyond the prior N bars' high/low starts a move worth 2-3 risks; N and the target chosen in-sample",
           grid={"bars": [12, 24, 48, 96], "rr": [2.0, 3.0]}),
        _h("rsi-reversion", "rsi_reversion", "an RSI(14) falling under 30 (rising over 70) reverts far enough to pay 2:1"),
        _h("funding-harvest", "funding_harvest",
           "shorting perps while their funding runs above 20% APR collects the funding and pays 2:1"),
    ]
