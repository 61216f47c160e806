"""Reconciliation classes on hand-built books and venues (numbers checked by hand)."""

from __future__ import annotations

import pandas as pd
import pytest

from quant.reconcile import (
    ORPHAN,
    PHANTOM,
    SIDE_MISMATCH,
    SIZE_MISMATCH,
    describe,
    position_drift,
    repeated_drift,
)


def _pos(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["venue", "symbol", "qty"])


def test_each_class_of_difference_is_named_with_both_sides_and_the_difference():
    book = _pos([
        ("binance", "BTC/USDT:USDT", -0.5),  # carry's short perp leg
        ("binance", "BTC/USDT:USDT", 0.2),  # a cascade long on the same perp: nets to -0.3
        ("binance", "ETH/USDT:USDT", 2.0),  # the venue has nothing: phantom
        ("bybit", "SOL/USDT:USDT", 10.0),  # the venue is short: side mismatch
        ("bybit", "DOGE/USDT:USDT", 1000.0),  # the venue holds 990: size mismatch
        ("bybit", "HYPE/USDT:USDT", 5.0),  # within the lot rounding: agrees
    ])
    venue = _pos([
        ("binance", "BTC/USDT:USDT", -0.3),
        ("bybit", "SOL/USDT:USDT", -10.0),
        ("bybit", "DOGE/USDT:USDT", 990.0),
        ("bybit", "HYPE/USDT:USDT", 5.0004),  # |5 - 5.0004| = 4e-4 <= 1e-4 x 5.0004 = 5.0004e-4
        ("binance", "XRP/USDT:USDT", 7.0),  # the book never traded it: orphan
    ])
    drift = position_drift(book, venue)
    assert drift.to_dict("records") == [
        {"venue": "binance", "symbol": "ETH/USDT:USDT", "kind": PHANTOM, "book_qty": 2.0, "venue_qty": 0.0, "difference": 2.0},
        {"venue": "binance", "symbol": "XRP/USDT:USDT", "kind": ORPHAN, "book_qty": 0.0, "venue_qty": 7.0, "difference": -7.0},
        {"venue": "bybit", "symbol": "DOGE/USDT:USDT", "kind": SIZE_MISMATCH, "book_qty": 1000.0, "venue_qty": 990.0,
         "difference": 10.0},
        {"venue": "bybit", "symbol": "SOL/USDT:USDT", "kind": SIDE_MISMATCH, "book_qty": 10.0, "venue_qty": -10.0,
         "difference": 20.0},
    ]
    assert describe(drift, limit=2).startswith("4 position(s) disagree (and 2 more): phantom: binance ETH/USDT:USDT book 2 vs venue 0")


def test_a_tighter_tolerance_names_the_rounding_and_agreeing_books_give_nothing():
    book, venue = _pos([("bybit", "HYPE/USDT:USDT", 5.0)]), _pos([("bybit", "HYPE/USDT:USDT", 5.0004)])
    assert position_drift(book, venue).empty
    assert position_drift(book, venue, rel_tol=1e-5)["kind"].tolist() == [SIZE_MISMATCH]
    assert position_drift(_pos([]), _pos([])).empty
    assert describe(position_drift(_pos([]), _pos([]))) == "book and venue agree"
    # legs that net to zero in the book, nothing on the venue: agree
    assert position_drift(_pos([("binance", "BTC/USDT:USDT", 1.0), ("binance", "BTC/USDT:USDT", -1.0)]), _pos([])).empty


def test_bad_input_is_refused_naming_it():
    with pytest.raises(ValueError, match="missing \\['qty'\\]"):
        position_drift(pd.DataFrame({"venue": ["binance"], "symbol": ["BTC"]}), _pos([]))
    with pytest.raises(ValueError, match="binance BTC has a quantity of nan: not a finite number"):
        position_drift(_pos([("binance", "BTC", float("nan"))]), _pos([]))
    with pytest.raises(ValueError, match="tolerances must be non-negative"):
        position_drift(_pos([]), _pos([]), rel_tol=-1)


def test_repeated_drift_needs_the_last_n_reconciliations_all_drifting():
    assert repeated_drift([0, 2, 1, 3], 3)
    assert not repeated_drift([2, 1, 0, 3], 3)  # the third last agreed
    assert not repeated_drift([1, 1], 3)  # not enough reconciliations yet
    with pytest.raises(ValueError, match="at least 1"):
        repeated_drift([1], 0)
