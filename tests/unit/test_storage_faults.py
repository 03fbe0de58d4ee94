"""Storage faults are loud (issue 15 findings 5, 10, 16): no silent fresh start, no invisible writes."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from riskmon.clock import ManualClock
from riskmon.errors import StoreError, StoreLockedError
from riskmon.exporter import Exporter
from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.monitor import STATE_UNSAVED, AccountMonitor, Evaluation
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.state import AccountState
from riskmon.store import TRANSIENT_GRACE_S, Store
from riskmon.view import ReadModel
from tests.builders import D, snap, ts

NOW = ts("2026-03-02 10:00")


class Recorder:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def observe(self, evaluation: Evaluation) -> None:
        self.events += evaluation.events

    def notify(self, events: Sequence[AlertEvent]) -> None:
        self.events += events


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_database_truncated_to_zero_bytes_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    Store(db).close()
    db.write_bytes(b"")
    with pytest.raises(StoreError) as refused:
        Store(db)
    assert "is empty (0 bytes)" in str(refused.value) and "\n" not in str(refused.value)
    db.unlink()
    Store(db).close()  # told otherwise (the file removed): a fresh start


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="a /proc file system")
@pytest.mark.parametrize("db", ["/proc/riskmon.db", "/proc/riskmon-test-missing/riskmon.db"])
def test_a_database_where_no_file_can_be_created_is_one_line_not_a_lock_held(db: str) -> None:
    """/proc takes no new files: neither the database's folder nor its lock can be made. That is not
    "in use by another riskmon"."""
    with pytest.raises(StoreError) as refused:
        Store(db)
    text = str(refused.value)
    assert "cannot create" in text and "\n" not in text
    assert not isinstance(refused.value, StoreLockedError) and "in use" not in text


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_state_files_and_the_lock_are_the_owners_alone(tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    db.with_name("riskmon.db.lock").touch(mode=0o644)
    store = Store(db)
    store.save_state(_state())
    assert mode(db) == 0o600 and mode(db.with_name("riskmon.db.lock")) == 0o600
    assert all(mode(p) == 0o600 for p in tmp_path.glob("riskmon.db-*"))  # WAL and shared memory follow the db
    store.close()
    os.chmod(db, 0o644)  # a database from an older riskmon is made private too
    Store(db).close()
    assert mode(db) == 0o600


def _state() -> AccountState:
    return AccountState.fresh("acc-1", D(100000))


def test_a_symlink_to_the_database_meets_the_same_lock(tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    link = tmp_path / "elsewhere.db"
    link.symlink_to(db)
    store = Store(db)
    with pytest.raises(StoreLockedError):
        Store(link)
    store.close()
    Store(link).close()


@pytest.mark.parametrize("fault", ["deleted", "truncated", "replaced"])
def test_the_open_database_deleted_truncated_or_replaced_is_not_written_to_invisibly(
    fault: str, tmp_path: Path
) -> None:
    db = tmp_path / "riskmon.db"
    store = Store(db)
    store.save_state(_state())
    if fault == "deleted":
        db.unlink()
    elif fault == "truncated":
        os.truncate(db, 0)
    else:
        db.unlink()
        db.write_bytes(b"another file")
    with pytest.raises(sqlite3.OperationalError, match=fault):
        store.save_state(_state())
    with pytest.raises(sqlite3.OperationalError, match=fault), store.transaction():
        pass


async def test_unsaved_state_is_a_503_and_a_critical_alert_once(tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    store = Store(db)
    clock = ManualClock(NOW)
    recorder = Recorder()
    profile = AccountProfile("acc-1", PRESETS["ftmo-2step"].rulebook(), initial_balance=D(100000))
    monitor = AccountMonitor(profile, store, [recorder], clock=clock, stale_after=timedelta(seconds=30))
    monitor.process(snap("2026-03-02 10:00", "100000"))
    db.unlink()  # the file is gone: nothing written from now on would survive a restart
    for n, equity in enumerate(("101000", "102000", "103000")):  # each a new high: each must be saved
        monitor.process(snap(f"2026-03-02 10:00:0{n + 1}", equity))
    unsaved = [(e.rule, e.severity, e.status) for e in recorder.events if e.rule == STATE_UNSAVED]
    assert unsaved == [(STATE_UNSAVED, Severity.CRITICAL, AlertStatus.FIRING)]  # once per outage
    assert monitor.unsaved
    exporter = Exporter(CollectorRegistry(), ReadModel([monitor]), port=0)
    async with exporter, httpx.AsyncClient(trust_env=False) as client:
        health = await client.get(f"http://127.0.0.1:{exporter.port}/healthz")
    assert health.status_code == 503 and health.text == "state not saved (database unwritable): acc-1\n"


def test_a_passing_lock_is_quiet_a_lasting_one_is_a_fault(tmp_path: Path) -> None:
    db = tmp_path / "riskmon.db"
    store = Store(db, busy_timeout_s=0.01)
    clock = ManualClock(NOW)
    recorder = Recorder()
    profile = AccountProfile("acc-1", PRESETS["ftmo-2step"].rulebook(), initial_balance=D(100000))
    monitor = AccountMonitor(profile, store, [recorder], clock=clock)
    monitor.process(snap("2026-03-02 10:00", "100000"))
    intruder = sqlite3.connect(db)
    intruder.execute("BEGIN EXCLUSIVE")  # a backup or the sqlite3 shell holds the file
    monitor.process(snap("2026-03-02 10:00:01", "101000"))
    clock.advance(TRANSIENT_GRACE_S - 1)
    monitor.process(snap("2026-03-02 10:00:02", "102000"))
    assert not monitor.unsaved and recorder.events == []  # waited out quietly
    clock.advance(1)
    monitor.process(snap("2026-03-02 10:00:03", "103000"))
    assert monitor.unsaved and [(e.rule, e.status) for e in recorder.events] == [(STATE_UNSAVED, AlertStatus.FIRING)]
    intruder.rollback()
    intruder.close()
    monitor.process(snap("2026-03-02 10:00:04", "104000"))
    assert not monitor.unsaved and recorder.events[-1].status is AlertStatus.RESOLVED
