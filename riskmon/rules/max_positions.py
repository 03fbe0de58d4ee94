"""Open positions at most N (``max_positions = N``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import ALERT_ONLY, EquityFree, Level, Plugin, Watch
from riskmon.rules.spec import Count
from riskmon.state import AccountState

MAX_POSITIONS = "max_positions"


@dataclass(frozen=True)
class MaxPositionsRule(EquityFree):
    limit: int
    name: str = MAX_POSITIONS
    response: Level = ALERT_ONLY
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        count = len(snap.positions)
        severity = Severity.CRITICAL if count > self.limit else Severity.OK
        message = f"{count} open positions (limit {self.limit})"
        return RuleResult(self.name, severity, Decimal(count), Decimal(self.limit), message, unit="positions")


PLUGIN: Plugin[int | None] = Plugin(
    MAX_POSITIONS,
    Count | None,
    None,
    build=lambda limit, book: None if limit is None else MaxPositionsRule(limit),
    describe=lambda limit, book: None if limit is None else f"at most {limit} open positions",
)
