"""The read model: every account as people and machines see it, built in one place.

``ReadModel.capture`` runs on the event loop that updates the monitors and takes an immutable ``View``:
one ``AccountView`` per account holding references to frozen values (the last ``Evaluation``, the day's
equity history) and a few scalars, so capturing 10,000 accounts holds the loop for milliseconds
(benchmarks/RESULTS.md). Everything a reader wants (worst rule, each rule's room left and share used,
today's P&L, the nearest floor, freshness) is derived from the captured values when read, in whatever
thread renders it: the console table, Telegram, the metrics, the status page and the JSON API all read
an ``AccountView`` and nothing else, so they can never disagree.

Rules are listed generically: every ``RuleResult`` of the last evaluation, by the rule's own name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from riskmon.clock import Clock, SystemClock
from riskmon.history import Day, EquityHistory, Point
from riskmon.models import RuleResult, Severity, TradingState
from riskmon.monitor import AccountMonitor, Evaluation, too_silent
from riskmon.platforms.base import Feed
from riskmon.profile import AccountProfile
from riskmon.rules.base import floors, tightest

_URGENCY = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 3, Severity.OK: 4}
BLIND = 2  # between warnings and the rest: riskmon cannot see the account


class Freshness(StrEnum):
    FRESH = "fresh"  # data arrives within STALE_AFTER
    STALE = "stale"  # no data within STALE_AFTER: riskmon cannot see the account
    LOADING = "loading"  # no data yet since start-up (its own alarm after 10 × STALE_AFTER)


class AccountView(NamedTuple):
    """One account, captured on the event loop. Every field is immutable (a NamedTuple: a capture builds
    10,000 of them on the loop, in a third of a frozen dataclass's time); the rest is derived when read."""

    profile: AccountProfile
    last: Evaluation | None
    loading: bool
    unsaved: bool
    skew: timedelta | None
    refused: Mapping[str, int]  # the monitor replaces this mapping, never edits it
    trading: TradingState | None  # None: no enforcer
    silence_s: float  # seconds since fresh data last arrived (or since watching began)
    allowance: timedelta | None  # the silence allowed (STALE_AFTER, or the loading allowance)
    days: Mapping[str, Day]  # every account's day of equity (one mapping shared by the capture's views)

    @property
    def history(self) -> Day | None:
        """The account's downsampled equity of its latest day."""
        return self.days.get(self.profile.account)

    @property
    def stale(self) -> bool:
        """No fresh data within the allowance: the monitor's own test, on the captured silence."""
        return too_silent(self.silence_s, self.allowance)

    @property
    def account(self) -> str:
        return self.profile.account

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def platform(self) -> str:
        return self.profile.platform

    @property
    def currency(self) -> str | None:
        return None if self.last is None else self.last.snapshot.currency

    @property
    def freshness(self) -> Freshness:
        if self.loading:
            return Freshness.LOADING
        return Freshness.STALE if self.stale else Freshness.FRESH

    @property
    def rules(self) -> tuple[RuleResult, ...]:
        """Every rule's verdict on the last snapshot, in the rulebook's order."""
        return () if self.last is None else self.last.results

    @property
    def worst(self) -> RuleResult | None:
        """The failing rule with the highest severity (the nearest to its limit among equals); None when all pass."""
        failing = [r for r in self.rules if r.failing]
        if not failing:
            return None
        return max(failing, key=lambda r: (r.severity.rank, r.used if r.used is not None else Decimal(0)))

    @property
    def severity(self) -> Severity:
        worst = self.worst
        return Severity.OK if worst is None else worst.severity

    @property
    def urgency(self) -> tuple[int, str]:
        """Sort key, most urgent first: critical, warning, blind (stale, or loading too long), the rest; by name."""
        rank = _URGENCY[self.severity]
        return (min(rank, BLIND) if self.stale else rank), self.name

    @property
    def floors(self) -> list[RuleResult]:
        """The rules with a money floor (equity floor, room left, share used), whichever they are."""
        return floors(self.rules)

    @property
    def nearest(self) -> RuleResult | None:
        """The money floor with the least room left: what the trader can still lose before some rule fails."""
        return tightest(self.rules)

    @property
    def daily_pnl(self) -> Decimal | None:
        """Equity minus the balance anchored at the trading day's start: the day's closed and floating P&L."""
        if self.last is None:
            return None
        return self.last.snapshot.equity - self.last.state.day_start_balance

    @property
    def trading_day(self) -> date | None:
        return None if self.last is None else self.last.state.trading_day

    @property
    def day_start(self) -> datetime | None:
        return None if self.last is None else self.last.state.day_start

    @property
    def equity_today(self) -> tuple[Point, ...]:
        """The day's equity points (downsampled), the current bucket last; empty before data or across a reset."""
        day = self.history
        if day is None or self.last is None or day.day != self.last.state.trading_day:
            return ()
        return day.all


class PlatformView(NamedTuple):
    name: str
    connected: bool
    failures: int


@dataclass(frozen=True, slots=True)
class View:
    """Every account and platform at one instant."""

    accounts: tuple[AccountView, ...]
    platforms: tuple[PlatformView, ...]
    taken_at: datetime

    def find(self, account: str) -> AccountView | None:
        return next((a for a in self.accounts if a.account == account), None)


class PlatformStatus(Protocol):
    """What the read model reads from a running platform (``riskmon.service.Platform``)."""

    @property
    def name(self) -> str: ...

    @property
    def feed(self) -> Feed: ...

    @property
    def failures(self) -> int: ...


class ReadModel:
    """Captures ``View``s of the running service. Call ``capture`` on the event loop that updates the monitors.
    ``clock`` must be the monitors' (the default: the first monitor's)."""

    def __init__(
        self,
        monitors: Collection[AccountMonitor],
        platforms: Collection[PlatformStatus] = (),
        trading_state: Callable[[str], TradingState] | None = None,
        history: EquityHistory | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.monitors = monitors
        self.platforms = platforms
        self.trading_state = trading_state  # the enforcer's view, when there is one
        self.history = history
        # The monitors' clock (the service gives every monitor its own): silence is measured on it.
        self.clock = clock or next((m.clock for m in monitors), None) or SystemClock()

    def capture(self) -> View:
        """Plain attribute reads, a microsecond or two an account (benchmarks/metrics_scrape.py): everything
        else is derived when read, off the loop. One reading of the clock for every account."""
        trading = self.trading_state
        days = {} if self.history is None else self.history.days()
        now = self.clock.monotonic()
        make = tuple.__new__  # a NamedTuple without its Python-level __new__: half the time, 10,000 times
        accounts = tuple(
            make(
                AccountView,
                (
                    m.profile,
                    m.last,
                    m.loading,
                    m.unsaved,
                    m.skew,
                    m.refused,
                    None if trading is None else trading(m.profile.account),
                    now - m.last_data,
                    m.allowance,
                    days,
                ),
            )
            for m in self.monitors
        )
        platforms = tuple(PlatformView(p.name, p.feed.connected, p.failures) for p in self.platforms)
        return View(accounts, platforms, self.clock.now())
