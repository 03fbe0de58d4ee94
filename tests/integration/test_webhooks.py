"""Discord and the JSON webhook through the delivery core, against fake receivers on loopback HTTP:
delivered, signed, retried, refused loudly, never lost across a restart, and the URL never in a log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from riskmon.backoff import Backoff
from riskmon.clock import SystemClock
from riskmon.config import load_config
from riskmon.errors import ConfigError
from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.policy import AlertPolicy
from riskmon.notify.webhook import WebhookChannel, WebhookNotifier
from riskmon.store import MEMORY, Store
from tests.builders import D
from tests.fakes.webhooks import DISCORD_TOKEN, FakeReceiver, Fault, verify

SECRET = "webhook-signing-key-0123456789"
FAST = AlertPolicy(cooldown=timedelta(0))
QUICK = Backoff(0.05, 0.5)  # retries within the test's time; the real one starts at 1 s


def alert(
    account: str = "acc-1",
    severity: Severity = Severity.CRITICAL,
    status: AlertStatus = AlertStatus.FIRING,
    label: str = "Prop @everyone *bold*",
    rule: str = "daily_loss",
) -> AlertEvent:
    return AlertEvent(
        account, rule, severity, status, D("5100"), D("5000"), "daily loss 5,100.00 of 5,000.00",
        SystemClock().now(), room_left=D("-100"), used=D("1.02"), label=label, unit="money",
    )  # fmt: skip


def notifier(receiver: FakeReceiver, store: Store, name: str | None = None) -> WebhookNotifier:
    name = name or ("discord" if receiver.kind == "discord" else "webhook")
    client = httpx.AsyncClient(timeout=5, trust_env=False)
    secret = SecretStr(SECRET) if receiver.kind == "json" else None
    channel = WebhookChannel(name, SecretStr(receiver.url), client, secret)
    return WebhookNotifier(channel, store, SystemClock(), FAST, lambda e: date(2026, 3, 2), client, backoff=QUICK)


async def test_discord_gets_each_alert_escaped_with_mentions_off() -> None:
    async with FakeReceiver("discord") as discord:
        hook = notifier(discord, Store(MEMORY))
        hook.notify([alert()])
        async with _running(hook):
            await discord.wait_for(lambda: hook.dispatch.outbox.counts() == {"sent": 1})  # answered and recorded
        (request,) = discord.delivered()
        doc = request.json()
        assert request.status == 204 and doc["allowed_mentions"] == {"parse": []}
        assert "🔴 CRITICAL · daily loss — Prop \\@everyone \\*bold\\*" in doc["content"]
        assert "Room left before the floor: −100.00" in doc["content"] and "Limit used: 102.0%" in doc["content"]


async def test_a_discord_message_is_cut_to_discords_limit_never_refused() -> None:
    async with FakeReceiver("discord") as discord:
        hook = notifier(discord, Store(MEMORY))
        hook.notify([alert(label="x" * 5000)])
        async with _running(hook):
            await discord.wait_for(lambda: len(discord.delivered()) == 1)
        assert len(discord.delivered()[0].json()["content"]) == 2000


async def test_rate_limits_and_outages_are_retried_and_nothing_is_lost() -> None:
    async with FakeReceiver("discord") as discord:
        discord.faults.extend([Fault(429, retry_after=0.2), Fault(503), Fault(0)])
        hook = notifier(discord, Store(MEMORY))
        hook.notify([alert(account="acc-1")])
        async with _running(hook):
            await discord.wait_for(lambda: hook.dispatch.outbox.counts() == {"sent": 1}, within_s=20)
        assert [r.status for r in discord.requests] == [429, 503, 0, 204]


async def test_a_deleted_webhook_is_refused_loudly_and_its_token_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeReceiver("discord") as discord:
        discord.faults.append(Fault(404, body={"message": "Unknown Webhook", "code": 10015}))
        hook = notifier(discord, Store(MEMORY))
        hook.notify([alert()])
        async with _running(hook):
            await discord.wait_for(lambda: hook.dispatch.outbox.counts() == {"failed": 1})
    assert "discord: firing message 1 to discord refused (HTTP 404: the webhook refused the message)" in caplog.text
    assert DISCORD_TOKEN not in caplog.text and discord.url not in caplog.text


async def test_queued_alerts_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with FakeReceiver("json", secret=SECRET.encode()) as receiver:
        receiver.down = True
        store = Store(db)
        first = notifier(receiver, store)
        first.notify([alert(account="acc-1"), alert(account="acc-2", severity=Severity.WARNING)])
        async with _running(first):
            await receiver.wait_for(lambda: len(receiver.requests) >= 1)
        assert first.dispatch.outbox.counts() == {"pending": 2}
        store.close()
        receiver.down = False
        store = Store(db)
        second = notifier(receiver, store)
        async with _running(second):
            await receiver.wait_for(lambda: second.dispatch.outbox.counts() == {"sent": 2}, within_s=20)
        accounts = [r.json()["events"][0]["account"] for r in receiver.delivered()]
        assert accounts == ["acc-1", "acc-2"]
        store.close()


async def test_the_json_webhook_is_signed_and_slack_compatible() -> None:
    async with FakeReceiver("json", secret=SECRET.encode()) as receiver:
        hook = notifier(receiver, Store(MEMORY))
        hook.notify([alert()])
        async with _running(hook):
            await receiver.wait_for(lambda: len(receiver.delivered()) == 1)
        (request,) = receiver.delivered()
        assert verify(SECRET.encode(), request.headers, request.body)
        assert not verify(SECRET.encode(), request.headers, request.body.replace(b"5100", b"5101"))  # tampered
        assert not verify(b"another-key-0123456789", request.headers, request.body)
        doc = request.json()
        assert (doc["version"], doc["type"]) == (1, "alert") and doc["text"].startswith("🔴 CRITICAL · daily loss")
        (event,) = doc["events"]
        assert (event["account"], event["rule"], event["severity"], event["status"]) == (
            "acc-1",
            "daily_loss",
            "critical",
            "firing",
        )
        assert (event["observed"], event["limit"], event["room_left"], event["used"]) == (
            "5100.00",
            "5000.00",
            "-100",
            "1.02",
        )


async def test_a_bad_signature_is_refused_by_the_receiver_and_marked_failed() -> None:
    async with FakeReceiver("json", secret=b"the-receiver-expects-another-key") as receiver:
        hook = notifier(receiver, Store(MEMORY))
        hook.notify([alert()])
        async with _running(hook):
            await receiver.wait_for(lambda: hook.dispatch.outbox.counts() == {"failed": 1})
        assert [r.status for r in receiver.requests] == [401]


async def test_many_accounts_going_blind_make_one_webhook_message() -> None:
    async with FakeReceiver("json", secret=SECRET.encode()) as receiver:
        hook = notifier(receiver, Store(MEMORY))
        hook.notify([alert(account=f"acc-{n}", rule="stale_data", label="") for n in range(50)])
        async with _running(hook):
            await receiver.wait_for(lambda: len(receiver.delivered()) == 1)
        doc = receiver.delivered()[0].json()
        assert doc["type"] == "alerts" and len(doc["events"]) == 50 and "50 accounts" in doc["text"]


async def test_channels_keep_their_own_rows_in_the_shared_outbox() -> None:
    store = Store(MEMORY)
    async with FakeReceiver("discord") as discord, FakeReceiver("json", secret=SECRET.encode()) as receiver:
        both = [notifier(discord, store), notifier(receiver, store)]
        for hook in both:
            hook.notify([alert()])
        async with _running(both[0]), _running(both[1]):
            await discord.wait_for(lambda: [hook.dispatch.outbox.counts() for hook in both] == [{"sent": 1}] * 2)
        assert len(discord.delivered()) == 1 and len(receiver.delivered()) == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_URL": "https://example.test/hook"}, "WEBHOOK_SECRET: required with WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://example.test/hook", "WEBHOOK_SECRET": "short"}, "at least 16"),
        ({"DISCORD_WEBHOOK_URL": "discord.com/api/webhooks/1/x"}, "must be an http(s):// address"),
    ],
)
def test_webhook_settings_are_checked_in_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {"PLATFORM": "sim", **env}.items()))
    with pytest.raises(ConfigError) as caught:
        load_config(env_file, environ={})
    assert message in str(caught.value) and "\n" not in str(caught.value)
    for value in env.values():
        if "example" in value or "discord" in value:
            assert value not in str(caught.value)  # a URL is a secret


class _running:
    """Runs a notifier's sender while the block runs, then shuts it down as the service would."""

    def __init__(self, hook: WebhookNotifier) -> None:
        self.hook = hook

    async def __aenter__(self) -> None:
        self.task = asyncio.create_task(self.hook.run())

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
