"""``perpetua audit`` against loopback venues: ccxt's true code path (signing, the demo and live hosts,
error tables) on Binance USDⓈ-M's and Bybit v5's documented shapes. Keys OK, a key that can withdraw,
a venue that is down, a clock that is off, no keys, half a key pair; never an order; the planted key
never printed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.operator_audit import (
    FAIL,
    KEY_ENV,
    NETWORK_ENV,
    OK,
    SECRET_ENV,
    SKIP,
    Target,
    audit,
    binance_permissions,
    bybit_permissions,
)
from tests.resources.broker_helpers import KEY, SECRET, venue_fixture
from tests.support.bybit_shapes import instruments_info
from tests.support.order_exchange import DEMO_HOST, LIVE_HOST, OrderExchange, loopback_session
from tests.support.replay_server import ReplayServer, Reply, Request, json_reply

BINANCE = {"binance": "binanceusdm"}
SAPI_HOST = "api.binance.com"
LIVE_KEYS = {KEY_ENV: KEY, SECRET_ENV: SECRET, NETWORK_ENV: "live"}
#: Binance ``GET /sapi/v1/account/apiRestrictions`` of a trading key without withdrawals (the docs' example).
RESTRICTIONS = {
    "ipRestrict": False, "createTime": 1698645219000, "enableReading": True, "enableWithdrawals": False,
    "enableInternalTransfer": False, "enableMargin": False, "enableFutures": True, "permitsUniversalTransfer": False,
    "enableVanillaOptions": False, "enableFixApiTrade": False, "enableFixReadOnly": False,
    "enableSpotAndMarginTrading": False, "enablePortfolioMarginTrading": False,
}


def _now_ms() -> int:
    return int(time.time() * 1000)


class Binance:
    """The order venue plus what the audit reads: server time, the v3 account, the key's restrictions."""

    def __init__(self, venue: OrderExchange) -> None:
        self.venue = venue
        self.restrictions: dict[str, Any] = dict(RESTRICTIONS)
        self.skew_ms = 0
        self.restrictions_reply: Reply | None = None
        for host in venue.hosts:
            venue.route(f"/{host}/fapi/v1/time", lambda _r: json_reply({"serverTime": _now_ms() + self.skew_ms}))
            venue.route(f"/{host}/fapi/v3/account", self._signed(self._account))
        venue.route(f"/{SAPI_HOST}/sapi/v1/account/apiRestrictions", self._signed(self._restrictions))

    def _signed(self, answer):
        def responder(req: Request) -> Reply:
            _params, raw = self.venue._params(req)  # the fake's own HMAC check, as on its order endpoints
            return self.venue._auth(raw) or answer()
        return responder

    def _account(self) -> Reply:
        usdt = f"{self.venue.book.margin_usdt:.8f}"
        return json_reply({
            "totalWalletBalance": usdt, "availableBalance": usdt, "maxWithdrawAmount": usdt,
            "assets": [{"asset": "USDT", "walletBalance": usdt, "unrealizedProfit": "0.00000000", "marginBalance": usdt,
                        "availableBalance": usdt, "maxWithdrawAmount": usdt, "updateTime": _now_ms()}],
            "positions": [],
        })

    def _restrictions(self) -> Reply:
        return self.restrictions_reply or json_reply(self.restrictions)

    def target(self) -> Target:
        url = self.venue.url  # the same port across a stop and a start
        return Target(timeout_s=5.0, enable_rate_limit=False, session=lambda: loopback_session(url))


@pytest.fixture
def binance() -> Iterator[Binance]:
    for venue in venue_fixture(hosts=(LIVE_HOST, DEMO_HOST)):
        yield Binance(venue)
        assert venue.creates == []  # an audit never places an order
        assert {r.method for r in venue.requests} <= {"GET"}


def _lines(report: str) -> dict[str, str]:
    """``"venue check" -> "STATUS detail"`` of the report's check lines."""
    out = {}
    for line in report.splitlines():
        status, _, rest = line.partition(" ")
        if status in (OK, FAIL, SKIP):
            where, _, detail = rest.strip().partition(": ")
            out[where] = f"{status} {detail}"
    return out


def test_a_trading_key_that_cannot_withdraw_passes_every_check(binance: Binance) -> None:
    report, code = audit("live", LIVE_KEYS, venues=BINANCE, target=binance.target())
    lines = _lines(report)
    assert code == 0, report
    assert lines["binance markets"].startswith("OK ")
    assert "linear perpetuals listed" in lines["binance markets"]
    assert lines["binance clock"].startswith("OK this machine's clock is")
    assert lines["binance account"] == "OK live network: USDT total 1,000,000.00, free 1,000,000.00; 0 open position(s)"
    assert lines["binance permissions"] == "OK can trade futures (spot trading off), cannot withdraw, not restricted by IP"
    assert binance.venue.requests_to(f"/{SAPI_HOST}/sapi/v1/account/apiRestrictions")
    assert KEY not in report
    assert SECRET not in report
    assert "no check failed" in report


def test_a_key_that_can_withdraw_fails(binance: Binance) -> None:
    binance.restrictions["enableWithdrawals"] = True
    report, code = audit("live", LIVE_KEYS, venues=BINANCE, target=binance.target())
    assert code == 1
    assert _lines(report)["binance permissions"].startswith("FAIL the key can WITHDRAW")
    assert "1 check(s) FAILED" in report


def test_a_venue_that_is_down_fails_with_the_reason_and_skips_the_rest(binance: Binance) -> None:
    target = binance.target()
    binance.venue.stop()  # connection refused from now on
    try:
        report, code = audit("live", LIVE_KEYS, venues=BINANCE, target=target)
    finally:
        binance.venue.start()
    lines = _lines(report)
    assert code == 1
    assert lines["binance markets"].startswith("FAIL cannot reach the venue: binanceusdm.load_markets:")
    assert "transient: try again" in lines["binance markets"]
    assert lines["binance clock"].startswith("SKIP")
    assert lines["binance account"] == lines["binance permissions"] == "SKIP the venue did not answer its public API"


def test_without_keys_the_authenticated_checks_are_skipped(binance: Binance) -> None:
    report, code = audit("paper", {}, venues=BINANCE, target=binance.target())
    lines = _lines(report)
    assert code == 0
    assert lines["keys credentials"].startswith("SKIP PERPETUA_API_KEY/PERPETUA_API_SECRET not set")
    assert lines["binance account"] == lines["binance permissions"] == "SKIP no API keys"
    assert lines["binance markets"].startswith("OK ")
    assert not binance.venue.requests_to(f"/{LIVE_HOST}/fapi/v3/account")


@pytest.mark.parametrize("environ", [{KEY_ENV: KEY}, {SECRET_ENV: SECRET}])
def test_half_a_key_pair_fails_and_neither_half_is_printed(binance: Binance, environ: dict[str, str]) -> None:
    report, code = audit("live", environ, venues=BINANCE, target=binance.target())
    assert code == 1
    assert "set both, or neither" in _lines(report)["keys credentials"]
    assert KEY not in report
    assert SECRET not in report


def test_on_the_demo_network_the_account_is_read_there_and_binance_permissions_are_skipped(binance: Binance) -> None:
    report, code = audit("live", {KEY_ENV: KEY, SECRET_ENV: SECRET}, venues=BINANCE, target=binance.target())
    lines = _lines(report)
    assert code == 0
    assert lines["binance account"].startswith("OK demo network: USDT total 1,000,000.00")
    assert lines["binance permissions"].startswith("SKIP Binance demo trading has no /sapi host")
    assert binance.venue.requests_to(f"/{DEMO_HOST}/fapi/v3/account")
    assert not binance.venue.requests_to(f"/{LIVE_HOST}/fapi/v3/account")
    assert not binance.venue.requests_to(f"/{SAPI_HOST}/sapi/v1/account/apiRestrictions")


def test_a_clock_off_by_more_than_a_second_fails(binance: Binance) -> None:
    binance.skew_ms = 5_000
    report, code = audit("paper", {}, venues=BINANCE, target=binance.target())
    clock = _lines(report)["binance clock"]
    assert code == 1
    # The venue stamps its time somewhere inside the round trip and the audit assumes halfway, so the
    # skew it reads is 5 s within the round trip's millisecond rounding (CI once read 4.999 s).
    seen = re.match(r"FAIL this machine's clock is (\d+\.\d{3}) s behind the venue's", clock)
    assert seen, clock
    assert float(seen.group(1)) == pytest.approx(5.0, abs=0.05)
    assert "synchronise the clock" in clock


def test_a_planted_key_echoed_by_the_venue_never_reaches_the_output(binance: Binance) -> None:
    binance.restrictions_reply = json_reply({"code": -2015, "msg": f"Invalid API-key {KEY}, IP, or permissions for action."}, 401)
    report, code = audit("live", LIVE_KEYS, venues=BINANCE, target=binance.target())
    assert code == 1
    assert KEY not in report
    assert SECRET not in report
    assert "Invalid API-key ***" in _lines(report)["binance permissions"]


def test_a_wrong_order_network_is_refused() -> None:
    with pytest.raises(ValueError, match="PERPETUA_ORDER_NETWORK must be 'demo' or 'live', got 'testnet'"):
        audit("live", {NETWORK_ENV: "testnet"}, venues=BINANCE)


# -- Bybit ----------------------------------------------------------------------------------------------

BYBIT_KEY = {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"],
             "Options": [], "Derivatives": ["DerivativesTrade"], "Exchange": ["ExchangeHistory"]}


def _bybit(result: dict) -> Reply:
    return json_reply({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": _now_ms()})


@pytest.fixture
def bybit() -> Iterator[tuple[ReplayServer, dict[str, Any]]]:
    key: dict[str, Any] = {"id": "1", "note": "perpetua", "apiKey": KEY, "readOnly": 0, "secret": "",
                           "permissions": {k: list(v) for k, v in BYBIT_KEY.items()}, "ips": ["203.0.113.7"]}
    wallet = {"list": [{"accountType": "UNIFIED", "totalEquity": "2500", "coin": [
        {"coin": "USDT", "walletBalance": "2500", "equity": "2500", "availableToWithdraw": "2000", "locked": "0",
         "totalOrderIM": "0", "totalPositionIM": "500", "unrealisedPnl": "0"}]}]}
    with ReplayServer() as server:
        for host in ("api.bybit.com", "api-demo.bybit.com"):
            server.route(f"/{host}/v5/market/instruments-info", instruments_info)
            server.route(f"/{host}/v5/market/time", lambda _r: _bybit({"timeSecond": str(_now_ms() // 1000)}))
            server.route(f"/{host}/v5/account/wallet-balance", lambda _r: _bybit(wallet))
            server.route(f"/{host}/v5/position/list", lambda _r: _bybit({"category": "linear", "list": []}))
            server.route(f"/{host}/v5/user/query-api", lambda _r: _bybit(key))
            server.route(f"/{host}/v5/asset/coin/query-info", lambda _r: _bybit({"rows": []}))  # ccxt's signed load_markets
            server.route(f"/{host}/v5/account/info", lambda _r: _bybit({"unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN"}))
        yield server, key
        assert server.errors == []
        assert server.unmatched == []
        assert {r.method for r in server.requests} <= {"GET"}


def _bybit_target(server: ReplayServer) -> Target:
    url = server.url
    return Target(timeout_s=5.0, enable_rate_limit=False, session=lambda: loopback_session(url))


def test_bybit_a_trading_key_without_withdrawals_passes(bybit) -> None:
    server, _key = bybit
    report, code = audit("live", LIVE_KEYS, venues={"bybit": "bybit"}, target=_bybit_target(server))
    lines = _lines(report)
    assert code == 0, report
    assert lines["bybit account"] == "OK live network: USDT total 2,500.00, free 2,000.00; 0 open position(s)"
    assert lines["bybit permissions"] == "OK can trade perpetuals, cannot withdraw, restricted to 1 IP(s)"
    assert server.requests_to("/api.bybit.com/v5/user/query-api")
    assert KEY not in report  # the venue's answer carries the key itself


def test_bybit_a_key_that_can_withdraw_fails(bybit) -> None:
    server, key = bybit
    key["permissions"]["Wallet"].append("Withdraw")
    report, code = audit("live", LIVE_KEYS, venues={"bybit": "bybit"}, target=_bybit_target(server))
    assert code == 1
    assert _lines(report)["bybit permissions"].startswith("FAIL the key can WITHDRAW (Wallet: Withdraw)")


# -- the verdicts on their own ----------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "status", "says"), [
    ({}, OK, "cannot withdraw"),
    ({"enableWithdrawals": True}, FAIL, "can WITHDRAW"),
    ({"enableFutures": False}, FAIL, "cannot trade USD-M futures"),
    ({"enableWithdrawals": None}, FAIL, "lacks enableWithdrawals"),
    ({"ipRestrict": True}, OK, "restricted to listed IPs"),
])
def test_binance_restrictions_verdict(change: dict[str, Any], status: str, says: str) -> None:
    got_status, detail = binance_permissions({**RESTRICTIONS, **change})
    assert got_status == status
    assert says in detail


@pytest.mark.parametrize(("change", "status", "says"), [
    ({}, OK, "can trade perpetuals"),
    ({"permissions": {**BYBIT_KEY, "Wallet": ["Withdraw"]}}, FAIL, "can WITHDRAW"),
    ({"readOnly": 1}, FAIL, "cannot trade perpetuals"),
    ({"permissions": {**BYBIT_KEY, "ContractTrade": [], "Derivatives": []}}, FAIL, "cannot trade perpetuals"),
    ({"permissions": None}, FAIL, "lacks permissions"),
])
def test_bybit_permissions_verdict(change: dict[str, Any], status: str, says: str) -> None:
    got_status, detail = bybit_permissions({"readOnly": 0, "permissions": BYBIT_KEY, "ips": ["*"], **change})
    assert got_status == status
    assert says in detail


# -- local ----------------------------------------------------------------------------------------------------


def test_local_needs_no_venue_and_checks_the_data_folder(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    assert main(["--env", "local", "audit"]) == 0
    out = capsys.readouterr().out
    assert "the replay data needs no venue" in out
    assert "OK   data folder:" in out
    assert KEY not in out
    monkeypatch.setenv("PERPETUA_DATA_ROOT", str(tmp_path / "nowhere"))
    assert main(["--env", "local", "audit"]) == 1
    assert f"FAIL data folder: replay data folder not found: {tmp_path / 'nowhere'}" in capsys.readouterr().out
