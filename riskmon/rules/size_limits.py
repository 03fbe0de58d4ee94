"""Size limits: lots (contracts) per order or position, and a scaling plan that allows more lots in total as
the profit at the day's start grows (Topstep: the plan is set from the end-of-day balance and does not rise
during the day)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import model_validator

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import DayBound, EquityFree, Plugin, SpecRule, Watch, money
from riskmon.rules.spec import Money, RulebookBase, RuleSpec, Spec
from riskmon.state import AccountState

SIZE_LIMITS = "size_limits"
ZERO = Decimal(0)


class Step(Spec):
    """From ``profit`` (money above the initial balance, at the day's start) on, at most ``lots`` in total."""

    profit: Decimal
    lots: Money


class SizeLimitsSpec(RuleSpec):
    per_order: Money | None = None  # lots per position or pending order
    scaling: tuple[Step, ...] = ()  # in rising order of profit; the first step applies below every other

    @model_validator(mode="after")
    def _steps(self) -> SizeLimitsSpec:
        profits = [s.profit for s in self.scaling]
        if profits != sorted(profits) or len(set(profits)) != len(profits):
            raise ValueError("scaling steps go in rising order of profit, each profit once")
        if self.enabled and self.per_order is None and not self.scaling:
            raise ValueError("set per_order, scaling or both")
        return self

    def allowed(self, profit: Decimal) -> Decimal | None:
        """Lots allowed in total at ``profit`` (the day-start balance minus the initial balance)."""
        if not self.scaling:
            return None
        reached = [s for s in self.scaling if profit >= s.profit]
        return (reached[-1] if reached else self.scaling[0]).lots


@dataclass(frozen=True)
class SizeLimitsRule(DayBound, SpecRule, EquityFree):
    spec: SizeLimitsSpec
    name: str = SIZE_LIMITS
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.ORDERS, Watch.TIME})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        per_order, plan_profit = self.spec.per_order, state.day_start_balance - state.initial_balance
        allowed = self.spec.allowed(plan_profit)
        sizes = [(p.volume, f"{p.symbol} #{p.id}") for p in snap.positions]
        sizes += [(o.volume, f"{o.symbol} order #{o.id}") for o in snap.orders]
        largest = max(sizes, default=(ZERO, ""))
        total = snap.total_lots
        too_big = per_order is not None and largest[0] > per_order
        over_plan = allowed is not None and total > allowed
        severity = Severity.CRITICAL if too_big or over_plan else Severity.OK
        # The binding figure: the plan's total when there is one, else the largest order.
        observed, limit = (total, allowed) if allowed is not None else (largest[0], per_order or ZERO)

        def describe() -> str:
            parts = []
            if per_order is not None:
                worst = f" ({largest[1]})" if largest[1] else ""
                parts.append(f"largest order {largest[0]} lots{worst}, limit {per_order} per order")
            if allowed is not None:
                parts.append(
                    f"{total} lots open of {allowed} allowed by the scaling plan at {money(plan_profit)} profit"
                )
            return "; ".join(parts)

        used = observed / limit if limit > 0 else None
        return RuleResult(self.name, severity, observed, limit, describe, unit="lots", used=used)


def _describe(spec: SizeLimitsSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    parts = []
    if spec.per_order is not None:
        parts.append(f"at most {spec.per_order.normalize():f} lots per order")
    if len(spec.scaling) == 1:
        parts.append(f"at most {spec.scaling[0].lots.normalize():f} lots open in total")
    elif spec.scaling:
        steps = ", ".join(f"{s.lots.normalize():f} from {money(s.profit)}" for s in spec.scaling)
        parts.append(f"scaling plan (lots in total by profit at the day's start): {steps}")
    return "; ".join(parts)


PLUGIN: Plugin[SizeLimitsSpec] = Plugin(
    SIZE_LIMITS,
    SizeLimitsSpec,
    SizeLimitsSpec(),
    build=lambda spec, book: SizeLimitsRule(spec) if spec.enabled else None,
    describe=_describe,
    needs_initial_balance=lambda spec: spec.enabled and bool(spec.scaling),
)
