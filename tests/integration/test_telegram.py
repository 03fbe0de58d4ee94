"""Telegram end to end: python-telegram-bot over real HTTP against the fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskmon.backoff import Backoff
from riskmon.clock import Clock, ManualClock, SystemClock
from riskmon.config import Settings
from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.monitor import AccountMonitor
from riskmon.notify.policy import AlertPolicy, QuietHours
from riskmon.notify.telegram import TelegramNotifier, build_telegram
from riskmon.notify.telegram_bot import Scrubber, make_bot
from riskmon.notify.telegram_commands import Access
from riskmon.notify.telegram_format import alert_html
from riskmon.notify.telegram_summary import job_id
from riskmon.profile import AccountProfile
from riskmon.rules import Rulebook
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from tests.builders import D, snap, ts
from tests.fakes.telegram_api import FakeTelegram
from tests.processes import riskmon_env

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")]

TOKEN = "123456789:AAH-not-a-real-token-but-secret"
CHATS = ("111", "222")
ADMIN, MEMBER, STRANGER_CHAT = 7, 8, 999


class RecordingFlatten:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.resumed: list[tuple[str, str]] = []

    async def flatten(self, account: str, requested_by: str) -> str:
        self.calls.append((account, requested_by))
        return "closed 2 positions, equity 99,100.00"

    async def resume(self, account: str, requested_by: str) -> str:
        self.resumed.append((account, requested_by))
        return f"{account}: halt lifted by {requested_by}; trading allowed again"


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram(TOKEN).start()
    yield fake
    await fake.stop()


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every library logs at DEBUG; no test may leave the token in a log line."""
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


def ftmo_monitor(store: Store, account: str = "acc-1", label: str = "FTMO 100k", rulebook: Rulebook | None = None):
    book = rulebook or PRESETS["ftmo-2step"].rulebook()
    return AccountMonitor(AccountProfile(account, book, label=label, initial_balance=D(100000)), store)


def notifier(
    api: FakeTelegram,
    store: Store,
    monitors: dict[str, AccountMonitor],
    clock: Clock | None = None,
    policy: AlertPolicy | None = None,
    flattener: RecordingFlatten | None = None,
    token: str = TOKEN,
    **options: Any,
) -> TelegramNotifier:
    telegram = TelegramNotifier(
        make_bot(token, api.url, timeout_s=options.pop("timeout_s", 2.0)),
        store,
        lambda: monitors,
        Access(frozenset(CHATS), frozenset({str(ADMIN)})),
        clock or SystemClock(),
        Scrubber(token),
        policy=policy or AlertPolicy(cooldown=timedelta(0)),
        flattener=flattener,
        backoff=Backoff(0.05, 0.5),
        poll_timeout_s=1,
        **options,
    )
    for monitor in monitors.values():
        monitor.observers.append(telegram)
    return telegram


@contextlib.asynccontextmanager
async def running(telegram: TelegramNotifier) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(telegram.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def texts(api: FakeTelegram, chat: str = "111") -> list[str]:
    return [c.params["text"] for c in api.sent() if str(c.params["chat_id"]) == chat]


BREACH_DAY = [
    snap("2026-03-02 10:00", "100000"),
    snap("2026-03-02 10:01", "100000", "98000"),
    snap("2026-03-02 10:02", "100000", "94800"),  # 5,200 lost of 5,000: breached
    snap("2026-03-02 10:03", "100000", "94700"),
    snap("2026-03-03 10:04", "100000", "99000"),  # the next day, 1,000 lost: a soft breach is lifted by the reset
    snap("2026-03-03 10:05", "100000", "99100"),
]
SOFT = PRESETS["ftmo-2step"].rulebook({"daily_loss": {"breach": "soft"}})  # a hard breach is kept (latched)


async def test_a_replayed_breach_sends_one_firing_and_one_resolved_message_per_chat(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    monitor = ftmo_monitor(store, rulebook=SOFT)
    telegram = notifier(api, store, {"acc-1": monitor})
    events: list[AlertEvent] = []
    async with running(telegram):
        for s in BREACH_DAY:
            events.extend(monitor.process(s).events)
        await api.wait_for(lambda: len(api.sent()) == 4)
        await asyncio.sleep(0.2)  # nothing else follows
    assert [(e.status, e.severity) for e in events] == [
        (AlertStatus.FIRING, Severity.CRITICAL),
        (AlertStatus.RESOLVED, Severity.CRITICAL),
    ]
    for chat in CHATS:
        assert texts(api, chat) == [alert_html(e) for e in events]
    firing, resolved = texts(api)
    assert firing.startswith("🔴 <b>CRITICAL · daily loss</b> — FTMO 100k\n")
    assert "Observed 5,200.00 vs limit 5,000.00\nRoom left before the floor: <b>−200.00</b> (below the floor)" in firing
    assert resolved.startswith("✅ <b>RESOLVED · daily loss</b> — FTMO 100k\n")
    assert {c.params["parse_mode"] for c in api.sent()} == {"HTML"}
    assert telegram.outbox.counts() == {"sent": 4}


def alert(n: int, severity: Severity = Severity.CRITICAL, status: AlertStatus = AlertStatus.FIRING) -> AlertEvent:
    return AlertEvent(
        "acc-1", f"rule_{n}", severity, status, D(n), D(10), f"alert {n}", datetime.now(UTC), label="FTMO 100k"
    )


def queue(telegram: TelegramNotifier, *events: AlertEvent) -> None:
    now = telegram.clock.now()
    with telegram.store.transaction():
        for event in events:
            telegram._queue_alert(event, now)
    telegram.sender.wake()


async def test_a_429_storm_delays_but_loses_nothing_and_keeps_the_order(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    telegram = notifier(api, store, {})
    api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=3)
    started = asyncio.get_running_loop().time()
    async with running(telegram):
        queue(telegram, *(alert(n) for n in range(5)))
        await api.wait_for(lambda: telegram.outbox.counts() == {"sent": 10}, within_s=10)
    assert asyncio.get_running_loop().time() - started >= 1.0
    sends = [c for c in api.calls if c.method == "sendMessage"]
    for n, refused in enumerate(sends):
        if refused.status == 429:  # the same message is not tried again before retry_after
            retry = next(c for c in sends[n + 1 :] if c.params["chat_id"] == refused.params["chat_id"])
            assert retry.params["text"] == refused.params["text"]
            assert retry.at - refused.at >= 0.99
    for chat in CHATS:
        assert [t.split("\n")[1] for t in texts(api, chat)] == [f"alert {n}" for n in range(5)]
    assert len(api.sent()) == 10


async def test_5xx_and_timeouts_are_retried_with_one_log_line_each(
    api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(MEMORY)
    telegram = notifier(api, store, {}, timeout_s=0.3)
    api.fail("sendMessage", 500, "Internal Server Error", times=2)
    api.fail("sendMessage", 502, "Bad Gateway")
    api.slow("sendMessage", 0.8)  # longer than the client's read timeout
    async with running(telegram):
        queue(telegram, alert(1), alert(2))
        await api.wait_for(lambda: telegram.outbox.counts() == {"sent": 4}, within_s=10)
    retries = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(retries) == 4
    assert all(r.getMessage().count("\n") == 0 for r in retries)
    # A timed-out send may have reached Telegram: at most one duplicate, never a loss.
    for chat in CHATS:
        assert set(t.split("\n")[1] for t in texts(api, chat)) == {"alert 1", "alert 2"}


async def test_unsent_messages_survive_a_restart_and_go_out_exactly_once(api: FakeTelegram, tmp_path: Path) -> None:
    path = tmp_path / "riskmon.db"
    store = Store(path)
    first = notifier(api, store, {})
    queue(first, alert(1), alert(2), alert(3))  # the process dies before sending anything
    store.close()

    store = Store(path)
    second = notifier(api, store, {})
    async with running(second):
        await api.wait_for(lambda: second.outbox.counts() == {"sent": 6})
    store.close()

    store = Store(path)
    third = notifier(api, store, {})
    async with running(third):
        await api.wait_for(lambda: api.sent("getUpdates") != [])
        await asyncio.sleep(0.2)
    store.close()
    for chat in CHATS:
        assert [t.split("\n")[1] for t in texts(api, chat)] == ["alert 1", "alert 2", "alert 3"]


async def test_a_blocked_or_unknown_chat_fails_once_and_does_not_hold_up_the_others(
    api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    api.blocked_chats.add("222")
    store = Store(MEMORY)
    telegram = notifier(api, store, {})
    async with running(telegram):
        queue(telegram, alert(1), alert(2))
        await api.wait_for(lambda: telegram.outbox.counts() == {"sent": 2, "failed": 2})
    assert [t.split("\n")[1] for t in texts(api, "111")] == ["alert 1", "alert 2"]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2
    assert "Forbidden: bot was blocked by the user" in refused[0]


async def test_a_rejected_token_is_never_logged(api: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(MEMORY)
    wrong = "987654321:ZZZ-another-secret-token"
    telegram = notifier(api, store, {}, token=wrong)
    async with running(telegram):
        queue(telegram, alert(1))
        await api.wait_for(lambda: caplog.text.count("InvalidToken") >= 2)
    assert wrong not in caplog.text and wrong.split(":")[1] not in caplog.text
    assert "cannot reach the Bot API (InvalidToken" in caplog.text
    assert telegram.outbox.counts() == {"pending": 2}


async def test_quiet_hours_hold_a_warning_but_not_a_critical(api: FakeTelegram) -> None:
    clock = ManualClock(ts("2026-03-02 23:00"))
    store = Store(MEMORY)
    policy = AlertPolicy(cooldown=timedelta(0), quiet=QuietHours.parse("22:00-07:00", "UTC"))
    telegram = notifier(api, store, {}, clock=clock, policy=policy)
    async with running(telegram):
        queue(telegram, alert(1, Severity.WARNING), alert(2, Severity.CRITICAL))
        await api.wait_for(lambda: len(api.sent()) == 2)
        await asyncio.sleep(0.2)
        assert [t.split("\n")[1] for t in texts(api)] == ["alert 2"]
        clock.set(ts("2026-03-03 07:00"))
        telegram.sender.wake()
        await api.wait_for(lambda: len(api.sent()) == 4)
    assert [t.split("\n")[1] for t in texts(api)] == ["alert 2", "alert 1"]


async def test_a_flapping_alert_is_merged_but_an_escalation_goes_out(api: FakeTelegram) -> None:
    clock = ManualClock(ts("2026-03-02 12:00"))
    store = Store(MEMORY)
    telegram = notifier(api, store, {}, clock=clock, policy=AlertPolicy(cooldown=timedelta(minutes=2)))
    async with running(telegram):
        queue(telegram, alert(1, Severity.WARNING))
        clock.advance(30)
        queue(telegram, alert(1, Severity.WARNING, AlertStatus.RESOLVED))
        clock.advance(30)
        queue(telegram, alert(1, Severity.WARNING))  # back within the cooldown: merged
        clock.advance(30)
        queue(telegram, alert(1, Severity.WARNING, AlertStatus.RESOLVED))
        clock.advance(30)
        queue(telegram, alert(1, Severity.CRITICAL))  # worse than before: always sent
        await api.wait_for(lambda: len(api.sent()) == 4)
        clock.advance(600)
        telegram.sender.wake()
        await asyncio.sleep(0.3)
    assert [t.split("\n")[0] for t in texts(api)] == [
        "🟠 <b>WARNING · rule 1</b> — FTMO 100k",
        "🔴 <b>CRITICAL · rule 1</b> — FTMO 100k",
    ]


async def test_commands_from_an_unknown_chat_get_nothing(api: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(MEMORY)
    flattener = RecordingFlatten()
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor}, flattener=flattener)
    async with running(telegram):
        monitor.process(BREACH_DAY[0])
        api.command(STRANGER_CHAT, ADMIN, "/flatten acc-1")
        api.command(STRANGER_CHAT, ADMIN, "/status")
        api.command(int(CHATS[0]), MEMBER, "/flatten acc-1")  # allowed chat, not an admin
        await api.wait_for(lambda: "not an admin" in caplog.text)
        await asyncio.sleep(0.2)
    assert api.sent() == [] and api.sent("editMessageText") == []
    assert flattener.calls == []
    assert caplog.text.count("chat not allowed") == 2


async def test_flatten_needs_the_same_admins_confirmation(api: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(MEMORY)
    flattener = RecordingFlatten()
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor}, flattener=flattener)
    async with running(telegram):
        monitor.process(BREACH_DAY[0])
        api.command(int(CHATS[0]), ADMIN, "/flatten@riskmon_test_bot acc-1")
        await api.wait_for(lambda: len(api.sent()) == 1)
        prompt = api.sent()[0]
        assert prompt.params["text"].startswith("⚠️ Flatten <b>FTMO 100k</b>: close every open position (0 now)?")
        button = prompt.params["reply_markup"]["inline_keyboard"][0][0]
        assert button["text"] == "Confirm flatten"
        message_id = 500
        api.press(int(CHATS[0]), MEMBER, button["callback_data"], message_id)  # not an admin
        await api.wait_for(lambda: "confirmation from user 8" in caplog.text)
        assert flattener.calls == [] and api.sent("answerCallbackQuery") == []
        api.press(int(CHATS[0]), ADMIN, button["callback_data"], message_id)
        await api.wait_for(lambda: len(api.sent("editMessageText")) == 1)
        api.press(int(CHATS[0]), ADMIN, button["callback_data"], message_id)  # a second press does nothing more
        await api.wait_for(lambda: len(api.sent("answerCallbackQuery")) == 2)
    assert flattener.calls == [("acc-1", "telegram user 7")]
    assert len(api.sent("editMessageText")) == 1
    edit = api.sent("editMessageText")[0].params
    assert edit["text"] == "Flatten acc-1: closed 2 positions, equity 99,100.00"
    assert edit["message_id"] == message_id


async def test_resume_is_admin_only_and_confirmed_like_flatten(
    api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(MEMORY)
    flattener = RecordingFlatten()
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor}, flattener=flattener)
    async with running(telegram):
        api.command(int(CHATS[0]), MEMBER, "/resume acc-1")  # not an admin: ignored
        await api.wait_for(lambda: "ignored /resume from user 8" in caplog.text)
        api.command(int(CHATS[0]), ADMIN, "/resume")
        await api.wait_for(lambda: len(api.sent()) == 1)
        assert api.sent()[0].params["text"] == "Usage: /resume &lt;account&gt; (one of: acc-1)"
        api.command(int(CHATS[0]), ADMIN, "/flatten acc-1")
        api.command(int(CHATS[0]), ADMIN, "/resume acc-1")
        await api.wait_for(lambda: len(api.sent()) == 3)
        flatten_data = api.sent()[1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        prompt = api.sent()[2].params
        assert prompt["text"].startswith("▶️ Resume <b>FTMO 100k</b>: lift its halt and allow trading again?")
        button = prompt["reply_markup"]["inline_keyboard"][0][0]
        assert button["text"] == "Confirm resume"
        # the flatten button's secret with the resume action confirms nothing
        api.press(int(CHATS[0]), ADMIN, "resume:" + flatten_data.partition(":")[2], 501)
        await api.wait_for(lambda: len(api.sent("answerCallbackQuery")) == 1)
        api.press(int(CHATS[0]), MEMBER, button["callback_data"], 502)  # not an admin
        await api.wait_for(lambda: "resume confirmation from user 8" in caplog.text)
        api.press(int(CHATS[0]), ADMIN, button["callback_data"], 502)
        await api.wait_for(lambda: len(api.sent("editMessageText")) == 1)
    assert flattener.calls == []
    assert flattener.resumed == [("acc-1", "telegram user 7")]
    assert (
        api.sent("answerCallbackQuery")[0].params["text"] == "This confirmation is no longer valid; send /resume again."
    )
    assert api.sent("editMessageText")[0].params["text"] == (
        "Resume acc-1: acc-1: halt lifted by telegram user 7; trading allowed again"
    )


class BrokenFlatten:
    async def flatten(self, account: str, requested_by: str) -> str:
        raise RuntimeError("platform unreachable")

    async def resume(self, account: str, requested_by: str) -> str:
        raise RuntimeError("platform unreachable")


async def test_a_failed_flatten_is_reported_in_the_chat(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    telegram = notifier(api, store, {"acc-1": ftmo_monitor(store)})
    telegram.commands.flattener = BrokenFlatten()
    async with running(telegram):
        api.command(int(CHATS[0]), ADMIN, "/flatten acc-1")
        await api.wait_for(lambda: len(api.sent()) == 1)
        data = api.sent()[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        api.press(int(CHATS[0]), ADMIN, data, 500)
        await api.wait_for(lambda: len(api.sent("editMessageText")) == 1)
    assert api.sent("editMessageText")[0].params["text"] == (
        "Flatten acc-1: FAILED (RuntimeError: platform unreachable). Check the account now."
    )


async def test_an_expired_confirmation_does_nothing(api: FakeTelegram) -> None:
    clock = ManualClock(datetime.now(UTC))
    store = Store(MEMORY)
    flattener = RecordingFlatten()
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor}, clock=clock, flattener=flattener)
    async with running(telegram):
        api.command(int(CHATS[0]), ADMIN, "/flatten acc-1")
        await api.wait_for(lambda: len(api.sent()) == 1)
        data = api.sent()[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        clock.advance(61)
        api.press(int(CHATS[0]), ADMIN, data, 500)
        await api.wait_for(lambda: len(api.sent("editMessageText")) == 1)
    assert flattener.calls == []
    assert api.sent("answerCallbackQuery")[0].params["text"] == "This confirmation has expired; send /flatten again."


async def test_read_only_commands_and_mute(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    monitor = ftmo_monitor(store, rulebook=SOFT)
    telegram = notifier(api, store, {"acc-1": monitor})
    async with running(telegram):
        monitor.process(BREACH_DAY[2])
        for command in ("/status", "/accounts", "/limits ftmo 100k", "/limits acc-1", "/positions acc-1", "/help"):
            api.command(int(CHATS[0]), MEMBER, command)
        api.command(int(CHATS[0]), ADMIN, "/mute acc-1 30")  # admins only
        await api.wait_for(lambda: len(texts(api)) == 8)
        monitor.process(snap("2026-03-03 10:10", "100000", "99000"))  # resolved critical: still sent
        await api.wait_for(lambda: len(texts(api)) == 9)
    replies = texts(api)
    assert replies[0].startswith("🔴 <b>CRITICAL · daily loss</b>")  # the alert itself
    assert replies[1].startswith("<b>Status</b>\n🔴 <b>FTMO 100k</b>: CRITICAL daily loss · equity 94,800.00")
    assert "<code>acc-1</code> (FTMO 100k) · replay · day resets 00:00 Europe/Prague" in replies[2]
    assert replies[3].startswith("Usage: /limits")  # "ftmo 100k" is two words: no such account
    assert "🔴 daily loss: 5,200.00 of 5,000.00 (104.0% used) · room left −200.00" in replies[4]
    assert "No open positions." in replies[5]
    assert replies[6].startswith("<b>riskmon commands</b>")
    assert replies[7].startswith("🔕 FTMO 100k: warnings muted until")
    assert replies[8].startswith("✅ <b>RESOLVED · daily loss</b>")


async def test_the_daily_summary_fires_at_the_reset_and_is_rearmed(api: FakeTelegram) -> None:
    now = datetime.now(UTC)
    reset = now + timedelta(seconds=0.6)
    if reset.date() != now.date():
        pytest.skip("too close to midnight UTC")
    book = PRESETS["ftmo-2step"].rulebook({"timezone": "UTC", "day_reset": reset.time().isoformat()})
    store = Store(MEMORY)
    monitor = ftmo_monitor(store, rulebook=book)
    telegram = notifier(api, store, {"acc-1": monitor})
    day = monitor.profile.calendar.day_of(now)
    async with running(telegram):
        for offset, equity in ((0.0, "100000"), (0.05, "97000"), (0.1, "99500")):
            monitor.process(snap((now + timedelta(seconds=offset)).isoformat(), "100000", equity))
        summary = lambda: [t for t in texts(api) if t.startswith("📊")]  # noqa: E731
        await api.wait_for(lambda: len(summary()) == 1, within_s=5)
        job = telegram.summaries.scheduler.get_job(job_id("acc-1")) if telegram.summaries.scheduler else None
        assert job is not None and job.next_run_time == monitor.profile.calendar.next_reset(reset)
    text = summary()[0]
    assert f"Trading day {day.isoformat()} (ended {reset:%Y-%m-%d %H:%M:%S} UTC)" in text
    assert "P&amp;L of the day: <b>−500.00</b> (equity 100,000.00 → 99,500.00; balance 100,000.00)" in text
    assert "Closest to a floor: daily loss 60.0% used" in text
    assert "Alerts of the day: none" in text


def test_build_telegram_reads_the_settings(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    assert build_telegram(Settings(_env_file=None), store, dict) is None  # type: ignore[call-arg]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        telegram_chat_id="111, 222",
        telegram_admin_ids="7",
        telegram_api_base_url=api.url + "/",
        telegram_quiet_hours="22:00-07:00",
    )
    telegram = build_telegram(settings, store, dict)
    assert telegram is not None
    assert telegram.chat_ids == ["111", "222"]
    assert telegram.bot.base_url == f"{api.url}/bot{TOKEN}"
    assert telegram.policy.quiet is not None and telegram.policy.cooldown == timedelta(minutes=2)


async def test_riskmon_run_answers_status_over_telegram(api: FakeTelegram, tmp_path: Path) -> None:
    """The wiring in `riskmon run`: the simulator's accounts, the fake Bot API, a /status round trip."""
    env = riskmon_env(  # its own database and no metrics listener: never the default port
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID="111",
        TELEGRAM_API_BASE_URL=api.url,
        SIM_INTERVAL="0.1",
        LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "riskmon.cli", "run", "--no-table", "--env-file", os.devnull,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await api.wait_for(lambda: api.sent("getUpdates") != [] or process.returncode is not None, within_s=20)
        api.command(111, MEMBER, "/status")
        await api.wait_for(lambda: any(t.startswith("<b>Status</b>") for t in texts(api)), within_s=10)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 20)
    status = next(t for t in texts(api) if t.startswith("<b>Status</b>"))
    assert "FTMO 100k (sim)" in status and "Basic (sim)" in status
    assert TOKEN not in (out + err).decode()
    assert "telegram: connected as @riskmon_test_bot" in err.decode()


async def test_a_hanging_telegram_never_slows_monitoring(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor})
    api.slow("sendMessage", 3.0, times=10)
    async with running(telegram):
        await api.wait_for(lambda: api.sent("getMe") != [])
        start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        slowest = 0.0
        for n in range(200):
            equity = "95500" if n % 2 else "99000"  # warning, resolved, warning, ...
            began = time.perf_counter()
            monitor.process(snap((start + timedelta(seconds=n)).isoformat(), "100000", equity))
            slowest = max(slowest, time.perf_counter() - began)
    assert slowest < 0.05
    assert telegram.outbox.counts()["pending"] >= 2 * 199 - 2
