"""The outbox's order and holds, the held-recovery merge, pruning and mutes, on an in-memory store."""

from __future__ import annotations

from datetime import date, timedelta

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.telegram_store import Journal, Outbox
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
