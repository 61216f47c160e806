"""DeribitHttp against a loopback server replaying real Deribit payloads: httpx runs its true code
path (URL joining, query encoding, timeouts, JSON decoding) on every call."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pandas as pd
import pytest

from resources.exchange.base import OptionsVenue
from resources.exchange.deribit import BOOK_SUMMARY_COLUMNS, DeribitHttp
from resources.exchange.errors import (
    AuthError,
    BadSymbol,
    Banned,
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
from tests.support.replay_server import (
    ReplayServer,
    Reply,
    SteppingClock,
    json_reply,
    read_recorded,
    text_reply,
)

TICKER = f"{PREFIX}/public/ticker"
OPTION = "ETH-30JUL21-2800-C"
ATTEMPTS = 3
#: Generous for every test but the timeout one, so a slow CI box never times out by accident.
TIMEOUT_S = 5.0
SHORT_TIMEOUT_S = 0.3
SLOW_REPLY_S = 0.8
NOW = datetime(2024, 1, 8, 11, 19, 41, tzinfo=UTC)
RETRY_AFTER_S = 2.0
BAN_S = 120.0
CLIENT_SECRET = "z6sXrS2ALb8ZqDBDkxAUuN4yC1wZ8hH5WkKpQaYQ3vE"


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


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(NOW)


@pytest.fixture
def paced(server: ReplayServer, clock: SteppingClock) -> Iterator[DeribitHttp]:
    """A client whose sleeps and clock are the stepping clock: waits cost no real time."""
    with DeribitHttp(server.url + PREFIX, read_attempts=ATTEMPTS, sleep=clock.sleep, clock=clock) as client:
        yield client


def ok_ticker(req: object) -> Reply:
    return json_reply({"jsonrpc": "2.0", "result": ticker_data(OPTION)})


@pytest.mark.parametrize("retry_after", [str(int(RETRY_AFTER_S)),
                                         format_datetime(NOW + timedelta(seconds=RETRY_AFTER_S), usegmt=True)])
@pytest.mark.parametrize("status", [429, 418])
def test_retry_after_within_the_bound_is_waited_out(paced: DeribitHttp, server: ReplayServer,
                                                    clock: SteppingClock, retry_after: str, status: int) -> None:
    server.route(TICKER, rpc_error(10028, "too_many_requests", status=status, headers={"Retry-After": retry_after}),
                 ok_ticker)
    assert paced.ticker(OPTION)["instrument_name"] == OPTION
    assert clock.sleeps == [RETRY_AFTER_S]
    assert len(server.requests_to(TICKER)) == 2


def test_a_418_is_a_ban_that_blocks_the_venue_until_it_ends(paced: DeribitHttp, server: ReplayServer,
                                                            clock: SteppingClock) -> None:
    server.route(TICKER, Reply(418, b"I'm a teapot", {"Retry-After": str(int(BAN_S))}), ok_ticker)
    with pytest.raises(Banned, match=r"public/ticker: HTTP 418.*calls again at 2024-01-08T11:21:41\+00:00") as info:
        paced.ticker(OPTION)
    assert info.value.until == NOW + timedelta(seconds=BAN_S)
    assert clock.sleeps == []
    server.clear_requests()
    with pytest.raises(Banned, match=r"deribit\.public/get_instruments: no request sent"):
        paced.instruments("BTC")
    assert server.requests == []
    clock.advance(BAN_S)
    assert paced.ticker(OPTION)["instrument_name"] == OPTION
    assert len(server.requests_to(TICKER)) == 1


def test_a_rate_limit_asking_longer_than_the_bound_fails_now(paced: DeribitHttp, server: ReplayServer,
                                                             clock: SteppingClock) -> None:
    server.route(TICKER, rpc_error(10028, "too_many_requests", status=429, headers={"Retry-After": "600"}))
    with pytest.raises(RateLimited, match="Retry-After 600 s is longer than the 60 s"):
        paced.ticker(OPTION)
    assert len(server.requests_to(TICKER)) == 1
    assert clock.sleeps == []


def test_an_auth_error_quoting_the_request_never_shows_the_client_secret(deribit: DeribitHttp,
                                                                        server: ReplayServer) -> None:
    # a fronting proxy that echoes the rejected request line, as some do on 401
    echo = ("<html><body>401 Unauthorized: GET /api/v2/public/auth?grant_type=client_credentials"
            f"&client_id=fo7WAPRm4P&client_secret={CLIENT_SECRET}</body></html>")
    server.route(TICKER, text_reply(echo, 401, content_type="text/html"))
    with pytest.raises(AuthError) as info:
        deribit.ticker(OPTION)
    shown = [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    assert [CLIENT_SECRET in text for text in shown] == [False, False, False]
    assert "grant_type=client_credentials&client_id=***&client_secret=***" in str(info.value)


@pytest.mark.live
def test_live_deribit_instruments() -> None:
    with DeribitHttp() as client:
        got = client.instruments("BTC")
    assert got
    assert all(i["instrument_name"].startswith("BTC") for i in got)
