"""The blind-spot alarm: stale_data fires once when data stops, resolves when it returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

from riskmon.backoff import Backoff
from riskmon.clock import ManualClock
from riskmon.config import load_config
from riskmon.errors import AuthenticationError
from riskmon.models import AccountSnapshot, AlertEvent, AlertStatus, Severity
from riskmon.monitor import LOADING, STALE_DATA, AccountMonitor, Evaluation
from riskmon.platforms.sim import SimMarket, SimTrader
from riskmon.profile import AccountProfile
from riskmon.service import Platform, Service
from riskmon.store import MEMORY, Store
from tests.builders import snap, ts
from tests.faults.harness import eventually


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


class Recorder:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def observe(self, evaluation: Evaluation) -> None:
        self.events += evaluation.events

    def notify(self, events: Sequence[AlertEvent]) -> None:
        self.events += events


class RefusedFeed:
    """A platform whose credentials are refused at every start (cTrader's CH_CLIENT_AUTH_FAILURE)."""

    def __init__(self) -> None:
        self.starts = 0

    @property
    def connected(self) -> bool:
        return False

    async def snapshots(self) -> AsyncIterator[AccountSnapshot]:
        self.starts += 1
        raise AuthenticationError("cTrader refused the application credentials: CH_CLIENT_AUTH_FAILURE")
        yield  # an async generator that never yields


async def test_a_feed_refused_at_every_start_is_retried_and_the_alarm_names_why(tmp_path: Path) -> None:
    """Issue 15: auth refusals back off and retry with an alert. The blind-spot alarm says what the service
    knows: the feed failed and why, not only "no data"."""
    config = load_config(None, environ={"PLATFORM": "sim", "ACCOUNT_ID": "acc-1", "RISKMON_DB": str(tmp_path / "x")})
    feed, seen = RefusedFeed(), Recorder()
    platform = Platform("ctrader", feed, SimTrader(SimMarket(("acc-1",))), ("acc-1",), timedelta(seconds=0.05))
    service = Service(
        config, Store(MEMORY), [platform], [seen], backoff=Backoff(0.01, 0.02, jitter=0), watch_interval=0.02
    )
    task = asyncio.create_task(service.run())
    try:
        await eventually(lambda: any(e.rule == LOADING for e in seen.events), within=10, what="the loading alarm")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    (alarm,) = [e for e in seen.events if e.rule == LOADING]
    assert alarm.severity is Severity.CRITICAL and alarm.status is AlertStatus.FIRING
    assert "the ctrader feed failed (AuthenticationError: cTrader refused the application credentials" in alarm.message
    assert "retrying with back-off" in alarm.message and feed.starts >= 2  # retried, never given up
