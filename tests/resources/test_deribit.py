"""DeribitHttp against a loopback server replaying real Deribit payloads: httpx runs its true code
path (URL joining, query encoding, timeouts, JSON decoding) on every call."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from resources.exchange.base import OptionsVenue
from resources.exchange.deribit import BOOK_SUMMARY_COLUMNS, DeribitHttp
from resources.exchange.errors import (
    AuthError,
    BadSymbol,
    ExchangeError,
    MalformedResponse,
    PermanentExchangeError,
    RateLimited,
    TransientExchangeError,
)
from tests.support.deribit_shapes import (
    BOOK_SUMMARY_CSV,
    INSTRUMENTS,
    PREFIX,
    install_deribit,
    rpc_error,
    ticker_data,
)
from tests.support.replay_server import ReplayServer, Reply, json_reply, read_recorded, text_reply

TICKER = f"{PREFIX}/public/ticker"
OPTION = "ETH-30JUL21-2800-C"
ATTEMPTS = 3
#: Generous for every test but the timeout one, so a slow CI box never times out by accident.
TIMEOUT_S = 5.0
SHORT_TIMEOUT_S = 0.3
SLOW_REPLY_S = 0.8


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        install_deribit(srv)
        yield srv
        assert srv.errors == []
        assert srv.unmatched == []


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def deribit(server: ReplayServer, sleeps: list[float]) -> Iterator[DeribitHttp]:
    with DeribitHttp(server.url + PREFIX, timeout_s=TIMEOUT_S, read_attempts=ATTEMPTS, sleep=sleeps.append) as client:
        yield client


def test_is_an_options_venue(deribit: DeribitHttp) -> None:
    assert isinstance(deribit, OptionsVenue)


@pytest.mark.parametrize("currency", ["BTC", "ETH"])
def test_instruments_are_the_recorded_payload(deribit: DeribitHttp, server: ReplayServer, currency: str) -> None:
    recorded = next(e for e in read_recorded(INSTRUMENTS) if e.query["currency"] == currency)
    got = deribit.instruments(currency)
    assert got == recorded.payload["result"]
    assert {i["instrument_name"].split("-")[0] for i in got} == {currency}
    assert [r.query for r in server.requests] == [{"currency": currency, "expired": "false"}]


def test_book_summary_is_one_row_per_instrument(deribit: DeribitHttp, server: ReplayServer) -> None:
    got = deribit.book_summary("ETH")
    csv = pd.read_csv(BOOK_SUMMARY_CSV, index_col=0)
    assert len(got) == len(csv) == 684
    assert got["instrument_name"].tolist() == csv["instrument_name"].tolist()
    pd.testing.assert_series_equal(got["mark_price"], csv["mark_price"].reset_index(drop=True))
    assert got["bid_price"].isna().sum() == csv["bid_price"].isna().sum() > 0  # no quote stays NaN, not 0
    assert str(got["ts"].dtype) == "datetime64[ns, UTC]"
    assert got["ts"].iloc[0] == pd.Timestamp("2024-01-08 11:19:41.414", tz="UTC")
    assert server.requests[0].query == {"currency": "ETH", "kind": "option"}


def test_empty_book_summary_keeps_its_columns(deribit: DeribitHttp) -> None:
    got = deribit.book_summary("BTC")
    assert got.empty
    assert set(BOOK_SUMMARY_COLUMNS) | {"ts"} <= set(got.columns)


def test_ticker_from_the_recorded_websocket_message(deribit: DeribitHttp) -> None:
    got = deribit.ticker(OPTION)
    assert got == ticker_data(OPTION)
    assert got["mark_iv"] == 120.73
    assert set(got["greeks"]) == {"delta", "gamma", "vega", "theta", "rho"}


def test_order_book_from_the_recorded_snapshot(deribit: DeribitHttp, server: ReplayServer) -> None:
    got = deribit.order_book(OPTION, depth=2)
    assert got["bids"] == [[0.0015, 4714.0], [0.001, 861.0]]
    assert got["asks"] == [[0.0025, 873.0], [0.003, 167.0]]
    assert server.requests[-1].query == {"instrument_name": OPTION, "depth": "2"}


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (rpc_error(-32602, "Invalid params", {"reason": "instrument not found", "param": "instrument_name"}),
         BadSymbol),
        (rpc_error(13020, "not_found"), BadSymbol),
        (rpc_error(13009, "unauthorized", status=401), AuthError),
        (rpc_error(13004, "invalid_credentials"), AuthError),
        (rpc_error(11050, "bad_request"), PermanentExchangeError),
        (rpc_error(-32602, "Invalid params", {"reason": "must be positive", "param": "depth"}),
         PermanentExchangeError),
        (text_reply("Forbidden", 403), AuthError),
    ],
)
def test_permanent_errors_are_not_retried(deribit: DeribitHttp, server: ReplayServer, sleeps: list[float],
                                          reply: Reply, error: type[ExchangeError]) -> None:
    server.route(TICKER, reply)
    with pytest.raises(error) as info:
        deribit.ticker(OPTION)
    assert type(info.value) is error
    assert "deribit.public/ticker" in str(info.value)
    assert len(server.requests_to(TICKER)) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "failures",
    [
        [rpc_error(10028, "too_many_requests")],
        [rpc_error(10040, "retry"), rpc_error(11051, "system_maintenance", status=503)],
        [text_reply("", 429)],
        [text_reply("<html>502 Bad Gateway</html>", 502, content_type="text/html")],
    ],
)
def test_transient_errors_are_retried_then_succeed(deribit: DeribitHttp, server: ReplayServer,
                                                   sleeps: list[float], failures: list[Reply]) -> None:
    server.route(TICKER, *failures, lambda req: json_reply({"jsonrpc": "2.0", "result": ticker_data(OPTION)}))
    assert deribit.ticker(OPTION)["instrument_name"] == OPTION
    assert len(server.requests_to(TICKER)) == len(failures) + 1
    assert len(sleeps) == len(failures)


def test_a_timeout_is_retried_then_succeeds(server: ReplayServer, sleeps: list[float]) -> None:
    server.route(TICKER, json_reply({}, delay_s=SLOW_REPLY_S),
                 lambda req: json_reply({"jsonrpc": "2.0", "result": ticker_data(OPTION)}))
    with DeribitHttp(server.url + PREFIX, timeout_s=SHORT_TIMEOUT_S, sleep=sleeps.append) as client:
        assert client.ticker(OPTION)["instrument_name"] == OPTION
    assert len(server.requests_to(TICKER)) == 2
    assert len(sleeps) == 1


def test_rate_limit_gives_up_naming_call_and_attempts(deribit: DeribitHttp, server: ReplayServer) -> None:
    server.route(TICKER, rpc_error(10028, "too_many_requests", status=429))
    with pytest.raises(RateLimited, match=rf"deribit\.public/ticker: .*10028.*after {ATTEMPTS} attempts"):
        deribit.ticker(OPTION)
    assert len(server.requests_to(TICKER)) == ATTEMPTS


def test_unreachable_host_is_transient(sleeps: list[float]) -> None:
    with ReplayServer() as gone:
        url = gone.url
    client = DeribitHttp(url + PREFIX, timeout_s=SHORT_TIMEOUT_S, read_attempts=2, sleep=sleeps.append)
    with pytest.raises(TransientExchangeError, match="ConnectError.*after 2 attempts"):
        client.instruments("BTC")
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (text_reply('{"jsonrpc": "2.0", "result": {"instrument_name": ', content_type="application/json"),
         "body is not JSON"),
        (json_reply({"jsonrpc": "2.0", "id": 7}), "without 'result'"),
        (json_reply({"jsonrpc": "2.0", "result": [1, 2]}), "expected a JSON dict"),
    ],
)
def test_malformed_answers_fail_clearly(deribit: DeribitHttp, server: ReplayServer,
                                        reply: Reply, message: str) -> None:
    server.route(TICKER, reply)
    with pytest.raises(MalformedResponse, match=message):
        deribit.ticker(OPTION)
    assert len(server.requests_to(TICKER)) == 1


@pytest.mark.live
def test_live_deribit_instruments() -> None:
    with DeribitHttp() as client:
        got = client.instruments("BTC")
    assert got
    assert all(i["instrument_name"].startswith("BTC") for i in got)
