"""Effective leverage: total open notional / equity."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import ANY_EQUITY, INFINITY, Band, Plugin, SpecRule, Watch, share_of
from riskmon.rules.spec import RulebookBase, RuleSpec
from riskmon.state import AccountState

LEVERAGE = "leverage"


class LeverageSpec(RuleSpec):
    enabled: bool = False
    warning: Annotated[Decimal, Field(gt=0)] = Decimal(2)
    emergency: Annotated[Decimal, Field(gt=0)] = Decimal(3)


def effective_leverage(snap: AccountSnapshot) -> Decimal:
    """Total open notional / equity: what the leverage rule judges and the metrics export."""
    return share_of(snap.total_notional, snap.equity)


@dataclass(frozen=True)
class LeverageRule(SpecRule):
    spec: LeverageSpec
    name: str = LEVERAGE
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.PRICES})

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        leverage = effective_leverage(snap)
        if leverage > self.spec.emergency:
            severity, limit = Severity.CRITICAL, self.spec.emergency
        elif leverage > self.spec.warning:
            severity, limit = Severity.WARNING, self.spec.warning
        else:
            severity, limit = Severity.OK, self.spec.warning

        def describe() -> str:
            above = f"warning above {self.spec.warning}x, emergency above {self.spec.emergency}x"
            return f"leverage {leverage:.2f}x ({above})"

        return RuleResult(self.name, severity, leverage, limit, describe, unit="x", used=leverage / limit)

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        notional = snap.total_notional
        if notional <= 0:
            return ANY_EQUITY
        emergency, warning = notional / self.spec.emergency, notional / self.spec.warning
        if snap.equity < emergency:
            return Band(-INFINITY, emergency)
        return Band(emergency, warning) if snap.equity < warning else Band(warning, INFINITY)


def _describe(spec: LeverageSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    return f"leverage (open notional / equity): warning above {spec.warning}x, critical above {spec.emergency}x"


PLUGIN: Plugin[LeverageSpec] = Plugin(
    LEVERAGE,
    LeverageSpec,
    LeverageSpec(),
    build=lambda spec, book: LeverageRule(spec) if spec.enabled else None,
    describe=_describe,
)
