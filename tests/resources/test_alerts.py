"""Alerts reach a webhook and a Telegram bot over real HTTP (loopback), are silent when nothing is
configured, never fail the caller, and never log the bot token or the webhook URL."""

from __future__ import annotations

import json
import logging

import pytest

from resources.alerts import AlertHook
from resources.kill_switch import KillSwitch
from tests.support.replay_server import ReplayServer, Reply, json_reply

TOKEN = "123456:PLANTED-bot-token-do-not-log"


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def test_an_alert_reaches_the_webhook_and_the_bot_with_its_title_and_text(server):
    server.route("/hook", json_reply({"ok": True}))
    server.route(f"/bot{TOKEN}/sendMessage", json_reply({"ok": True, "result": {"message_id": 1}}))
    hook = AlertHook(webhook_url=f"{server.url}/hook", telegram_token=TOKEN, telegram_chat_id="-1001",
                     telegram_api=server.url)
    assert hook.send("kill switch tripped", "perp_ohlcv_1h__quality failed at 2026-02-03 05:00", source="check") == [
        "webhook", "telegram"]
    (webhook,) = server.requests_to("/hook")
    assert webhook.method == "POST"
    assert json.loads(webhook.body) == {"title": "kill switch tripped", "source": "check",
                                        "text": "kill switch tripped\nperp_ohlcv_1h__quality failed at 2026-02-03 05:00"}
    (bot,) = server.requests_to(f"/bot{TOKEN}/sendMessage")
    assert json.loads(bot.body) == {"chat_id": "-1001",
                                    "text": "kill switch tripped\nperp_ohlcv_1h__quality failed at 2026-02-03 05:00"}


def test_nothing_configured_sends_nothing_and_half_a_bot_is_refused(server):
    assert AlertHook().send("t", "x") == []
    assert AlertHook().destinations() == []
    with pytest.raises(ValueError, match="needs both PERPETUA_TELEGRAM_BOT_TOKEN and PERPETUA_TELEGRAM_CHAT_ID"):
        AlertHook(telegram_token=TOKEN).send("t", "x")


def test_a_failing_destination_is_a_warning_without_secrets_and_the_others_still_get_it(server, caplog):
    server.route(f"/bot{TOKEN}/sendMessage", json_reply({"ok": False, "description": "Unauthorized"}, status=401))
    hook = AlertHook(webhook_url=f"{server.url}/hook?key=PLANTED-webhook-key", telegram_token=TOKEN, telegram_chat_id="1",
                     telegram_api=server.url, timeout_s=2.0)
    server.route("/hook", json_reply({"ok": True}), query={"key": "PLANTED-webhook-key"})  # the webhook works, the bot refuses
    with caplog.at_level(logging.WARNING, logger="resources.alerts"):
        assert hook.send("title", "text") == ["webhook"]
    logged = caplog.text
    assert "alert to telegram failed" in logged
    assert "PLANTED" not in logged


def test_a_slow_destination_is_given_up_after_its_timeout(server, caplog):
    server.route("/slow", Reply(status=200, body=b"{}", delay_s=1.0))
    hook = AlertHook(webhook_url=f"{server.url}/slow", timeout_s=0.2)
    with caplog.at_level(logging.WARNING, logger="resources.alerts"):
        assert hook.send("title", "text") == []
    assert "Timeout" in caplog.text


def test_a_new_trip_is_announced_once_and_a_re_sent_one_is_not(server, tmp_path):
    server.route("/hook", json_reply({"ok": True}))
    ks = KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}", alerts=AlertHook(webhook_url=f"{server.url}/hook"))
    first = ks.trip("check:perp_ohlcv_1h__continuity", "2 hours: BTC/USDT:USDT close 60000 -> 600",
                    partition="2026-02-03-05:00", run_id="r1")
    again = ks.trip("check:perp_ohlcv_1h__continuity", "2 hours: BTC/USDT:USDT close 60000 -> 600",
                    partition="2026-02-03-05:00", run_id="r1")  # the same run re-sends it
    assert first == again
    (sent,) = server.requests_to("/hook")
    body = json.loads(sent.body)
    assert body["title"] == "Perpetua kill switch tripped by check:perp_ohlcv_1h__continuity at 2026-02-03-05:00"
    assert "close 60000 -> 600" in body["text"]
    assert "perpetua kill-switch reset --by NAME" in body["text"]
    assert KillSwitch(url=f"sqlite:///{tmp_path / 'other.db'}").trip("operator:x", "manual") == 1  # no hook: silent


def test_alert_destinations_come_only_from_the_environment(monkeypatch):
    from dagster import EnvVar

    from pipelines.environments import alert_hook

    for var in ("PERPETUA_ALERT_WEBHOOK_URL", "PERPETUA_TELEGRAM_BOT_TOKEN", "PERPETUA_TELEGRAM_CHAT_ID"):
        monkeypatch.delenv(var, raising=False)
    assert alert_hook() is None
    monkeypatch.setenv("PERPETUA_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PERPETUA_TELEGRAM_CHAT_ID", "42")
    hook = alert_hook()
    assert hook.telegram_token == EnvVar("PERPETUA_TELEGRAM_BOT_TOKEN")  # resolved at run time, never stored
    assert hook.webhook_url is None


def test_inside_a_run_the_hook_reads_its_url_from_the_environment(server, tmp_path, monkeypatch):
    from dagster import EnvVar, asset, materialize

    server.route("/hook", json_reply({"ok": True}))
    monkeypatch.setenv("PERPETUA_ALERT_WEBHOOK_URL", f"{server.url}/hook")

    @asset
    def tripping(kill_switch: KillSwitch) -> None:
        kill_switch.trip("check:x__rule", "1 hour failed", partition="2026-02-03-05:00")

    ks = KillSwitch(url=f"sqlite:///{tmp_path / 'ks.db'}", alerts=AlertHook(webhook_url=EnvVar("PERPETUA_ALERT_WEBHOOK_URL")))
    assert materialize([tripping], resources={"kill_switch": ks}).success
    assert len(server.requests_to("/hook")) == 1
