"""The registry: every rule plug-in, in the order results are reported, and the Rulebook assembled from them.

Adding a rule is one module (see docs/adding-a-rule.md) and one line in ``PLUGINS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import create_model

from riskmon.rules import (
    consistency,
    daily_loss,
    daily_profit,
    flat,
    inactivity,
    leverage,
    losing_streak,
    margin_level,
    max_loss,
    max_lots,
    max_positions,
    min_trading_days,
    news,
    period_loss,
    position_size,
    profit_target,
    size_limits,
    trade_count,
)
from riskmon.rules.base import Plugin, Rule
from riskmon.rules.spec import RulebookBase

PLUGINS: tuple[Plugin[Any], ...] = (
    daily_loss.PLUGIN,
    max_loss.PLUGIN,
    position_size.PLUGIN,
    margin_level.PLUGIN,
    leverage.PLUGIN,
    max_positions.PLUGIN,
    max_lots.PLUGIN,
    profit_target.PLUGIN,
    min_trading_days.PLUGIN,
    period_loss.WEEKLY,
    period_loss.MONTHLY,
    daily_profit.PLUGIN,
    consistency.PLUGIN,
    size_limits.PLUGIN,
    trade_count.PLUGIN,
    losing_streak.PLUGIN,
    flat.FLAT_BY_PLUGIN,
    flat.WEEKEND_PLUGIN,
    news.PLUGIN,
    inactivity.PLUGIN,
)

if TYPE_CHECKING:
    Rulebook = RulebookBase
else:
    Rulebook = create_model(
        "Rulebook",
        __base__=RulebookBase,
        __module__=__name__,
        **{plugin.name: (plugin.field, plugin.default) for plugin in PLUGINS},
    )
    Rulebook.__doc__ = RulebookBase.__doc__


def build_rules(book: RulebookBase) -> tuple[Rule, ...]:
    """The rules ``book`` turns on, in registry order."""
    built = (plugin.build(plugin.of(book), book) for plugin in PLUGINS)
    return tuple(rule for rule in built if rule is not None)


def describe_rules(book: RulebookBase) -> list[tuple[str, str]]:
    """(rule, what it does) for every rule ``book`` turns on: `riskmon presets` and `riskmon config`."""
    lines = ((plugin.name, plugin.describe(plugin.of(book), book)) for plugin in PLUGINS)
    return [(name, text) for name, text in lines if text is not None]


def needs_initial_balance(book: RulebookBase) -> bool:
    return any(plugin.needs_initial_balance(plugin.of(book)) for plugin in PLUGINS)
