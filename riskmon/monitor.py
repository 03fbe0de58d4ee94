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
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Protocol

from riskmon.clock import TradingCalendar
from riskmon.engine import advance, evaluate, track
from riskmon.models import AccountSnapshot, AlertEvent, RuleResult
from riskmon.rules import Rule, Rulebook, build_rules
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
    profile: AccountProfile
    snapshot: AccountSnapshot
    state: AccountState
    results: tuple[RuleResult, ...]
    events: tuple[AlertEvent, ...]
    elapsed_s: float  # time spent in the engine for this snapshot

    def result(self, rule: str) -> RuleResult | None:
        return next((r for r in self.results if r.rule == rule), None)


class Observer(Protocol):
    """Receives every evaluation. Must return quickly: queue slow work, never await the network here."""

    def observe(self, evaluation: Evaluation) -> None: ...


class Annotator(Protocol):
    """Completes the alert events before observers see them (the enforcer's ``action``). Pure and quick."""

    def annotate(self, evaluation: Evaluation) -> Evaluation: ...


def _durable(state: AccountState) -> AccountState:
    """The state without the fields that move on every snapshot."""
    return replace(state, last_ts=None, last_balance=None, day_low_equity=Decimal(0))


class AccountMonitor:
    def __init__(
        self,
        profile: AccountProfile,
        store: Store,
        observers: Sequence[Observer] = (),
        persist_interval: timedelta = timedelta(seconds=10),
        annotators: Sequence[Annotator] = (),
    ) -> None:
        self.profile = profile
        self.store = store
        self.observers = list(observers)
        self.annotators = list(annotators)
        self.persist_interval = persist_interval
        self.state: AccountState | None = store.load_state(profile.account)
        self.last: Evaluation | None = None
        self._persisted: AccountState | None = self.state
        if self.state is not None:
            log.info(
                "%s: resumed state for trading day %s (anchor %s, %d open alerts)",
                profile.name,
                self.state.trading_day,
                self.state.day_start_balance,
                len(self.state.alerts),
            )

    def process(self, snap: AccountSnapshot) -> Evaluation:
        started = time.perf_counter()
        previous = self.state or AccountState.fresh(
            snap.account, self.profile.initial_balance if self.profile.initial_balance is not None else snap.balance
        )
        state = advance(previous, snap, self.profile.calendar)
        results = evaluate(self.profile.rules, snap, state)
        tracked = track(state.alerts, results, snap, label=self.profile.label)
        state = state.with_alerts(tracked.alerts)
        self.state = state
        self._persist(state)
        evaluation = Evaluation(self.profile, snap, state, results, tracked.events, time.perf_counter() - started)
        for annotator in self.annotators:
            evaluation = annotator.annotate(evaluation)
        self.last = evaluation
        for observer in self.observers:
            try:
                observer.observe(evaluation)
            except Exception:
                log.exception("%s: observer %s failed", self.profile.name, type(observer).__name__)
        return evaluation

    def _persist(self, state: AccountState) -> None:
        before = self._persisted
        due = (
            before is None
            or _durable(before) != _durable(state)
            or before.last_ts is None
            or state.last_ts is None
            or state.last_ts - before.last_ts >= self.persist_interval
        )
        if not due:
            return
        try:
            self.store.save_state(state)
        except sqlite3.Error as exc:
            # Kept in memory and written with the next snapshot; monitoring goes on.
            log.error("%s: could not save state (%s); will retry", self.profile.name, exc)
            return
        self._persisted = state
