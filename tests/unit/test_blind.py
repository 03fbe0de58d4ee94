"""Never blind without an alarm (issue 15): freshness, clocks and bad values at the monitor's door."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from riskmon.clock import ManualClock
from riskmon.exporter import Exporter
from riskmon.metrics import Metrics, StateCollector
from riskmon.models import AlertEvent, AlertStatus, Order, Severity, Side
from riskmon.monitor import STALE_DATA, STATE_UNREADABLE, AccountMonitor, Evaluation
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel
from tests.builders import position, snap, ts

D = Decimal
NOW = ts("2026-03-02 10:00:00")
BOOK = PRESETS["ftmo-2step"].rulebook({})  # 100k: daily floor 95,000, overall 90,000


class Recorder:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def observe(self, evaluation: Evaluation) -> None:
        self.events += evaluation.events

    def notify(self, events: Sequence[AlertEvent]) -> None:
        self.events += events


class SplitClock(ManualClock):
    """A wall clock that can be set anywhere, and a monotonic clock that only moves forward with advance()."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._elapsed = 0.0

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> datetime:
        self._elapsed += seconds
        return super().advance(seconds)


def watch(clock: ManualClock, store: Store | None = None, observers: Sequence[Recorder] = ()) -> AccountMonitor:
    profile = AccountProfile("acc-1", BOOK, initial_balance=D(100000))
    return AccountMonitor(
        profile, store or Store(MEMORY), list(observers), clock=clock, stale_after=timedelta(seconds=30)
    )


# ---- finding 1: time, order and freshness ---------------------------------------------------------------


def test_an_older_snapshot_is_still_evaluated_for_equity() -> None:
    m = watch(ManualClock(NOW))
    m.process(snap("2026-03-02 10:00:00", "100000", "99000"))
    crash = m.process(snap("2026-03-02 09:59:57", "100000", "89000"))  # stamped 3 s before: still a crash
    assert crash is not None
    fired = {(e.rule, e.severity) for e in crash.events}
    assert ("max_loss", Severity.CRITICAL) in fired and ("daily_loss", Severity.CRITICAL) in fired
    assert m.state is not None and m.state.last_ts == ts("2026-03-02 10:00:00")  # time never runs back


def test_a_late_snapshot_may_raise_an_alert_but_never_relieve_one() -> None:
    m = watch(ManualClock(NOW))
    m.process(snap("2026-03-02 10:00:03", "100000", "91000"))  # a warning (a breach would be kept: latched)
    late = m.process(snap("2026-03-02 10:00:00", "100000", "100000"))  # an older, rosier state
    assert late is not None and late.events == ()
    assert m.state is not None and m.state.alerts["max_loss"] is Severity.WARNING
    newer = m.process(snap("2026-03-02 10:00:04", "100000", "100000"))
    assert newer is not None and {e.status for e in newer.events} == {AlertStatus.RESOLVED}


def test_history_beyond_the_late_window_is_refused_as_old() -> None:
    m = watch(ManualClock(NOW + timedelta(minutes=10)))
    m.process(snap("2026-03-02 10:10:00", "100000"))
    assert m.process(snap("2026-03-02 10:04:59.999999", "100000", "89000")) is None  # a replay read again
    assert m.refused == {"old": 1}
    assert m.process(snap("2026-03-02 10:05:00", "100000", "89000")) is not None  # exactly the window


def test_a_snapshot_from_the_future_is_refused_counted_and_never_saved(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    store = Store(tmp_path / "s.db")
    m = watch(clock, store)
    m.process(snap("2026-03-02 10:00:00", "100000"))
    assert m.process(snap("2036-03-02 10:00:00", "100000")) is None  # ten years ahead
    assert m.refused == {"future": 1}
    edge = m.process(snap((NOW + m.future_tolerance).isoformat(), "100000"))  # exactly the tolerance: accepted
    assert edge is not None
    assert m.process(snap((NOW + m.future_tolerance + timedelta(microseconds=1)).isoformat(), "100000")) is None
    assert m.refused == {"future": 2}
    saved = store.load_state("acc-1")
    assert saved is not None and saved.last_ts == NOW + m.future_tolerance and saved.trading_day is not None
    assert saved.trading_day.isoformat() == "2026-03-02"


def test_a_keepalive_is_evaluated_but_is_not_fresh_data() -> None:
    clock = ManualClock(NOW)
    m = watch(clock)
    m.process(snap("2026-03-02 10:00:00", "100000"))
    for _ in range(3):
        clock.advance(10.5)
        kept = m.process(snap("2026-03-02 10:00:00", "100000", "89000", keepalive=True))
        assert kept is not None  # evaluated: the floors are checked against what is known
    (event,) = m.check_staleness()
    assert (event.rule, event.status) == (STALE_DATA, AlertStatus.FIRING)
    again = m.process(snap("2026-03-02 10:00:00", "100000", keepalive=True))
    assert again is not None and all(e.rule != STALE_DATA for e in again.events)  # a keepalive resolves nothing
    back = m.process(snap("2026-03-02 10:00:40", "100000"))
    assert back is not None and (STALE_DATA, AlertStatus.RESOLVED) in {(e.rule, e.status) for e in back.events}


def test_freshness_runs_on_the_monotonic_clock_not_the_wall_clock() -> None:
    clock = SplitClock(NOW)
    m = watch(clock)
    m.process(snap("2026-03-02 10:00:00", "100000"))
    clock.set(NOW - timedelta(hours=1))  # the system clock is set back an hour: nothing is fresher for it
    clock.advance(31)
    assert m.is_stale()


def test_clock_skew_is_measured_and_exported() -> None:
    clock = ManualClock(NOW)
    registry = CollectorRegistry()
    m = watch(clock)
    registry.register(StateCollector(ReadModel([m])))
    m.process(snap("2026-03-02 09:59:57", "100000", received_at=NOW))
    labels = {"account": "acc-1", "platform": "replay"}
    assert registry.get_sample_value("riskmon_clock_skew_seconds", labels) == 3.0
    m.process(snap("2026-03-02 09:59:57", "100000", received_at=NOW + timedelta(seconds=20), keepalive=True))
    assert registry.get_sample_value("riskmon_clock_skew_seconds", labels) == 3.0  # a keepalive measures nothing


# ---- findings 8, 12, 14: bad values stop at the door -------------------------------------------------------


BAD = {
    "infinite equity": snap("2026-03-02 10:00:01", "100000", "Infinity"),
    "NaN equity": snap("2026-03-02 10:00:01", "100000", "NaN"),
    "infinite balance": snap("2026-03-02 10:00:01", "-Infinity", "100000"),
    "NaN margin": snap("2026-03-02 10:00:01", "100000", margin="NaN"),
    "negative margin": snap("2026-03-02 10:00:01", "100000", margin="-1"),
    "negative volume": snap("2026-03-02 10:00:01", "100000", positions=(position(volume="-1"),)),
    "NaN position price": snap("2026-03-02 10:00:01", "100000", positions=(position(price="NaN"),)),
    "negative order": snap(
        "2026-03-02 10:00:01", "100000", orders=(Order("o1", "EURUSD", Side.BUY, D("-0.5"), price=D(1)),)
    ),
    "year 1": snap("0001-01-01 00:00", "100000"),
    "year 9999": snap("9999-12-31 23:59", "100000"),
    "opened in year 1": snap("2026-03-02 10:00:01", "100000", positions=(position(opened_at="0001-01-01 00:00"),)),
}


@pytest.mark.parametrize("case", BAD)
def test_a_value_that_can_never_be_evaluated_is_refused_and_never_stored(case: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    m = watch(ManualClock(NOW), store)
    assert m.process(BAD[case]) is None
    assert sum(m.refused.values()) == 1
    assert store.load_state("acc-1") is None and m.state is None
    good = m.process(snap("2026-03-02 10:00:02", "100000"))  # and the account goes on being watched
    assert good is not None and all(r.severity is Severity.OK for r in good.results)


def test_refusals_are_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    m = watch(ManualClock(NOW))
    for _ in range(5):
        m.process(BAD["NaN equity"])
    assert m.refused == {"invalid": 5}
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "acc-1: snapshot refused, not evaluated nor saved: equity is NaN"
    ]


@pytest.mark.parametrize(
    "row",
    ["{not json", '{"account": "acc-1"}', "[]", '"text"'],
    ids=["not json", "missing fields", "a list", "a string"],
)
def test_a_corrupt_state_row_is_reported_by_its_account_while_the_others_run(row: str, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    clock = ManualClock(NOW)
    watch(clock, store).process(snap("2026-03-02 09:00", "100000"))
    store.db.execute(
        "INSERT INTO account_state (account, state) VALUES ('acc-2', ?)", (row,)
    )  # another account's row is garbage
    recorder = Recorder()
    good = watch(clock, store, [recorder])
    assert good.state is not None and good.state.trading_day is not None
    broken = AccountMonitor(AccountProfile("acc-2", BOOK, initial_balance=D(100000)), store, [recorder], clock=clock)
    assert recorder.events == []  # told once the service runs: its observers may not be ready before
    assert broken.process(snap("2026-03-02 10:00", "100000", account="acc-2")) is not None  # watched afresh
    assert [(e.account, e.rule, e.severity) for e in recorder.events] == [
        ("acc-2", STATE_UNREADABLE, Severity.CRITICAL)
    ]


def test_a_saved_non_finite_figure_is_unreadable_not_a_blind_max_loss(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    clock = ManualClock(NOW)
    watch(clock, store).process(snap("2026-03-02 09:00", "100000"))
    store.db.execute("UPDATE account_state SET state = json_set(state, '$.equity_high', 'Infinity')")
    recorder = Recorder()
    m = watch(clock, store, [recorder])
    breach = m.process(snap("2026-03-02 10:00", "100000", "89000"))
    assert recorder.events[0].rule == STATE_UNREADABLE
    assert breach is not None and breach.result("max_loss") is not None
    assert breach.result("max_loss").severity is Severity.CRITICAL  # type: ignore[union-attr]


# ---- finding 3: a scrape never holds the loop --------------------------------------------------------------


class ThreadProbe:
    """A collector that records which thread collected it."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def collect(self) -> list[Metric]:
        self.threads.append(threading.get_ident())
        return [GaugeMetricFamily("probe", "probe", value=1)]


async def test_a_scrape_renders_off_the_loop_from_a_view_captured_on_it() -> None:
    clock = ManualClock(NOW)
    registry = CollectorRegistry()
    probe = ThreadProbe()
    registry.register(probe)
    profiles = [AccountProfile(f"acc-{n}", BOOK, initial_balance=D(100000)) for n in range(3)]
    metrics = Metrics(profiles, registry)
    monitors = [AccountMonitor(p, Store(MEMORY), [metrics], clock=clock) for p in profiles]
    state = StateCollector(ReadModel(monitors))
    for m in monitors:
        m.process(snap("2026-03-02 10:00", "100000", account=m.profile.account))
    view = state.model.capture()
    monitors[0].process(snap("2026-03-02 10:00:01", "100000", "91000", account="acc-0"))
    assert view.accounts[0].last is not None and view.accounts[0].last.snapshot.equity == D(100000)  # immutable
    with pytest.raises(AttributeError):
        view.accounts[0].stale = True  # type: ignore[misc]
    async with Exporter(registry, state.model, port=0) as exporter:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(url)
    assert (
        response.status_code == 200
        and 'riskmon_equity{account="acc-0",currency="USD",platform="replay"} 91000.0' in response.text
    )
    assert probe.threads and threading.main_thread().ident not in probe.threads  # rendered in a worker thread
    assert asyncio.get_running_loop().is_running()


async def test_a_family_by_family_exposition_is_still_one_valid_document() -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
    from prometheus_client.parser import text_string_to_metric_families

    clock = ManualClock(NOW)
    registry = CollectorRegistry()
    profiles = [AccountProfile(f"acc-{n}", BOOK, initial_balance=D(100000)) for n in range(2)]
    metrics = Metrics(profiles, registry)
    monitors = [AccountMonitor(p, Store(MEMORY), [metrics], clock=clock) for p in profiles]
    for m in monitors:
        m.process(snap("2026-03-02 10:00", "100000", account=m.profile.account))
    exporter = Exporter(registry, ReadModel(monitors), port=0)
    async with exporter, httpx.AsyncClient(trust_env=False) as client:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        accept = {"Accept": "application/openmetrics-text;version=1.0.0", "Accept-Encoding": "gzip"}
        om = (await client.get(url, headers=accept)).text
        text = (await client.get(url, headers={"Accept-Encoding": "identity"})).text
    assert om.count("# EOF") == 1 and om.endswith("# EOF\n")
    names = [f.name for f in openmetrics_families(om)]
    assert len(names) == len(set(names)) and "riskmon_equity" in names and "riskmon_alerts_fired" in names
    assert "# EOF" not in text
    plain = [f.name for f in text_string_to_metric_families(text)]
    assert len(plain) == len(set(plain)) and "riskmon_snapshots_refused" in plain


# ---- finding 16: no false recovery before the quotes arrive -----------------------------------------------


def test_a_restart_before_quotes_arrive_resolves_nothing(tmp_path: Path) -> None:
    book = PRESETS["ftmo-2step"].rulebook({"position_size": {"enabled": True}})
    profile = AccountProfile("acc-1", book, initial_balance=D(100000))
    store = Store(tmp_path / "s.db")
    clock = ManualClock(NOW)
    big = snap("2026-03-02 10:00", "100000", positions=(position(notional="900000"),))
    fired = AccountMonitor(profile, store, clock=clock).process(big)
    assert fired is not None and [(e.rule, e.status) for e in fired.events] == [("position_size", AlertStatus.FIRING)]
    restarted = AccountMonitor(profile, store, clock=clock)
    loading = snap("2026-03-02 10:00:05", "100000", positions=(position(notional=None, price=None),))
    first = restarted.process(loading)
    assert first is not None and first.events == ()  # no false "resolved" while the size is unknown
    priced = restarted.process(snap("2026-03-02 10:00:06", "100000", positions=(position(notional="10000"),)))
    assert priced is not None and [(e.rule, e.status) for e in priced.events] == [
        ("position_size", AlertStatus.RESOLVED)
    ]
    fresh = AccountMonitor(AccountProfile("acc-2", book, initial_balance=D(100000)), store, clock=clock)
    unknown = fresh.process(snap("2026-03-02 10:00:05", "100000", account="acc-2", positions=loading.positions))
    assert unknown is not None and unknown.events == ()  # and no false alarm either


def test_room_left_is_known_from_the_last_snapshot_or_the_saved_state(tmp_path: Path) -> None:
    """What a platform loads first after a (re)connect: the least room left before a floor, from the last
    evaluation, or at start-up from the saved state (the day's lowest equity); nothing known: None."""
    store = Store(tmp_path / "riskmon.db")
    profile = AccountProfile("acc-1", BOOK, initial_balance=D(100000))
    monitor = AccountMonitor(profile, store, clock=ManualClock(NOW))
    assert monitor.room_left() is None
    monitor.process(snap("2026-03-02 09:00", "100000", "100000"))
    assert monitor.room_left() == 1
    monitor.process(snap("2026-03-02 09:30", "100000", "96000"))  # 4,000 of the 5,000 daily allowance lost
    assert monitor.room_left() == D("0.2")
    monitor.process(snap("2026-03-02 09:59", "100000", "99000"))
    assert monitor.room_left() == D("0.8")
    store.close()
    reopened = Store(tmp_path / "riskmon.db")
    restarted = AccountMonitor(profile, reopened, clock=ManualClock(NOW))
    assert restarted.room_left() == D("0.2")  # the day's worst, as saved: no snapshot yet since the restart
    assert AccountMonitor(AccountProfile("acc-2", BOOK), reopened, clock=ManualClock(NOW)).room_left() is None
    reopened.close()
