"""Telegram alerting and commands, assembled: an ``Observer`` that only writes to the outbox, and
``run()`` for the service to start (bot start-up, outbox sender, command polling, daily summaries).

Telegram being slow or down never delays monitoring: ``observe`` is a few SQLite inserts; every
network call happens in ``run``'s tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from html import escape

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import ExtBot

from riskmon.backoff import Backoff
from riskmon.chart import chart_title, day_chart, png
from riskmon.clock import Clock, SystemClock
from riskmon.config import Settings
from riskmon.history import EquityHistory
from riskmon.models import AlertEvent
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.notify.dispatch import Dispatcher
from riskmon.notify.policy import AlertPolicy
from riskmon.notify.telegram_bot import Poller, Scrubber, make_bot
from riskmon.notify.telegram_commands import Access, Commands, FlattenHandler
from riskmon.notify.telegram_format import alert_html, clip, group_html, summary_html
from riskmon.notify.telegram_sender import DEFAULT_BACKOFF, judge
from riskmon.notify.telegram_store import Journal
from riskmon.notify.telegram_summary import DailySummaries, DayBook
from riskmon.offloop import render_off_loop
from riskmon.store import Store
from riskmon.view import View

log = logging.getLogger(__name__)

Monitors = Callable[[], Mapping[str, AccountMonitor]]
DEFAULT_POLICY = AlertPolicy()
KEEP_HISTORY = timedelta(days=30)  # sent messages and alert records kept for inspection
CHART = "\x00chart:"  # an outbox row for a day's chart: the account and day it shows, drawn when sent


class TelegramNotifier:
    def __init__(
        self,
        bot: ExtBot[int],
        store: Store,
        monitors: Monitors,
        access: Access,
        clock: Clock,
        scrub: Scrubber,
        policy: AlertPolicy = DEFAULT_POLICY,
        flattener: FlattenHandler | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        poll_timeout_s: int = 25,
        confirm_s: int = 60,
        daily_summary: bool = True,
        on_failure: Callable[[], None] | None = None,
        views: Callable[[], View] | None = None,
        history: EquityHistory | None = None,
    ) -> None:
        self.bot = bot
        self.history = history  # the day's equity, for the daily summary's chart
        self.store = store
        self.monitors = monitors
        self.chat_ids: Sequence[str] = sorted(access.chat_ids)
        self.clock = clock
        self.scrub = scrub
        self.policy = policy
        self.backoff = backoff
        self.daily_summary = daily_summary
        self.journal = Journal(store)
        self.days = DayBook()
        self.dispatch = Dispatcher(
            store,
            self,
            self._send,
            lambda exc: judge(exc, scrub),
            clock,
            scrub,
            policy,
            self._day_of,
            backoff,
            on_failure,
            record=lambda event, day: self.journal.record((event,), day),
            muted_until=self.journal.muted_until,
        )
        self.outbox, self.sender = self.dispatch.outbox, self.dispatch.sender
        self.commands = Commands(bot, monitors, self.journal, access, clock, flattener, confirm_s, views)
        self.poller = Poller(bot, self.commands.handle, scrub, poll_timeout_s)
        self.summaries = DailySummaries(self.queue_summary, clock)

    # -- the channel: how an alert looks and where it goes (the dispatcher does the rest) ------------------

    name = "telegram"

    @property
    def destinations(self) -> Sequence[str]:
        return self.chat_ids

    def render(self, event: AlertEvent) -> str:
        return alert_html(event)

    def render_group(self, events: Sequence[AlertEvent]) -> str:
        return group_html(events)

    @property
    def _held(self) -> Sequence[object]:
        return self.dispatch.held

    def _queue_alert(self, event: AlertEvent, now: datetime) -> None:
        self.dispatch.queue_alert(event, now)

    def _day_of(self, event: AlertEvent) -> date | None:
        monitor = self.monitors().get(event.account)
        return None if monitor is None else monitor.profile.calendar.day_of(event.ts)

    # -- observer: called by each AccountMonitor, must stay fast ---------------------------------------

    def observe(self, evaluation: Evaluation) -> None:
        self.days.observe(evaluation)
        if evaluation.events:
            day = evaluation.state.trading_day or evaluation.profile.calendar.day_of(evaluation.snapshot.ts)
            self.dispatch.queue(evaluation.events, day)
        elif self.dispatch.held:
            self.dispatch.write_held()

    def notify(self, events: Sequence[AlertEvent]) -> None:
        """Alerts raised outside an evaluation (stale data, enforcement): see ``Dispatcher.notify``."""
        self.dispatch.notify(events)

    def queue_summary(self, monitor: AccountMonitor, day: date, ended: datetime) -> None:
        profile = monitor.profile
        text = summary_html(
            profile.name,
            day,
            ended,
            self.days.figures(profile.account, day),
            self.journal.alerts_of(profile.account, day),
            profile.account,
        )
        now = self.clock.now()
        release = self.policy.hold_quiet(now, urgent=False)
        with self.store.transaction():
            self.outbox.enqueue(self.chat_ids, text, now, "summary", release)
            if self.history is not None:  # the chart is drawn when it is sent (off the loop), from the store
                chart = json.dumps({"account": profile.account, "day": day.isoformat()})
                self.outbox.enqueue(self.chat_ids, CHART + chart, now, "chart", release)
        self.sender.wake()
        log.info("telegram: daily summary of %s for %s queued", profile.name, day.isoformat())

    # -- background work, started by the service -------------------------------------------------------

    async def _send(self, chat_id: str, html: str) -> int:
        if html.startswith(CHART):
            return await self._send_chart(chat_id, json.loads(html.removeprefix(CHART)))
        message = await self.bot.send_message(chat_id, html, parse_mode=ParseMode.HTML)
        return message.message_id

    async def _send_chart(self, chat_id: str, ref: dict[str, str]) -> int:
        """A summary's chart: the day's equity from the store, drawn in a worker thread, sent as a photo."""
        monitor = self.monitors().get(ref["account"])
        day = date.fromisoformat(ref["day"])
        points = () if monitor is None or self.history is None else self.history.points_of(ref["account"], day)
        chart = None if monitor is None else day_chart(points, monitor.profile.calendar.start_of(day))
        if monitor is None or chart is None:
            name = ref["account"] if monitor is None else monitor.profile.name
            text = f"📈 {escape(clip(name))}: no equity was recorded on {day.isoformat()}, so there is no chart."
            return (await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)).message_id
        title = chart_title(monitor.profile.name, day)
        image = await render_off_loop(png, chart, clip(title, 80))
        message = await self.bot.send_photo(chat_id, image, caption=escape(clip(title)), parse_mode=ParseMode.HTML)
        return message.message_id

    async def run(self) -> None:
        """Runs until cancelled; an unexpected failure restarts Telegram's tasks, never the monitors."""
        failures = 0
        while True:
            try:
                await self._run_once()
            except Exception as exc:
                failures += 1
                delay = self.backoff.delay(failures - 1)
                log.error("telegram stopped (%s); restarting in %.1f s", self.scrub(repr(exc)), delay)
                await asyncio.sleep(delay)

    async def _run_once(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        self._tidy()
        try:
            await self._start_bot()
            if self.daily_summary:
                scheduler.start()
                self.summaries.start(scheduler, self.monitors().values())
            async with asyncio.TaskGroup() as group:
                group.create_task(self.sender.run(), name="telegram:sender")
                group.create_task(self.poller.run(), name="telegram:poller")
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

    async def aclose(self) -> None:
        """Shutdown: deliver what is due now (the service bounds how long); the rest stays queued on disk.
        Alerts the database could not take are logged and sent directly: nothing is dropped."""
        self.dispatch.settle()
        try:
            await self.bot.initialize()
            await self.dispatch.drain()
        except Exception as exc:
            log.warning(
                "telegram: outbox not flushed at shutdown (%s); it is sent on the next start", self.scrub(repr(exc))
            )
        finally:
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

    def _tidy(self) -> None:
        cutoff = self.clock.now() - KEEP_HISTORY
        with self.store.transaction():
            orphans = self.outbox.refuse_other_chats(self.chat_ids)
            messages, alerts = self.outbox.prune(cutoff), self.journal.prune(cutoff.date())
        if orphans:
            log.warning("telegram: %d queued message(s) for chats no longer configured will not be sent", orphans)
        if messages or alerts:
            log.info("telegram: forgot %d old message(s) and %d old alert record(s)", messages, alerts)

    async def _start_bot(self) -> None:
        """getMe until it works; alerts wait in the outbox meanwhile (monitoring is not affected)."""
        failures = 0
        while True:
            try:
                await self.bot.initialize()
            except Exception as exc:
                failures += 1
                delay = self.backoff.maximum if isinstance(exc, InvalidToken) else self.backoff.delay(failures - 1)
                log.warning(
                    "telegram: cannot reach the Bot API (%s); alerts are queued; retrying in %.1f s",
                    self.scrub(f"{type(exc).__name__}: {exc}"),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            log.info("telegram: connected as @%s; alerts go to %d chat(s)", self.bot.username, len(self.chat_ids))
            return


def build_telegram(
    settings: Settings,
    store: Store,
    monitors: Monitors,
    clock: Clock | None = None,
    flattener: FlattenHandler | None = None,
    on_failure: Callable[[], None] | None = None,
    views: Callable[[], View] | None = None,
    history: EquityHistory | None = None,
) -> TelegramNotifier | None:
    """The Telegram notifier the settings describe, or None when no bot token is configured."""
    if settings.telegram_bot_token is None or not settings.telegram_enabled:
        return None
    settings.telegram_quiet()  # Telegram's own settings checked (a chat to send to)
    token = settings.telegram_bot_token.get_secret_value()
    return TelegramNotifier(
        make_bot(token, settings.telegram_api_base_url, timeout_s=settings.telegram_timeout),
        store,
        monitors,
        Access(frozenset(settings.telegram_chat_ids), frozenset(settings.telegram_admin_id_list)),
        clock or SystemClock(),
        Scrubber(token),
        policy=settings.alert_policy(),
        flattener=flattener,
        confirm_s=settings.telegram_flatten_confirm_s,
        daily_summary=settings.telegram_daily_summary,
        on_failure=on_failure,
        views=views,
        history=history,
    )
