"""The embedded SQLite database. Each component (account state, notification outbox, enforcement
audit) owns its tables and their migrations, versioned per component with ``Store.migrate``.

One riskmon process owns a database file at a time (an OS file lock beside it, taken through
``filelock`` so that it works on Windows too, and released by the OS even on SIGKILL).
``:memory:`` gives a private, throw-away store (replay, tests).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from platformdirs import user_data_dir

from riskmon.errors import StoreError, StoreLockedError, os_reason
from riskmon.state import AccountState

log = logging.getLogger(__name__)

MEMORY = ":memory:"

# Append-only: each entry upgrades the component's schema by one version. Never edit a shipped entry.
STATE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE account_state (
        account TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
)


def default_db_path() -> Path:
    return Path(user_data_dir("riskmon", appauthor=False)) / "riskmon.db"


# How long a write waits for another process's lock. Short on purpose: every writer in the service
# retries (state with the next snapshot, alerts kept in memory, enforcement steps), and a long wait
# would stall the event loop and with it monitoring. Start-up (migrations) may wait longer.
BUSY_TIMEOUT_S = 0.05
STARTUP_WAIT_S = 5.0


class Store:
    def __init__(self, path: Path | str = MEMORY, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = str(path)
        self._lock: FileLock | None = None
        if self.path != MEMORY:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the state database {self.path}: {os_reason(Path(self.path), exc)}"
                ) from None
            self._lock = _acquire_lock(Path(self.path))
        try:
            self.db = sqlite3.connect(self.path, timeout=STARTUP_WAIT_S, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER)")
            self.migrate("state", STATE_MIGRATIONS)
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open the state database {self.path}: {exc}") from None

    # -- schema ---------------------------------------------------------------------------------

    def schema_version(self, component: str) -> int:
        row = self.db.execute("SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
        return int(row[0]) if row else 0

    def migrate(self, component: str, migrations: Sequence[str]) -> None:
        """Bring ``component``'s tables up to ``len(migrations)``; refuse a database from a newer riskmon."""
        current = self.schema_version(component)
        if current > len(migrations):
            raise StoreError(
                f"{self.path}: {component} schema version {current} is newer than this riskmon "
                f"({len(migrations)}): upgrade riskmon"
            )
        for version, script in enumerate(migrations[current:], start=current + 1):
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO schema_version (component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, version),
                )
            log.debug("state database %s: %s schema at version %d", self.path, component, version)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- account state --------------------------------------------------------------------------

    def load_state(self, account: str) -> AccountState | None:
        row = self.db.execute("SELECT state FROM account_state WHERE account = ?", (account,)).fetchone()
        return AccountState.from_json(row[0]) if row else None

    def save_state(self, state: AccountState) -> None:
        self.db.execute(
            "INSERT INTO account_state (account, state) VALUES (?, ?) "
            "ON CONFLICT(account) DO UPDATE SET state = excluded.state, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (state.account, state.to_json()),
        )

    def close(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _acquire_lock(db_path: Path) -> FileLock:
    """The single-process guard: a lock file beside the database, and the holder's pid beside that."""
    lock = FileLock(db_path.with_name(db_path.name + ".lock"), is_singleton=False)
    pid_file = db_path.with_name(db_path.name + ".pid")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            holder = pid_file.read_text(encoding="ascii").strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise StoreLockedError(
            f"{db_path} is in use by another riskmon process (pid {holder}); stop it or set RISKMON_DB to another file",
            holder,
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot lock the state database {db_path}: {exc.strerror or exc}") from None
    try:
        pid_file.write_text(str(os.getpid()), encoding="ascii")
    except OSError as exc:
        lock.release()
        raise StoreError(f"cannot write {pid_file}: {exc.strerror or exc}") from None
    return lock
