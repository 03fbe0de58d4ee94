"""Firm rulebooks as data. Each names its source and the date its rules were read, rule by rule.

Firms change rules often: every number here can be overridden per account (``[accounts.rules]``).
"00:00 server time" on the usual GMT+2/+3 servers that follow US daylight saving is 17:00 New York,
which is how those resets are written here.

Whether equity exactly on a floor is a breach is the firm's wording (``equal_breaches``): "reaching" or
"hit or exceed" the limit breaches; "below" or "exceeding" it does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from riskmon.rules.consistency import CONSISTENCY
from riskmon.rules.daily_loss import DAILY_LOSS
from riskmon.rules.flat import FLAT_BY, WEEKEND
from riskmon.rules.margin_level import MARGIN_LEVEL
from riskmon.rules.max_loss import MAX_LOSS
from riskmon.rules.min_trading_days import MIN_TRADING_DAYS
from riskmon.rules.news import NEWS
from riskmon.rules.position_size import POSITION_SIZE
from riskmon.rules.profit_target import PROFIT_TARGET
from riskmon.rules.registry import Rulebook, describe_rules
from riskmon.rules.size_limits import SIZE_LIMITS
from riskmon.rules.spec import deep_merge

_FIRM_DEFAULTS: dict[str, Any] = {"position_size": {"enabled": False}}
READ = "2026-12-02"  # when the pages cited below were read
CALENDAR = "calendar"  # the citation key of the time zone and reset


@dataclass(frozen=True)
class Cite:
    """Where a rule's numbers come from, and when the page was read."""

    url: str
    read: str = READ

    def __str__(self) -> str:
        return f"{self.url} (read {self.read})" if self.read else self.url


RISKMON_OWN = Cite("riskmon's own check, not a firm rule", "")


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
    cites: Mapping[str, Cite] = field(default_factory=dict)  # rule name (or CALENDAR) -> its source

    def rulebook(self, overrides: dict[str, Any] | None = None) -> Rulebook:
        return Rulebook.model_validate(deep_merge(self.rules, overrides or {}))

    def cite(self, rule: str) -> Cite:
        """The source of one rule's numbers: its own citation, riskmon's for its own checks, else the preset's."""
        if rule in self.cites:
            return self.cites[rule]
        if rule in (MARGIN_LEVEL, POSITION_SIZE) and self.firm != "(reference monitor)":
            return RISKMON_OWN
        return Cite(self.source, self.rules_as_of)

    def describe(self) -> list[tuple[str, str]]:
        """`riskmon presets`: the day, every rule the preset turns on with its source, and the notes."""
        book = self.rulebook()
        rows = [("source", f"{self.source}, as of {self.rules_as_of}")]
        rows.append(("day", f"resets at {book.day_reset} {book.timezone} [{self.cite(CALENDAR)}]"))
        described = describe_rules(book)
        rows += [(rule.replace("_", " "), f"{text} [{self.cite(rule)}]") for rule, text in described]
        on = {rule for rule, _ in described} | {CALENDAR}
        off = [(rule, cite) for rule, cite in self.cites.items() if rule not in on]
        rows += [(rule.replace("_", " "), f"not checked by this preset [{cite}]") for rule, cite in off]
        if self.initial_balance is not None:
            rows.append(("initial", f"{self.initial_balance:,} unless set per account"))
        if self.notes:
            rows.append(("notes", self.notes))
        return rows

    def variant(self, name: str, program: str, rules: dict[str, Any], **changes: Any) -> Preset:
        """A preset that differs from this one by ``rules`` (merged) and the fields in ``changes``."""
        cites = {**self.cites, **changes.pop("cites", {})}
        unconfirmed = self.unconfirmed + tuple(changes.pop("unconfirmed", ()))
        fields = {
            **self.__dict__,
            "name": name,
            "program": program,
            "rules": deep_merge(self.rules, rules),
            "cites": cites,
            "unconfirmed": unconfirmed,
            **changes,
        }
        return Preset(**fields)


def _firm(rules: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(_FIRM_DEFAULTS, rules)


FTMO_DAILY = Cite("https://academy.ftmo.com/lesson/maximum-daily-loss")
FTMO_MAX_LOSS = Cite("https://academy.ftmo.com/?p=47 (Maximum Loss: equity must not drop below 90 % of initial)")
FTMO_OBJECTIVES = Cite("https://ftmo.com/en/trading-objectives")
FTMO_1STEP_OBJECTIVES = Cite("https://promo.ftmo.oanda.com/new-1-step-challenge (trading objectives)")

BASIC = Preset(
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
)

FTMO_2STEP = Preset(
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
            "max_loss": {"enabled": True, "mode": "static", "size_basis": "initial_pct", "size": "10"},
            "profit_target": {"enabled": True, "size_basis": "initial_pct", "size": "10"},
            "min_trading_days": 4,
        }
    ),
    notes="Floor = balance at Prague midnight − 5 % of initial; max loss static at 90 % of initial. "
    "Equity must not fall below either floor: equal is not a breach. No news or weekend restriction "
    "during the Challenge (see ftmo-2step-funded).",
    unconfirmed=("one 2026 dataset says the max loss now trails end-of-day",),
    cites={
        CALENDAR: FTMO_DAILY,
        DAILY_LOSS: FTMO_DAILY,
        MAX_LOSS: FTMO_MAX_LOSS,
        PROFIT_TARGET: FTMO_OBJECTIVES,
        MIN_TRADING_DAYS: FTMO_OBJECTIVES,
    },
)

FTMO_FUNDED = FTMO_2STEP.variant(
    "ftmo-2step-funded",
    "FTMO Account (Standard, after the 2-Step Challenge)",
    {
        "profit_target": {"enabled": False},
        "min_trading_days": None,
        "weekend": {
            "enabled": True,
            "at": "17:00",
            "days": ["fri"],
            "reopen_day": "sun",
            "reopen": "17:00",
            "timezone": "America/New_York",
            "lead_minutes": 30,
        },
        "news": {"before_minutes": 2, "after_minutes": 2},
    },
    notes="The funded Standard account keeps the Challenge's loss limits; positions must be closed before the "
    "weekend close (Swing accounts are exempt: use ftmo-2step there). News: no trade opened or closed on the "
    "targeted instruments from 2 minutes before to 2 minutes after a restricted release; turn the news rule on "
    "with your calendar ([accounts.rules.news] enabled = true, calendar = a file or URL).",
    unconfirmed=(
        "the weekend close is taken as Friday 17:00 New York; an instrument closing earlier (indices, "
        "commodities) must be flat by its own close, and a market break longer than 2 hours also requires flat",
    ),
    cites={
        WEEKEND: Cite("https://ftmo.com/en/faq/do-i-have-to-close-my-positions-overnight/"),
        NEWS: Cite("https://ftmo.com/au/faq/can-i-trade-news"),
    },
)

FTMO_1STEP = Preset(
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
            "consistency": {"enabled": True, "max_share": "0.5", "equal_fails": False},
        }
    ),
    notes="Max loss trails the highest end-of-day balance by 10 % of initial; intraday equity does not move it. "
    "Best Day Rule 50 %: a larger best day does not fail the evaluation, more profitable days meet it.",
    unconfirmed=(
        "whether the floor stops rising at the initial balance: a secondary source says so, FTMO's page says only "
        "that it never falls (no lock assumed)",
    ),
    cites={
        CALENDAR: FTMO_DAILY,
        DAILY_LOSS: FTMO_1STEP_OBJECTIVES,
        MAX_LOSS: Cite("https://ftmo.com/au/?p=1671 (1-Step Maximum Loss Limit, end-of-day trailing)"),
        PROFIT_TARGET: FTMO_1STEP_OBJECTIVES,
        CONSISTENCY: Cite(
            "https://ftmo.com/au/faq/what-happens-if-the-best-day-rule-is-not-met-in-ftmo-challenge-1-step"
        ),
    },
)

THE5ERS_LIMITS = Cite(
    "https://help.the5ers.com/what-is-the-maximum-loss-and-the-maximum-daily-loss-in-the-high-stakes-program"
)
THE5ERS = Preset(
    name="the5ers-highstakes",
    firm="The5ers",
    program="High Stakes",
    rules_as_of="2026",
    source="help.the5ers.com",
    rules=_firm(
        {
            "timezone": "America/New_York",
            "day_reset": "17:00",
            "daily_loss": {
                "anchor": "max_balance_equity",
                "size_basis": "anchor_pct",
                "size": "5",
                "equal_breaches": True,
            },
            "max_loss": {
                "enabled": True,
                "mode": "static",
                "size_basis": "initial_pct",
                "size": "10",
                "equal_breaches": True,
            },
        }
    ),
    notes='Daily loss 5 % of the higher of balance and equity at 5 PM New York. "Reaching any of these limits" '
    "terminates the account: equity exactly on either floor is a breach. Per-asset leverage caps (FX 1:100 …) "
    "are the broker's; riskmon's leverage rule is account-wide.",
    cites={CALENDAR: THE5ERS_LIMITS, DAILY_LOSS: THE5ERS_LIMITS, MAX_LOSS: THE5ERS_LIMITS},
)

FUNDEDNEXT_LIMITS = Cite(
    "https://help.fundednext.com/en/articles/9941519-daily-drawdown-limit-vs-overall-drawdown-limit"
)
FUNDEDNEXT_RULES = Cite(
    "https://help.fundednext.com/en/articles/12673362-what-rules-do-i-need-to-follow-in-the-stellar-2-step-challenge"
)
FUNDEDNEXT = Preset(
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
            "max_loss": {"enabled": True, "mode": "static", "size_basis": "initial_pct", "size": "10"},
            "profit_target": {"enabled": True, "size_basis": "initial_pct", "size": "8"},
            "min_trading_days": 5,
        }
    ),
    notes="Daily loss 5 % of initial below the day's starting balance; floating P&L counts; reset 00:00 server "
    "time (GMT+2/+3). A breach is exceeding a limit: equity exactly on a floor is not. News: on the funded "
    "FundedNext Account only 40 % of the profit of trades opened or closed from 5 minutes before to 5 minutes "
    "after a listed high-impact release counts (a profit split, not a breach; not checked by riskmon).",
    unconfirmed=(
        "which balance anchors the next day (balance at the reset assumed)",
        "equal-is-not-a-breach rests on the word 'exceeding'; no worked example at exactly the limit",
        "the phase 1 target (8 %) is a secondary source's figure; phase 2 is 5 %",
    ),
    cites={
        CALENDAR: FUNDEDNEXT_LIMITS,
        DAILY_LOSS: FUNDEDNEXT_LIMITS,
        MAX_LOSS: FUNDEDNEXT_LIMITS,
        PROFIT_TARGET: Cite("https://fundedtradingaccount.com/forex/funded-next/stellar-2-step (secondary)"),
        MIN_TRADING_DAYS: FUNDEDNEXT_RULES,
    },
)

E8_DAILY = Cite("https://fundedwiki.com/e8-markets/daily-drawdown (secondary: 3 % of the day's starting balance)")
E8_ONE = Preset(
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
            "consistency": {"enabled": True, "max_share": "0.4", "equal_fails": False},
        }
    ),
    notes="Floor trails the closed-balance high by 6 % of initial at once and locks at the initial balance "
    "(100k → 94k; 101k → 95k; from 106k on the floor stays 100k). Best day at most 40 % of the total profit "
    "for a payout.",
    unconfirmed=(
        "whether equity exactly on a floor is a breach (not a breach assumed)",
        "the daily drawdown (3 % of the day's starting balance, reset 00:00 server time) from a secondary source; "
        "E8 One lets the trader customise it: set daily_loss per account to match",
    ),
    cites={
        CALENDAR: E8_DAILY,
        DAILY_LOSS: E8_DAILY,
        MAX_LOSS: Cite(
            "https://help.e8markets.com/en/articles/9122280-trailing-drawdown-calculation-and-explanation-for-e8-one-account"
        ),
        CONSISTENCY: Cite("https://intercom.help/e8/en/articles/10450125-40-best-day-rule"),
    },
)

TOPSTEP_DLL = Cite("https://help.futures.topstep.com/hc/en-us/articles/8808125387923-Prohibited-Conduct")
TOPSTEP = Preset(
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
                "equal_breaches": True,
            },
            "max_loss": {
                "enabled": True,
                "mode": "trailing",
                "trail": "eod_balance",
                "size_basis": "fixed",
                "size": "2000",
                "lock": "initial",
            },
            "flat_by": {
                "enabled": True,
                "at": "15:10",
                "reopen": "17:00",
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "lead_minutes": 10,
            },
            "consistency": {"enabled": True, "max_share": "0.5", "equal_fails": True},
            "size_limits": {"enabled": True, "scaling": [{"profit": "0", "lots": "5"}]},
        }
    ),
    initial_balance=Decimal(50000),
    notes="Maximum Loss Limit $2,000 trailing the end-of-day balance high, locked at $50,000; falling below it "
    "fails the account. Daily Loss Limit $1,000: a net P&L that hits or exceeds it is a soft breach (flattened, "
    "blocked until 5 PM Chicago). Positions flat by 3:10 PM Chicago. Micro contracts count as full lots.",
    unconfirmed=(
        "consistency 50 % is a secondary source's 2026 figure; Topstep's own article "
        "(help.futures.topstep.com/hc/en-us/articles/4405772379155) says below 40 % (Step 2, Pro Account), "
        "equal to 40 % not enough",
        "5 contracts at most on the 50K Combine comes from secondary sources",
    ),
    cites={
        CALENDAR: TOPSTEP_DLL,
        DAILY_LOSS: TOPSTEP_DLL,
        MAX_LOSS: Cite("https://help.topstep.com/en/articles/8284204-what-is-the-maximum-loss-limit"),
        FLAT_BY: TOPSTEP_DLL,
        CONSISTENCY: Cite("https://www.proptradingvibes.com/blog/topstep-best-strategies (secondary: 50 %)"),
        SIZE_LIMITS: Cite("https://tradingfunder.com/topstep-trading-combine-accounts-unique-rules/ (secondary)"),
    },
)

TOPSTEPX = TOPSTEP.variant(
    "topstep-50k-topstepx",
    "Trading Combine 50K on TopstepX (no Daily Loss Limit)",
    {"daily_loss": {"enabled": False}},
    notes="TopstepX accounts created or reset from Sunday 25 August 2024, 5 PM CT (Trading Combines and Express "
    "Funded Accounts) have no Daily Loss Limit: the Maximum Loss Limit is the only loss floor. Any personal daily "
    "limit set on TopstepX is the trader's (set daily_loss here to mirror it). Otherwise as topstep-50k.",
    cites={DAILY_LOSS: Cite("https://help.topstep.com/en/articles/9772296-topstepx-fixed-personal-daily-loss-limit")},
)

TOPSTEP_EXPRESS = TOPSTEP.variant(
    "topstep-50k-express",
    "Express Funded Account 50K (scaling plan)",
    {
        "consistency": {"enabled": False},
        "size_limits": {
            "scaling": [
                {"profit": "0", "lots": "2"},
                {"profit": "1500.01", "lots": "3"},  # "above $1,500"
                {"profit": "2000.01", "lots": "5"},  # "past $2,000"
            ]
        },
    },
    notes="Scaling plan: the lots allowed in total rise with the profit at the end of the previous day (not "
    "during the day): 2 contracts, 3 above $1,500, 5 above $2,000. Otherwise as topstep-50k.",
    unconfirmed=(
        "scaling steps from a secondary source (the help article shows them as a graph)",
        "the secondary source says above $1,500 and past $2,000: exactly $1,500 is taken to allow 2 lots, not 3",
    ),
    cites={
        SIZE_LIMITS: Cite(
            "https://help.futures.topstep.com/hc/en-us/articles/360000140787-What-is-the-scaling-plan- ; "
            "https://h2tfunding.com/topstep-scaling-plan (secondary: 2, 3 above $1,500, 5 past $2,000)"
        )
    },
)

TOPSTEP_SECONDARY = Cite("https://tradingfunder.com/topstep-trading-combine-accounts-unique-rules/ (secondary)")


def _topstep_size(size: int, daily: int, maximum: int, contracts: int) -> Preset:
    """The 100K and 150K Combines: the 50K's rules with their own limits and balance."""
    return TOPSTEP.variant(
        f"topstep-{size}k",
        f"Trading Combine {size}K",
        {
            "daily_loss": {"size": str(daily)},
            "max_loss": {"size": str(maximum)},
            "size_limits": {"scaling": [{"profit": "0", "lots": str(contracts)}]},
        },
        initial_balance=Decimal(size * 1000),
        notes=f"Maximum Loss Limit ${maximum:,} trailing the end-of-day balance high, locked at ${size},000; Daily "
        f"Loss Limit ${daily:,} (soft); {contracts} contracts at most. Otherwise as topstep-50k.",
        unconfirmed=(
            f"the {size}K limits (${daily:,} daily, ${maximum:,} maximum, {contracts} contracts) come from "
            "secondary sources",
        ),
        cites={DAILY_LOSS: TOPSTEP_SECONDARY, MAX_LOSS: TOPSTEP_SECONDARY, SIZE_LIMITS: TOPSTEP_SECONDARY},
    )


TOPSTEP_100K = _topstep_size(100, 2000, 3000, 10)
TOPSTEP_150K = _topstep_size(150, 3000, 4500, 15)

DIAMONDHANDS = Preset(
    name="diamondhands-2step",
    firm="Diamond Hands Trading",
    program="2-Step Challenge, phase 1 (on TradeLocker)",
    rules_as_of=READ,
    source="https://www.diamondhandstrading.co/how-it-works",
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
    notes="A TradeLocker firm (PLATFORM=tradelocker). In a trading day equity may not drop more than 5 % of the "
    "starting balance; overall not more than 8 % below it. Phase 1 target 8 % (phase 2: 5 %).",
    unconfirmed=(
        "the day's reset time and zone (the page does not say; 17:00 New York assumed)",
        "whether the day is measured from its starting balance or equity (balance assumed)",
        "whether equity exactly on a floor is a breach (not a breach assumed)",
    ),
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        BASIC,
        FTMO_2STEP,
        FTMO_FUNDED,
        FTMO_1STEP,
        THE5ERS,
        FUNDEDNEXT,
        E8_ONE,
        TOPSTEP,
        TOPSTEPX,
        TOPSTEP_EXPRESS,
        TOPSTEP_100K,
        TOPSTEP_150K,
        DIAMONDHANDS,
    )
}
