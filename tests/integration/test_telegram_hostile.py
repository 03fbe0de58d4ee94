"""Telegram under hostile conditions (issue 15 findings 9, 13, 15): throttling, huge labels, non-admins."""

from __future__ import annotations

import time

import pytest

from riskmon.models import Severity
from riskmon.notify.telegram_format import MAX_MESSAGE
from riskmon.notify.telegram_sender import MAX_RETRY_AFTER_S
from riskmon.store import MEMORY, Store
from tests.builders import snap
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.test_telegram import (
    ADMIN,
    CHATS,
    MEMBER,
    alert,
    api,
    debug_logs,
    ftmo_monitor,
    notifier,
    queue,
    running,
    texts,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")]
__all__ = ["api", "debug_logs"]  # fixtures shared with the Telegram suite


async def test_a_huge_retry_after_is_capped(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    telegram = notifier(api, store, {})
    api.fail("sendMessage", 429, "Too Many Requests: retry after 31536000", retry_after=31_536_000, times=2)
    async with running(telegram):
        queue(telegram, alert(1))
        await api.wait_for(lambda: len([c for c in api.calls if c.status == 429]) == 2)
        await api.wait_for(lambda: telegram.outbox.counts() == {"pending": 2})
    waits = [row[0] for row in store.db.execute("SELECT next_attempt_at FROM outbox").fetchall()]
    assert waits and all(wait <= time.time() + MAX_RETRY_AFTER_S for wait in waits)  # not a year
    assert all(wait > time.time() + MAX_RETRY_AFTER_S - 30 for wait in waits)  # but the cap, not nothing


async def test_a_critical_never_waits_behind_a_throttled_warning(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    telegram = notifier(api, store, {})
    api.fail("sendMessage", 429, "Too Many Requests: retry after 50", retry_after=50, times=2)
    async with running(telegram):
        queue(telegram, alert(1, Severity.WARNING))
        await api.wait_for(lambda: len([c for c in api.calls if c.status == 429]) == 2)  # both chats throttled
        queue(telegram, alert(2, Severity.CRITICAL))
        await api.wait_for(lambda: all(len(texts(api, chat)) == 1 for chat in CHATS))
    for chat in CHATS:
        (sent,) = texts(api, chat)
        assert sent.split("\n")[1] == "alert 2"  # the critical went out; the warning waits its turn


async def test_a_5000_character_label_never_drops_an_alert(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    monitor = ftmo_monitor(store, label="Prop " + "x" * 5000)
    telegram = notifier(api, store, {"acc-1": monitor})
    async with running(telegram):
        monitor.process(snap("2026-03-02 10:00", "100000"))
        monitor.process(snap("2026-03-02 10:02", "100000", "94800"))
        await api.wait_for(lambda: telegram.outbox.counts() == {"sent": 2})
    for chat in CHATS:
        (message,) = texts(api, chat)
        assert len(message) < MAX_MESSAGE and "CRITICAL · daily loss" in message and "Prop xxx" in message


async def test_mute_is_for_admins_only(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor})
    async with running(telegram):
        api.command(int(CHATS[0]), MEMBER, "/mute acc-1 1440")
        api.command(int(CHATS[0]), ADMIN, "/status")  # a marker: commands are handled in order
        await api.wait_for(lambda: len(texts(api)) == 1)
        assert telegram.journal.muted_until("acc-1", telegram.clock.now()) is None
        api.command(int(CHATS[0]), ADMIN, "/mute acc-1 30")
        await api.wait_for(lambda: len(texts(api)) == 2)
    assert texts(api)[1].startswith("🔕 FTMO 100k: warnings muted until")
    assert telegram.journal.muted_until("acc-1", telegram.clock.now()) is not None


async def test_many_accounts_going_blind_at_once_make_one_message(api: FakeTelegram) -> None:
    from datetime import timedelta

    from riskmon.clock import ManualClock
    from riskmon.monitor import STALE_DATA, AccountMonitor
    from riskmon.profile import AccountProfile
    from riskmon.rules.presets import PRESETS
    from tests.builders import D, ts

    clock = ManualClock(ts("2026-03-02 10:00"))
    store = Store(MEMORY)
    book = PRESETS["ftmo-2step"].rulebook()
    monitors = {
        f"acc-{n}": AccountMonitor(
            AccountProfile(f"acc-{n}", book, label=f"Prop {n}", initial_balance=D(100000)),
            store,
            clock=clock,
            stale_after=timedelta(seconds=30),
        )
        for n in range(25)
    }
    for monitor in monitors.values():
        monitor.process(snap("2026-03-02 10:00", "100000", account=monitor.profile.account))
    telegram = notifier(api, store, monitors, clock=clock, daily_summary=False)
    clock.advance(31)
    events = [e for m in monitors.values() for e in m.check_staleness(publish=False)]  # as the watchdog does
    assert len(events) == 25 and {e.rule for e in events} == {STALE_DATA}
    async with running(telegram):
        telegram.notify(events)
        await api.wait_for(lambda: all(len(texts(api, chat)) == 1 for chat in CHATS))
    (message,) = texts(api)
    assert message.startswith("🔴 <b>CRITICAL · stale data</b> — 25 accounts\nProp 0, Prop 1,")
    assert "and 5 more" in message
    day = monitors["acc-0"].profile.calendar.day_of(clock.now())
    assert len([a for n in range(25) for a in telegram.journal.alerts_of(f"acc-{n}", day)]) == 25  # each journaled
