"""Inactivity: days since the account last traded, against the firm's limit (e.g. 30 calendar days).

The account is active while a position is open; the count starts when the last one closes (or when riskmon
first saw the account flat, which is all it can know).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import FOREVER, EquityFree, Plugin, Slot, SpecRule, Watch
from riskmon.rules.spec import Count, RuleSpec
from riskmon.state import AccountState

INACTIVITY = "inactivity"
DAY = Decimal(86400)


class InactivitySpec(RuleSpec):
    days: Count = 30  # calendar days without a trade that fail the account
    warn_days: Annotated[int, Field(ge=0)] = 5  # warn this many days before


@dataclass(frozen=True)
class LastActive(Slot):
    at: datetime
    since_start: bool  # True: riskmon has not seen a trade yet; ``at`` is when it began watching
    failed_at: datetime | None = None  # the limit was reached: the firm failed the account (kept until acknowledged)


@dataclass(frozen=True)
class InactivityRule(SpecRule, EquityFree):
    spec: InactivitySpec
    name: str = INACTIVITY
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.TIME})

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> LastActive:
        last: LastActive | None = LastActive.restore(slot)
        if last is not None and last.failed_at is not None:
            return last  # a trade after the deadline does not un-fail the account
        if last is not None and snap.ts >= (deadline := last.at + timedelta(days=self.spec.days)):
            return replace(last, failed_at=deadline)
        if snap.positions:
            return LastActive(snap.ts, False)
        return last or LastActive(snap.ts, True)

    def failed(self, state: AccountState) -> bool:
        last: LastActive | None = LastActive.restore(state.slots.get(self.name))
        return last is not None and last.failed_at is not None

    def acknowledge(self, slot: object, now: datetime) -> LastActive:
        return LastActive(now, True)  # counted afresh from the acknowledgement

    def steady_until(self, snap: AccountSnapshot, state: AccountState) -> datetime:
        """While a position is open, until it closes; else a second before the warning, then before the deadline
        (a second's margin for the day count's rounding)."""
        last: LastActive | None = LastActive.restore(state.slots.get(self.name))
        if snap.positions or last is None:
            return FOREVER
        deadline = last.at + timedelta(days=self.spec.days)
        edges = (deadline - timedelta(days=self.spec.warn_days), deadline)
        return min((e - timedelta(seconds=1) for e in edges if e - timedelta(seconds=1) > snap.ts), default=FOREVER)

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        last: LastActive | None = LastActive.restore(state.slots.get(self.name))
        assert last is not None, "advance runs before check"
        idle = Decimal(str((snap.ts - last.at).total_seconds())) / DAY
        limit = Decimal(self.spec.days)
        if (failed_at := last.failed_at) is not None:
            text = (
                f"account failed at {failed_at:%Y-%m-%d %H:%M:%S} UTC ({self.spec.days} days without a trade); "
                "riskmon keeps this until you acknowledge it"
            )
            return RuleResult(self.name, Severity.CRITICAL, idle, limit, text, unit="days", used=idle / limit)
        severity = (
            Severity.CRITICAL
            if idle >= limit
            else Severity.WARNING
            if idle >= limit - self.spec.warn_days
            else Severity.OK
        )
        deadline = last.at + timedelta(days=self.spec.days)

        def describe() -> str:
            since = "since riskmon began watching" if last.since_start else "since the last trade"
            return (
                f"{idle:.1f} days without a trade {since} (limit {limit}; trade before {deadline:%Y-%m-%d %H:%M} UTC)"
            )

        return RuleResult(self.name, severity, idle, limit, describe, unit="days", used=idle / limit)


PLUGIN: Plugin[InactivitySpec] = Plugin(
    INACTIVITY,
    InactivitySpec,
    InactivitySpec(),
    build=lambda spec, book: InactivityRule(spec) if spec.enabled else None,
    describe=lambda spec, book: f"trade at least once every {spec.days} calendar days" if spec.enabled else None,
)
