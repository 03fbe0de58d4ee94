"""Daily loss: equity must stay above the day's anchor minus the day's allowance."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from riskmon.models import AccountSnapshot, RuleResult
from riskmon.rules.base import HUNDRED, Band, DayBound, Plugin, SpecRule, Watch
from riskmon.rules.floors import Floor, Latching, floor_result, reaching, size_words
from riskmon.rules.spec import FloorSpec, Money, RulebookBase
from riskmon.state import AccountState

DAILY_LOSS = "daily_loss"


class DayAnchor(StrEnum):
    BALANCE = "balance"  # balance at the reset instant
    EQUITY = "equity"  # equity at the reset instant
    MAX_BALANCE_EQUITY = "max_balance_equity"
    INITIAL = "initial"  # the account's initial balance, every day


# In a trader's words, for `riskmon presets` and the start-up line alike.
ANCHOR_WORDS = {
    DayAnchor.BALANCE: "the balance",
    DayAnchor.EQUITY: "the equity",
    DayAnchor.MAX_BALANCE_EQUITY: "the higher of balance and equity",
    DayAnchor.INITIAL: "the initial balance",
}


class DailySize(StrEnum):
    INITIAL_PCT = "initial_pct"  # % of the initial balance
    ANCHOR_PCT = "anchor_pct"  # % of the day's anchor
    FIXED = "fixed"  # money


class DailyLossSpec(FloorSpec):
    enabled: bool = True
    anchor: DayAnchor = DayAnchor.BALANCE
    size_basis: DailySize = DailySize.ANCHOR_PCT
    size: Money = Decimal(5)
    breach: Literal["hard", "soft"] = "hard"  # hard: account failed; soft: blocked until the next reset

    def _basis_text(self) -> str:
        if self.size_basis is DailySize.ANCHOR_PCT:
            return f"{ANCHOR_WORDS[self.anchor]} at the day's reset"
        return super()._basis_text()


def day_anchor(spec: DailyLossSpec, state: AccountState) -> Decimal:
    match spec.anchor:
        case DayAnchor.BALANCE:
            return state.day_start_balance
        case DayAnchor.EQUITY:
            return state.day_start_equity
        case DayAnchor.MAX_BALANCE_EQUITY:
            return max(state.day_start_balance, state.day_start_equity)
        case DayAnchor.INITIAL:
            return state.initial_balance


def daily_allowance(spec: DailyLossSpec, anchor: Decimal, initial: Decimal) -> Decimal:
    match spec.size_basis:
        case DailySize.INITIAL_PCT:
            return initial * spec.size / HUNDRED
        case DailySize.ANCHOR_PCT:
            return anchor * spec.size / HUNDRED
        case DailySize.FIXED:
            return spec.size


@dataclass(frozen=True)
class DailyLossRule(Latching, DayBound, SpecRule):
    spec: DailyLossSpec
    name: str = DAILY_LOSS
    watches: frozenset[Watch] = frozenset({Watch.TIME})  # the day's anchor moves at the reset

    def floor(self, state: AccountState) -> Floor:
        anchor = day_anchor(self.spec, state)
        return Floor(anchor, anchor - daily_allowance(self.spec, anchor, state.initial_balance))

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        breach = " (account failed)" if self.spec.breach == "hard" else " (trading blocked until the next reset)"
        note = f" [day anchor {state.anchor_source.value}]" if state.anchor_estimated else ""
        result = floor_result(self.name, self.floor(state), snap.equity, self.spec, breach, note)
        return self.latched(result, state)

    @property
    def hard(self) -> bool:
        return self.spec.breach == "hard"

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        return self.latched_band(self.floor(state).band(snap.equity, self.spec), state)


def _describe(spec: DailyLossSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    size = size_words(spec)
    fails = "fails the account" if spec.breach == "hard" else "blocks trading for the day"
    return (
        f"{size} below {ANCHOR_WORDS[spec.anchor]} at the day's start ({book.day_reset} {book.timezone}); "
        f"{reaching(spec)} {fails}"
    )


def _needs_initial(spec: DailyLossSpec) -> bool:
    return spec.enabled and (spec.anchor is DayAnchor.INITIAL or spec.size_basis is DailySize.INITIAL_PCT)


PLUGIN: Plugin[DailyLossSpec] = Plugin(
    DAILY_LOSS,
    DailyLossSpec,
    DailyLossSpec(),
    build=lambda spec, book: DailyLossRule(spec) if spec.enabled else None,
    describe=_describe,
    needs_initial_balance=_needs_initial,
)
