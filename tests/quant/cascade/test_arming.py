"""The arming replay: each hour is ``arm_states`` over its own window of scores (the plain-loop reference),
and a range equals its hours armed one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.cascade.arming import ARM_MEMORY_H, arm_with_memory
from quant.cascade.params import CascadeParams
from quant.cascade.score import arm_states

T0 = pd.Timestamp("2025-03-10", tz="UTC")
H = pd.Timedelta(hours=1)
KEYS = [("binance", "BTC/USDT:USDT"), ("bybit", "BTC/USDT:USDT"), ("bybit", "ETH/USDT:USDT")]


def _scores(n_hours: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(T0 + i * H, v, s) for i in range(n_hours) for v, s in KEYS]
    df = pd.DataFrame(rows, columns=["hour", "venue", "symbol"])
    score = rng.uniform(0.2, 0.8, len(df))
    df["score"] = np.where(rng.random(len(df)) < 0.05, np.nan, score)
    return df.sample(frac=0.97, random_state=seed).sort_values(["hour", "venue", "symbol"]).reset_index(drop=True)


def _reference(scores: pd.DataFrame, hours: pd.DatetimeIndex, p: CascadeParams) -> list[tuple[bool, bool]]:
    out = []
    for row in scores[scores["hour"].isin(hours)].itertuples():
        mine = scores[(scores["venue"] == row.venue) & (scores["symbol"] == row.symbol)].set_index("hour")["score"]

        def state(last: pd.Timestamp, mine: pd.Series = mine) -> bool:
            window = mine.reindex(pd.date_range(last - ARM_MEMORY_H * H, last, freq="h"))
            return bool(arm_states(window.to_numpy(), p, False)[-1])

        armed = state(row.hour)
        out.append((armed, armed and not state(row.hour - H)))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_arming_matches_the_plain_replay_and_a_range_equals_its_hours(seed: int) -> None:
    p = CascadeParams()
    scores = _scores(24 * 5, seed)
    hours = pd.date_range(T0 + 30 * H, T0 + 119 * H, freq="h", tz="UTC", unit="ns")
    got = arm_with_memory(scores, hours, p)
    assert list(zip(got["armed"], got["triggered"], strict=True)) == _reference(scores, hours, p)
    assert got["armed"].any()
    assert got["triggered"].any()
    alone = pd.concat([arm_with_memory(scores, pd.DatetimeIndex([h]), p) for h in hours], ignore_index=True)
    pd.testing.assert_frame_equal(got, alone, check_exact=True)
