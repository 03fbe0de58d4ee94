"""Consistency (best day): the best day's closed profit as a share of the total closed profit.

Firms use it to hold back the objective or the payout (FTMO 1-Step 50 %, E8 One 40 %, Topstep), not to fail
the account: the verdict is a warning, and the figure a trader needs is the profit today can still make before
today becomes a best day that is too large. With ``B`` the closed profit before today, ``t`` today's closed
profit and ``s`` the share, today stays within the share while ``t <= s·(B + t)``, i.e. ``t <= s·B / (1 − s)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import DayBound, EquityFree, Plugin, Slot, SpecRule, Watch, money, pct
from riskmon.rules.spec import RulebookBase, RuleSpec
from riskmon.state import AccountState
from riskmon.units import Share

CONSISTENCY = "consistency"
ZERO = Decimal(0)


class ConsistencySpec(RuleSpec):
    max_share: Share = Decimal("0.5")  # the best day may be at most this share of the total profit
    equal_fails: bool = False  # "below 40 %" (True: exactly the share is not enough) or "no more than 40 %"


@dataclass(frozen=True)
class BestDay(Slot):
    """The best completed trading day's closed profit, and the day."""

    profit: Decimal = ZERO
    day: date | None = None
    unseen: bool = False  # the account had closed P&L before the first day riskmon saw: its days are unknown


@dataclass(frozen=True)
class ConsistencyRule(DayBound, SpecRule, EquityFree):
    spec: ConsistencySpec
    name: str = CONSISTENCY
    watches: frozenset[Watch] = frozenset({Watch.BALANCE, Watch.TIME})

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> BestDay:
        best: BestDay = BestDay.restore(slot) or BestDay(unseen=after.day_start_balance != after.initial_balance)
        if before.trading_day is None or after.trading_day == before.trading_day:
            return best
        # A day ended: its closed profit is the balance at the new day's reset minus its own reset balance.
        profit = after.day_start_balance - before.day_start_balance
        return BestDay(profit, before.trading_day, best.unseen) if profit > best.profit else best

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        best: BestDay = BestDay.restore(state.slots.get(self.name)) or BestDay()
        share = self.spec.max_share
        before_today = state.day_start_balance - state.initial_balance  # B
        today = snap.balance - state.day_start_balance  # t
        total = before_today + today
        top = max(best.profit, today)
        allowed = share * total
        over = top >= allowed if self.spec.equal_fails else top > allowed
        today_cap = share * before_today / (1 - share) if share < 1 else None
        room = None if today_cap is None else today_cap - today
        used = top / allowed if allowed > 0 else None

        def describe() -> str:
            if total <= 0:
                return f"no total profit yet (best day {money(top)})"
            text = (
                f"best day {money(top)} is {pct(top / total)} of the total profit {money(total)} (limit {pct(share)})"
            )
            if over:
                text += f"; {money(top / share - total)} more profit on other days meets it"
            if room is not None:
                text += f"; today can still make {money(max(room, ZERO))} before it is the best day over the limit"
            if best.unseen:
                text += " [best day among the days riskmon saw: earlier days are not known to it]"
            return text

        severity = Severity.WARNING if total > 0 and over else Severity.OK
        return RuleResult(self.name, severity, top, allowed, describe, unit="money", room_left=room, used=used)


def _describe(spec: ConsistencySpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    bound = "below" if spec.equal_fails else "at most"
    return (
        f"best day's closed profit {bound} {pct(spec.max_share)} of the total profit (an objective: a larger best "
        "day holds back passing or the payout until other days add profit)"
    )


PLUGIN: Plugin[ConsistencySpec] = Plugin(
    CONSISTENCY,
    ConsistencySpec,
    ConsistencySpec(),
    build=lambda spec, book: ConsistencyRule(spec) if spec.enabled else None,
    describe=_describe,
    needs_initial_balance=lambda spec: spec.enabled,
)
