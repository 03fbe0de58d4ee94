"""Telegram's own tables in the SQLite store: the journal (alerts of the day, mutes) that the daily summary
and /mute read. Its messages wait in the outbox every channel shares (``riskmon.notify.outbox``), which
took over Telegram's first outbox table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.outbox import Outbox, OutboxRow, epoch, instant, migrate_outbox
from riskmon.notify.telegram_format import DayAlert
from riskmon.store import Store

__all__ = ["Journal", "Outbox", "OutboxRow", "epoch", "instant"]

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
    # The outbox moved to the shared ``outbox`` table (its migration runs first, see ``migrate``): on a new
    # database the first entry above created an empty telegram_outbox again, which goes.
    """
    DROP TABLE IF EXISTS telegram_outbox;
    """,
)


def migrate(store: Store) -> None:
    """The shared outbox first (it takes Telegram's old outbox over, rows and all), then Telegram's tables."""
    migrate_outbox(store)
    store.migrate(COMPONENT, TELEGRAM_MIGRATIONS)


class Journal:
    """Alerts by trading day (for the daily summary) and per-account mutes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        migrate(store)

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
