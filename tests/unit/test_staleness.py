"""The blind-spot alarm: stale_data fires once when data stops, resolves when it returns."""

from __future__ import annotations

from datetime import timedelta

from riskmon.clock import ManualClock
from riskmon.models import AlertStatus, Severity
from riskmon.monitor import LOADING, STALE_DATA, AccountMonitor
from riskmon.profile import AccountProfile
from riskmon.store import MEMORY, Store
from tests.builders import snap, ts


def monitor(clock: ManualClock, store: Store | None = None) -> AccountMonitor:
    return AccountMonitor(
        AccountProfile("acc-1"), store or Store(MEMORY), clock=clock, stale_after=timedelta(seconds=30)
    )


def test_fires_once_after_the_limit_and_resolves_with_data() -> None:
    clock = ManualClock(ts("2026-03-02 10:00:00"))
    m = monitor(clock)
    m.process(snap("2026-03-02 10:00:00", "100000"))
    clock.advance(30)
    assert m.check_staleness() == ()  # exactly the limit: not yet stale
    clock.advance(0.5)
    (event,) = m.check_staleness()
    assert (event.rule, event.severity, event.status) == (STALE_DATA, Severity.CRITICAL, AlertStatus.FIRING)
    assert event.ts == clock.now() and "cannot see this account" in event.message
    clock.advance(60)
    assert m.check_staleness() == ()  # once, not every check
    back = m.process(snap("2026-03-02 10:01:31", "100000"))
    assert back is not None
    assert [(e.rule, e.status) for e in back.events] == [(STALE_DATA, AlertStatus.RESOLVED)]


def test_an_account_that_never_sent_data_is_loading_then_a_blind_spot_too() -> None:
    clock = ManualClock(ts("2026-03-02 10:00:00"))
    m = monitor(clock)
    clock.advance(300)
    assert m.loading and not m.is_stale() and m.check_staleness() == ()  # 10 × STALE_AFTER to load
    clock.advance(0.5)
    (event,) = m.check_staleness()
    assert (event.rule, event.severity, event.status) == (LOADING, Severity.CRITICAL, AlertStatus.FIRING)
    assert "no data yet, 300 s after watching began" in event.message
    first = m.process(snap("2026-03-02 10:05:00", "100000"))
    assert first is not None and [(e.rule, e.status) for e in first.events] == [(LOADING, AlertStatus.RESOLVED)]
    assert not m.loading


def test_open_stale_alert_survives_a_restart(tmp_path: object) -> None:
    from pathlib import Path

    db = Path(str(tmp_path)) / "s.db"
    clock = ManualClock(ts("2026-03-02 10:00:00"))
    store = Store(db)
    m = monitor(clock, store)
    m.process(snap("2026-03-02 10:00:00", "100000"))
    clock.advance(45)
    assert m.check_staleness()
    store.close()
    restarted = monitor(clock, Store(db))
    resumed = restarted.process(snap("2026-03-02 10:00:50", "100000"))
    assert resumed is not None and [(e.rule, e.status) for e in resumed.events] == [(STALE_DATA, AlertStatus.RESOLVED)]
