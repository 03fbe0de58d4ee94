"""Minimum trading days: an objective, counted by the firm's trading date of each position opened."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import ALERT_ONLY, EquityFree, Level, Plugin, Watch
from riskmon.rules.spec import Count
from riskmon.state import AccountState

MIN_TRADING_DAYS = "min_trading_days"


@dataclass(frozen=True)
class MinTradingDaysRule(EquityFree):
    required: int
    name: str = MIN_TRADING_DAYS
    response: Level = ALERT_ONLY
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        days = len(state.trading_days)
        severity = Severity.INFO if days >= self.required else Severity.OK
        message = f"{days} of {self.required} trading days"
        return RuleResult(self.name, severity, Decimal(days), Decimal(self.required), message, unit="days")


PLUGIN: Plugin[int | None] = Plugin(
    MIN_TRADING_DAYS,
    Count | None,
    None,
    build=lambda days, book: None if days is None else MinTradingDaysRule(days),
    describe=lambda days, book: (
        None if days is None else f"at least {days} trading days, each with a position opened (an objective)"
    ),
)
