"""Profit target: an objective, reached when the closed balance is at the target with no position open."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import HUNDRED, EquityFree, Plugin, SpecRule, Watch, money
from riskmon.rules.spec import Money, RulebookBase, Sized
from riskmon.state import AccountState

PROFIT_TARGET = "profit_target"


class ProfitTargetSpec(Sized):
    enabled: bool = False
    size_basis: Literal["initial_pct", "fixed"] = "initial_pct"
    size: Money = Decimal(10)


@dataclass(frozen=True)
class ProfitTargetRule(SpecRule, EquityFree):
    spec: ProfitTargetSpec
    name: str = PROFIT_TARGET
    watches: frozenset[Watch] = frozenset({Watch.BALANCE, Watch.POSITIONS})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        initial = state.initial_balance
        target = initial * self.spec.size / HUNDRED if self.spec.size_basis == "initial_pct" else self.spec.size
        profit = snap.balance - initial
        held = bool(snap.positions)
        reached = profit >= target and not held

        def describe() -> str:
            message = f"profit {money(profit)} of target {money(target)}"
            return message + " (close positions to lock it in)" if profit >= target and held else message

        return RuleResult(self.name, Severity.INFO if reached else Severity.OK, profit, target, describe, unit="money")


def _describe(spec: ProfitTargetSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    size = money(spec.size) if spec.size_basis == "fixed" else f"{spec.size.normalize():f}% of the initial balance"
    return f"profit target {size}, on the balance with every position closed (an objective)"


PLUGIN: Plugin[ProfitTargetSpec] = Plugin(
    PROFIT_TARGET,
    ProfitTargetSpec,
    ProfitTargetSpec(),
    build=lambda spec, book: ProfitTargetRule(spec) if spec.enabled else None,
    describe=_describe,
    needs_initial_balance=lambda spec: spec.enabled,
)
