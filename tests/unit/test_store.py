"""The state database: versioned schema, exact round trip, refusal of a second writer, survival of a lock."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from riskmon.errors import StoreError, StoreLockedError
from riskmon.models import Severity
from riskmon.store import Store
from tests.builders import preset_monitor, snap


def test_state_round_trips_exactly(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    m = preset_monitor("ftmo-2step", "100000", store=store)
    m.process(snap("2026-03-02T09:00:00+00:00", "100000.10", "95800.05"))
    store.close()
    reopened = Store(tmp_path / "s.db")
    assert reopened.load_state("acc-1") == m.state
    assert m.state is not None and m.state.alerts == {"daily_loss": Severity.WARNING}
    reopened.close()


def test_components_migrate_independently(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.migrate("extra", ("CREATE TABLE extra_one (x INTEGER)", "CREATE TABLE extra_two (y INTEGER)"))
    assert store.schema_version("state") == 1
    assert store.schema_version("extra") == 2
    store.migrate("extra", ("CREATE TABLE extra_one (x INTEGER)", "CREATE TABLE extra_two (y INTEGER)"))  # no-op
    store.close()


def test_a_database_from_a_newer_riskmon_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("UPDATE schema_version SET version = 99 WHERE component = 'state'")
    with pytest.raises(StoreError, match="newer than this riskmon"):
        Store(tmp_path / "s.db")


def test_second_store_on_the_same_file_is_refused(tmp_path: Path) -> None:
    first = Store(tmp_path / "s.db")
    with pytest.raises(StoreLockedError, match=rf"in use by another riskmon process \(pid {os.getpid()}\)"):
        Store(tmp_path / "s.db")
    first.close()
    Store(tmp_path / "s.db").close()  # released


def test_monitoring_survives_a_database_locked_by_someone_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.db", busy_timeout_s=0.05)
    m = preset_monitor("basic", store=store)
    m.process(snap("2026-03-02T09:00:00+00:00", "100000"))
    intruder = sqlite3.connect(tmp_path / "s.db")
    intruder.execute("BEGIN EXCLUSIVE")
    evaluation = m.process(snap("2026-03-02T09:01:00+00:00", "100000", "95500"))  # alert opens: must be saved
    assert evaluation is not None and [e.rule for e in evaluation.events] == ["daily_loss"]
    assert "could not save state" in caplog.text
    intruder.rollback()
    intruder.close()
    m.process(snap("2026-03-02T09:02:00+00:00", "100000", "95400"))  # saved on the next snapshot
    stored = store.load_state("acc-1")
    assert stored is not None and stored.alerts == {"daily_loss": Severity.WARNING}
    store.close()


def test_a_locked_database_costs_a_snapshot_milliseconds_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.db")  # the default busy timeout, as `riskmon run` opens it
    m = preset_monitor("basic", store=store)
    m.process(snap("2026-03-02T09:00:00+00:00", "100000"))
    intruder = sqlite3.connect(tmp_path / "s.db")
    intruder.execute("BEGIN EXCLUSIVE")
    started = time.perf_counter()
    for minute, equity in ((1, "95500"), (2, "95400"), (3, "95300")):
        m.process(snap(f"2026-03-02T09:0{minute}:00+00:00", "100000", equity))
    assert time.perf_counter() - started < 1  # not 3 x the 5 s busy timeout
    assert caplog.text.count("could not save state") == 1
    intruder.rollback()
    intruder.close()
    m.process(snap("2026-03-02T09:04:00+00:00", "100000", "95300"))
    assert "state saved again" in caplog.text
    stored = store.load_state("acc-1")
    assert stored is not None and stored.alerts == {"daily_loss": Severity.WARNING}
    store.close()


def test_a_database_path_under_a_file_is_one_store_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(StoreError, match=r"riskmon\.db: .*afile is a file, not a folder$"):
        Store(tmp_path / "afile" / "deeper" / "riskmon.db")
