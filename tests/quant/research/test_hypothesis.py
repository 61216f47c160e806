"""Hypotheses and windows (``quant.research.hypothesis``): what is declared before anything runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from quant.research import Hypothesis, Thresholds, Window
from tests.quant.research.fakes import APR, BAR, FEB, JAN, MAR, MAY, TEST, TRAIN, VALIDATION, hypothesis


def test_windows_are_half_open_and_utc() -> None:
    assert not Window(JAN, FEB).overlaps(Window(FEB, MAR))  # touching ends share no instant
    assert Window(JAN, FEB + timedelta(hours=1)).overlaps(Window(FEB, MAR))
    assert Window(JAN, FEB).hours == 744.0
    plus_two = timezone(timedelta(hours=2))
    with pytest.raises(ValueError, match="UTC"):
        Window(datetime(2025, 1, 1), FEB)  # noqa: DTZ001 - the naive datetime under test
    with pytest.raises(ValueError, match="UTC"):
        Window(datetime(2025, 1, 1, tzinfo=plus_two), FEB)
    with pytest.raises(ValueError, match="before"):
        Window(FEB, FEB)


@pytest.mark.parametrize(("train", "validation", "test"), [
    (Window(JAN, MAR), VALIDATION, TEST),  # train runs into validation
    (TRAIN, Window(FEB, APR), TEST),  # validation runs into test
    (TRAIN, TEST, VALIDATION),  # out of order
    (VALIDATION, TRAIN, TEST),
])
def test_windows_must_come_in_order_without_overlap(train: Window, validation: Window, test: Window) -> None:
    with pytest.raises(ValueError, match="train < validation < test"):
        hypothesis(train=train, validation=validation, test=test)


def test_a_grid_tries_its_full_product_over_the_fixed_params() -> None:
    h = hypothesis(params={"symbol": "BTC"}, grid={"lookback": [24, 48], "k": [1.5, 2.0, 2.5]})
    configs = h.configurations()
    assert len(configs) == 6
    assert h.is_sweep
    assert configs[0] == {"symbol": "BTC", "k": 1.5, "lookback": 24}
    assert configs[-1] == {"symbol": "BTC", "k": 2.5, "lookback": 48}
    assert not hypothesis().is_sweep
    assert hypothesis().configurations() == [{"lookback": 24}]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"params": {"lookback": 24}, "grid": {"lookback": [12, 24]}}, "both fixed and swept"),
    ({"grid": {"k": []}}, "distinct"),
    ({"grid": {"k": [1, 1]}}, "distinct"),
    ({"grid": {"k": [1.0, float("nan")]}}, "finite"),
    ({"params": {"k": [1, 2]}}, "int, float, str or bool"),
    ({"id": "Has Spaces"}, "must match"),
    ({"strategy": ""}, "strategy"),
])
def test_malformed_hypotheses_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hypothesis(**overrides)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"min_apr": float("nan")}, "finite"),
    ({"min_sharpe": float("inf")}, "finite"),
    ({"max_drawdown": 0.0}, r"\(0, 1\]"),
    ({"max_drawdown": 1.5}, r"\(0, 1\]"),
    ({"min_trades": 0}, ">= 1"),
    ({"min_trades": 2.5}, ">= 1"),
    ({"min_dsr": 1.0}, r"\[0, 1\)"),
    ({"max_pbo": 0.0}, r"\(0, 1\]"),
])
def test_thresholds_must_be_a_real_bar(overrides: dict, message: str) -> None:
    fields = {"min_apr": 0.1, "min_sharpe": 1.0, "max_drawdown": 0.2, "min_trades": 10} | overrides
    with pytest.raises(ValueError, match=message):
        Thresholds(**fields)


def test_a_hypothesis_round_trips_and_its_fingerprint_is_its_definition() -> None:
    h = hypothesis(grid={"k": [1.5, 2.0]}, allow_one_regime=True, test=Window(MAR, MAY))
    again = Hypothesis.from_dict(h.to_dict())
    assert again == h
    assert again.fingerprint() == h.fingerprint()
    stricter = hypothesis(grid={"k": [1.5, 2.0]}, allow_one_regime=True, test=Window(MAR, MAY),
                          thresholds=Thresholds(0.05, 1.0, 0.3, 11))
    assert stricter.fingerprint() != h.fingerprint()
    assert BAR.min_dsr == 0.95
    assert BAR.max_pbo == 0.5
    assert h.train.start.tzinfo is UTC or h.train.start.utcoffset() == timedelta(0)
