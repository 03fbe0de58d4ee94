"""Losing streak: after N losing trades in a row, a cooldown during which no trade should be opened.

During the cooldown the rule warns; a position opened during it is critical. The cooldown ends after its
minutes, or at the next reset when ``minutes`` is not set; the streak then starts again from zero. A winning
(or flat) trade ends the streak.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from riskmon.clock import TradingCalendar
from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import FOREVER, EquityFree, Plugin, Slot, SpecRule, Watch
from riskmon.rules.spec import Count, RulebookBase, RuleSpec
from riskmon.rules.trades import Held, trades_between
from riskmon.state import AccountState

LOSING_STREAK = "losing_streak"


class LosingStreakSpec(RuleSpec):
    losses: Count = 3  # losing trades in a row that start a cooldown
    minutes: Count | None = None  # cooldown length; None: until the next reset


@dataclass(frozen=True)
class Streak(Slot):
    losses: int = 0
    cooldown_until: datetime | None = None
    opened_in_cooldown: int = 0
    ids: tuple[str, ...] = ()
    pnls: tuple[Decimal, ...] = ()


@dataclass(frozen=True)
class LosingStreakRule(SpecRule, EquityFree):
    spec: LosingStreakSpec
    calendar: TradingCalendar  # for the next reset
    name: str = LOSING_STREAK
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.BALANCE, Watch.TIME})

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> Streak:
        streak: Streak | None = Streak.restore(slot)
        held = None if streak is None else Held(streak.ids, streak.pnls)
        streak = streak or Streak()
        if streak.cooldown_until is not None and snap.ts >= streak.cooldown_until:
            streak = Streak()  # the cooldown is over: a new streak
        trades = trades_between(held, before.last_balance, snap)
        losses, until, opened = streak.losses, streak.cooldown_until, streak.opened_in_cooldown
        if until is not None:
            opened += len(trades.opened)
        for result in trades.closed:
            losses = losses + 1 if result < 0 else 0
            if until is None and losses >= self.spec.losses:
                until = self._cooldown_end(snap.ts)
        now = Held.of(snap)
        return replace(
            streak, losses=losses, cooldown_until=until, opened_in_cooldown=opened, ids=now.ids, pnls=now.pnls
        )

    def _cooldown_end(self, ts: datetime) -> datetime:
        if self.spec.minutes is not None:
            return ts + timedelta(minutes=self.spec.minutes)
        return self.calendar.next_reset(ts)

    def steady_until(self, snap: AccountSnapshot, state: AccountState) -> datetime:
        """The end of a cooldown under way; after it, only a trade (positions, balance) changes the verdict."""
        streak: Streak = Streak.restore(state.slots.get(self.name)) or Streak()
        until = streak.cooldown_until
        return until if until is not None and until > snap.ts else FOREVER

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        streak: Streak = Streak.restore(state.slots.get(self.name)) or Streak()
        until = streak.cooldown_until
        cooling = until is not None and snap.ts < until
        severity = Severity.OK
        if cooling:
            severity = Severity.CRITICAL if streak.opened_in_cooldown else Severity.WARNING

        def describe() -> str:
            text = f"{streak.losses} losing trades in a row (cooldown after {self.spec.losses})"
            if cooling and until is not None:
                text += f": cooling down until {until:%Y-%m-%d %H:%M} UTC, open no trade"
                if streak.opened_in_cooldown:
                    text += f"; {streak.opened_in_cooldown} opened during the cooldown"
            return text

        return RuleResult(
            self.name,
            severity,
            Decimal(streak.losses),
            Decimal(self.spec.losses),
            describe,
            unit="trades",
            used=Decimal(streak.losses) / self.spec.losses,
        )


def _describe(spec: LosingStreakSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    length = f"{spec.minutes} minutes" if spec.minutes is not None else "the rest of the trading day"
    return f"after {spec.losses} losing trades in a row, no new trade for {length}"


PLUGIN: Plugin[LosingStreakSpec] = Plugin(
    LOSING_STREAK,
    LosingStreakSpec,
    LosingStreakSpec(),
    build=lambda spec, book: LosingStreakRule(spec, book.calendar) if spec.enabled else None,
    describe=_describe,
)
