"""Fixtures of the order-path tests: the loopback Binance USD-M venue and a fresh order journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.broker.journal import OrderJournal
from tests.resources.broker_helpers import journal_at, venue_fixture
from tests.support.order_exchange import OrderExchange


@pytest.fixture
def venue() -> Iterator[OrderExchange]:
    """The demo-trading host of the fake venue (a test module may override it with other hosts)."""
    yield from venue_fixture()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[OrderJournal]:
    yield from journal_at(tmp_path)
