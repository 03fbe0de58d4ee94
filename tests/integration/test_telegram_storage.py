"""Telegram when the database cannot take alerts: sent directly, and nothing dropped at shutdown (issue 15)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from riskmon.monitor import STATE_UNSAVED
from riskmon.store import Store
from tests.builders import snap
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.test_telegram import CHATS, api, debug_logs, ftmo_monitor, notifier, running, texts

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")]
__all__ = ["api", "debug_logs"]  # fixtures shared with the Telegram suite


async def test_alerts_go_out_directly_while_the_outbox_cannot_be_written(api: FakeTelegram, tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    store = Store(db)
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor})
    async with running(telegram):
        monitor.process(snap("2026-03-02 10:00", "100000"))
        db.unlink()  # the database is gone: the outbox cannot keep anything
        breach = monitor.process(snap("2026-03-02 10:02", "100000", "94800"))
        assert breach is not None and [e.rule for e in breach.events] == ["daily_loss"]
        await api.wait_for(lambda: all(len(texts(api, chat)) == 2 for chat in CHATS))
    for chat in CHATS:
        unsaved, daily = texts(api, chat)
        assert STATE_UNSAVED.replace("_", " ") in unsaved and "cannot save" in unsaved
        assert "daily loss" in daily and "CRITICAL" in daily


async def test_alerts_the_database_never_took_are_sent_at_shutdown(api: FakeTelegram, tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    store = Store(db)
    monitor = ftmo_monitor(store)
    telegram = notifier(api, store, {"acc-1": monitor})
    monitor.process(snap("2026-03-02 10:00", "100000"))
    db.unlink()
    # Processed where no event loop runs: nothing can be sent at once, the alerts are only held in memory.
    await asyncio.to_thread(monitor.process, snap("2026-03-02 10:02", "100000", "94800"))
    assert api.sent() == [] and telegram._held
    await telegram.aclose()
    for chat in CHATS:
        assert any("daily loss" in text for text in texts(api, chat))
