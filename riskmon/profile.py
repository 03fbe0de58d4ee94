"""Who an account is and which rulebook applies: configuration's output, every component's input."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from riskmon.clock import TradingCalendar
from riskmon.rules import Rule, Rulebook, build_rules


@dataclass(frozen=True)
class AccountProfile:
    """What the engine needs to know about one account: who it is and which rulebook applies."""

    account: str
    rulebook: Rulebook = field(default_factory=Rulebook)
    label: str = ""
    platform: str = "replay"
    initial_balance: Decimal | None = None  # None: taken from the first snapshot

    @property
    def name(self) -> str:
        return self.label or self.account

    @cached_property
    def rules(self) -> tuple[Rule, ...]:
        return build_rules(self.rulebook)

    @cached_property
    def calendar(self) -> TradingCalendar:
        return self.rulebook.calendar
