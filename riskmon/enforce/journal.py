"""The enforcer's tables: trading status, one row per keyed action, and the audit trail.

Every change to an action is written together with the audit entry that explains it, in one
transaction, before the request it describes goes out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from riskmon.enforce.records import Action, Intent, Kind, Status, TradingStatus
from riskmon.models import TradingState
from riskmon.store import Store

COMPONENT = "enforcement"

# Append-only: each entry upgrades the enforcement schema by one version. Never edit a shipped entry.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE enforcement_status (
        account TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        trading_day TEXT,
        reason TEXT NOT NULL,
        since TEXT,
        live INTEGER NOT NULL,
        episode INTEGER NOT NULL
    );
    CREATE TABLE enforcement_action (
        key TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        trading_day TEXT NOT NULL,
        policy TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        symbol TEXT NOT NULL,
        volume TEXT,
        volume_before TEXT,
        live INTEGER NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_at TEXT,
        outcome TEXT NOT NULL,
        message TEXT NOT NULL,
        alerted TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX enforcement_action_account ON enforcement_action (account, status);
    CREATE TABLE enforcement_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        account TEXT NOT NULL,
        trading_day TEXT,
        step TEXT NOT NULL,
        action_key TEXT NOT NULL,
        message TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX enforcement_audit_account ON enforcement_audit (account, ts);
    """,
    # A rule's response level: a halt that lifts at a chosen instant, and a halt of new risk only.
    """
    ALTER TABLE enforcement_status ADD COLUMN halt_until TEXT;
    ALTER TABLE enforcement_status ADD COLUMN new_only INTEGER NOT NULL DEFAULT 0;
    """,
)

_OPEN = tuple(s.value for s in Status if s.covers)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the audit trail: a decision, request, broker answer, verification or state change."""

    ts: datetime
    account: str
    trading_day: date | None
    step: str  # transition | decision | plan | request | answer | verify | expire | manual
    message: str
    action_key: str = ""
    detail: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "account": self.account,
            "trading_day": self.trading_day.isoformat() if self.trading_day else None,
            "step": self.step,
            "action_key": self.action_key,
            "message": self.message,
            "detail": self.detail,
        }


class Journal:
    def __init__(self, store: Store) -> None:
        self.db = store.db
        self.store = store
        store.migrate(COMPONENT, MIGRATIONS)

    # -- trading status ---------------------------------------------------------------------------

    def status(self, account: str) -> TradingStatus:
        row = self.db.execute(
            "SELECT state, trading_day, reason, since, live, episode, halt_until, new_only FROM enforcement_status "
            "WHERE account = ?",
            (account,),
        ).fetchone()
        if row is None:
            return TradingStatus()
        return TradingStatus(
            TradingState(row[0]),
            date.fromisoformat(row[1]) if row[1] else None,
            row[2],
            datetime.fromisoformat(row[3]) if row[3] else None,
            bool(row[4]),
            int(row[5]),
            datetime.fromisoformat(row[6]) if row[6] else None,
            bool(row[7]),
        )

    def save_status(self, account: str, status: TradingStatus, entry: Entry) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO enforcement_status (account, state, trading_day, reason, since, live, episode, "
                "halt_until, new_only) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account) DO UPDATE SET "
                "state = excluded.state, trading_day = excluded.trading_day, reason = excluded.reason, "
                "since = excluded.since, live = excluded.live, episode = excluded.episode, "
                "halt_until = excluded.halt_until, new_only = excluded.new_only",
                (
                    account,
                    status.state.value,
                    status.trading_day.isoformat() if status.trading_day else None,
                    status.reason,
                    status.since.isoformat() if status.since else None,
                    int(status.live),
                    status.episode,
                    status.until.isoformat() if status.until else None,
                    int(status.new_only),
                ),
            )
            self._audit(db, entry)

    # -- actions ----------------------------------------------------------------------------------

    def open_actions(self, account: str) -> list[Action]:
        marks = ", ".join("?" for _ in _OPEN)
        rows = self.db.execute(
            f"SELECT key, account, trading_day, policy, kind, target, symbol, volume, volume_before, live, reason, "
            f"status, attempts, next_at, outcome, message, alerted FROM enforcement_action "
            f"WHERE account = ? AND status IN ({marks}) ORDER BY rowid",
            (account, *_OPEN),
        ).fetchall()
        return [_action(row) for row in rows]

    def next_key(self, account: str, day: date, intent: Intent) -> str:
        """Keys are (account, trading day, policy, target, n): n counts earlier settled actions on the target."""
        prefix = f"{account}|{day.isoformat()}|{intent.policy}|{intent.kind.value}:{intent.target}|"
        (count,) = self.db.execute(
            "SELECT count(*) FROM enforcement_action WHERE key >= ? AND key < ?", (prefix, prefix + "\U0010ffff")
        ).fetchone()
        return f"{prefix}{int(count) + 1}"

    def save_action(self, action: Action, *entries: Entry) -> None:
        intent = action.intent
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO enforcement_action (key, account, trading_day, policy, kind, target, symbol, volume, "
                "volume_before, live, reason, status, attempts, next_at, outcome, message, alerted, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "volume = excluded.volume, status = excluded.status, attempts = excluded.attempts, "
                "next_at = excluded.next_at, outcome = excluded.outcome, message = excluded.message, "
                "alerted = excluded.alerted, updated_at = excluded.updated_at",
                (
                    action.key,
                    action.account,
                    action.trading_day.isoformat(),
                    intent.policy,
                    intent.kind.value,
                    intent.target,
                    intent.symbol,
                    _text(intent.volume),
                    _text(intent.volume_before),
                    int(intent.live),
                    intent.reason,
                    action.status.value,
                    action.attempts,
                    action.next_at.isoformat() if action.next_at else None,
                    action.outcome,
                    action.message,
                    action.alerted,
                    entries[-1].ts.isoformat(),
                ),
            )
            for entry in entries:
                self._audit(db, entry)

    # -- audit ------------------------------------------------------------------------------------

    def audit(self, entry: Entry) -> None:
        self._audit(self.db, entry)

    def entries(self, account: str | None = None, since: datetime | None = None) -> Iterator[Entry]:
        return read_entries(self.db, account, since)

    @staticmethod
    def _audit(db: Any, entry: Entry) -> None:
        db.execute(
            "INSERT INTO enforcement_audit (ts, account, trading_day, step, action_key, message, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.ts.isoformat(),
                entry.account,
                entry.trading_day.isoformat() if entry.trading_day else None,
                entry.step,
                entry.action_key,
                entry.message,
                json.dumps(entry.detail, sort_keys=True),
            ),
        )


def audited_accounts(db: sqlite3.Connection) -> list[str]:
    """Every account the audit trail has entries for, in order."""
    return [row[0] for row in db.execute("SELECT DISTINCT account FROM enforcement_audit ORDER BY account")]


def read_entries(db: sqlite3.Connection, account: str | None = None, since: datetime | None = None) -> Iterator[Entry]:
    """The audit trail in order, from any connection (``riskmon audit`` reads a running service's file)."""
    query = "SELECT ts, account, trading_day, step, message, action_key, detail FROM enforcement_audit WHERE 1 = 1"
    args: list[str] = []
    if account is not None:
        query += " AND account = ?"
        args.append(account)
    if since is not None:
        query += " AND ts >= ?"
        args.append(since.isoformat())
    for row in db.execute(query + " ORDER BY id", args):
        yield Entry(
            datetime.fromisoformat(row[0]),
            row[1],
            date.fromisoformat(row[2]) if row[2] else None,
            row[3],
            row[4],
            row[5],
            json.loads(row[6]),
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _action(row: tuple[Any, ...]) -> Action:
    intent = Intent(
        policy=row[3],
        kind=Kind(row[4]),
        target=row[5],
        symbol=row[6],
        volume=None if row[7] is None else Decimal(row[7]),
        volume_before=None if row[8] is None else Decimal(row[8]),
        live=bool(row[9]),
        reason=row[10],
    )
    return Action(
        key=row[0],
        account=row[1],
        trading_day=date.fromisoformat(row[2]),
        intent=intent,
        status=Status(row[11]),
        attempts=int(row[12]),
        next_at=datetime.fromisoformat(row[13]) if row[13] else None,
        outcome=row[14],
        message=row[15],
        alerted=row[16],
    )
