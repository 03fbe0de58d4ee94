"""Risk rules: one module per family; ``build_rules`` turns a Rulebook into the rules to run."""

from __future__ import annotations

from riskmon.rules.base import Rule
from riskmon.rules.exposure import (
    LeverageRule,
    MarginLevelRule,
    MaxLotsRule,
    MaxPositionsRule,
    PositionSizeRule,
)
from riskmon.rules.loss import DailyLossRule, MaxLossRule
from riskmon.rules.objectives import MinTradingDaysRule, ProfitTargetRule
from riskmon.rules.spec import Rulebook

__all__ = ["Rule", "Rulebook", "build_rules"]


def build_rules(book: Rulebook) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    if book.daily_loss.enabled:
        rules.append(DailyLossRule(book.daily_loss))
    if book.max_loss.enabled:
        rules.append(MaxLossRule(book.max_loss))
    if book.position_size.enabled:
        rules.append(PositionSizeRule(book.position_size))
    if book.margin_level.enabled:
        rules.append(MarginLevelRule(book.margin_level))
    if book.leverage.enabled:
        rules.append(LeverageRule(book.leverage))
    if book.max_positions is not None:
        rules.append(MaxPositionsRule(book.max_positions))
    if book.max_lots is not None:
        rules.append(MaxLotsRule(book.max_lots))
    if book.profit_target.enabled:
        rules.append(ProfitTargetRule(book.profit_target))
    if book.min_trading_days is not None:
        rules.append(MinTradingDaysRule(book.min_trading_days))
    return tuple(rules)
