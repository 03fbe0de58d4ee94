"""Money floors: the daily loss limit and the overall (max) loss limit.

Both report the same figures: the floor equity must stay above, the money left before it
(``room_left``) and the share of the allowance used. Equity equal to the floor is not a breach;
one cent below is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import HUNDRED, money, pct, share_of
from riskmon.rules.spec import (
    DailyLossSpec,
    DailySize,
    DayAnchor,
    FloorMode,
    LossSize,
    MaxLossSpec,
    TrailSource,
)
from riskmon.state import AccountState


def day_anchor(spec: DailyLossSpec, state: AccountState) -> Decimal:
    match spec.anchor:
        case DayAnchor.BALANCE:
            return state.day_start_balance
        case DayAnchor.EQUITY:
            return state.day_start_equity
        case DayAnchor.MAX_BALANCE_EQUITY:
            return max(state.day_start_balance, state.day_start_equity)
        case DayAnchor.INITIAL:
            return state.initial_balance


def daily_allowance(spec: DailyLossSpec, anchor: Decimal, initial: Decimal) -> Decimal:
    match spec.size_basis:
        case DailySize.INITIAL_PCT:
            return initial * spec.size / HUNDRED
        case DailySize.ANCHOR_PCT:
            return anchor * spec.size / HUNDRED
        case DailySize.FIXED:
            return spec.size


class Floor(NamedTuple):
    """Equity must stay at or above ``level``; ``reference`` is what the allowance is measured from."""

    reference: Decimal
    level: Decimal

    @property
    def allowance(self) -> Decimal:
        return self.reference - self.level


def floor_result(rule: str, floor: Floor, equity: Decimal, warn_at: Decimal, breach_note: str, note: str) -> RuleResult:
    loss = floor.reference - equity
    room = equity - floor.level
    allowance = floor.allowance
    used = share_of(loss, allowance)
    breached = equity < floor.level
    severity = Severity.CRITICAL if breached else Severity.WARNING if used >= warn_at else Severity.OK

    def describe() -> str:
        if breached:
            state = f"BREACHED by {money(-room)}: equity {money(equity)} below the floor {money(floor.level)}"
            state += breach_note
        else:
            state = f"{money(room)} left before the floor {money(floor.level)}"
        label = rule.replace("_", " ")
        return f"{label} {money(loss)} of {money(allowance)} ({pct(used)} used); {state}{note}"

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
class DailyLossRule:
    spec: DailyLossSpec
    name: str = "daily_loss"

    def floor(self, state: AccountState) -> Floor:
        anchor = day_anchor(self.spec, state)
        return Floor(anchor, anchor - daily_allowance(self.spec, anchor, state.initial_balance))

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        breach = " (account failed)" if self.spec.breach == "hard" else " (trading blocked until the next reset)"
        note = f" [day anchor {state.anchor_source.value}]" if state.anchor_estimated else ""
        return floor_result(self.name, self.floor(state), snap.equity, self.spec.warn_at, breach, note)


def trailing_high(source: TrailSource, state: AccountState) -> Decimal:
    match source:
        case TrailSource.EOD_BALANCE:
            return state.eod_balance_high
        case TrailSource.INTRADAY_BALANCE:
            return state.balance_high
        case TrailSource.INTRADAY_EQUITY:
            return state.equity_high


@dataclass(frozen=True)
class MaxLossRule:
    spec: MaxLossSpec
    name: str = "max_loss"

    def floor(self, state: AccountState) -> Floor:
        spec, initial = self.spec, state.initial_balance
        reference = initial if spec.mode is FloorMode.STATIC else trailing_high(spec.trail, state)
        match spec.size_basis:
            case LossSize.INITIAL_PCT:
                allowance = initial * spec.size / HUNDRED
            case LossSize.HIGH_PCT:
                allowance = reference * spec.size / HUNDRED
            case LossSize.FIXED:
                allowance = spec.size
        level = reference - allowance
        if spec.mode is FloorMode.TRAILING and spec.lock is not None:
            level = min(level, initial if spec.lock == "initial" else Decimal(spec.lock))
        return Floor(reference, level)

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        return floor_result(self.name, self.floor(state), snap.equity, self.spec.warn_at, " (account failed)", "")
