"""One account's monitor: owns its state, runs the engine on each snapshot, hands the outcome on.

``process`` is synchronous and does no network I/O: observers (console, Telegram outbox, metrics,
enforcer) receive the ``Evaluation`` and schedule their own side effects, so nothing they do can
stall the next snapshot.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Protocol

from riskmon.clock import Clock, SystemClock
from riskmon.engine import Gate, advance, evaluate, gate, track
from riskmon.models import AccountSnapshot, AlertEvent, AlertStatus, RuleResult, Severity, snapshot_problem
from riskmon.profile import AccountProfile
from riskmon.rules.base import Band
from riskmon.rules.stale_data import LOADING, STALE_DATA, STATE_UNREADABLE, STATE_UNSAVED
from riskmon.state import AccountState
from riskmon.store import TRANSIENT_GRACE_S, Store, is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of evaluating one snapshot."""

    profile: AccountProfile
    snapshot: AccountSnapshot
    state: AccountState
    results: tuple[RuleResult, ...]
    events: tuple[AlertEvent, ...]
    elapsed_s: float  # time spent in the engine

    def result(self, rule: str) -> RuleResult | None:
        return next((r for r in self.results if r.rule == rule), None)


class Observer(Protocol):
    """Receives every evaluation, and the alerts raised outside one (stale data, enforcement).

    Both must return quickly: queue slow work, never await the network here.
    """

    def observe(self, evaluation: Evaluation) -> None: ...

    def notify(self, events: Sequence[AlertEvent]) -> None: ...


class Annotator(Protocol):
    """Completes the alert events before observers see them (the enforcer's ``action``). Pure and quick.

    ``band`` says within which equities its own decisions on the account cannot change with nothing else
    moving (the fast path's gate takes it in), or None when it must see every snapshot."""

    def annotate(self, evaluation: Evaluation) -> Evaluation: ...

    def band(self, evaluation: Evaluation) -> Band | None: ...


BLINDNESS = (STALE_DATA, LOADING)
LOADING_FACTOR = 10  # start-up allowance: this many times STALE_AFTER (1,000 cTrader accounts load in minutes)
# A platform clock may run a little ahead of ours; a snapshot further ahead than this is refused: saved, it
# would become the account's trading day and "latest" time across restarts.
FUTURE_TOLERANCE = timedelta(minutes=2)
# A snapshot older than the newest seen (a platform mixing clocks, a reload stamped before its requests) is
# evaluated when it is this recent: it may raise an alert, never relieve one a newer snapshot raised. Older
# ones (a replay file read again from its start) are history: refused and counted.
LATE_WINDOW = timedelta(minutes=5)
# The fast path's longest stretch without a full evaluation (snapshot time): how far behind the table, metrics
# and saved state may be while nothing changes (the state is saved every 10 s anyway). A verdict that changes
# is always evaluated at once.
REFRESH = timedelta(seconds=10)


def too_silent(silence_s: float, allowance: timedelta | None) -> bool:
    """The one staleness test: silent (seconds since fresh data) for longer than the allowance."""
    return allowance is not None and silence_s > allowance.total_seconds()


def _no_relief(result: RuleResult, open_alerts: dict[str, Severity]) -> RuleResult:
    """A late snapshot's verdict, never milder than the open alert a newer snapshot raised."""
    before = open_alerts.get(result.rule)
    return result._replace(severity=before) if before is not None and result.severity < before else result


class AccountMonitor:
    def __init__(
        self,
        profile: AccountProfile,
        store: Store,
        observers: Sequence[Observer] = (),
        persist_interval: timedelta = timedelta(seconds=10),
        clock: Clock | None = None,
        stale_after: timedelta | None = None,
        annotators: Sequence[Annotator] = (),
        future_tolerance: timedelta = FUTURE_TOLERANCE,
        loading_after: timedelta | None = None,
        refresh: timedelta | None = None,
        day_lows: bool = True,
    ) -> None:
        """``refresh`` turns the fast path on (``REFRESH`` in the service and replay): a snapshot that cannot
        change any verdict (see ``engine.Gate``) is only counted, and the full engine runs at least that often
        (snapshot time). None evaluates every snapshot in full. ``day_lows`` evaluates each new low of the day's
        equity in full, for observers that report it (the daily summary's closest approach to a floor)."""
        self.profile = profile
        self.store = store
        self.observers = list(observers)
        self.annotators = list(annotators)
        self.persist_interval = persist_interval
        self.clock = clock or SystemClock()
        self.stale_after = stale_after
        self.loading_after = loading_after or (stale_after and stale_after * LOADING_FACTOR)
        self.loading = True  # no fresh data yet: neither fresh nor stale until the loading allowance is spent
        self.future_tolerance = future_tolerance
        self.last_data = self.clock.monotonic()  # when fresh data last arrived (or when watching began)
        self.skew: timedelta | None = None  # riskmon's clock minus the platform's stamp, at the last fresh data
        # Snapshots refused, by reason ("invalid", "future", "old"). Replaced, never edited: a scrape may hold it.
        self.refused: Mapping[str, int] = {}
        self._refusing: set[str] = set()  # reasons already logged since the last accepted snapshot
        self.last: Evaluation | None = None  # the last evaluation of a snapshot
        self.refresh = refresh
        self.day_lows = day_lows
        self._gate: Gate | None = None  # the fast path's gate, after the last full evaluation
        self._steady: AccountSnapshot | None = None  # the newest snapshot the gate let through, not yet folded
        self._steady_low = self._steady_high = Decimal(0)  # the extremes of the equities it let through since
        self.steady = 0  # snapshots the gate let through (no verdict could change)
        self._untold: list[AlertEvent] = []  # raised while being built: told once the service runs
        self.state: AccountState | None = self._load()
        self._open_alerts: dict[str, Severity] = dict(self.state.alerts) if self.state else {}
        self._persisted: AccountState | None = self.state
        self._unsaved_since: float | None = None  # monotonic time saving began to fail
        # The state cannot be saved (read-only or full disk, deleted file, or a lock held for long): the
        # ``state_unsaved`` alarm is up for the current outage. The one test for the alarm, /healthz and the metric.
        self.unsaved = False
        if self.state is not None:
            log.info(
                "%s: resumed state for trading day %s (anchor %s, %d open alerts)",
                profile.name,
                self.state.trading_day,
                self.state.day_start_balance,
                len(self.state.alerts),
            )

    def _load(self) -> AccountState | None:
        """The saved state; an unreadable one is reported (log line, CRITICAL alert) and this account starts
        afresh with estimated anchors, while every other account goes on as usual."""
        account = self.profile.account
        try:
            return self.store.load_state(account)
        except ValueError as exc:
            log.error("%s: saved state is unreadable (%s); starting afresh with estimated day anchors", account, exc)
            message = f"saved state is unreadable ({exc}): day anchors and high-water marks are estimated afresh"
            self._untold.append(self._riskmon_alert(STATE_UNREADABLE, AlertStatus.FIRING, message))
            return None

    def _riskmon_alert(self, rule: str, status: AlertStatus, message: str) -> AlertEvent:
        """A CRITICAL alert about riskmon itself, outside any rule."""
        return AlertEvent(
            self.profile.account, rule, Severity.CRITICAL, status, Decimal(0), Decimal(0), message,
            self.clock.now(), label=self.profile.label,
        )  # fmt: skip

    def _announce(self, rule: str, status: AlertStatus, message: str) -> None:
        self.publish_events((self._riskmon_alert(rule, status, message),))

    def tell_untold(self) -> tuple[AlertEvent, ...]:
        """Alerts raised while the monitor was built (observers may not have been ready), once; the first
        snapshot or staleness check publishes them if nobody asked sooner."""
        untold, self._untold = tuple(self._untold), []
        if untold:
            self.publish_events(untold)
        return untold

    def process(self, snap: AccountSnapshot) -> Evaluation | None:
        """Evaluate one snapshot, in or out of order (time never runs back in the state: the engine keeps
        the newest; a late one may raise alerts, never relieve them). A snapshot that cannot be trusted
        (invalid, from the future, or far older than the newest) is refused, counted and never saved: None.
        With the fast path on, a snapshot inside the gate of the last full evaluation changes no verdict and
        raises no alert: it is counted in ``steady``, folded into the state with the next full evaluation,
        and None is returned."""
        if self._untold:
            self.tell_untold()
        try:
            admitted = self._gate is not None and self._gate.admits(snap)
        except InvalidOperation:  # a NaN equity: the full path refuses it
            admitted = False
        if admitted:
            equity = snap.equity
            if self._steady is None:
                self._steady_low = self._steady_high = equity
            elif equity > self._steady_high:
                self._steady_high = equity
            elif equity < self._steady_low:
                self._steady_low = equity
            self._steady = snap
            self.steady += 1
            self._fresh(snap)
            return None
        problem = snapshot_problem(snap)
        reason = "invalid"
        steady = self._steady
        newest = steady.ts if steady is not None else self.state.last_ts if self.state is not None else None
        late = newest is not None and snap.ts < newest
        if problem is None and snap.ts - self.clock.now() > self.future_tolerance:
            reason = "future"
            problem = (
                f"timestamp {snap.ts.isoformat()} is ahead of riskmon's clock by more than {self.future_tolerance}"
            )
        elif problem is None and newest is not None and newest - snap.ts > LATE_WINDOW:
            reason = "old"
            problem = f"timestamp {snap.ts.isoformat()} is older than the newest seen by more than {LATE_WINDOW}"
        if problem is not None:
            self._refuse(reason, problem)
            return None
        if self._refusing:
            self._refusing.clear()
        started = time.perf_counter()
        self._fresh(snap)
        previous = self.state or AccountState.fresh(
            snap.account, self.profile.initial_balance if self.profile.initial_balance is not None else snap.balance
        ).with_alerts(self._open_alerts)
        steady, self._steady = self._steady, None
        if steady is not None:  # the last snapshot let through, folded in as the full engine would have
            problem = snapshot_problem(steady)  # the figures the gate did not compare, before they reach a rule
            if problem is None:  # the day's low and the equity high, as the snapshots let through moved them
                low, high = min(previous.day_low_equity, self._steady_low), max(previous.equity_high, self._steady_high)
                previous = replace(previous, day_low_equity=low, equity_high=high)
                previous = advance(previous, steady, self.profile.calendar, rules=self.profile.rules)
            else:  # refused after all: counted as refused, not as let through
                self.steady -= 1
                self._refuse("invalid", problem)
        state = advance(previous, snap, self.profile.calendar, rules=self.profile.rules)
        results = evaluate(self.profile.rules, snap, state)
        if late:
            results = tuple(_no_relief(result, state.alerts) for result in results)
        if not snap.keepalive:
            results += tuple(self._freshness(rule, Severity.OK) for rule in BLINDNESS if rule in state.alerts)
        tracked = track(state.alerts, results, snap.account, snap.ts, label=self.profile.label)
        state = state.with_alerts(tracked.alerts)
        self.state = state
        self._persist(state)
        evaluation = Evaluation(self.profile, snap, state, results, tracked.events, time.perf_counter() - started)
        for annotator in self.annotators:
            evaluation = annotator.annotate(evaluation)
        self._gate = self._next_gate(evaluation, late)
        self.last = evaluation
        self._publish(evaluation)
        return evaluation

    def _next_gate(self, evaluation: Evaluation, late: bool) -> Gate | None:
        """The fast path's gate after a full evaluation. None while the state cannot be saved (each snapshot
        retries), an alarm of blindness is open (the next fresh snapshot resolves it), or an annotator must
        see every snapshot (the enforcer while it acts)."""
        state, snap = evaluation.state, evaluation.snapshot
        blind = any(rule in state.alerts for rule in BLINDNESS)
        if self.refresh is None or late or blind or self._unsaved_since is not None:
            return None
        until = min(snap.ts + self.refresh, self.clock.now() + self.future_tolerance)
        found = gate(self.profile.rules, snap, state, self.profile.calendar, until, self.day_lows)
        for annotator in self.annotators:
            if found is None:
                return None
            band = annotator.band(evaluation)
            if band is None:
                return None
            found.low, found.high = max(found.low, band.low), min(found.high, band.high)
        return found

    def _fresh(self, snap: AccountSnapshot) -> None:
        """Fresh data arrived (a keepalive is not fresh data)."""
        if not snap.keepalive:
            self.last_data = self.clock.monotonic()
            self.loading = False
            if snap.received_at is not None:
                self.skew = snap.received_at - snap.ts

    def _refuse(self, reason: str, problem: str) -> None:
        self.refused = {**self.refused, reason: self.refused.get(reason, 0) + 1}
        if reason not in self._refusing:  # one line per episode; every refusal is counted
            self._refusing.add(reason)
            log.warning("%s: snapshot refused, not evaluated nor saved: %s", self.profile.name, problem)

    def room_left(self) -> Decimal | None:
        """The share of the nearest loss allowance still left at the last known figures (1 untouched, 0 at
        the floor, below 0 beyond it): after the last snapshot, or before any, at the lowest equity of the
        day the saved state remembers. None when nothing is known. What a platform loads first."""
        results = self.last.results if self.last is not None else self._saved_results
        return min((1 - r.used for r in results if r.floor is not None and r.used is not None), default=None)

    @cached_property
    def _saved_results(self) -> tuple[RuleResult, ...]:
        state = self.state
        if state is None or state.last_balance is None or state.last_ts is None:
            return ()
        equity = state.day_low_equity if state.day_low_equity > 0 else state.last_balance
        snap = AccountSnapshot(self.profile.account, state.last_balance, equity, state.last_ts, self.profile.platform)
        return evaluate(self.profile.rules, snap, state)

    @property
    def allowance(self) -> timedelta | None:
        """The silence allowed now: ``loading_after`` while the account has had no fresh data since watching
        began, ``stale_after`` once it has."""
        return self.loading_after if self.loading else self.stale_after

    def is_stale(self) -> bool:
        """No fresh data for longer than the allowance (alarm, /healthz, metrics, the read model)."""
        return too_silent(self.silence(), self.allowance)

    def silence(self) -> float:
        """Seconds since fresh data last arrived (monotonic: a clock change cannot hide or fake silence)."""
        return self.clock.monotonic() - self.last_data

    def check_staleness(self, publish: bool = True, cause: str = "") -> tuple[AlertEvent, ...]:
        """Fire ``stale_data`` once when no fresh data has come for longer than ``stale_after``, or
        ``loading`` when none has come since watching began for longer than ``loading_after``.

        Either resolves with the next fresh snapshot. ``publish`` False leaves the events to the caller
        (the service's watchdog sends one batch for every account it checked). ``cause``, when the caller
        knows it (a feed failing, a connection down), completes the message.
        """
        self.tell_untold()
        alerts = self.state.alerts if self.state else self._open_alerts
        if any(rule in alerts for rule in BLINDNESS) or not self.is_stale():
            return ()
        now = self.clock.now()
        result = self._freshness(LOADING if self.loading else STALE_DATA, Severity.CRITICAL)
        if cause:
            result = result._replace(describe=f"{result.message}: {cause}")
        tracked = track(alerts, [result], self.profile.account, now, self.profile.label)
        self._gate = None  # the next fresh snapshot resolves the alarm: a full evaluation
        if self.state is not None:
            self.state = self.state.with_alerts(tracked.alerts)
            self._persist(self.state)
        else:
            self._open_alerts = tracked.alerts
        if publish:
            self.publish_events(tracked.events)
        return tracked.events

    def _freshness(self, rule: str, severity: Severity) -> RuleResult:
        limit = (self.loading_after if rule == LOADING else self.stale_after) or timedelta(0)
        age = 0.0 if severity is Severity.OK else self.silence()
        if severity is Severity.OK:
            message = "data is flowing again"
        elif rule == LOADING:
            message = f"no data yet, {age:.0f} s after watching began (allowance {limit.total_seconds():.0f} s): "
            message += "riskmon cannot see this account"
        else:
            message = f"no data for {age:.0f} s (limit {limit.total_seconds():.0f} s): riskmon cannot see this account"
        return RuleResult(
            rule, severity, Decimal(str(round(age, 3))), Decimal(str(limit.total_seconds())), message, unit="s"
        )

    def publish_events(self, events: Sequence[AlertEvent]) -> None:
        """Hand alerts raised outside an evaluation (stale data, enforcement) to this account's observers."""
        for observer in self.observers:
            try:
                observer.notify(events)
            except Exception:
                log.exception("%s: observer %s failed", self.profile.name, type(observer).__name__)

    def _publish(self, evaluation: Evaluation) -> None:
        for observer in self.observers:
            try:
                observer.observe(evaluation)
            except Exception:
                log.exception("%s: observer %s failed", self.profile.name, type(observer).__name__)

    def _persist(self, state: AccountState) -> None:
        before = self._persisted
        due = (
            before is None
            or before.durable_key() != state.durable_key()
            or before.last_ts is None
            or state.last_ts is None
            or state.last_ts - before.last_ts >= self.persist_interval
        )
        if not due:
            return
        try:
            self.store.save_state(state)
        except sqlite3.Error as exc:
            # Kept in memory and written with the next snapshot; monitoring goes on. One line per outage, and
            # the alarm at once, or after a grace while another process merely holds the lock.
            now = self.clock.monotonic()
            if self._unsaved_since is None:
                self._unsaved_since = now
                log.error(
                    "%s: could not save state (%s); monitoring goes on, retrying with each snapshot",
                    self.profile.name,
                    exc,
                )
            if not self.unsaved and (not is_transient(exc) or now - self._unsaved_since >= TRANSIENT_GRACE_S):
                self.unsaved = True
                message = (
                    f"riskmon cannot save this account's state ({exc}): day anchors and open alerts would be "
                    "lost on a restart, and the enforcer cannot record; fix the disk or the database file"
                )
                self._announce(STATE_UNSAVED, AlertStatus.FIRING, message)
            return
        self._persisted = state
        if self._unsaved_since is not None:
            outage = self.clock.monotonic() - self._unsaved_since
            log.warning("%s: state saved again after %.1f s", self.profile.name, outage)
            self._unsaved_since = None
            if self.unsaved:
                self.unsaved = False
                self._announce(STATE_UNSAVED, AlertStatus.RESOLVED, f"state saved again after {outage:.0f} s")
