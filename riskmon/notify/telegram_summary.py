"""The daily summary: the day's figures gathered from evaluations, sent at each account's day end.

Scheduling follows the store's rule for time: the instant is computed from the account's trading
calendar (``next_reset``), armed as a one-off ``DateTrigger`` and re-armed after each run. No cron
trigger, whose day arithmetic breaks across DST changes.

The day's figures live in memory: after a restart the summary covers what was seen since.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from riskmon.clock import Clock
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.notify.telegram_format import DayFigures
from riskmon.rules.base import floors

log = logging.getLogger(__name__)


class DayBook:
    """Per account and trading day: the equity at the day's start and end, and the most of a money floor's
    allowance used (whichever floor came closest)."""

    def __init__(self) -> None:
        self._days: dict[tuple[str, date], DayFigures] = {}

    def observe(self, evaluation: Evaluation) -> None:
        state, snap = evaluation.state, evaluation.snapshot
        if state.trading_day is None:
            return
        key = (state.account, state.trading_day)
        before = self._days.get(key)
        worst, worst_at, rule = (before.worst_used, before.worst_at, before.worst_rule) if before else (None, None, "")
        for floor in floors(evaluation.results):
            if floor.used is not None and (worst is None or floor.used > worst):
                worst, worst_at, rule = floor.used, snap.ts, floor.rule
        self._days[key] = DayFigures(state.day_start_equity, snap.equity, snap.balance, worst, worst_at, rule)
        if before is None:  # a new day: forget days older than yesterday
            oldest = state.trading_day - timedelta(days=1)
            self._days = {k: v for k, v in self._days.items() if k[0] != state.account or k[1] >= oldest}

    def figures(self, account: str, day: date) -> DayFigures | None:
        return self._days.get((account, day))


class DailySummaries:
    """Arms one summary job per account at its next reset; each run queues the summary and re-arms."""

    def __init__(self, queue: Callable[[AccountMonitor, date, datetime], None], clock: Clock) -> None:
        self.queue = queue
        self.clock = clock
        self.scheduler: AsyncIOScheduler | None = None

    def start(self, scheduler: AsyncIOScheduler, monitors: Iterable[AccountMonitor]) -> None:
        self.scheduler = scheduler
        now = self.clock.now()
        for monitor in monitors:
            self._arm(monitor, monitor.profile.calendar.next_reset(now))

    def _arm(self, monitor: AccountMonitor, at: datetime) -> None:
        if self.scheduler is None:
            return
        self.scheduler.add_job(
            self._run,
            DateTrigger(run_date=at),
            args=[monitor, at],
            id=job_id(monitor.profile.account),
            replace_existing=True,
            misfire_grace_time=None,  # a busy loop runs it late rather than never
        )
        log.debug("telegram: daily summary for %s at %s", monitor.profile.name, at.isoformat())

    async def _run(self, monitor: AccountMonitor, at: datetime) -> None:
        calendar = monitor.profile.calendar
        try:
            self.queue(monitor, calendar.day_of(at) - timedelta(days=1), at)
        except Exception as exc:
            log.error("telegram: daily summary for %s not queued (%s)", monitor.profile.name, exc)
        finally:
            self._arm(monitor, calendar.next_reset(max(at, self.clock.now())))


def job_id(account: str) -> str:
    return f"telegram-summary:{account}"
