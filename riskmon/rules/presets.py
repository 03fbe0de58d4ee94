"""Firm rulebooks as data. Each names its source and the date its rules were read.

Firms change rules often: every number here can be overridden per account (``[accounts.rules]``).
"00:00 server time" on the usual GMT+2/+3 servers that follow US daylight saving is 17:00 New York,
which is how those resets are written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from riskmon.rules.spec import Rulebook, deep_merge

_FIRM_DEFAULTS: dict[str, Any] = {"position_size": {"enabled": False}}


@dataclass(frozen=True)
class Preset:
    name: str
    firm: str
    program: str
    rules_as_of: str
    source: str
    rules: dict[str, Any]
    notes: str = ""
    initial_balance: Decimal | None = None
    unconfirmed: tuple[str, ...] = field(default=())

    def rulebook(self, overrides: dict[str, Any] | None = None) -> Rulebook:
        return Rulebook.model_validate(deep_merge(self.rules, overrides or {}))


def _firm(rules: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(_FIRM_DEFAULTS, rules)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="basic",
            firm="(reference monitor)",
            program="MAX_DAILY_LOSS_PERCENT / MAX_POSITION_SIZE_PERCENT",
            rules_as_of="2026-11",
            source="prop-risk-monitor README (the monitor riskmon supersedes)",
            rules={
                "daily_loss": {"anchor": "balance", "size_basis": "anchor_pct", "size": "5"},
                "position_size": {"enabled": True, "basis": "notional", "max_percent": "10"},
            },
            notes="Daily loss: % of the balance at 00:00 UTC. Position size: notional as % of equity.",
        ),
        Preset(
            name="ftmo-2step",
            firm="FTMO",
            program="2-Step Challenge",
            rules_as_of="2026",
            source="academy.ftmo.com (maximum daily loss); ftmo.com trading objectives",
            rules=_firm(
                {
                    "timezone": "Europe/Prague",
                    "day_reset": "00:00",
                    "daily_loss": {"anchor": "balance", "size_basis": "initial_pct", "size": "5"},
                    "max_loss": {
                        "enabled": True,
                        "mode": "static",
                        "size_basis": "initial_pct",
                        "size": "10",
                    },
                    "profit_target": {"enabled": True, "size_basis": "initial_pct", "size": "10"},
                    "min_trading_days": 4,
                }
            ),
            notes="Floor = balance at Prague midnight − 5 % of initial; max loss static at 90 % of initial.",
            unconfirmed=("one 2026 dataset says the max loss now trails end-of-day",),
        ),
        Preset(
            name="ftmo-1step",
            firm="FTMO",
            program="1-Step Challenge",
            rules_as_of="2026",
            source="ftmo.com (1-Step trading objectives)",
            rules=_firm(
                {
                    "timezone": "Europe/Prague",
                    "day_reset": "00:00",
                    "daily_loss": {"anchor": "balance", "size_basis": "initial_pct", "size": "3"},
                    "max_loss": {
                        "enabled": True,
                        "mode": "trailing",
                        "trail": "eod_balance",
                        "size_basis": "initial_pct",
                        "size": "10",
                    },
                    "profit_target": {"enabled": True, "size_basis": "initial_pct", "size": "10"},
                }
            ),
            notes="Max loss trails the highest end-of-day balance by 10 % of initial; intraday equity "
            "does not move it. Best-day 50 % rule not checked (it blocks payout, not the account).",
            unconfirmed=("lock at breakeven",),
        ),
        Preset(
            name="the5ers-highstakes",
            firm="The5ers",
            program="High Stakes",
            rules_as_of="2026",
            source="help.the5ers.com",
            rules=_firm(
                {
                    "timezone": "America/New_York",
                    "day_reset": "17:00",
                    "daily_loss": {"anchor": "max_balance_equity", "size_basis": "anchor_pct", "size": "5"},
                    "max_loss": {
                        "enabled": True,
                        "mode": "static",
                        "size_basis": "initial_pct",
                        "size": "10",
                    },
                }
            ),
            notes="Daily loss 5 % of the higher of balance and equity at 5 PM New York. Per-asset "
            "leverage caps (FX 1:100 …) are the broker's; riskmon's leverage rule is account-wide.",
        ),
        Preset(
            name="fundednext-stellar-2step",
            firm="FundedNext",
            program="Stellar 2-Step",
            rules_as_of="2026",
            source="help.fundednext.com",
            rules=_firm(
                {
                    "timezone": "America/New_York",
                    "day_reset": "17:00",
                    "daily_loss": {"anchor": "balance", "size_basis": "initial_pct", "size": "5"},
                    "max_loss": {
                        "enabled": True,
                        "mode": "static",
                        "size_basis": "initial_pct",
                        "size": "10",
                    },
                }
            ),
            notes="Daily loss 5 % of initial below the day's starting balance; floating P&L counts; "
            "reset 00:00 server time (GMT+2/+3).",
            unconfirmed=("which balance anchors the next day (balance at the reset assumed)",),
        ),
        Preset(
            name="e8-one",
            firm="E8 Markets",
            program="E8 One",
            rules_as_of="2026",
            source="help.e8markets.com (E8 One trailing drawdown article)",
            rules=_firm(
                {
                    "timezone": "America/New_York",
                    "day_reset": "17:00",
                    "daily_loss": {"anchor": "balance", "size_basis": "anchor_pct", "size": "3"},
                    "max_loss": {
                        "enabled": True,
                        "mode": "trailing",
                        "trail": "intraday_balance",
                        "size_basis": "initial_pct",
                        "size": "6",
                        "lock": "initial",
                    },
                }
            ),
            notes="Floor trails the closed-balance high by 6 % of initial at once and locks at the "
            "initial balance (100k → 94k; 101k → 95k; from 106k on the floor stays 100k).",
        ),
        Preset(
            name="topstep-50k",
            firm="Topstep",
            program="Trading Combine 50K",
            rules_as_of="2026",
            source="help.topstep.com",
            rules=_firm(
                {
                    "timezone": "America/Chicago",
                    "day_reset": "17:00",
                    "daily_loss": {
                        "anchor": "balance",
                        "size_basis": "fixed",
                        "size": "1000",
                        "breach": "soft",
                    },
                    "max_loss": {
                        "enabled": True,
                        "mode": "trailing",
                        "trail": "eod_balance",
                        "size_basis": "fixed",
                        "size": "2000",
                        "lock": "initial",
                    },
                }
            ),
            initial_balance=Decimal(50000),
            notes="Maximum Loss Limit $2,000 trailing the end-of-day balance high, locked at $50,000. "
            "Daily Loss Limit $1,000 is soft: flatten and block until the next 5 PM Chicago session.",
        ),
    )
}


# Firms on TradeLocker (issue 18), kept in their own block so the preset list can change around them.
_TRADELOCKER_PRESETS = (
    Preset(
        name="diamondhands-2step",
        firm="Diamond Hands Trading",
        program="2-Step Challenge (TradeLocker)",
        rules_as_of="2026-12-02",
        source="https://www.diamondhandstrading.co/how-it-works (read 2026-12-02)",
        rules=_firm(
            {
                "timezone": "America/New_York",
                "day_reset": "17:00",
                "daily_loss": {"anchor": "balance", "size_basis": "initial_pct", "size": "5"},
                "max_loss": {"enabled": True, "mode": "static", "size_basis": "initial_pct", "size": "8"},
                "profit_target": {"enabled": True, "size_basis": "initial_pct", "size": "8"},
                "min_trading_days": 3,
            }
        ),
        notes="Daily: equity may not drop more than 5 % of the starting balance in a trading day; overall: "
        "not more than 8 % below the starting balance. Phase 1 target 8 % (phase 2: 5 %, set profit_target). "
        "Trades on TradeLocker (PLATFORM=tradelocker).",
        unconfirmed=(
            "the day's reset time and zone (the page does not say; 17:00 New York assumed)",
            "whether the day is measured from its starting balance or equity (balance assumed)",
        ),
    ),
)
PRESETS.update({p.name: p for p in _TRADELOCKER_PRESETS})
