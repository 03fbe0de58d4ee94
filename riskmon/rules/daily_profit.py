"""Daily profit target and profit lock, set by the trader: stop for the day once the day's profit reaches the
target, or once it falls back from its peak by the amount given back (the lock arms at ``lock_from``).

The day's profit is equity minus the balance at the day's reset (closed and floating). The lock is an equity
floor (``peak − give_back``) and reports room left like the loss floors; the target reports the profit still
to make.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pydantic import model_validator

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import INFINITY, Band, DayBound, Plugin, Response, Slot, SpecRule, Watch, money
from riskmon.rules.spec import Money, RulebookBase, RuleSpec
from riskmon.state import AccountState

DAILY_PROFIT = "daily_profit"


class DailyProfitSpec(RuleSpec):
    response: Response = Response.FLATTEN  # stop for the day
    target: Money | None = None  # money: stop once the day's profit reaches it
    lock_from: Money | None = None  # money: the lock arms once the day's profit has reached this
    give_back: Money | None = None  # money: stop once the day's profit falls this far below its peak

    @model_validator(mode="after")
    def _something_to_check(self) -> DailyProfitSpec:
        if (self.lock_from is None) != (self.give_back is None):
            raise ValueError("lock_from and give_back go together (the lock arms at lock_from, gives back give_back)")
        if self.enabled and self.target is None and self.lock_from is None:
            raise ValueError("set target, or lock_from with give_back")
        return self


@dataclass(frozen=True)
class DayPeak(Slot):
    """The day's highest equity."""

    day: date
    equity: Decimal


@dataclass(frozen=True)
class DailyProfitRule(DayBound, SpecRule):
    spec: DailyProfitSpec
    name: str = DAILY_PROFIT
    watches: frozenset[Watch] = frozenset({Watch.TIME})

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> DayPeak:
        peak: DayPeak | None = DayPeak.restore(slot)
        day = after.trading_day
        assert day is not None
        if peak is None or peak.day != day:
            return DayPeak(day, snap.equity)
        return DayPeak(day, max(peak.equity, snap.equity)) if snap.equity > peak.equity else peak

    def _peak(self, state: AccountState) -> Decimal:
        peak: DayPeak | None = DayPeak.restore(state.slots.get(self.name))
        assert peak is not None, "advance runs before check"
        return peak.equity

    def lock(self, state: AccountState) -> Decimal | None:
        """The equity floor of the armed lock, or None while it is not armed."""
        spec, anchor = self.spec, state.day_start_balance
        if spec.lock_from is None or spec.give_back is None:
            return None
        peak = self._peak(state)
        return peak - spec.give_back if peak - anchor >= spec.lock_from else None

    def target_level(self, state: AccountState) -> Decimal:
        return INFINITY if self.spec.target is None else state.day_start_balance + self.spec.target

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        profit = snap.equity - state.day_start_balance
        lock, target = self.lock(state), self.target_level(state)
        reached = snap.equity >= target
        locked = lock is not None and snap.equity <= lock
        severity = Severity.CRITICAL if reached or locked else Severity.OK
        peak_profit = self._peak(state) - state.day_start_balance

        def describe() -> str:
            parts = [f"day's profit {money(profit)} (peak {money(peak_profit)})"]
            if self.spec.target is not None:
                parts.append(
                    f"target {money(self.spec.target)} REACHED: stop for the day"
                    if reached
                    else f"{money(target - snap.equity)} to the target {money(self.spec.target)}"
                )
            if lock is not None:
                parts.append(
                    f"profit lock HIT at {money(lock)}: stop for the day"
                    if locked
                    else f"{money(snap.equity - lock)} left before the profit lock {money(lock)}"
                )
            elif self.spec.lock_from is not None:
                parts.append(f"lock arms at {money(self.spec.lock_from)} profit")
            return "; ".join(parts)

        observed = profit
        limit = self.spec.target if self.spec.target is not None else (self.spec.lock_from or Decimal(0))
        if lock is not None:
            return RuleResult(
                self.name, severity, observed, limit, describe, unit="money", room_left=snap.equity - lock, floor=lock
            )
        return RuleResult(self.name, severity, observed, limit, describe, unit="money")

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        """Between the lock (or nothing) and the nearest of the target and the day's peak (a new peak can arm or
        raise the lock)."""
        lock, target, peak = self.lock(state), self.target_level(state), self._peak(state)
        if snap.equity >= target:
            return Band(target, INFINITY)
        if lock is not None and snap.equity <= lock:
            return Band(-INFINITY, lock)
        low = -INFINITY if lock is None else lock
        high = min(target, peak) if self.spec.lock_from is not None else target
        return Band(low, high)


def _describe(spec: DailyProfitSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    parts = []
    if spec.target is not None:
        parts.append(f"stop for the day at {money(spec.target)} profit")
    if spec.lock_from is not None and spec.give_back is not None:
        parts.append(
            f"once the day's profit reaches {money(spec.lock_from)}, stop for the day if it falls "
            f"{money(spec.give_back)} below its peak"
        )
    return "; ".join(parts)


PLUGIN: Plugin[DailyProfitSpec] = Plugin(
    DAILY_PROFIT,
    DailyProfitSpec,
    DailyProfitSpec(),
    build=lambda spec, book: DailyProfitRule(spec) if spec.enabled else None,
    describe=_describe,
)
