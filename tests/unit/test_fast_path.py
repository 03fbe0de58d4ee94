"""The rule fast path: a snapshot the gate lets through changes no verdict, raises no alert and moves no rule's
memory. Over random snapshot streams, a monitor with the fast path gives the same events, on the same snapshots,
as one running the full engine on every snapshot, and the same state at every full evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmon.enforce.plan import flatten_trigger, trigger_band
from riskmon.enforce.spec import Mode, Policy
from riskmon.engine import equity_band, evaluate
from riskmon.models import AccountSnapshot, AlertEvent, Position, Side
from riskmon.monitor import REFRESH, AccountMonitor, Evaluation
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from tests.builders import D, position, snap, ts
from tests.unit.test_rule_plugins import EVERYTHING

BOOKS = [(name, p.rulebook(EVERYTHING if name == "basic" else {})) for name, p in PRESETS.items()]
START = datetime(2026, 3, 5, 12, tzinfo=UTC).timestamp()  # news windows on the 5th and 6th


class Events:
    def __init__(self) -> None:
        self.seen: list[AlertEvent] = []

    def observe(self, evaluation: Evaluation) -> None:
        self.seen.extend(evaluation.events)

    def notify(self, events: Sequence[AlertEvent]) -> None:
        self.seen.extend(events)


def monitor(name: str, refresh: timedelta | None, day_lows: bool = True) -> tuple[AccountMonitor, Events]:
    book = dict(BOOKS)[name]
    initial = PRESETS[name].initial_balance or D(100000)
    events = Events()
    profile = AccountProfile("acc-1", book, initial_balance=initial)
    return AccountMonitor(profile, Store(MEMORY), [events], refresh=refresh, day_lows=day_lows), events


def figures(event: AlertEvent) -> tuple[object, ...]:
    return (event.rule, event.severity, event.status, event.observed, event.limit, event.message, event.ts)


# (seconds, equity move in money, what else happens): mostly ticks a second apart moving a few units, with
# jumps, hours-long gaps (resets, windows), late snapshots, trades, keepalives and margin changes among them.
STEP = st.tuples(
    st.one_of(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 4 * 3600), st.integers(-90, -1)),
    st.one_of(st.integers(-5, 5), st.integers(-5, 5), st.integers(-5, 5), st.integers(-1500, 1500)),
    st.sampled_from(["hold"] * 12 + ["open", "close", "trade", "keepalive", "margin", "history"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, len(BOOKS) - 1),
    steps=st.lists(STEP, min_size=1, max_size=80),
    refresh=st.sampled_from([REFRESH, timedelta(minutes=10), timedelta(days=1)]),
    day_lows=st.booleans(),
)
def test_fast_path_gives_the_full_engines_events_on_every_snapshot(
    which: int, steps: list[tuple[int, int, str]], refresh: timedelta, day_lows: bool
) -> None:
    name = BOOKS[which][0]
    fast, fast_events = monitor(name, refresh, day_lows)
    full, full_events = monitor(name, None)
    initial = PRESETS[name].initial_balance or D(100000)
    at, balance, floating, margin = START, initial, Decimal(0), Decimal(2000)
    held: tuple[Position, ...] = ()
    realized: Decimal | None = None  # the platform's closed P&L today, once its history is read
    for n, (gap, move, what) in enumerate(steps):
        at += gap
        floating += Decimal(move)
        keepalive = what == "keepalive"
        if what == "open":
            held += (position(f"p{n}", volume="1", notional="150000", opened_at=None),)
        elif what == "close" and held:
            balance, floating, held = balance + floating, Decimal(0), held[1:]
        elif what == "trade":
            balance += Decimal(move) * 3
        elif what == "margin":
            margin += 100
        elif what == "history":
            realized = Decimal(move) * 7
        if not held:
            floating = Decimal(0)
        # Prices move with equity, as on a platform: a price-watching rule sees every tick.
        moved = tuple(
            Position(p.id, p.symbol, Side.BUY, p.volume, price=D("1.1") + floating / 100000, notional=p.notional)
            for p in held
        )
        current: AccountSnapshot = snap(
            datetime.fromtimestamp(at, UTC).isoformat(), balance, balance + floating, margin=str(margin),
            positions=moved, keepalive=keepalive, realized_today=realized,
        )  # fmt: skip
        before = len(fast_events.seen), len(full_events.seen)
        by_fast = fast.process(current)
        by_full = full.process(current)
        new_fast = [figures(e) for e in fast_events.seen[before[0] :]]
        new_full = [figures(e) for e in full_events.seen[before[1] :]]
        assert new_fast == new_full, (n, name)
        assert (fast.state.alerts if fast.state else None) == (full.state.alerts if full.state else None)
        if by_fast is not None:  # a full evaluation: the very state the full engine has
            assert by_full is not None and by_fast.state == by_full.state, (n, name)
            assert [r.severity for r in by_fast.results] == [r.severity for r in by_full.results]


def test_a_tick_inside_the_band_is_steady_and_one_at_the_warning_level_is_evaluated() -> None:
    fast, events = monitor("ftmo-2step", REFRESH)
    held = (position("1"),)
    first = fast.process(snap("2026-03-02 12:00:00", "100000", "99000", positions=held))
    assert first is not None  # the first snapshot is always evaluated in full
    # A new low for the day is evaluated in full (the daily summary's worst point)...
    assert fast.process(snap("2026-03-02 12:00:01", "100000", "96000.01", positions=held)) is not None
    # ... and a tick above it inside the band (daily floor 95,000, warning at 96,000) is not.
    assert fast.process(snap("2026-03-02 12:00:01", "100000", "96000.02", positions=held)) is None
    assert fast.steady == 1 and events.seen == []
    warned = fast.process(snap("2026-03-02 12:00:02", "100000", "96000", positions=held))
    assert warned is not None and [e.rule for e in events.seen] == ["daily_loss"]
    assert warned.state.day_low_equity == D("96000") and warned.state.last_ts == ts("2026-03-02 12:00:02")
    assert fast.process(snap("2026-03-02 12:00:02", "100000", "101000", positions=held)) is not None  # resolved
    assert fast.process(snap("2026-03-02 12:00:02", "100000", "101500", positions=held)) is None  # a new high
    high = fast.process(snap("2026-03-02 12:00:03", "100000", "96000", positions=held))
    assert high is not None and high.state.equity_high == D(101500)  # taken from the snapshot let through


def test_the_gate_lets_nothing_through_that_the_rules_watch() -> None:
    fast, _ = monitor("ftmo-2step", REFRESH)
    held = (position("1"),)
    assert fast.process(snap("2026-03-02 12:00:00", "100000", "99000", positions=held)) is not None
    closed = snap("2026-03-02 12:00:01", "99500", "99000", positions=held)  # balance moved
    assert fast.process(closed) is not None
    other = (position("2"),)
    assert fast.process(snap("2026-03-02 12:00:02", "99500", "99000", positions=other)) is not None
    assert fast.process(snap("2026-03-02 12:00:03", "99500", "99001", positions=other)) is None
    # The periodic refresh: a full evaluation at least every REFRESH of snapshot time.
    later = datetime(2026, 3, 2, 12, 0, 2, tzinfo=UTC) + REFRESH
    assert fast.process(snap(later.isoformat(), "99500", "99001", positions=other)) is not None
    # The day's reset (00:00 Prague, 23:00 UTC).
    assert fast.process(snap("2026-03-02 22:59:59", "99500", "99001", positions=other)) is not None
    assert fast.process(snap("2026-03-02 23:00:00", "99500", "99001", positions=other)) is not None
    assert fast.state is not None and str(fast.state.trading_day) == "2026-03-03"


def test_full_engine_only_without_refresh() -> None:
    full, _ = monitor("ftmo-2step", None)
    for second in range(3):
        assert full.process(snap(f"2026-03-02 12:00:0{second}", "100000", "99000")) is not None
    assert full.steady == 0


@settings(max_examples=100, deadline=None)
@given(
    which=st.integers(0, len(BOOKS) - 1),
    floating=st.integers(-9000, 2000),
    at_used=st.sampled_from([None, D("0.5"), D("0.9")]),
    below=st.sampled_from([None, D("500"), D("2000")]),
    probes=st.lists(st.floats(0, 1, exclude_min=True, exclude_max=True), min_size=1, max_size=6),
)
def test_inside_the_enforcers_band_its_flatten_decision_stands(
    which: int, floating: int, at_used: Decimal | None, below: Decimal | None, probes: list[float]
) -> None:
    name = BOOKS[which][0]
    full, _ = monitor(name, None)
    initial = PRESETS[name].initial_balance or D(100000)
    held = (position("p", volume="1", notional="150000"),)
    ev = full.process(snap("2026-03-05 12:00", initial, initial + floating, margin="2000", positions=held))
    assert ev is not None
    policy = Policy(mode=Mode.LIVE, flatten_at_used=at_used, flatten_room_below=below)
    band = trigger_band(ev, policy) & equity_band(full.profile.rules, ev.snapshot, ev.state)  # as the gate
    before = flatten_trigger(ev, policy)
    low, high = max(band.low, ev.snapshot.equity - 20000), min(band.high, ev.snapshot.equity + 20000)
    for share in probes:
        equity = (low + (high - low) * Decimal(share)).quantize(D("0.01"))
        if not band.holds(equity):
            continue
        moved = replace(ev.snapshot, equity=equity)
        again = replace(ev, snapshot=moved, results=evaluate(full.profile.rules, moved, ev.state))
        after = flatten_trigger(again, policy)
        assert (None if before is None else before[0].rule) == (None if after is None else after[0].rule)
