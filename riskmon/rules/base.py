"""The shape every rule has, and the small helpers rules share for their messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from riskmon.models import AccountSnapshot, RuleResult
from riskmon.state import AccountState

INFINITY = Decimal("Infinity")
HUNDRED = Decimal(100)


class Rule(Protocol):
    """Pure: a function of (snapshot, state) with no I/O and no clock reads."""

    @property
    def name(self) -> str: ...

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult: ...


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def pct(share: Decimal) -> str:
    """A share (0.8) as a percentage ("80.0%")."""
    return f"{share * HUNDRED:.1f}%"


def share_of(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole as a share; infinite when whole is not positive and part is."""
    if whole > 0:
        return part / whole
    return INFINITY if part > 0 else Decimal(0)
