"""The recorded Deribit data as an options venue, feeding the L3 strangle selection."""

from __future__ import annotations

import pytest

from quant.options import parse_book_summary, select_strangle, size_strangle
from resources.exchange.base import OptionsVenue
from resources.exchange.errors import BadSymbol
from resources.exchange.replay_options import ReplayOptions


@pytest.fixture(scope="module")
def venue() -> ReplayOptions:
    return ReplayOptions()


def test_is_an_options_venue(venue):
    assert isinstance(venue, OptionsVenue)


def test_book_summary_selects_a_real_strangle(venue):
    chain = parse_book_summary(venue.book_summary("ETH"))
    strangle = select_strangle(chain)
    assert strangle.put.strike < strangle.underlying_usd < strangle.call.strike
    assert 14 <= strangle.dte_days <= 60
    assert strangle.put.instrument.startswith("ETH-")
    assert strangle.put.instrument.endswith("-P")
    size = size_strangle(strangle, 100_000.0)
    # theta of the whole position stays within 0.5% of the bankroll a day
    assert abs(size.theta_usd_per_day) <= 500.0 + 1e-9
    assert size.contracts >= 1


def test_instruments_and_streams_from_the_recordings(venue):
    btc = venue.instruments("BTC")
    assert len(btc) == 398
    assert "option" in {i["kind"] for i in btc}
    tick = venue.ticker("BTC-24SEP21-34000-P")
    assert {"mark_iv", "greeks", "underlying_price"} <= set(tick)
    book = venue.order_book("ETH-27AUG21-4000-P", depth=3)
    assert len(book.get("bids", [])) <= 3


@pytest.mark.parametrize(
    ("call", "args"),
    [("book_summary", ("BTC",)), ("instruments", ("DOGE",)), ("ticker", ("ETH-1JAN99-1-C",)), ("order_book", ("BTC-24SEP21-3400-P",))],
)
def test_unrecorded_things_are_bad_symbols_not_empty_answers(venue, call, args):
    with pytest.raises(BadSymbol):
        getattr(venue, call)(*args)
