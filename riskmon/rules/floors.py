"""What the money-floor rules share: a floor, its result (room left, share used) and its equity band."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from riskmon.models import RuleResult, Severity
from riskmon.rules.base import INFINITY, Band, label, money, pct, share_of
from riskmon.rules.spec import FloorSpec, Sized


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
