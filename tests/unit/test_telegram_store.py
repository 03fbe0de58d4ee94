"""The outbox's order and holds, the held-recovery merge, pruning and mutes, on an in-memory store."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.telegram_store import TELEGRAM_MIGRATIONS, Journal, Outbox
from riskmon.store import MEMORY, Store
from tests.builders import D, ts

NOW = ts("2026-03-02 12:00")


def event(status: AlertStatus, severity: Severity = Severity.WARNING) -> AlertEvent:
    return AlertEvent("acc-1", "daily_loss", severity, status, D(1), D(2), "m", NOW)


def test_each_chat_gets_its_oldest_released_row_first() -> None:
    outbox = Outbox(Store(MEMORY))
    outbox.enqueue(["1", "2"], "a", NOW, "firing")
    outbox.enqueue(["1"], "held", NOW, "resolved", release_at=NOW + timedelta(minutes=5))
    outbox.enqueue(["1"], "b", NOW, "firing")
    assert [(r.chat_id, r.text) for r in outbox.heads(NOW)] == [("1", "a"), ("2", "a")]
    first = outbox.heads(NOW)[0]
    outbox.retry_at(first.id, NOW + timedelta(seconds=30), "NetworkError")
    assert outbox.heads(NOW)[0].text == "a"  # a row in backoff still blocks its chat: order is kept
    outbox.mark_sent(first.id, NOW, 1)
    assert [r.text for r in outbox.heads(NOW) if r.chat_id == "1"] == ["b"]  # the held row is skipped
    assert outbox.next_release(NOW) == NOW + timedelta(minutes=5)
    assert [r.text for r in outbox.heads(NOW + timedelta(minutes=5)) if r.chat_id == "1"] == ["held"]


def test_a_held_recovery_is_withdrawn_once() -> None:
    outbox = Outbox(Store(MEMORY))
    resolved = event(AlertStatus.RESOLVED)
    outbox.enqueue(["1", "2"], "ok", NOW, "resolved", NOW + timedelta(minutes=2), resolved)
    assert outbox.cancel_held_recovery("acc-1", "daily_loss", NOW + timedelta(minutes=1)) is Severity.WARNING
    assert outbox.cancel_held_recovery("acc-1", "daily_loss", NOW + timedelta(minutes=1)) is None
    assert outbox.counts() == {"merged": 2}


def test_a_released_recovery_is_not_withdrawn() -> None:
    outbox = Outbox(Store(MEMORY))
    outbox.enqueue(["1"], "ok", NOW, "resolved", NOW + timedelta(minutes=2), event(AlertStatus.RESOLVED))
    assert outbox.cancel_held_recovery("acc-1", "daily_loss", NOW + timedelta(minutes=3)) is None


def test_pruning_keeps_pending_rows() -> None:
    outbox = Outbox(Store(MEMORY))
    outbox.enqueue(["1", "2"], "old", NOW, "firing")
    head = outbox.heads(NOW)[0]
    outbox.mark_sent(head.id, NOW, 5)
    assert outbox.prune(NOW + timedelta(days=31)) == 1
    assert outbox.counts() == {"pending": 1}


def test_rows_for_removed_chats_are_refused() -> None:
    outbox = Outbox(Store(MEMORY))
    outbox.enqueue(["1", "2"], "a", NOW, "firing")
    assert outbox.refuse_other_chats(["1"]) == 1
    assert [r.chat_id for r in outbox.heads(NOW)] == ["1"]


def test_alert_log_and_mutes() -> None:
    store = Store(MEMORY)
    journal = Journal(store)
    journal.record([event(AlertStatus.FIRING), event(AlertStatus.RESOLVED)], date(2026, 3, 2))
    assert [a.status for a in journal.alerts_of("acc-1", date(2026, 3, 2))] == [
        AlertStatus.FIRING,
        AlertStatus.RESOLVED,
    ]
    assert journal.alerts_of("acc-1", date(2026, 3, 3)) == []
    journal.mute("acc-1", NOW + timedelta(minutes=30))
    assert journal.muted_until("acc-1", NOW) == NOW + timedelta(minutes=30)
    assert journal.muted_until("acc-1", NOW + timedelta(minutes=30)) is None
    assert journal.unmute() == 1
    assert journal.prune(date(2026, 3, 3)) == 2


def test_channels_share_the_outbox_and_never_see_each_others_rows() -> None:
    store = Store(MEMORY)
    telegram, discord = Outbox(store, "telegram"), Outbox(store, "discord")
    telegram.enqueue(["1"], "tg", NOW, "firing")
    discord.enqueue(["discord"], "dc", NOW, "firing")
    assert [r.text for r in telegram.heads(NOW)] == ["tg"] and [r.text for r in discord.heads(NOW)] == ["dc"]
    assert discord.refuse_other_chats(["elsewhere"], "gone") == 1 and telegram.counts() == {"pending": 1}
    assert (telegram.cancel_held_recovery("acc-1", "daily_loss", NOW), discord.counts()) == (None, {"failed": 1})


def test_a_database_with_telegrams_old_outbox_keeps_its_pending_rows(tmp_path: Path) -> None:
    """A database from before the shared outbox: Telegram's table and rows become the outbox's, channel telegram."""
    db = tmp_path / "old.db"
    old = Store(db)
    old.migrate("telegram", TELEGRAM_MIGRATIONS[:1])  # the schema as the previous riskmon left it
    old.db.execute(
        "INSERT INTO telegram_outbox (chat_id, kind, text, created_at, release_at, next_attempt_at) "
        "VALUES ('42', 'firing', 'still to send', 1.0, 1.0, 1.0)"
    )
    old.close()
    store = Store(db)
    Journal(store)  # what Telegram's start does: the shared outbox first, then Telegram's own tables
    assert (store.schema_version("outbox"), store.schema_version("telegram")) == (1, 2)
    tables = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "telegram_outbox" not in tables and "outbox" in tables
    (row,) = Outbox(store).heads(NOW)
    assert (row.chat_id, row.text) == ("42", "still to send")
    assert Outbox(store, "webhook").heads(NOW) == []
    store.close()


def test_a_new_database_has_one_outbox() -> None:
    store = Store(MEMORY)
    Journal(store)
    tables = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "outbox" in tables and "telegram_outbox" not in tables
