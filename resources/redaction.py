"""``redact``: credentials out of any text before Perpetua logs or stores it.

Failure text from the exchange edges quotes what was sent. ccxt's message for a signed Binance
call holds the whole URL (``...&timestamp=1712345678901&signature=<HMAC hex>``), Bybit's legacy
endpoints put ``api_key=`` and ``sign=`` in the query string, ccxt's debug log prints request
headers (``X-MBX-APIKEY``, ``X-BAPI-SIGN``, ``Authorization``), and a Deribit ``public/auth``
URL carries ``client_secret=``. Any of it can reach the event log through an error message, a
kill-switch reason or a log line.

:func:`redact` replaces the *value* of every credential-bearing field with ``***`` and keeps the
field's name, so the message still reads (``signature=***``, ``'X-MBX-APIKEY': '***'``,
``Authorization: Bearer ***``). Fields are recognised by name, never by the look of a value, so
prices, timestamps and order ids pass untouched. The forms covered:

* query / form parameters, also percent-encoded (ccxt behind a ``proxyUrl``):
  ``name=value``, ``name%3Dvalue``, and keyword reprs ``name='value'``;
* headers, JSON and dict reprs: ``Name: value``, ``"name": "value"``, ``'Name': 'value'``;
* ``Authorization`` values of any scheme (``Bearer``, Deribit's ``deri-hmac-sha256``), whose
  scheme word is kept, and bare ``Bearer <token>`` anywhere.

:class:`RedactingFilter` applies the same to log records (message, arguments, traceback), for
handlers that feed the event log.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MASK", "SENSITIVE_NAMES", "RedactingFilter", "redact"]

MASK = "***"

#: Field names whose values are credentials (matched case-insensitively, as whole names).
SENSITIVE_NAMES: tuple[str, ...] = (
    # signatures: Binance ``signature``, Bybit ``sign`` / ``X-BAPI-SIGN``, Deribit hmac ``sig``
    "signature", "sign", "sig", "x-bapi-sign",
    # keys: ccxt ``apiKey``, Bybit ``api_key`` / ``X-BAPI-API-KEY``, Binance ``X-MBX-APIKEY``
    "apikey", "api_key", "api-key", "x-api-key", "x-mbx-apikey", "x-bapi-api-key",
    # secrets and passwords: ccxt ``secret``, Deribit ``client_id`` / ``client_secret``
    "secret", "api_secret", "secret_key", "secretkey", "client_id", "client_secret",
    "password", "passphrase",
    # tokens: Deribit ``access_token`` / ``refresh_token``, Binance ``listenKey``
    "token", "access_token", "refresh_token", "listenkey",
)

_NAMES = "|".join(re.escape(n) for n in sorted(SENSITIVE_NAMES, key=len, reverse=True))
# A name counts only when it is a whole name: not the tail of ``design`` or ``X-BAPI-SIGN-TYPE``.
_START = r"(?<![\w-])"
#: Also right after a percent-encoded ``&`` or ``?`` (a URL quoted whole, as behind a proxy).
_PARAM_START = r"(?:(?<![\w-])|(?<=%26)|(?<=%3F))"
_AUTHORIZATION = re.compile(
    r"""(?P<lead>(?P<q>["']?)authorization(?P=q)\s*[:=]\s*)"""
    r"""(?:(?P<q2>["'])(?P<quoted>.*?)(?P=q2)|(?P<bare>[^\r\n"']+))""",
    re.IGNORECASE,
)
_FIELD = re.compile(
    rf"""{_START}(?P<lead>(?P<q>["']?)(?:{_NAMES})(?P=q)\s*:\s*)"""
    r"""(?:(?P<q2>["'])(?P<quoted>.*?)(?P=q2)|(?P<bare>[^\s,;&"'}\]]+))""",
    re.IGNORECASE,
)
_PARAM = re.compile(
    rf"""{_PARAM_START}(?P<lead>(?:{_NAMES})(?:=|%3D)(?P<q>["']?))(?P<value>(?:(?!%26)[^&\s"'<>,;)}}\]])+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<lead>bearer\s+)(?!\*\*\*)[\w.~+/=-]+", re.IGNORECASE)


def _authorization(match: re.Match[str]) -> str:
    quote = match["q2"] or ""
    value = match["quoted"] if match["q2"] else match["bare"]
    scheme, space, _credentials = value.strip().partition(" ")
    shown = f"{scheme} {MASK}" if space else MASK
    return f"{match['lead']}{quote}{shown}{quote}"


def _field(match: re.Match[str]) -> str:
    quote = match["q2"] or ""
    return f"{match['lead']}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """``text`` with every credential value replaced by ``***`` (names kept).

    Idempotent: ``redact(redact(t)) == redact(t)``.
    """
    text = _AUTHORIZATION.sub(_authorization, text)
    text = _FIELD.sub(_field, text)
    text = _PARAM.sub(lambda m: f"{m['lead']}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m['lead']}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message, arguments and traceback text.

    Install it on a handler (``handler.addFilter(RedactingFilter())``): the record is rewritten
    in place and always passed on. The traceback is formatted here, redacted, and stored as
    ``exc_text``, which formatters print instead of formatting the exception again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
