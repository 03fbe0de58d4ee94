"""Risk rules: one module per rule, assembled by ``riskmon.rules.registry``."""

from __future__ import annotations

from riskmon.rules.base import Band, Response, Rule, Watch
from riskmon.rules.registry import PLUGINS, Rulebook, build_rules, describe_rules, needs_initial_balance

__all__ = [
    "PLUGINS",
    "Band",
    "Response",
    "Rule",
    "Rulebook",
    "Watch",
    "build_rules",
    "describe_rules",
    "needs_initial_balance",
]
