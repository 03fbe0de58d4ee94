"""Telegram's tables in the SQLite store: the outbox (what must be delivered) and the journal
(alerts of the day, mutes) that the daily summary and /mute read.

The outbox holds one row per chat per message: ``pending`` → ``sent`` (or ``failed`` on a permanent
refusal, ``merged`` when a held recovery was cancelled by a repeat of the same alert). A row is
delivered once ``release_at`` (quiet hours, cooldown) and ``next_attempt_at`` (retry backoff) have
passed; within a chat rows go out in insertion order. Times are Unix seconds (REAL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.telegram_format import DayAlert
from riskmon.store import Store

COMPONENT = "telegram"

# Append-only: each entry upgrades the telegram schema by one version. Never edit a shipped entry.
TELEGRAM_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE telegram_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        account TEXT NOT NULL DEFAULT '',
        rule TEXT NOT NULL DEFAULT '',
        severity TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        release_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        sent_at REAL,
        message_id INTEGER,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX telegram_outbox_pending ON telegram_outbox (state, chat_id, id);
    CREATE TABLE telegram_alert_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        trading_day TEXT NOT NULL,
        ts TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL
    );
    CREATE INDEX telegram_alert_log_day ON telegram_alert_log (account, trading_day);
    CREATE TABLE telegram_mute (
        account TEXT PRIMARY KEY,
        until REAL NOT NULL
    );
    """,
)


def epoch(ts: datetime) -> float:
    return ts.timestamp()


def instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    chat_id: str
    kind: str
    text: str
    attempts: int
    next_attempt_at: float
    severity: str = ""  # the alert's, for alerts


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate(COMPONENT, TELEGRAM_MIGRATIONS)

    def enqueue(
        self,
        chat_ids: Sequence[str],
        text: str,
        now: datetime,
        kind: str,
        release_at: datetime | None = None,
        event: AlertEvent | None = None,
    ) -> None:
        """Queue ``text`` for every chat (call inside ``store.transaction()`` to group with other writes)."""
        released = epoch(release_at or now)
        self.store.db.executemany(
            "INSERT INTO telegram_outbox (chat_id, kind, account, rule, severity, text, created_at, release_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    chat,
                    kind,
                    event.account if event else "",
                    event.rule if event else "",
                    event.severity.value if event else "",
                    text,
                    epoch(now),
                    released,
                    released,
                )
                for chat in chat_ids
            ],
        )

    def cancel_held_recovery(self, account: str, rule: str, now: datetime) -> Severity | None:
        """Withdraw a recovery of ``account``/``rule`` still held back; return the severity it closed."""
        rows = self.store.db.execute(
            "SELECT DISTINCT severity FROM telegram_outbox WHERE state = 'pending' AND kind = ? AND account = ? "
            "AND rule = ? AND release_at > ?",
            (AlertStatus.RESOLVED.value, account, rule, epoch(now)),
        ).fetchall()
        if not rows:
            return None
        self.store.db.execute(
            "UPDATE telegram_outbox SET state = 'merged' WHERE state = 'pending' AND kind = ? AND account = ? "
            "AND rule = ? AND release_at > ?",
            (AlertStatus.RESOLVED.value, account, rule, epoch(now)),
        )
        return max((Severity(r[0]) for r in rows), key=lambda s: s.rank)

    def heads(self, now: datetime) -> list[OutboxRow]:
        """The oldest released pending row of each chat (delivery order within a chat is insertion order),
        except that a chat whose head is a non-critical row waiting for its retry sends its oldest critical
        row meanwhile: a critical alert never waits behind a warning Telegram throttles."""
        rows = self._heads("release_at <= ?", (epoch(now),))
        waiting = [r.chat_id for r in rows if r.next_attempt_at > epoch(now) and r.severity != Severity.CRITICAL.value]
        if not waiting:
            return rows
        marks = ", ".join("?" for _ in waiting)
        urgent = self._heads(
            f"release_at <= ? AND next_attempt_at <= ? AND severity = ? AND kind != ? AND chat_id IN ({marks})",
            (epoch(now), epoch(now), Severity.CRITICAL.value, AlertStatus.RESOLVED.value, *waiting),
        )
        jumped = {r.chat_id: r for r in urgent}
        return sorted((jumped.get(r.chat_id, r) for r in rows), key=lambda r: r.id)

    def _heads(self, where: str, args: tuple[object, ...]) -> list[OutboxRow]:
        rows = self.store.db.execute(
            "SELECT o.id, o.chat_id, o.kind, o.text, o.attempts, o.next_attempt_at, o.severity FROM telegram_outbox o "
            f"JOIN (SELECT MIN(id) AS id FROM telegram_outbox WHERE state = 'pending' AND {where} "
            "GROUP BY chat_id) h ON o.id = h.id ORDER BY o.id",
            args,
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def next_release(self, now: datetime) -> datetime | None:
        row = self.store.db.execute(
            "SELECT MIN(release_at) FROM telegram_outbox WHERE state = 'pending' AND release_at > ?", (epoch(now),)
        ).fetchone()
        return instant(row[0]) if row and row[0] is not None else None

    def mark_sent(self, row_id: int, now: datetime, message_id: int) -> None:
        self.store.db.execute(
            "UPDATE telegram_outbox SET state = 'sent', sent_at = ?, message_id = ?, attempts = attempts + 1 "
            "WHERE id = ?",
            (epoch(now), message_id, row_id),
        )

    def mark_failed(self, row_id: int, error: str) -> None:
        self.store.db.execute(
            "UPDATE telegram_outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, row_id),
        )

    def retry_at(self, row_id: int, when: datetime, error: str) -> None:
        self.store.db.execute(
            "UPDATE telegram_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (epoch(when), error, row_id),
        )

    def refuse_other_chats(self, chat_ids: Sequence[str]) -> int:
        """Pending rows for chats no longer configured are not sent (the chat was removed on purpose)."""
        marks = ", ".join("?" for _ in chat_ids)
        return self.store.db.execute(
            f"UPDATE telegram_outbox SET state = 'failed', last_error = 'chat no longer in TELEGRAM_CHAT_ID' "
            f"WHERE state = 'pending' AND chat_id NOT IN ({marks})",
            tuple(chat_ids),
        ).rowcount

    def prune(self, before: datetime) -> int:
        """Forget delivered, refused and merged rows created before ``before``; pending rows always stay."""
        return self.store.db.execute(
            "DELETE FROM telegram_outbox WHERE state != 'pending' AND created_at < ?", (epoch(before),)
        ).rowcount

    def counts(self) -> dict[str, int]:
        rows = self.store.db.execute("SELECT state, COUNT(*) FROM telegram_outbox GROUP BY state").fetchall()
        return {state: count for state, count in rows}


class Journal:
    """Alerts by trading day (for the daily summary) and per-account mutes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate(COMPONENT, TELEGRAM_MIGRATIONS)

    def record(self, events: Iterable[AlertEvent], day: date) -> None:
        self.store.db.executemany(
            "INSERT INTO telegram_alert_log (account, trading_day, ts, rule, severity, status) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(e.account, day.isoformat(), e.ts.isoformat(), e.rule, e.severity.value, e.status.value) for e in events],
        )

    def alerts_of(self, account: str, day: date) -> list[DayAlert]:
        rows = self.store.db.execute(
            "SELECT rule, severity, status FROM telegram_alert_log WHERE account = ? AND trading_day = ? ORDER BY id",
            (account, day.isoformat()),
        ).fetchall()
        return [DayAlert(rule, Severity(severity), AlertStatus(status)) for rule, severity, status in rows]

    def prune(self, before: date) -> int:
        return self.store.db.execute(
            "DELETE FROM telegram_alert_log WHERE trading_day < ?", (before.isoformat(),)
        ).rowcount

    def mute(self, account: str, until: datetime) -> None:
        self.store.db.execute(
            "INSERT INTO telegram_mute (account, until) VALUES (?, ?) "
            "ON CONFLICT(account) DO UPDATE SET until = excluded.until",
            (account, epoch(until)),
        )

    def unmute(self, account: str | None = None) -> int:
        if account is None:
            return self.store.db.execute("DELETE FROM telegram_mute").rowcount
        return self.store.db.execute("DELETE FROM telegram_mute WHERE account = ?", (account,)).rowcount

    def muted_until(self, account: str, now: datetime) -> datetime | None:
        row = self.store.db.execute(
            "SELECT until FROM telegram_mute WHERE account = ? AND until > ?", (account, epoch(now))
        ).fetchone()
        return instant(row[0]) if row else None
