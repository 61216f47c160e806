"""``perpetua audit``: a read-only connectivity and permission check of the environment's exchanges.

Per venue (``resources.exchange.ccxt_reader.DEFAULT_VENUES``, what ``MarketData(kind="ccxt")`` reads):

* ``markets`` — the public API answers: markets load (the production hosts the market data reads);
* ``clock`` — the venue's server time against this machine's clock. Binance refuses a signed
  request stamped more than 1 s after its server time (``recvWindow`` docs, "Timing security"),
  Bybit one more than 1 s ahead (v5 "Integration guidance"): a clock off by more is a FAIL;
* with ``PERPETUA_API_KEY``/``PERPETUA_API_SECRET`` set, on the order network
  (``PERPETUA_ORDER_NETWORK``: ``demo`` unless ``live``, as ``pipelines.environments.order_router``):
  ``account`` — an authenticated read (the USDT balance and the open positions) and
  ``permissions`` — what the key may do, where the venue says it (Binance
  ``GET /sapi/v1/account/apiRestrictions``, live only: ccxt has no demo host for ``/sapi``; Bybit
  ``GET /v5/user/query-api``): it must be able to trade perpetuals and must NOT be able to withdraw.

Nothing is ever sent that changes state: no order, no transfer, no setting. Each check is tried once
(an audit reports what it sees; a transient failure says so). Every line is redacted
(``resources.redaction.redact``) and the key and secret themselves are scrubbed from it wherever they appear.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from resources.exchange.ccxt_errors import guarded
from resources.exchange.ccxt_profiles import build_client, response_of
from resources.exchange.ccxt_reader import DEFAULT_VENUES
from resources.exchange.errors import ExchangeError
from resources.redaction import MASK, redact

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
KEY_ENV, SECRET_ENV, NETWORK_ENV = "PERPETUA_API_KEY", "PERPETUA_API_SECRET", "PERPETUA_ORDER_NETWORK"
DEMO, LIVE = "demo", "live"
#: The most this machine's clock may differ from a venue's before signed requests are refused (ms).
MAX_CLOCK_SKEW_MS = 1_000.0
DEFAULT_TIMEOUT_S = 10.0
#: Bybit's permission that lets a key withdraw (``permissions.Wallet``).
BYBIT_WITHDRAW = "Withdraw"


@dataclass(frozen=True)
class Check:
    """One audited fact: where, what, OK / FAIL / SKIP, and why in words."""

    venue: str
    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class Credentials:
    """The API key pair; ``repr`` never shows it."""

    key: str
    secret: str

    def __repr__(self) -> str:
        return "Credentials(***)"


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` redacted, and every literal occurrence of ``secrets`` masked (a key quoted without a field name too)."""
    out = redact(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, MASK)
    return out


def format_checks(checks: list[Check], secrets: tuple[str, ...] = ()) -> str:
    """One line per check, ``STATUS venue check: detail``, scrubbed."""
    return "\n".join(scrub(f"{c.status:<4} {c.venue} {c.name}: {c.detail}", secrets) for c in checks)


def failed(checks: list[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


def _why(exc: ExchangeError) -> str:
    hint = "transient: try again" if exc.retryable else "permanent"
    return f"{exc.call}: {exc.detail} ({hint})"


# -- what the venues say about a key -------------------------------------------------------------------


def binance_permissions(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Verdict on Binance's ``apiRestrictions`` answer: FAIL when the key can withdraw or cannot trade USD-M futures."""
    missing = [f for f in ("enableWithdrawals", "enableFutures") if not isinstance(payload.get(f), bool)]
    if missing:
        return FAIL, f"the venue's answer lacks {', '.join(missing)}: cannot tell what the key may do ({str(payload)[:120]})"
    ip = "restricted to listed IPs" if payload.get("ipRestrict") else "not restricted by IP"
    if payload["enableWithdrawals"]:
        return FAIL, f"the key can WITHDRAW: turn withdrawals off for this key (it is {ip})"
    if not payload["enableFutures"]:
        return FAIL, f"the key cannot trade USD-M futures (enableFutures off); withdrawals off; {ip}"
    spot = "on" if payload.get("enableSpotAndMarginTrading") else "off"
    return OK, f"can trade futures (spot trading {spot}), cannot withdraw, {ip}"


def bybit_permissions(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Verdict on Bybit's ``/v5/user/query-api`` result: FAIL when the key can withdraw or cannot trade perpetuals."""
    perms = payload.get("permissions")
    if not isinstance(perms, Mapping) or "readOnly" not in payload:
        return FAIL, f"the venue's answer lacks permissions/readOnly: cannot tell what the key may do ({sorted(payload)[:8]})"
    wallet = list(perms.get("Wallet") or [])
    if BYBIT_WITHDRAW in wallet:
        return FAIL, "the key can WITHDRAW (Wallet: Withdraw): turn withdrawals off for this key"
    trades = "Order" in (perms.get("ContractTrade") or []) or "DerivativesTrade" in (perms.get("Derivatives") or [])
    if str(payload["readOnly"]) not in ("0", "False", "false") or not trades:
        return FAIL, "the key cannot trade perpetuals (read-only, or no ContractTrade Order / DerivativesTrade); cannot withdraw"
    ips = payload.get("ips") or []
    bound = "not restricted by IP" if not ips or "*" in ips else f"restricted to {len(ips)} IP(s)"
    return OK, f"can trade perpetuals, cannot withdraw, {bound}"


# -- the venue checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """How to reach the venues: per-request timeout, ccxt's throttle, and (tests) a ``requests`` session factory."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    enable_rate_limit: bool = True
    session: Callable[[], requests.Session] | None = None
    clock_ms: Callable[[], float] = lambda: time.time() * 1000.0


def _client(ccxt_id: str, target: Target, credentials: Credentials | None = None, network: str = LIVE):
    config: dict[str, Any] = {"enableRateLimit": target.enable_rate_limit, "timeout": int(target.timeout_s * 1000)}
    if credentials is not None:
        config.update(apiKey=credentials.key, secret=credentials.secret)
    client = build_client(ccxt_id, config)
    client.options.update(fetchCurrencies=False, maxRetriesOnFailure=0)
    if network == DEMO:
        client.enable_demo_trading(True)
    if target.session is not None:
        client.session = target.session()
    return client


def _call(client, method: str, fn: Callable[[], Any]) -> Any:
    """One ccxt call, its errors translated (``ExchangeError``, redacted), never retried."""
    return guarded(fn, call=f"{client.id}.{method}", response=response_of(client))


def public_checks(venue: str, ccxt_id: str, target: Target) -> list[Check]:
    """``markets`` and ``clock`` on the production public API; a venue that does not answer fails both, saying why."""
    client = _client(ccxt_id, target)
    try:
        markets = _call(client, "load_markets", client.load_markets)
    except ExchangeError as exc:
        return [Check(venue, "markets", FAIL, f"cannot reach the venue: {_why(exc)}"),
                Check(venue, "clock", SKIP, "the venue did not answer")]
    perps = sum(1 for m in markets.values() if m.get("swap") and m.get("linear"))
    out = [Check(venue, "markets", OK, f"{perps} linear perpetuals listed ({client.id}, public)")]
    return [*out, _clock(venue, client, target)]


def _clock(venue: str, client, target: Target) -> Check:
    before = target.clock_ms()
    try:
        server = float(_call(client, "fetch_time", client.fetch_time))
    except (ExchangeError, TypeError, ValueError) as exc:
        return Check(venue, "clock", FAIL, f"no server time: {_why(exc) if isinstance(exc, ExchangeError) else exc}")
    after = target.clock_ms()
    skew = server - (before + after) / 2  # the venue stamped its time halfway through the round trip
    side = "ahead of" if skew < 0 else "behind"
    words = f"this machine's clock is {abs(skew) / 1000:.3f} s {side} the venue's (round trip {after - before:.0f} ms)"
    if abs(skew) > MAX_CLOCK_SKEW_MS:
        return Check(venue, "clock", FAIL, f"{words}: beyond {MAX_CLOCK_SKEW_MS / 1000:.0f} s the venue refuses "
                                           "signed requests; synchronise the clock (NTP)")
    return Check(venue, "clock", OK, words)


def account_checks(venue: str, ccxt_id: str, credentials: Credentials, network: str, target: Target) -> list[Check]:
    """``account`` (balance and positions, signed reads) and ``permissions`` on the order network."""
    client = _client(ccxt_id, target, credentials, network)
    where = f"{network} network"
    try:
        _call(client, "load_markets", client.load_markets)
        balance = _call(client, "fetch_balance", client.fetch_balance)
        positions = _call(client, "fetch_positions", client.fetch_positions)
    except ExchangeError as exc:
        return [Check(venue, "account", FAIL, f"{where}: {_why(exc)}"),
                Check(venue, "permissions", SKIP, "the authenticated read failed")]
    usdt = balance.get("USDT") or {}
    held = sum(1 for p in positions if p.get("contracts"))
    out = [Check(venue, "account", OK, f"{where}: USDT total {_money(usdt.get('total'))}, free {_money(usdt.get('free'))}; "
                                       f"{held} open position(s)")]
    return [*out, _permissions(venue, client, network)]


def _money(value: Any) -> str:
    return "unknown" if value is None else f"{float(value):,.2f}"


def _permissions(venue: str, client, network: str) -> Check:
    if client.id == "bybit":
        call, fn, verdict = "query_api", client.privateGetV5UserQueryApi, lambda r: bybit_permissions(r.get("result") or {})
    elif client.id.startswith("binance"):
        if network == DEMO:
            return Check(venue, "permissions", SKIP, "Binance demo trading has no /sapi host (apiRestrictions): "
                                                     "a demo key reaches demo funds only; audit the live key with "
                                                     f"{NETWORK_ENV}=live")
        call, fn, verdict = "api_restrictions", client.sapiGetAccountApiRestrictions, binance_permissions
    else:
        return Check(venue, "permissions", SKIP, f"{client.id} does not report a key's permissions")
    try:
        status, detail = verdict(_call(client, call, fn))
    except ExchangeError as exc:
        return Check(venue, "permissions", FAIL, _why(exc))
    return Check(venue, "permissions", status, detail)


# -- the whole audit ------------------------------------------------------------------------------------


def credentials_from_env(environ: Mapping[str, str] = os.environ) -> tuple[Credentials | None, list[Check]]:
    """The key pair from the environment (read now, never at import); half a pair is a FAIL."""
    key, secret = environ.get(KEY_ENV, ""), environ.get(SECRET_ENV, "")
    if key and secret:
        return Credentials(key, secret), []
    if key or secret:
        have, lack = (KEY_ENV, SECRET_ENV) if key else (SECRET_ENV, KEY_ENV)
        return None, [Check("keys", "credentials", FAIL, f"{have} is set but {lack} is not: set both, or neither")]
    return None, [Check("keys", "credentials", SKIP, f"{KEY_ENV}/{SECRET_ENV} not set: the authenticated checks are skipped")]


def network_from_env(environ: Mapping[str, str] = os.environ) -> str:
    network = environ.get(NETWORK_ENV, DEMO)
    if network not in (DEMO, LIVE):
        raise ValueError(f"{NETWORK_ENV} must be {DEMO!r} or {LIVE!r}, got {network!r}")
    return network


def venue_checks(venues: Mapping[str, str], credentials: Credentials | None, network: str, target: Target) -> list[Check]:
    """Every venue's public checks, then (with keys) its authenticated ones; an unreachable venue skips the rest."""
    out: list[Check] = []
    for venue, ccxt_id in venues.items():
        public = public_checks(venue, ccxt_id, target)
        out += public
        if credentials is None:
            out += [Check(venue, name, SKIP, "no API keys") for name in ("account", "permissions")]
        elif public[0].status == FAIL:
            out += [Check(venue, name, SKIP, "the venue did not answer its public API") for name in ("account", "permissions")]
        else:
            out += account_checks(venue, ccxt_id, credentials, network, target)
    return out


def local_checks(root) -> list[Check]:
    """``local`` needs no venue: the replay data folder must hold its files and read."""
    from resources.exchange.replay import ReplayExchange, require_files

    try:
        require_files(root)
        venues = ReplayExchange(root).venues()
    except (FileNotFoundError, ValueError) as exc:
        return [Check("data", "folder", FAIL, str(exc))]
    return [Check("data", "folder", OK, f"{root} holds the replay files; venues {', '.join(venues)}")]


def audit(environment: str, environ: Mapping[str, str] = os.environ, *, venues: Mapping[str, str] = DEFAULT_VENUES,
          target: Target | None = None) -> tuple[str, int]:
    """``perpetua audit``: the printed report and its exit code (1 when any check failed)."""
    if environment == "local":
        from resources.market import replay_root

        checks = local_checks(replay_root(None))
        head = "local: the replay data needs no venue and no key; checking the data folder instead"
        return f"{head}\n{format_checks(checks)}", int(failed(checks))
    network = network_from_env(environ)
    credentials, key_checks = credentials_from_env(environ)
    checks = key_checks + venue_checks(venues, credentials, network, target or Target())
    secrets = (environ.get(KEY_ENV, ""), environ.get(SECRET_ENV, ""))
    head = (f"{environment}: read-only audit of {', '.join(venues)} (public: the production API; "
            f"authenticated: the {network} network); no order is placed")
    verdict = f"{sum(c.status == FAIL for c in checks)} check(s) FAILED" if failed(checks) else "no check failed"
    return f"{head}\n{format_checks(checks, secrets)}\n{verdict}", int(failed(checks))
