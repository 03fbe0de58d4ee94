"""Overall (max) loss: a static floor under the initial balance, or one trailing a high-water mark."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from riskmon.models import AccountSnapshot, RuleResult
from riskmon.rules.base import HUNDRED, Band, DayBound, Plugin, SpecRule, Watch, money
from riskmon.rules.floors import Floor, Latching, floor_result, number, reaching, size_words
from riskmon.rules.spec import FloorSpec, Money, RulebookBase
from riskmon.state import AccountState

MAX_LOSS = "max_loss"


class FloorMode(StrEnum):
    STATIC = "static"
    TRAILING = "trailing"


class TrailSource(StrEnum):
    EOD_BALANCE = "eod_balance"  # highest end-of-day balance
    INTRADAY_BALANCE = "intraday_balance"  # highest closed balance, updated at once
    INTRADAY_EQUITY = "intraday_equity"  # highest equity seen


# In a trader's words, for `riskmon presets` and the start-up line alike.
TRAIL_WORDS = {
    TrailSource.EOD_BALANCE: "the highest end-of-day balance",
    TrailSource.INTRADAY_BALANCE: "the highest balance",
    TrailSource.INTRADAY_EQUITY: "the highest equity",
}


class LossSize(StrEnum):
    INITIAL_PCT = "initial_pct"
    HIGH_PCT = "high_pct"  # % of the high-water mark the floor trails
    FIXED = "fixed"


class MaxLossSpec(FloorSpec):
    enabled: bool = False
    mode: FloorMode = FloorMode.STATIC
    trail: TrailSource = TrailSource.EOD_BALANCE
    size_basis: LossSize = LossSize.INITIAL_PCT
    size: Money = Decimal(10)
    lock: Literal["initial"] | Money | None = None  # level where a trailing floor stops rising


def trailing_high(source: TrailSource, state: AccountState) -> Decimal:
    match source:
        case TrailSource.EOD_BALANCE:
            return state.eod_balance_high
        case TrailSource.INTRADAY_BALANCE:
            return state.balance_high
        case TrailSource.INTRADAY_EQUITY:
            return state.equity_high


@dataclass(frozen=True)
class MaxLossRule(Latching, DayBound, SpecRule):
    spec: MaxLossSpec
    name: str = MAX_LOSS

    @property
    def watches(self) -> frozenset[Watch]:
        """A floor trailing the balance moves with it; one trailing equity moves with every new high."""
        if self.spec.mode is FloorMode.STATIC:
            return frozenset()
        return frozenset({Watch.TIME} if self.spec.trail is TrailSource.EOD_BALANCE else {Watch.BALANCE})

    def floor(self, state: AccountState) -> Floor:
        spec, initial = self.spec, state.initial_balance
        reference = initial if spec.mode is FloorMode.STATIC else trailing_high(spec.trail, state)
        match spec.size_basis:
            case LossSize.INITIAL_PCT:
                allowance = initial * spec.size / HUNDRED
            case LossSize.HIGH_PCT:
                allowance = reference * spec.size / HUNDRED
            case LossSize.FIXED:
                allowance = spec.size
        level = reference - allowance
        if spec.mode is FloorMode.TRAILING and spec.lock is not None:
            level = min(level, initial if spec.lock == "initial" else Decimal(spec.lock))
        return Floor(reference, level)

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        result = floor_result(self.name, self.floor(state), snap.equity, self.spec, " (account failed)")
        return self.latched(result, state)

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        band = self.floor(state).band(snap.equity, self.spec)
        if self.spec.mode is FloorMode.TRAILING and self.spec.trail is TrailSource.INTRADAY_EQUITY:
            band &= (band.low, state.equity_high)  # a new equity high raises the floor
        return self.latched_band(band, state)


def lock_words(spec: MaxLossSpec) -> str | None:
    """Where a trailing floor stops rising, in words (None: it never stops)."""
    if spec.lock is None:
        return None
    return "the initial balance" if spec.lock == "initial" else money(Decimal(spec.lock))


def _describe(spec: MaxLossSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    size = size_words(spec)
    if spec.mode is FloorMode.STATIC:
        below = f"{number(spec.size)}%" if spec.size_basis is LossSize.INITIAL_PCT else size
        text = f"a fixed floor {below} below the initial balance"
    else:
        text = f"{size} below {TRAIL_WORDS[spec.trail]}, rising with it"
        if (lock := lock_words(spec)) is not None:
            text += f"; stops rising at {lock}"
    return f"{text}; {reaching(spec)} fails the account"


PLUGIN: Plugin[MaxLossSpec] = Plugin(
    MAX_LOSS,
    MaxLossSpec,
    MaxLossSpec(),
    build=lambda spec, book: MaxLossRule(spec) if spec.enabled else None,
    describe=_describe,
    needs_initial_balance=lambda spec: spec.enabled,
)
