"""``AlertHook``: tell a person when something needs one — a webhook and/or a Telegram bot.

Configured only through environment variables read as ``dagster.EnvVar`` (``resources_for``):
``PERPETUA_ALERT_WEBHOOK_URL`` (a JSON ``POST`` of ``{"title", "text", "source"}``; Slack-style
receivers read ``text``) and ``PERPETUA_TELEGRAM_BOT_TOKEN`` with ``PERPETUA_TELEGRAM_CHAT_ID``
(the Bot API's ``sendMessage``). With none set the hook is silent: nothing is sent, nothing is
logged as an error. A destination that fails (down, slow, refusing) is logged as a warning and
never fails the run that alerted: the kill switch itself has already been recorded.

Secrets stay out of logs: the bot token is part of Telegram's URL path, so every error text is
scrubbed of the token and the webhook URL (which often embeds one) before it is logged, then
passed through :func:`resources.redaction.redact`.
"""

from __future__ import annotations

import logging

import httpx
from dagster import ConfigurableResource

from resources.redaction import MASK, redact

log = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"
#: Telegram refuses messages over 4,096 characters.
TELEGRAM_LIMIT = 4096


class AlertHook(ConfigurableResource):
    """Where alerts go (all optional; none set: silent).

    Attributes
    ----------
    webhook_url : receives a JSON POST per alert.
    telegram_token, telegram_chat_id : a Telegram bot and the chat it writes to (both or neither).
    telegram_api : the Bot API root (tests point it at a loopback server).
    timeout_s : per request; an alert never holds a run longer than this per destination.
    """

    webhook_url: str | None = None
    telegram_token: str | None = None
    telegram_chat_id: str | None = None
    telegram_api: str = TELEGRAM_API
    timeout_s: float = 5.0

    def destinations(self) -> list[str]:
        """The configured destinations by name (``webhook``, ``telegram``); empty: silent."""
        if bool(self.telegram_token) != bool(self.telegram_chat_id):
            raise ValueError("a Telegram alert needs both PERPETUA_TELEGRAM_BOT_TOKEN and PERPETUA_TELEGRAM_CHAT_ID")
        return [name for name, on in (("webhook", self.webhook_url), ("telegram", self.telegram_token)) if on]

    def send(self, title: str, text: str, source: str = "perpetua") -> list[str]:
        """Send one alert to every destination; returns those that accepted it (2xx)."""
        sent = []
        for name in self.destinations():
            try:
                with httpx.Client(timeout=self.timeout_s) as client:
                    if name == "webhook":
                        reply = client.post(self.webhook_url, json={"title": title, "text": f"{title}\n{text}", "source": source})
                    else:
                        body = f"{title}\n{text}"[:TELEGRAM_LIMIT]
                        reply = client.post(f"{self.telegram_api.rstrip('/')}/bot{self.telegram_token}/sendMessage",
                                            json={"chat_id": self.telegram_chat_id, "text": body})
                reply.raise_for_status()
                sent.append(name)
            except httpx.HTTPError as exc:
                log.warning("alert to %s failed: %s", name, self._scrub(f"{type(exc).__name__}: {exc}"))
        return sent

    def _scrub(self, text: str) -> str:
        for secret in (self.telegram_token, self.webhook_url):
            if secret:
                text = text.replace(secret, MASK)
        return redact(text)
