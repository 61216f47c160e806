"""``redact`` on the failure text venues and ccxt produce for signed calls, and the places that
apply it: ccxt error translation (real signed requests to a loopback server), the kill switch's
stored reasons, and log records."""

from __future__ import annotations

import hashlib
import hmac
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import ccxt
import pytest

from resources.exchange.ccxt_errors import guarded
from resources.exchange.ccxt_profiles import build_client
from resources.exchange.errors import TransientExchangeError, retry_read
from resources.kill_switch import KillSwitchStore
from resources.redaction import RedactingFilter, redact
from tests.support.replay_server import ReplayServer, text_reply

# Binance's documented example key pair (API docs, "SIGNED endpoint examples"): not a live key.
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
STAMP = "1712345678901"
DERIBIT_ID, DERIBIT_SECRET = "fo7WAPRm4P", "z6sXrS2ALb8ZqDBDkxAUuN4yC1wZ8hH5WkKpQaYQ3vE"
TOKEN = "1582628593469.1MbQ-J_4.CBP-OqOwm_FBdMYj4cRK2dMXyHPfBtXGpzLxhWg31nHu3H_Q60FpE5"


def hmac_hex(payload: str) -> str:
    return hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


def binance_query(params: dict[str, str]) -> tuple[str, str]:
    """The signed query string ccxt's binance ``sign()`` builds (urlencode, then HMAC-SHA256)."""
    query = urlencode({"timestamp": STAMP, **params, "recvWindow": "10000"})
    signature = hmac_hex(query)
    return f"{query}&signature={signature}", signature


ORDER_QUERY, ORDER_SIG = binance_query({"symbol": "BTCUSDT", "origClientOrderId": "pp-2025093012-l1-btc-0"})
BYBIT_SIG = hmac_hex(f"api_key={KEY}&coin=USDT&recv_window=5000&timestamp={STAMP}")
BYBIT_QUERY = f"api_key={KEY}&coin=USDT&recv_window=5000&timestamp={STAMP}&sign={BYBIT_SIG}"
DERIBIT_ERROR = ('{"jsonrpc":"2.0","error":{"message":"invalid_credentials","code":13004},"testnet":false,'
                 '"usIn":1712345678901234,"usOut":1712345678901290,"usDiff":56}')

REDACTED = [
    pytest.param(  # ccxt handle_http_status_code: id, method, signed url, status, reason, body
        f"binanceusdm DELETE https://fapi.binance.com/fapi/v1/order?{ORDER_QUERY} 503 Service Unavailable busy",
        f"binanceusdm DELETE https://fapi.binance.com/fapi/v1/order?{ORDER_QUERY.replace(ORDER_SIG, '***')} "
        "503 Service Unavailable busy", id="binance-signed-url"),
    pytest.param(  # ccxt behind a proxyUrl: the whole target URL percent-encoded
        f"binanceusdm GET http://proxy:8080/{quote('https://fapi.binance.com/fapi/v2/balance?' + ORDER_QUERY, safe='')}",
        "binanceusdm GET http://proxy:8080/"
        + quote("https://fapi.binance.com/fapi/v2/balance?" + ORDER_QUERY, safe="").replace(ORDER_SIG, "***"),
        id="binance-proxy-encoded"),
    pytest.param(  # ccxt's verbose request log
        f"RequestHeaders: {{'X-MBX-APIKEY': '{KEY}', 'Content-Type': 'application/x-www-form-urlencoded'}}",
        "RequestHeaders: {'X-MBX-APIKEY': '***', 'Content-Type': 'application/x-www-form-urlencoded'}",
        id="binance-header"),
    pytest.param(
        f"bybit GET https://api.bybit.com/v2/private/wallet/fund/records?{BYBIT_QUERY} 502 Bad Gateway",
        f"bybit GET https://api.bybit.com/v2/private/wallet/fund/records?api_key=***&coin=USDT&recv_window=5000"
        f"&timestamp={STAMP}&sign=*** 502 Bad Gateway", id="bybit-signed-url"),
    pytest.param(
        f"{{'X-BAPI-API-KEY': '{KEY}', 'X-BAPI-TIMESTAMP': '{STAMP}', 'X-BAPI-RECV-WINDOW': '5000', "
        f"'X-BAPI-SIGN-TYPE': '2', 'X-BAPI-SIGN': '{BYBIT_SIG}'}}",
        f"{{'X-BAPI-API-KEY': '***', 'X-BAPI-TIMESTAMP': '{STAMP}', 'X-BAPI-RECV-WINDOW': '5000', "
        "'X-BAPI-SIGN-TYPE': '2', 'X-BAPI-SIGN': '***'}", id="bybit-headers"),
    pytest.param(
        f'{{"api_key": "{KEY}", "qty": "0.5", "price": "65000.5", "sign": "{BYBIT_SIG}"}}',
        '{"api_key": "***", "qty": "0.5", "price": "65000.5", "sign": "***"}', id="bybit-json-body"),
    pytest.param(
        f"deribit GET https://www.deribit.com/api/v2/public/auth?client_id={DERIBIT_ID}&client_secret={DERIBIT_SECRET}"
        f"&grant_type=client_credentials 400 Bad Request {DERIBIT_ERROR}",
        "deribit GET https://www.deribit.com/api/v2/public/auth?client_id=***&client_secret=***"
        f"&grant_type=client_credentials 400 Bad Request {DERIBIT_ERROR}", id="deribit-auth-url"),
    pytest.param(
        f"{{'Authorization': 'deri-hmac-sha256 id={DERIBIT_ID},ts={STAMP},sig={BYBIT_SIG},nonce=a1b2c3'}}",
        "{'Authorization': 'deri-hmac-sha256 ***'}", id="deribit-hmac-header"),
    pytest.param(f"Authorization: Bearer {TOKEN}\nAccept: application/json",
                 "Authorization: Bearer ***\nAccept: application/json", id="bearer-header"),
    pytest.param(f"retrying with bearer {TOKEN} after 3 s", "retrying with bearer *** after 3 s", id="bearer-bare"),
    pytest.param(
        f'{{"access_token": "{TOKEN}", "expires_in": 31536000, "refresh_token": "{TOKEN[::-1]}", '
        '"token_type": "bearer"}',
        '{"access_token": "***", "expires_in": 31536000, "refresh_token": "***", "token_type": "bearer"}',
        id="deribit-auth-result"),
    pytest.param(f"{{'apiKey': '{KEY}', 'secret': '{SECRET}', 'enableRateLimit': True}}",
                 "{'apiKey': '***', 'secret': '***', 'enableRateLimit': True}", id="ccxt-config"),
    pytest.param(f"build(secret='{SECRET}', timeout=10)", "build(secret='***', timeout=10)", id="kwargs"),
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_credentials_become_stars_and_everything_else_stays(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize("text", [
    f"BTC/USDT:USDT mark 65000.5 at {STAMP} ms; funding_rate=0.0001 timestamp={STAMP} recvWindow=10000",
    "signal=-0.42 design=3 consign=7 tokens=12 keyed=1 secretary: Ann",
    'binanceusdm {"code":-1121,"msg":"Invalid symbol."} orderId=8389765535 price=64999.9',
    "deribit.public/ticker: JSON-RPC error 10028 'too_many_requests' (after 3 attempts) [transient, retried]",
])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text) == text


# -- applied: a real signed ccxt request that fails ---------------------------------------------


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv
        assert srv.errors == []
        assert srv.unmatched == []


SIGNED_CALLS: list[Any] = [
    pytest.param("binanceusdm", "/fapi/v2/balance", lambda c: c.fapiPrivateV2GetBalance(), "signature",
                 id="binance"),
    pytest.param("bybit", "/v2/private/wallet/fund/records",
                 lambda c: c.privateGetV2PrivateWalletFundRecords({"coin": "USDT"}), "sign", id="bybit"),
]


@pytest.mark.parametrize(("ccxt_id", "path", "request_it", "sig_param"), SIGNED_CALLS)
def test_a_failed_signed_call_shows_neither_signature_nor_key(
        server: ReplayServer, ccxt_id: str, path: str, request_it: Callable[[ccxt.Exchange], Any],
        sig_param: str) -> None:
    server.route(path, text_reply("<html>502 Bad Gateway</html>", 502, content_type="text/html"))
    client = build_client(ccxt_id, {"apiKey": KEY, "secret": SECRET, "enableRateLimit": False},
                          base_url=server.url)
    call = f"{ccxt_id}.private"
    with pytest.raises(TransientExchangeError) as info:
        retry_read(lambda: guarded(lambda: request_it(client), call=call), call=call, attempts=2,
                   sleep=lambda _s: None)
    sent = server.requests_to(path)[-1].query
    secrets = [sent[sig_param], KEY, SECRET]
    shown = {"str": str(info.value), "repr": repr(info.value),
             "traceback": "".join(traceback.format_exception(info.value))}
    assert {name: [s for s in secrets if s in text] for name, text in shown.items()} == {
        "str": [], "repr": [], "traceback": []}
    assert f"{sig_param}=***" in shown["str"]
    assert f"timestamp={sent['timestamp']}" in shown["str"]  # the rest of the URL still reads
    assert isinstance(info.value.__cause__, ccxt.ExchangeNotAvailable)  # the ccxt class stays visible


def test_kill_switch_stores_trip_reasons_redacted(tmp_path: Path) -> None:
    store = KillSwitchStore(f"sqlite:///{tmp_path / 'kill_switch.db'}")
    reason = (f"order_intents__submitted failed: binanceusdm DELETE https://fapi.binance.com/fapi/v1/order?"
              f"{ORDER_QUERY} 503 Service Unavailable; BTC mark 65000.5")
    store.trip("execution", reason, partition="2025-09-30-12:00")
    (trip,) = store.active()
    assert ORDER_SIG not in trip.reason
    assert trip.reason == reason.replace(ORDER_SIG, "***")
    store.dispose()


def test_redacting_filter_cleans_message_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redaction")
    caplog.handler.addFilter(RedactingFilter())
    try:
        raise ValueError(f"bad answer for ?{ORDER_QUERY}")
    except ValueError:
        with caplog.at_level(logging.DEBUG, logger="tests.redaction"):
            logger.debug("%s %s, Request: %s", "GET", f"https://fapi.binance.com/fapi/v2/balance?{ORDER_QUERY}",
                         {"X-MBX-APIKEY": KEY}, exc_info=True)
    assert ORDER_SIG not in caplog.text
    assert KEY not in caplog.text
    assert "signature=***" in caplog.text
    assert "'X-MBX-APIKEY': '***'" in caplog.text
