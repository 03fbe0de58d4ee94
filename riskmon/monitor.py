"""One account's monitor: owns its state, runs the engine on each snapshot, hands the outcome on.

``process`` is synchronous and does no network I/O: observers (console, Telegram outbox, metrics,
enforcer) receive the ``Evaluation`` and schedule their own side effects, so nothing they do can
stall the next snapshot.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Protocol

from riskmon.clock import Clock, SystemClock, TradingCalendar
from riskmon.engine import advance, evaluate, track
from riskmon.models import AccountSnapshot, AlertEvent, RuleResult, Severity
from riskmon.rules import Rule, Rulebook, build_rules
from riskmon.rules.stale_data import STALE_DATA, freshness
from riskmon.state import AccountState
from riskmon.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountProfile:
    """What the engine needs to know about one account: who it is and which rulebook applies."""

    account: str
    rulebook: Rulebook = field(default_factory=Rulebook)
    label: str = ""
    platform: str = "replay"
    initial_balance: Decimal | None = None  # None: taken from the first snapshot

    @property
    def name(self) -> str:
        return self.label or self.account

    @cached_property
    def rules(self) -> tuple[Rule, ...]:
        return build_rules(self.rulebook)

    @cached_property
    def calendar(self) -> TradingCalendar:
        return self.rulebook.calendar


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
    """Completes the alert events before observers see them (the enforcer's ``action``). Pure and quick."""

    def annotate(self, evaluation: Evaluation) -> Evaluation: ...


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
    ) -> None:
        self.profile = profile
        self.store = store
        self.observers = list(observers)
        self.annotators = list(annotators)
        self.persist_interval = persist_interval
        self.clock = clock or SystemClock()
        self.stale_after = stale_after
        self.state: AccountState | None = store.load_state(profile.account)
        self.last: Evaluation | None = None  # the last evaluation of a snapshot
        self.last_seen = self.clock.now()  # when data last arrived (or when watching began)
        self._open_alerts: dict[str, Severity] = dict(self.state.alerts) if self.state else {}
        self._persisted: AccountState | None = self.state
        self._unsaved_since: float | None = None  # monotonic time saving began to fail
        if self.state is not None:
            log.info(
                "%s: resumed state for trading day %s (anchor %s, %d open alerts)",
                profile.name,
                self.state.trading_day,
                self.state.day_start_balance,
                len(self.state.alerts),
            )

    def process(self, snap: AccountSnapshot) -> Evaluation | None:
        """Evaluate one snapshot; one older than what was already seen is ignored (time never runs back)."""
        if self.state is not None and self.state.last_ts is not None and snap.ts < self.state.last_ts:
            log.debug("%s: snapshot at %s is older than %s; ignored", self.profile.name, snap.ts, self.state.last_ts)
            return None
        started = time.perf_counter()
        self.last_seen = self.clock.now()
        previous = self.state or AccountState.fresh(
            snap.account, self.profile.initial_balance if self.profile.initial_balance is not None else snap.balance
        ).with_alerts(self._open_alerts)
        state = advance(previous, snap, self.profile.calendar, rules=self.profile.rules)
        results = evaluate(self.profile.rules, snap, state)
        if STALE_DATA in state.alerts:
            results += (self._freshness(Severity.OK, timedelta(0)),)
        tracked = track(state.alerts, results, snap.account, snap.ts, label=self.profile.label)
        state = state.with_alerts(tracked.alerts)
        self.state = state
        self._persist(state)
        evaluation = Evaluation(self.profile, snap, state, results, tracked.events, time.perf_counter() - started)
        for annotator in self.annotators:
            evaluation = annotator.annotate(evaluation)
        self.last = evaluation
        self._publish(evaluation)
        return evaluation

    def is_stale(self) -> bool:
        """No data for longer than ``stale_after`` (the one staleness test: alarm, /healthz, metrics)."""
        return self.stale_after is not None and self.clock.now() - self.last_seen > self.stale_after

    def check_staleness(self) -> tuple[AlertEvent, ...]:
        """Fire ``stale_data`` once when no data has come for longer than ``stale_after``.

        It resolves with the next snapshot. Works before any data has ever arrived too: bad credentials
        at start-up are a blind spot like any other.
        """
        alerts = self.state.alerts if self.state else self._open_alerts
        if STALE_DATA in alerts or not self.is_stale():
            return ()
        now = self.clock.now()
        result = self._freshness(Severity.CRITICAL, now - self.last_seen)
        tracked = track(alerts, [result], self.profile.account, now, self.profile.label)
        if self.state is not None:
            self.state = self.state.with_alerts(tracked.alerts)
            self._persist(self.state)
        else:
            self._open_alerts = tracked.alerts
        self.publish_events(tracked.events)
        return tracked.events

    def _freshness(self, severity: Severity, age: timedelta) -> RuleResult:
        return freshness(severity, age, self.stale_after or timedelta(0))

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
            # Kept in memory and written with the next snapshot; monitoring goes on. One line per outage.
            if self._unsaved_since is None:
                self._unsaved_since = time.monotonic()
                log.error(
                    "%s: could not save state (%s); monitoring goes on, retrying with each snapshot",
                    self.profile.name,
                    exc,
                )
            return
        self._persisted = state
        if self._unsaved_since is not None:
            log.warning("%s: state saved again after %.1f s", self.profile.name, time.monotonic() - self._unsaved_since)
            self._unsaved_since = None
