"""Trade count: trades opened per trading day and per week, against the trader's (or the firm's) limits.

A trade is a position opened (an id riskmon has not seen open before). Reaching the limit warns (the next trade
breaks it); going over it is critical.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from pydantic import model_validator

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import DayBound, EquityFree, Plugin, Slot, SpecRule, Watch
from riskmon.rules.period_loss import week_start
from riskmon.rules.spec import Count, RulebookBase, RuleSpec
from riskmon.rules.trades import Held, trades_between
from riskmon.state import AccountState

TRADE_COUNT = "trade_count"


class TradeCountSpec(RuleSpec):
    per_day: Count | None = None
    per_week: Count | None = None

    @model_validator(mode="after")
    def _a_limit(self) -> TradeCountSpec:
        if self.enabled and self.per_day is None and self.per_week is None:
            raise ValueError("set per_day, per_week or both")
        return self


@dataclass(frozen=True)
class Tally(Slot):
    day: date
    week: date  # the Monday of the trading day's week
    today: int = 0
    this_week: int = 0
    ids: tuple[str, ...] = ()  # positions open at the last snapshot
    pnls: tuple[Decimal, ...] = ()


@dataclass(frozen=True)
class TradeCountRule(DayBound, SpecRule, EquityFree):
    spec: TradeCountSpec
    name: str = TRADE_COUNT
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.TIME})

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> Tally:
        tally: Tally | None = Tally.restore(slot)
        day = after.trading_day
        assert day is not None and after.day_start is not None
        held = None if tally is None else Held(tally.ids, tally.pnls)
        # On the first snapshot, a position opened before today's reset is not today's trade.
        new = [
            p
            for p in trades_between(held, before.last_balance, snap).opened
            if tally is not None or p.opened_at is None or p.opened_at >= after.day_start
        ]
        week = week_start(day)
        if tally is None:
            tally = Tally(day, week)
        if tally.day != day:
            tally = replace(tally, day=day, today=0)
        if tally.week != week:
            tally = replace(tally, week=week, this_week=0)
        now = Held.of(snap)
        return replace(
            tally, today=tally.today + len(new), this_week=tally.this_week + len(new), ids=now.ids, pnls=now.pnls
        )

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        tally: Tally | None = Tally.restore(state.slots.get(self.name))
        assert tally is not None, "advance runs before check"
        counts = [
            (n, limit, what)
            for n, limit, what in (
                (tally.today, self.spec.per_day, "today"),
                (tally.this_week, self.spec.per_week, "this week"),
            )
            if limit is not None
        ]
        count, limit, what = max(counts, key=lambda c: Decimal(c[0]) / c[1])
        severity = Severity.CRITICAL if count > limit else Severity.WARNING if count == limit else Severity.OK

        def describe() -> str:
            parts = [f"{n} trades {w} (limit {lim})" for n, lim, w in counts]
            left = limit - count
            tail = "no trade left" if left == 0 else f"{-left} over" if left < 0 else f"{left} left"
            return f"{'; '.join(parts)}: {tail} {what}"

        return RuleResult(
            self.name, severity, Decimal(count), Decimal(limit), describe, unit="trades", used=Decimal(count) / limit
        )


def _describe(spec: TradeCountSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    limits = [f"{n} per {w}" for n, w in ((spec.per_day, "trading day"), (spec.per_week, "week")) if n is not None]
    return f"at most {' and '.join(limits)} trades (a trade is a position opened)"


PLUGIN: Plugin[TradeCountSpec] = Plugin(
    TRADE_COUNT,
    TradeCountSpec,
    TradeCountSpec(),
    build=lambda spec, book: TradeCountRule(spec) if spec.enabled else None,
    describe=_describe,
)
