"""Lots open in total at most N (``max_lots = N``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import ALERT_ONLY, EquityFree, Level, Plugin, Watch
from riskmon.rules.spec import Money
from riskmon.state import AccountState

MAX_LOTS = "max_lots"


@dataclass(frozen=True)
class MaxLotsRule(EquityFree):
    limit: Decimal
    name: str = MAX_LOTS
    response: Level = ALERT_ONLY
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        lots = snap.total_lots
        severity = Severity.CRITICAL if lots > self.limit else Severity.OK

        def describe() -> str:
            return f"{lots} lots open in total (limit {self.limit})"

        return RuleResult(self.name, severity, lots, self.limit, describe, unit="lots")


PLUGIN: Plugin[Decimal | None] = Plugin(
    MAX_LOTS,
    Money | None,
    None,
    build=lambda limit, book: None if limit is None else MaxLotsRule(limit),
    describe=lambda limit, book: None if limit is None else f"at most {limit.normalize():f} lots open",
)
