"""Weekly and monthly loss limits the trader sets: equity must stay above the balance at the period's first
reset minus the period's allowance (two rules, one module: the period is the only difference)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from riskmon.models import AccountSnapshot, RuleResult
from riskmon.rules.base import HUNDRED, Band, DayBound, Plugin, Slot, SpecRule, Watch
from riskmon.rules.floors import Floor, floor_result, number, reaching, size_words
from riskmon.rules.spec import FloorSpec, Money, RulebookBase
from riskmon.state import AccountState

WEEKLY_LOSS = "weekly_loss"
MONTHLY_LOSS = "monthly_loss"


class PeriodLossSpec(FloorSpec):
    size_basis: Literal["fixed", "anchor_pct", "initial_pct"] = "fixed"
    size: Money = Decimal(1000)

    def _basis_text(self) -> str:
        return "the balance at the period's start" if self.size_basis == "anchor_pct" else super()._basis_text()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


# A period's first trading day may follow its first calendar day by a weekend (a month starting on a Saturday).
WEEKEND = timedelta(days=3)


@dataclass(frozen=True)
class PeriodAnchor(Slot):
    """The balance at the period's first reset. ``late``: riskmon first saw the period after it had begun, so
    the balance at its start is not known (the first day's anchor stands in); ``day_estimated``: that day's own
    anchor was estimated (see the engine), until the platform's history gives it."""

    start: date
    first: date  # the trading day the balance was taken at
    balance: Decimal
    late: bool
    day_estimated: bool

    @property
    def estimated(self) -> bool:
        return self.late or self.day_estimated


@dataclass(frozen=True)
class PeriodLossRule(DayBound, SpecRule):
    spec: PeriodLossSpec
    name: str
    period: str  # "week" or "month"
    start_of: Callable[[date], date]
    watches: frozenset[Watch] = frozenset({Watch.TIME})

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> PeriodAnchor:
        anchor: PeriodAnchor | None = PeriodAnchor.restore(slot)
        day = after.trading_day
        assert day is not None
        start = self.start_of(day)
        if anchor is not None and anchor.start == start:
            if day != anchor.first:
                return anchor  # fixed once the period's first day has passed
            # Still the period's first day: follow that day's anchor (an estimate replaced by the exact figure).
            return PeriodAnchor(start, day, after.day_start_balance, anchor.late, after.anchor_estimated)
        seen_before = before.trading_day is not None and start - before.trading_day <= WEEKEND
        late = day - start > WEEKEND or (day != start and not seen_before)
        return PeriodAnchor(start, day, after.day_start_balance, late, after.anchor_estimated)

    def floor(self, anchor: PeriodAnchor, initial: Decimal) -> Floor:
        spec = self.spec
        match spec.size_basis:
            case "fixed":
                allowance = spec.size
            case "anchor_pct":
                allowance = anchor.balance * spec.size / HUNDRED
            case "initial_pct":
                allowance = initial * spec.size / HUNDRED
        return Floor(anchor.balance, anchor.balance - allowance)

    def _anchor(self, state: AccountState) -> PeriodAnchor:
        anchor: PeriodAnchor | None = PeriodAnchor.restore(state.slots.get(self.name))
        assert anchor is not None, "advance runs before check"
        return anchor

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        anchor = self._anchor(state)
        note = f" [{self.period} anchor estimated]" if anchor.estimated else ""
        breach = f" (stop for the {self.period})"
        return floor_result(self.name, self.floor(anchor, state.initial_balance), snap.equity, self.spec, breach, note)

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        return self.floor(self._anchor(state), state.initial_balance).band(snap.equity, self.spec)


def _plugin(name: str, period: str, start_of: Callable[[date], date]) -> Plugin[PeriodLossSpec]:
    def describe(spec: PeriodLossSpec, book: RulebookBase) -> str | None:
        if not spec.enabled:
            return None
        size = size_words(spec) if spec.size_basis != "anchor_pct" else f"{number(spec.size)}% of {spec._basis_text()}"
        return (
            f"{size} below the balance at the {period}'s first reset; {reaching(spec)} stops trading for the {period}"
        )

    return Plugin(
        name,
        PeriodLossSpec,
        PeriodLossSpec(),
        build=lambda spec, book: PeriodLossRule(spec, name, period, start_of) if spec.enabled else None,
        describe=describe,
        needs_initial_balance=lambda spec: spec.enabled and spec.size_basis == "initial_pct",
    )


WEEKLY = _plugin(WEEKLY_LOSS, "week", week_start)
MONTHLY = _plugin(MONTHLY_LOSS, "month", month_start)
