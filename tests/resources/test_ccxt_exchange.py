"""CcxtExchange against a loopback server: ccxt runs its true code path (requests, URL signing,
status handling, parsing) on Binance-shaped responses built from the bundled real sample."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pandas as pd
import pytest

from quant.frames import CANDLES, FUNDING, MARK_INDEX, OPEN_INTEREST, TICKERS, TRADES
from resources.exchange.base import Exchange
from resources.exchange.ccxt_exchange import CcxtExchange
from resources.exchange.ccxt_profiles import rewrite_urls
from resources.exchange.errors import (
    AuthError,
    BadSymbol,
    Banned,
    MalformedResponse,
    PermanentExchangeError,
    RateLimited,
    TransientExchangeError,
)
from tests.support.binance_shapes import (
    BinanceFutures,
    agg_trades,
    frame,
    futures_exchange_info,
    install_binance,
)
from tests.support.replay_server import ReplayServer, Reply, Request, SteppingClock, json_reply, text_reply

BTC = "BTC/USDT:USDT"
KLINES = "/fapi/v1/klines"
AS_OF = datetime(2025, 9, 30, 12, tzinfo=UTC)
T0 = datetime(2025, 3, 10, tzinfo=UTC)
ATTEMPTS = 4
#: Generous for every test but the timeout one, so a slow CI box never times out by accident.
TIMEOUT_S = 5.0
SHORT_TIMEOUT_S = 0.3
SLOW_REPLY_S = 0.8
RETRY_AFTER_S = 3.0
BAN_S = 120.0
#: Binance's answer to an IP that kept calling after 429s (HTTP 418, with Retry-After).
BAN_BODY = {"code": -1003, "msg": "Way too many requests; IP(127.0.0.1) banned until 1759233720000. "
                                  "Please use the websocket for live updates to avoid bans."}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in df.dtypes.items()}


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv
        assert srv.errors == []
        assert srv.unmatched == []


@pytest.fixture
def binance(server: ReplayServer) -> BinanceFutures:
    api = install_binance(server)
    api.ticker_as_of = pd.Timestamp(AS_OF)
    return api


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def exchange(server: ReplayServer, binance: BinanceFutures, sleeps: list[float]) -> CcxtExchange:
    return CcxtExchange(
        {"binance": "binanceusdm", "binance_spot": "binance"},
        urls_override=server.url,
        enable_rate_limit=False,
        timeout_s=TIMEOUT_S,
        read_attempts=ATTEMPTS,
        sleep=sleeps.append,
        clock=lambda: AS_OF,
    )


def parquet_candles(coin: str, start: datetime, end: datetime, venue: str = "binance") -> pd.DataFrame:
    df = frame("candles", venue)
    df = df[(df["coin"] == coin) & (df["timestamp"] >= start) & (df["timestamp"] < end)]
    out = df.rename(columns={"timestamp": "ts", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"})
    out = out.loc[:, list(CANDLES)].reset_index(drop=True)
    return out.astype({"ts": "datetime64[ns, UTC]"})


def test_is_an_exchange(exchange: CcxtExchange) -> None:
    assert isinstance(exchange, Exchange)
    assert exchange.venues() == ["binance", "binance_spot"]


def test_rewrite_urls_keeps_paths() -> None:
    urls = {"fapiPublic": "https://fapi.binance.com/fapi/v1", "nested": {"public": "https://api.{hostname}"}}
    assert rewrite_urls(urls, "http://127.0.0.1:9/") == {
        "fapiPublic": "http://127.0.0.1:9/fapi/v1", "nested": {"public": "http://127.0.0.1:9"}}


def test_symbols_are_active_linear_perpetuals_from_recorded_exchange_info(exchange: CcxtExchange) -> None:
    symbols = exchange.symbols("binance")
    assert BTC in symbols
    assert "HYPE/USDT:USDT" in symbols
    assert not [s for s in symbols if "-" in s]  # the recorded quarterly BTCUSDT_210924 is not a perp


def test_candles_page_through_a_long_window_and_equal_the_sample(exchange: CcxtExchange,
                                                                server: ReplayServer) -> None:
    end = T0 + timedelta(hours=3000)
    got = exchange.candles("binance", BTC, T0, end)
    pd.testing.assert_frame_equal(got, parquet_candles("BTC", T0, end))
    pages = server.requests_to(KLINES)
    assert len(pages) == 3  # 3000 bars, 1000 per page
    assert [int(p.param("startTime") or 0) for p in pages] == [
        int((T0 + timedelta(hours=1000 * k)).timestamp() * 1000) for k in range(3)]
    assert int(pages[-1].param("endTime") or 0) == int(end.timestamp() * 1000) - 1
    assert dtypes(got) == dict(CANDLES)


def test_candles_stop_before_end_even_when_the_venue_overshoots(exchange: CcxtExchange, server: ReplayServer,
                                                                binance: BinanceFutures) -> None:
    def ignores_end_time(req: Request) -> Reply:
        query = {k: v for k, v in req.query.items() if k != "endTime"}
        return binance.klines(Request(req.method, req.path, query))

    server.route(KLINES, ignores_end_time)
    got = exchange.candles("binance", BTC, T0, T0 + timedelta(hours=5, minutes=30))
    assert got["ts"].tolist() == [pd.Timestamp(T0 + timedelta(hours=h)) for h in range(6)]


def test_empty_window_of_data_is_an_empty_frame(exchange: CcxtExchange) -> None:
    got = exchange.candles("binance", BTC, utc(2020, 1, 1), utc(2020, 1, 2))
    assert got.empty
    assert dtypes(got) == dict(CANDLES)


@pytest.mark.parametrize(("coin", "interval"), [("BTC", 8.0), ("HYPE", 4.0)])
def test_funding_pages_and_infers_the_settlement_interval(server: ReplayServer, binance: BinanceFutures,
                                                          coin: str, interval: float) -> None:
    exchange = CcxtExchange({"binance": "binanceusdm"}, urls_override=server.url, enable_rate_limit=False,
                            page_limits={"funding": 100})
    start, end = utc(2025, 6, 1), utc(2025, 9, 1)
    got = exchange.funding_history("binance", f"{coin}/USDT:USDT", start, end)
    sample = frame("funding", "binance")
    sample = sample[(sample["coin"] == coin) & (sample["timestamp"] >= start) & (sample["timestamp"] < end)]
    assert got["ts"].tolist() == sample["timestamp"].tolist()  # raw stamps, jitter kept
    assert got["funding_rate"].tolist() == sample["funding_rate"].tolist()
    assert (got["interval_hours"] == interval).all()  # the first row too: read from before start
    assert len(server.requests_to("/fapi/v1/fundingRate")) > 1
    assert dtypes(got) == dict(FUNDING)


def test_funding_interval_is_nan_without_a_predecessor(exchange: CcxtExchange) -> None:
    got = exchange.funding_history("binance", BTC, utc(2025, 3, 1), utc(2025, 3, 10))
    assert got["interval_hours"].isna().tolist() == [True] + [False] * (len(got) - 1)


def test_open_interest_pages_in_usd(exchange: CcxtExchange, server: ReplayServer) -> None:
    start, end = utc(2025, 12, 10), utc(2026, 1, 10)
    got = exchange.open_interest_history("binance", BTC, start, end)
    sample = frame("oi", "hyperliquid")
    sample = sample[(sample["coin"] == "BTC") & (sample["timestamp"] >= start) & (sample["timestamp"] < end)]
    assert got["oi_usd"].tolist() == sample["oi_usd"].tolist()
    assert len(got) == 31 * 24
    assert len(server.requests_to("/futures/data/openInterestHist")) == 2
    assert dtypes(got) == dict(OPEN_INTEREST)


def test_tickers_now_and_refuse_the_past(exchange: CcxtExchange, server: ReplayServer) -> None:
    got = exchange.tickers_24h("binance", AS_OF + timedelta(minutes=5))
    assert got["symbol"].tolist() == [BTC, "DOGE/USDT:USDT", "ETH/USDT:USDT", "HYPE/USDT:USDT", "SOL/USDT:USDT"]
    assert dtypes(got) == dict(TICKERS)
    btc = parquet_candles("BTC", AS_OF - timedelta(hours=24), AS_OF)
    assert got.loc[0, "last"] == btc["close"].iloc[-1]
    assert got.loc[0, "quote_volume_24h"] == pytest.approx(
        (btc["volume"] * (btc["high"] + btc["low"] + btc["close"]) / 3).sum(), rel=1e-12)
    server.clear_requests()
    with pytest.raises(ValueError, match="only knows 'now'"):
        exchange.tickers_24h("binance", AS_OF - timedelta(days=1))
    assert server.requests == []


def test_mark_index_reports_bar_opens(exchange: CcxtExchange) -> None:
    start, end = utc(2025, 9, 1), utc(2025, 9, 2)
    got = exchange.mark_index("binance", BTC, start, end)
    assert dtypes(got) == dict(MARK_INDEX)
    assert got["mark_price"].tolist() == parquet_candles("BTC", start, end)["open"].tolist()
    assert got["index_price"].tolist() == parquet_candles("BTC", start, end, "bybit")["open"].tolist()


def test_trades_page_without_gaps_or_duplicates(exchange: CcxtExchange, server: ReplayServer) -> None:
    start, end = utc(2024, 8, 8, 23, 57), utc(2024, 8, 8, 23, 59)
    got = exchange.trades("binance", BTC, start, end)
    recorded = agg_trades("BTC")
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    expected = recorded[(recorded["T"] >= lo) & (recorded["T"] < hi)]
    assert got["trade_id"].tolist() == expected["a"].tolist()
    assert got["is_buyer_maker"].tolist() == expected["m"].tolist()
    assert len(server.requests_to("/fapi/v1/aggTrades")) > 5
    assert dtypes(got) == dict(TRADES)


def test_trades_sharing_a_millisecond_across_a_page_edge_are_all_kept(server: ReplayServer,
                                                                     binance: BinanceFutures) -> None:
    start = utc(2024, 8, 8, 23, 56)
    recorded = agg_trades("BTC")
    window = recorded[recorded["T"] >= int(start.timestamp() * 1000)].reset_index(drop=True)
    stamps = window["T"].tolist()
    # a page edge inside a millisecond whose trades, re-read from its first one, fit in one page
    edge = next(i for i in range(2, len(stamps)) if stamps[i] == stamps[i - 1] != stamps[0]
                and stamps.count(stamps[i]) < i)
    last_at_edge = stamps.index(stamps[edge]) + stamps.count(stamps[edge])  # stamps are sorted
    end = pd.Timestamp(stamps[edge] + 1, unit="ms", tz="UTC").to_pydatetime()
    exchange = CcxtExchange({"binance": "binanceusdm"}, urls_override=server.url, enable_rate_limit=False,
                            page_limits={"trades": edge})  # page 1 ends inside a millisecond
    got = exchange.trades("binance", BTC, start, end)
    assert got["trade_id"].tolist() == window["a"][:last_at_edge].tolist()
    assert len(server.requests_to("/fapi/v1/aggTrades")) >= 2


def test_spot_venue_uses_the_spot_api(exchange: CcxtExchange, server: ReplayServer) -> None:
    assert "BTC/USDT" in exchange.symbols("binance_spot")
    got = exchange.candles("binance_spot", "BTC/USDT", T0, T0 + timedelta(hours=3))
    assert len(got) == 3
    assert len(server.requests_to("/api/v3/klines")) == 1
    with pytest.raises(PermanentExchangeError, match="perpetuals only"):
        exchange.funding_history("binance_spot", "BTC/USDT", T0, T0 + timedelta(hours=8))


@pytest.mark.parametrize(
    ("failures", "kind"),
    [
        ([json_reply({"code": -1003, "msg": "Too many requests."}, 429)], "rate limit"),
        ([text_reply("<html>502 Bad Gateway</html>", 502, content_type="text/html")] * 2, "5xx"),
    ],
)
def test_transient_failures_are_retried_then_succeed(exchange: CcxtExchange, server: ReplayServer,
                                                     binance: BinanceFutures, sleeps: list[float],
                                                     failures: list[Reply], kind: str) -> None:
    server.route(KLINES, *failures, binance.klines)
    got = exchange.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    assert len(got) == 2, kind
    assert len(server.requests_to(KLINES)) == len(failures) + 1
    assert len(sleeps) == len(failures)


def test_a_timeout_is_retried_then_succeeds(server: ReplayServer, binance: BinanceFutures,
                                           sleeps: list[float]) -> None:
    exchange = CcxtExchange({"binance": "binanceusdm"}, urls_override=server.url, enable_rate_limit=False,
                            timeout_s=SHORT_TIMEOUT_S, sleep=sleeps.append)
    assert BTC in exchange.symbols("binance")  # markets load before the slow route exists
    server.route(KLINES, json_reply([], delay_s=SLOW_REPLY_S), binance.klines)
    assert len(exchange.candles("binance", BTC, T0, T0 + timedelta(hours=2))) == 2
    assert len(server.requests_to(KLINES)) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (text_reply("Service Unavailable", 503), TransientExchangeError),
        (json_reply({"code": -1003, "msg": "Too many requests."}, 429), RateLimited),
    ],
)
def test_transient_failures_give_up_naming_call_and_attempts(exchange: CcxtExchange, server: ReplayServer,
                                                             reply: Reply, error: type) -> None:
    server.route(KLINES, reply)
    with pytest.raises(error, match=rf"binanceusdm\.fetch_ohlcv: .*after {ATTEMPTS} attempts") as info:
        exchange.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    assert info.value.attempts == ATTEMPTS
    assert len(server.requests_to(KLINES)) == ATTEMPTS


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (json_reply({"code": -1121, "msg": "Invalid symbol."}, 400), BadSymbol),
        (json_reply({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, 401), AuthError),
    ],
)
def test_permanent_errors_are_not_retried(exchange: CcxtExchange, server: ReplayServer, sleeps: list[float],
                                          reply: Reply, error: type) -> None:
    server.route(KLINES, reply)
    with pytest.raises(error, match="not retried"):
        exchange.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    assert len(server.requests_to(KLINES)) == 1
    assert sleeps == []


def test_unlisted_symbol_fails_before_any_request(exchange: CcxtExchange, server: ReplayServer) -> None:
    with pytest.raises(BadSymbol, match="NOPE"):
        exchange.candles("binance", "NOPE/USDT:USDT", T0, T0 + timedelta(hours=2))
    assert server.requests_to(KLINES) == []


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (text_reply('[[1741564800000, "80690.7", ', content_type="application/json"), "not JSON"),
        (json_reply({"klines": []}), "expected a JSON array of klines"),
        (json_reply([[None, "1", "1", "1", "1", "1", 0, "1", 0, "0", "0", "0"]]),
         "sent 1 klines rows, only 0 were readable"),
    ],
)
def test_malformed_answers_fail_clearly_instead_of_reading_as_no_data(
        exchange: CcxtExchange, server: ReplayServer, reply: Reply, message: str) -> None:
    server.route(KLINES, reply)
    with pytest.raises(MalformedResponse, match=message):
        exchange.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    assert len(server.requests_to(KLINES)) == 1


def test_market_loading_is_retried(exchange: CcxtExchange, server: ReplayServer, binance: BinanceFutures) -> None:
    server.route("/fapi/v1/exchangeInfo", text_reply("busy", 503), json_reply(futures_exchange_info()))
    assert BTC in exchange.symbols("binance")
    assert len(server.requests_to("/fapi/v1/exchangeInfo")) == 2


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(AS_OF)


@pytest.fixture
def paced(server: ReplayServer, binance: BinanceFutures, clock: SteppingClock) -> CcxtExchange:
    """A client whose sleeps and clock are the stepping clock: waits cost no real time."""
    return CcxtExchange({"binance": "binanceusdm"}, urls_override=server.url, enable_rate_limit=False,
                        read_attempts=ATTEMPTS, sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize("status", [429, 418])
@pytest.mark.parametrize("retry_after", [str(int(RETRY_AFTER_S)),
                                         format_datetime(AS_OF + timedelta(seconds=RETRY_AFTER_S), usegmt=True)])
def test_retry_after_within_the_bound_is_waited_out(paced: CcxtExchange, server: ReplayServer,
                                                    binance: BinanceFutures, clock: SteppingClock,
                                                    status: int, retry_after: str) -> None:
    server.route(KLINES, json_reply(BAN_BODY, status, headers={"Retry-After": retry_after}), binance.klines)
    assert len(paced.candles("binance", BTC, T0, T0 + timedelta(hours=2))) == 2
    assert clock.sleeps == [RETRY_AFTER_S]
    assert len(server.requests_to(KLINES)) == 2


def test_a_ban_blocks_every_read_of_that_venue_until_it_ends(paced: CcxtExchange, server: ReplayServer,
                                                             binance: BinanceFutures, clock: SteppingClock) -> None:
    server.route(KLINES, json_reply(BAN_BODY, 418, headers={"Retry-After": str(int(BAN_S))}), binance.klines)
    with pytest.raises(Banned):
        paced.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    server.clear_requests()
    clock.advance(BAN_S - 1)
    with pytest.raises(Banned, match=r"binanceusdm\.fetch_funding_rate_history: no request sent") as info:
        paced.funding_history("binance", BTC, T0, T0 + timedelta(hours=8))
    assert info.value.retry_after == 1.0
    assert server.requests == []
    clock.advance(1)
    assert len(paced.candles("binance", BTC, T0, T0 + timedelta(hours=2))) == 2
    assert len(server.requests_to(KLINES)) == 1


@pytest.mark.parametrize(("headers", "says"), [
    ({"Retry-After": str(int(BAN_S))}, "Retry-After 120 s is longer than the 60 s"),
    ({}, "no Retry-After, assuming the shortest Binance ban"),  # 120 s too
])
def test_an_ip_ban_fails_at_once_saying_when_calls_are_allowed_again(
        paced: CcxtExchange, server: ReplayServer, clock: SteppingClock, headers: dict[str, str], says: str) -> None:
    server.route(KLINES, json_reply(BAN_BODY, 418, headers=headers))
    with pytest.raises(Banned, match=r"HTTP 418.*calls again at 2025-09-30T12:02:00\+00:00") as info:
        paced.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    assert says in str(info.value)
    assert info.value.retry_after == BAN_S
    assert info.value.until == AS_OF + timedelta(seconds=BAN_S)
    assert len(server.requests_to(KLINES)) == 1
    assert clock.sleeps == []


def test_a_rate_limit_asking_longer_than_the_bound_fails_now(paced: CcxtExchange, server: ReplayServer,
                                                             clock: SteppingClock) -> None:
    server.route(KLINES, json_reply({"code": -1003, "msg": "Too many requests."}, 429, headers={"Retry-After": "600"}))
    with pytest.raises(RateLimited, match=r"calls again at 2025-09-30T12:10:00\+00:00.*"
                                          r"Retry-After 600 s is longer than the 60 s") as info:
        paced.candles("binance", BTC, T0, T0 + timedelta(hours=2))
    assert type(info.value) is RateLimited
    assert len(server.requests_to(KLINES)) == 1
    assert clock.sleeps == []


@pytest.mark.live
def test_live_binance_candles() -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    got = CcxtExchange({"binance": "binanceusdm"}).candles("binance", BTC, now - timedelta(hours=3), now)
    assert len(got) == 3
    assert (got["ts"] < pd.Timestamp(now)).all()
