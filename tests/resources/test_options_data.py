"""The ``OptionsData`` resource: the bundled Deribit chain locally, Deribit's HTTP API elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.environments import resources_for, settings
from quant.options.chain import parse_book_summary
from resources.exchange.deribit import DeribitHttp
from resources.exchange.replay_options import ReplayOptions
from resources.market import OptionsData
from tests.support.deribit_shapes import PREFIX, install_deribit
from tests.support.replay_server import ReplayServer


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        install_deribit(srv)
        yield srv
        assert srv.errors == []


def test_replay_is_the_bundled_2024_chain():
    options = OptionsData()
    assert isinstance(options.client(), ReplayOptions)
    book = options.book_summary("ETH")
    assert len(book) == 684
    assert f"{parse_book_summary(book).as_of:%Y-%m-%d %H:%M}" == "2024-01-08 11:19"


def test_deribit_reads_the_venue_over_http(server):
    options = OptionsData(kind="deribit", base_url=server.url + PREFIX)
    client = options.client()
    assert isinstance(client, DeribitHttp)
    client.close()
    book = options.book_summary("ETH")
    assert len(book) == 684
    replayed = OptionsData().book_summary("ETH")
    assert sorted(book["instrument_name"]) == sorted(replayed["instrument_name"])
    assert parse_book_summary(book).as_of == parse_book_summary(replayed).as_of


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown options data kind 'cme'"):
        OptionsData(kind="cme").client()


@pytest.mark.parametrize(("environment", "kind"), [("local", "replay"), ("paper", "deribit"), ("live", "deribit")])
def test_each_environment_has_its_options_edge(tmp_path, monkeypatch, environment, kind):
    for var in ("PERPETUA_STORAGE_ROOT", "PERPETUA_KILL_SWITCH_URL"):
        monkeypatch.delenv(var, raising=False)
    options = resources_for(settings(environment, home=tmp_path / "home"))["options"]
    assert isinstance(options, OptionsData)
    assert options.kind == kind
