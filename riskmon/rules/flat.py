"""Holding windows: be flat by a time of day (Topstep: 3:10 PM Chicago) or over the weekend (accounts without a
swing option: flat before the Friday close). One module, two rules (``flat_by``, ``weekend``): a window opens
at ``at`` on each of ``days`` and closes at ``reopen`` (on ``reopen_day``, or the same day when ``reopen`` is
later than ``at``, else the next day).

Positions held inside the window are critical; positions held within ``lead_minutes`` before it warn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import EquityFree, Plugin, SpecRule, Watch, hours_minutes
from riskmon.rules.spec import WEEKDAYS, RulebookBase, RuleSpec, Weekday, clock_time, zone_name
from riskmon.state import AccountState

FLAT_BY = "flat_by"
WEEKEND = "weekend"
MINUTE = Decimal(60)


class FlatSpec(RuleSpec):
    at: str = "15:10"
    reopen: str = "17:00"
    days: Annotated[tuple[Weekday, ...], Field(min_length=1)] = ("mon", "tue", "wed", "thu", "fri")
    reopen_day: Weekday | None = None
    timezone: str | None = None  # default: the rulebook's
    lead_minutes: Annotated[int, Field(ge=0)] = 15

    @field_validator("at", "reopen")
    @classmethod
    def _time(cls, value: str) -> str:
        return clock_time(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else zone_name(value)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class FlatRule(SpecRule, EquityFree):
    spec: FlatSpec
    zone: ZoneInfo
    name: str
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.TIME})

    @cached_property
    def _times(self) -> tuple[time, time, frozenset[int]]:
        days = frozenset(WEEKDAYS.index(d) for d in self.spec.days)
        return time.fromisoformat(self.spec.at), time.fromisoformat(self.spec.reopen), days

    def _window(self, day: date) -> Window:
        at, reopen, _ = self._times
        if self.spec.reopen_day is not None:
            ahead = (WEEKDAYS.index(self.spec.reopen_day) - day.weekday()) % 7
            if ahead == 0 and reopen <= at:
                ahead = 7
        else:
            ahead = 0 if reopen > at else 1
        end_day = day + timedelta(days=ahead)
        return Window(datetime.combine(day, at, tzinfo=self.zone), datetime.combine(end_day, reopen, tzinfo=self.zone))

    def windows(self, ts: datetime) -> tuple[Window | None, Window]:
        """The window ``ts`` is in (or None), and the next one to open (windows last less than a week)."""
        today, days = ts.astimezone(self.zone).date(), self._times[2]
        back = (today - timedelta(days=n) for n in range(8))
        ahead = (today + timedelta(days=n) for n in range(9))
        latest = next(w for w in (self._window(d) for d in back if d.weekday() in days) if w.start <= ts)
        upcoming = next(w for w in (self._window(d) for d in ahead if d.weekday() in days) if w.start > ts)
        return (latest if ts < latest.end else None), upcoming

    def steady_until(self, snap: AccountSnapshot, state: AccountState) -> datetime:
        """The end of the window ``snap`` is in, else the warning lead before the next one, else its start."""
        inside, upcoming = self.windows(snap.ts)
        if inside is not None:
            return inside.end
        warn = upcoming.start - timedelta(minutes=self.spec.lead_minutes)
        return warn if snap.ts < warn else upcoming.start

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        inside, upcoming = self.windows(snap.ts)
        held = len(snap.positions)
        ahead = upcoming.start - snap.ts
        to_go = Decimal(str(round(ahead.total_seconds() / 60, 1)))
        lead = Decimal(self.spec.lead_minutes)
        if inside is not None:
            severity = Severity.CRITICAL if held else Severity.OK
        else:
            severity = Severity.WARNING if held and ahead <= timedelta(minutes=self.spec.lead_minutes) else Severity.OK
        zone = self.zone.key

        def describe() -> str:
            if inside is not None:
                until = f"{inside.end.astimezone(self.zone):%a %H:%M} {zone}"
                if held:
                    return f"{held} positions open after the {self.spec.at} {zone} deadline (flat until {until})"
                return f"flat, as required until {until}"
            deadline = f"{upcoming.start.astimezone(self.zone):%a %H:%M} {zone}"
            if held:
                return f"{held} positions open; flat by {deadline} ({hours_minutes(ahead)} left)"
            return f"flat by {deadline} ({hours_minutes(ahead)} left)"

        return RuleResult(self.name, severity, to_go, lead, describe, unit="minutes")


def _plugin(name: str, default: FlatSpec, what: str) -> Plugin[FlatSpec]:
    def describe(spec: FlatSpec, book: RulebookBase) -> str | None:
        if not spec.enabled:
            return None
        zone = spec.timezone or book.timezone
        days = ", ".join(spec.days)
        reopen = f"{spec.reopen_day} {spec.reopen}" if spec.reopen_day else spec.reopen
        return (
            f"{what}: no position open from {spec.at} ({days}) until {reopen} {zone}; "
            f"warns {spec.lead_minutes} minutes ahead"
        )

    return Plugin(
        name,
        FlatSpec,
        default,
        build=lambda spec, book: (
            FlatRule(spec, ZoneInfo(spec.timezone or book.timezone), name) if spec.enabled else None
        ),
        describe=describe,
    )


FLAT_BY_PLUGIN = _plugin(FLAT_BY, FlatSpec(), "flat by a time of day")
WEEKEND_PLUGIN = _plugin(
    WEEKEND,
    FlatSpec(at="17:00", reopen="17:00", days=("fri",), reopen_day="sun", timezone="America/New_York", lead_minutes=30),
    "flat over the weekend",
)
