"""Challenge objectives: informational, they never fail an account."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import HUNDRED, money
from riskmon.rules.spec import ProfitTargetSpec
from riskmon.state import AccountState


@dataclass(frozen=True)
class ProfitTargetRule:
    """Reached when the closed balance is at the target with no position open."""

    spec: ProfitTargetSpec
    name: str = "profit_target"

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


@dataclass(frozen=True)
class MinTradingDaysRule:
    required: int
    name: str = "min_trading_days"

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        days = len(state.trading_days)
        severity = Severity.INFO if days >= self.required else Severity.OK
        message = f"{days} of {self.required} trading days"
        return RuleResult(self.name, severity, Decimal(days), Decimal(self.required), message, unit="days")
