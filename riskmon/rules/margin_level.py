"""Margin level: equity / used margin × 100; nothing to say while no margin is in use."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import ANY_EQUITY, HUNDRED, INFINITY, Band, Plugin, SpecRule, Watch
from riskmon.rules.spec import RulebookBase, RuleSpec
from riskmon.state import AccountState

MARGIN_LEVEL = "margin_level"


class MarginLevelSpec(RuleSpec):
    enabled: bool = True
    warning_below: Annotated[Decimal, Field(gt=0)] = Decimal(100)
    critical_below: Annotated[Decimal, Field(gt=0)] = Decimal(50)


@dataclass(frozen=True)
class MarginLevelRule(SpecRule):
    spec: MarginLevelSpec
    name: str = MARGIN_LEVEL
    watches: frozenset[Watch] = frozenset({Watch.MARGIN})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        level = snap.margin_level
        if level is None:
            return RuleResult(self.name, Severity.OK, INFINITY, self.spec.warning_below, "no margin in use", "%")
        if level < self.spec.critical_below:
            severity, limit = Severity.CRITICAL, self.spec.critical_below
        elif level < self.spec.warning_below:
            severity, limit = Severity.WARNING, self.spec.warning_below
        else:
            severity, limit = Severity.OK, self.spec.warning_below

        def describe() -> str:
            below = f"warning below {self.spec.warning_below}%, critical below {self.spec.critical_below}%"
            return f"margin level {level:.1f}% ({below})"

        return RuleResult(self.name, severity, level, limit, describe, unit="%")

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        if snap.margin <= 0:
            return ANY_EQUITY
        critical = self.spec.critical_below * snap.margin / HUNDRED
        warning = self.spec.warning_below * snap.margin / HUNDRED
        if snap.equity < critical:
            return Band(-INFINITY, critical)
        return Band(critical, warning) if snap.equity < warning else Band(warning, INFINITY)


def _describe(spec: MarginLevelSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    return f"margin level: warning below {spec.warning_below}%, critical below {spec.critical_below}%"


PLUGIN: Plugin[MarginLevelSpec] = Plugin(
    MARGIN_LEVEL,
    MarginLevelSpec,
    MarginLevelSpec(),
    build=lambda spec, book: MarginLevelRule(spec) if spec.enabled else None,
    describe=_describe,
)
