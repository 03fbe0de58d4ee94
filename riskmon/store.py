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
from contextlib import contextmanager, suppress
from dataclasses import dataclass
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
# A lock held by another process (a backup, the sqlite3 shell) is waited out quietly this long; any other
# write failure (read-only or full disk, a deleted file) is a fault at once.
TRANSIENT_GRACE_S = 30.0
_BUSY_CODES = frozenset({5, 6})
ELSEWHERE = " (set RISKMON_DB to a file in a folder you can write)"  # SQLITE_BUSY, SQLITE_LOCKED


def is_transient(exc: sqlite3.Error) -> bool:
    """The database is only locked by someone else for now: the write will succeed on a later try."""
    return getattr(exc, "sqlite_errorcode", None) in _BUSY_CODES or "locked" in str(exc)


class Store:
    def __init__(self, path: Path | str = MEMORY, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = str(path)
        self._lock: FileLock | None = None
        self._identity: FileIdentity | None = None
        if self.path != MEMORY:
            real = Path(self.path).resolve()  # one file, one lock: a symlink or relative path reaches the same
            try:
                real.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the state database {real}: {os_reason(real, exc)}") from None
            _refuse_empty(real)
            self._lock = _acquire_lock(real)
            _private(real)
            self.path = str(real)
        try:
            self.db = sqlite3.connect(self.path, timeout=STARTUP_WAIT_S, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER)")
            self.migrate("state", STATE_MIGRATIONS)
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if self.path != MEMORY:
                self._identity = file_identity(Path(self.path))
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
        self.check_file()
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
        self.check_file()
        self.db.execute(
            "INSERT INTO account_state (account, state) VALUES (?, ?) "
            "ON CONFLICT(account) DO UPDATE SET state = excluded.state, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (state.account, state.to_json()),
        )

    def check_file(self) -> None:
        """Raise sqlite3.OperationalError when the database file was deleted, replaced or truncated under us:
        writes would go to a file no one will ever read."""
        if self._identity is not None:
            problem = file_problem(Path(self.path), self._identity)
            if problem is not None:
                raise sqlite3.OperationalError(f"{self.path} {problem}")

    def close(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


@dataclass(frozen=True, slots=True)
class FileIdentity:
    device: int
    inode: int


def file_identity(path: Path) -> FileIdentity:
    info = path.stat()
    return FileIdentity(info.st_dev, info.st_ino)


def file_problem(path: Path, identity: FileIdentity) -> str | None:
    """What happened to the open database file, if anything: deleted, replaced by another file, truncated."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "was deleted while riskmon runs"
    except OSError as exc:
        return f"cannot be checked ({exc.strerror})"
    if (info.st_dev, info.st_ino) != (identity.device, identity.inode):
        return "was replaced by another file while riskmon runs"
    if info.st_size == 0:
        return "was truncated to 0 bytes while riskmon runs"
    return None


def _unwritable(lock_path: Path) -> str | None:
    """Why a file cannot be created beside the database (a lock not taken because it cannot exist), if so."""
    if lock_path.exists():
        return None
    try:
        os.close(os.open(lock_path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        return exc.strerror or str(exc)
    os.unlink(lock_path)
    return None


def _refuse_empty(db_path: Path) -> None:
    """A database of 0 bytes is a truncated one (SQLite never leaves its file empty): starting fresh on it
    would silently forget the day anchors and high-water marks."""
    if db_path.is_file() and db_path.stat().st_size == 0:
        raise StoreError(
            f"{db_path} is empty (0 bytes): it was truncated and riskmon's state is lost; restore it from a "
            "backup, or delete it to start afresh with estimated day anchors"
        )


def _private(path: Path) -> None:
    """The state (balances, positions, anchors) is the owner's alone: files 0600 (like the token file)."""
    if os.name != "posix":
        return
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with suppress(OSError):  # not ours to change (another user's file opened read-only): leave it
        os.chmod(path, 0o600)


def _acquire_lock(db_path: Path) -> FileLock:
    """The single-process guard: a lock file beside the database, and the holder's pid beside that (0600)."""
    lock_path = db_path.with_name(db_path.name + ".lock")
    if lock_path.exists():  # one left by an older riskmon (never created here: a soft lock's file is the lock)
        _private(lock_path)
    lock = FileLock(lock_path, is_singleton=False, mode=0o600)
    pid_file = db_path.with_name(db_path.name + ".pid")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        problem = _unwritable(lock_path)
        if problem is not None:
            raise StoreError(f"cannot create {lock_path} beside the state database: {problem}{ELSEWHERE}") from None
        try:
            holder = pid_file.read_text(encoding="ascii").strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise StoreLockedError(
            f"{db_path} is in use by another riskmon process (pid {holder}); stop it or set RISKMON_DB to another file",
            holder,
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot lock the state database {db_path}: {exc.strerror or exc}{ELSEWHERE}") from None
    try:
        _private(pid_file)
        pid_file.write_text(str(os.getpid()), encoding="ascii")
    except OSError as exc:
        lock.release()
        raise StoreError(f"cannot write {pid_file}: {exc.strerror or exc}") from None
    return lock
