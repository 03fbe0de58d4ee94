"""What the money-floor rules share: a floor, its result (room left, share used) and its equity band."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import ANY_EQUITY, INFINITY, Band, Slot, label, money, pct, share_of
from riskmon.rules.spec import FloorSpec, Sized

if TYPE_CHECKING:
    from riskmon.state import AccountState


class Floor(NamedTuple):
    """Equity must stay above ``level`` (or at it, as the firm words it); ``reference`` is what the
    allowance is measured from."""

    reference: Decimal
    level: Decimal

    @property
    def allowance(self) -> Decimal:
        return self.reference - self.level

    def breached(self, equity: Decimal, spec: FloorSpec) -> bool:
        return equity < self.level or (spec.equal_breaches and equity == self.level)

    def warning_level(self, spec: FloorSpec) -> Decimal:
        """Equity at or under which ``warn_at`` of the allowance is used."""
        return self.reference - spec.warn_at * self.allowance

    def band(self, equity: Decimal, spec: FloorSpec) -> Band:
        if self.allowance <= 0:
            return Band(equity, equity)  # nothing to measure against: every tick is judged in full
        warn = self.warning_level(spec)
        if self.breached(equity, spec):
            return Band(-INFINITY, self.level)
        if equity <= warn:
            return Band(self.level, warn)
        return Band(warn, INFINITY)


def floor_result(
    rule: str, floor: Floor, equity: Decimal, spec: FloorSpec, breach_note: str, note: str = ""
) -> RuleResult:
    loss = floor.reference - equity
    room = equity - floor.level
    allowance = floor.allowance
    used = share_of(loss, allowance)
    breached = floor.breached(equity, spec)
    severity = Severity.CRITICAL if breached else Severity.WARNING if used >= spec.warn_at else Severity.OK

    def describe() -> str:
        if breached and room == 0:
            state = f"BREACHED: equity {money(equity)} reached the floor {money(floor.level)}" + breach_note
        elif breached:
            state = f"BREACHED by {money(-room)}: equity {money(equity)} below the floor {money(floor.level)}"
            state += breach_note
        else:
            state = f"{money(room)} left before the floor {money(floor.level)}"
        return f"{label(rule)} {money(loss)} of {money(allowance)} ({pct(used)} used); {state}{note}"

    return RuleResult(
        rule=rule,
        severity=severity,
        observed=loss,
        limit=allowance,
        unit="money",
        room_left=room,
        used=used,
        floor=floor.level,
        describe=describe,
    )


@dataclass(frozen=True)
class Breach(Slot):
    """A floor breach the firm treats as final: ``hard`` (the account failed, kept until a person acknowledges
    it) or soft (trading blocked until the reset after ``day``)."""

    at: datetime
    equity: Decimal
    floor: Decimal
    hard: bool
    day: date  # the trading day it happened on

    def lasts(self, day: date | None) -> bool:
        return self.hard or day == self.day


class Latching:
    """For a money floor whose breach is final (for the day or for good): its slot remembers the breach, so
    equity coming back does not "resolve" it. Rules using it define ``floor``, ``spec``, ``name`` and ``hard``."""

    name: str
    spec: FloorSpec

    def floor(self, state: AccountState) -> Floor:
        raise NotImplementedError  # each latching rule has its floor

    @property
    def hard(self) -> bool:
        return True

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> Breach | None:
        breach: Breach | None = Breach.restore(slot)
        if breach is not None and breach.lasts(after.trading_day):
            return breach
        floor = self.floor(after)
        if after.trading_day is not None and floor.breached(snap.equity, self.spec):
            return Breach(snap.ts, snap.equity, floor.level, self.hard, after.trading_day)
        return None  # a soft breach clears at the reset after its day

    def failed(self, state: AccountState) -> bool:
        breach = self.breach(state)
        return breach is not None and breach.hard

    def acknowledge(self, slot: object, now: datetime) -> None:
        return None  # the floor is judged afresh

    def breach(self, state: AccountState) -> Breach | None:
        breach: Breach | None = Breach.restore(state.slots.get(self.name))
        return breach if breach is not None and breach.lasts(state.trading_day) else None

    def latched(self, result: RuleResult, state: AccountState) -> RuleResult:
        """``result`` as the latch reports it: failing at critical while the breach lasts, room left 0 at most
        and the allowance used in full at least."""
        breach = self.breach(state)
        if breach is None or result.severity is Severity.CRITICAL:
            return result
        room = min(result.room_left if result.room_left is not None else Decimal(0), Decimal(0))
        used = max(result.used if result.used is not None else Decimal(1), Decimal(1))
        where = "below" if breach.equity < breach.floor else "at"
        cause = f"(equity {money(breach.equity)} {where} floor {money(breach.floor)})"
        when = f"{breach.at:%Y-%m-%d %H:%M:%S} UTC"
        if breach.hard:
            text = f"account failed at {when} {cause}; riskmon keeps this until you acknowledge it"
        else:
            text = f"trading blocked at {when} {cause} until the next reset"
        return result._replace(
            severity=Severity.CRITICAL, room_left=room, used=used, describe=f"{label(result.rule)}: {text}"
        )

    def latched_band(self, band: Band, state: AccountState) -> Band:
        """A latched breach never changes with equity: no tick can skip or lift it."""
        return ANY_EQUITY if self.breach(state) is not None else band


def reaching(spec: FloorSpec) -> str:
    """How the firm words the breach: equity reaching the floor, or going below it."""
    return "reaching it" if spec.equal_breaches else "going below it"


def number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def size_words(spec: Sized) -> str:
    """A floor's size in a trader's words: money, a % of the initial balance, or a % of what the text names."""
    if spec.size_basis == "fixed":
        return money(spec.size)
    if spec.size_basis == "initial_pct":
        return f"{number(spec.size)}% of the initial balance"
    return f"{number(spec.size)}%"
