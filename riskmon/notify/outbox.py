"""The outbox every notification channel shares (Telegram, Discord, webhooks): what must be delivered.

One row per destination per message: ``pending`` → ``sent`` (or ``failed`` on a permanent refusal,
``merged`` when a held recovery was cancelled by a repeat of the same alert). A row is delivered once
``release_at`` (quiet hours, cooldown) and ``next_attempt_at`` (retry backoff) have passed; within a
destination rows go out in insertion order. Each channel reads and writes only its own rows (``channel``).
Times are Unix seconds (REAL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.store import Store

# Append-only: each entry upgrades the outbox schema by one version. Never edit a shipped entry.
# Version 1 takes over Telegram's outbox (created by the telegram component's first migration, or created
# here as it was when this database never had one), renamed, with the channel of each row.
OUTBOX_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS telegram_outbox (
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
    DROP INDEX IF EXISTS telegram_outbox_pending;
    ALTER TABLE telegram_outbox RENAME TO outbox;
    ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram';
    CREATE INDEX outbox_pending ON outbox (channel, state, chat_id, id);
    """,
)


def migrate_outbox(store: Store) -> None:
    """Bring the shared outbox up to date: before any channel's own migrations (see ``telegram_store``)."""
    store.migrate("outbox", OUTBOX_MIGRATIONS)


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
    """One channel's rows of the outbox (``chat_id``: the channel's destination, never a secret)."""

    def __init__(self, store: Store, channel: str = "telegram") -> None:
        self.store = store
        self.channel = channel
        migrate_outbox(store)

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
            "INSERT INTO outbox (channel, chat_id, kind, account, rule, severity, text, created_at, release_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    self.channel,
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
            "SELECT DISTINCT severity FROM outbox WHERE channel = ? AND state = 'pending' AND kind = ? AND account = ? "
            "AND rule = ? AND release_at > ?",
            (self.channel, AlertStatus.RESOLVED.value, account, rule, epoch(now)),
        ).fetchall()
        if not rows:
            return None
        self.store.db.execute(
            "UPDATE outbox SET state = 'merged' WHERE channel = ? AND state = 'pending' AND kind = ? AND account = ? "
            "AND rule = ? AND release_at > ?",
            (self.channel, AlertStatus.RESOLVED.value, account, rule, epoch(now)),
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
            "SELECT o.id, o.chat_id, o.kind, o.text, o.attempts, o.next_attempt_at, o.severity FROM outbox o "
            f"JOIN (SELECT MIN(id) AS id FROM outbox WHERE channel = ? AND state = 'pending' AND {where} "
            "GROUP BY chat_id) h ON o.id = h.id ORDER BY o.id",
            (self.channel, *args),
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def next_release(self, now: datetime) -> datetime | None:
        row = self.store.db.execute(
            "SELECT MIN(release_at) FROM outbox WHERE channel = ? AND state = 'pending' AND release_at > ?",
            (self.channel, epoch(now)),
        ).fetchone()
        return instant(row[0]) if row and row[0] is not None else None

    def mark_sent(self, row_id: int, now: datetime, message_id: int | None) -> None:
        self.store.db.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, message_id = ?, attempts = attempts + 1 WHERE id = ?",
            (epoch(now), message_id, row_id),
        )

    def mark_failed(self, row_id: int, error: str) -> None:
        self.store.db.execute(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, row_id),
        )

    def retry_at(self, row_id: int, when: datetime, error: str) -> None:
        self.store.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (epoch(when), error, row_id),
        )

    def refuse_other_chats(self, chat_ids: Sequence[str], why: str = "chat no longer in TELEGRAM_CHAT_ID") -> int:
        """Pending rows for destinations no longer configured are not sent (removed on purpose)."""
        marks = ", ".join("?" for _ in chat_ids)
        return self.store.db.execute(
            f"UPDATE outbox SET state = 'failed', last_error = ? "
            f"WHERE channel = ? AND state = 'pending' AND chat_id NOT IN ({marks})",
            (why, self.channel, *chat_ids),
        ).rowcount

    def prune(self, before: datetime) -> int:
        """Forget delivered, refused and merged rows created before ``before``; pending rows always stay."""
        return self.store.db.execute(
            "DELETE FROM outbox WHERE channel = ? AND state != 'pending' AND created_at < ?",
            (self.channel, epoch(before)),
        ).rowcount

    def counts(self) -> dict[str, int]:
        rows = self.store.db.execute(
            "SELECT state, COUNT(*) FROM outbox WHERE channel = ? GROUP BY state", (self.channel,)
        ).fetchall()
        return {state: count for state, count in rows}
