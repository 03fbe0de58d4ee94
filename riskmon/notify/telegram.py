"""Telegram alerting and commands, assembled: an ``Observer`` that only writes to the outbox, and
``run()`` for the service to start (bot start-up, outbox sender, command polling, daily summaries).

Telegram being slow or down never delays monitoring: ``observe`` is a few SQLite inserts; every
network call happens in ``run``'s tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import ExtBot

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock
from riskmon.config import Settings
from riskmon.models import AlertEvent, AlertStatus
from riskmon.monitor import BLINDNESS, AccountMonitor, Evaluation
from riskmon.notify.telegram_bot import Poller, Scrubber, make_bot
from riskmon.notify.telegram_commands import Access, Commands, FlattenHandler
from riskmon.notify.telegram_format import alert_html, group_html, summary_html
from riskmon.notify.telegram_policy import AlertPolicy
from riskmon.notify.telegram_sender import DEFAULT_BACKOFF, Sender
from riskmon.notify.telegram_store import Journal, Outbox
from riskmon.notify.telegram_summary import DailySummaries, DayBook
from riskmon.store import TRANSIENT_GRACE_S, Store, is_transient

log = logging.getLogger(__name__)

Monitors = Callable[[], Mapping[str, AccountMonitor]]
DEFAULT_POLICY = AlertPolicy()
KEEP_HISTORY = timedelta(days=30)  # sent messages and alert records kept for inspection


GROUP_AT = 3  # this many accounts going blind (or seeing again) at once make one message, not one each


@dataclass(slots=True)
class _Held:
    """Alerts not yet in the outbox (a database outage), in order, each with its account's trading day."""

    events: tuple[AlertEvent, ...]
    days: tuple[date, ...]
    at: datetime
    grouped: bool = False  # one message for them all (many accounts blind at once)
    sent_directly: bool = False

    def texts(self) -> list[str]:
        return [group_html(self.events)] if self.grouped else [alert_html(e) for e in self.events]


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
    ) -> None:
        self.bot = bot
        self.store = store
        self.monitors = monitors
        self.chat_ids: Sequence[str] = sorted(access.chat_ids)
        self.clock = clock
        self.scrub = scrub
        self.policy = policy
        self.backoff = backoff
        self.daily_summary = daily_summary
        self.outbox = Outbox(store)
        self.journal = Journal(store)
        self.days = DayBook()
        self.sender = Sender(self.outbox, self._send, clock, scrub, backoff, on_failure=on_failure)
        self.commands = Commands(bot, monitors, self.journal, access, clock, flattener, confirm_s)
        self.poller = Poller(bot, self.commands.handle, scrub, poll_timeout_s)
        self.summaries = DailySummaries(self.queue_summary, clock)
        self._held: deque[_Held] = deque()  # not yet in the outbox
        self._held_since: float | None = None
        self._direct: set[asyncio.Task[None]] = set()

    # -- observer: called by each AccountMonitor, must stay fast ---------------------------------------

    def observe(self, evaluation: Evaluation) -> None:
        self.days.observe(evaluation)
        if evaluation.events:
            day = evaluation.state.trading_day or evaluation.profile.calendar.day_of(evaluation.snapshot.ts)
            self._queue(_Held(evaluation.events, (day,) * len(evaluation.events), self.clock.now()))
        elif self._held:
            self._write_held()

    def notify(self, events: Sequence[AlertEvent]) -> None:
        """Alerts raised outside an evaluation (stale data, enforcement), dated by their account's calendar.

        Many accounts going blind together (a reconnect, a start-up of 1,000 accounts) make one message per
        kind of change, not a thousand: each account's alert is still journaled on its own."""
        monitors, now = self.monitors(), self.clock.now()
        dated = [(e, monitors[e.account].profile.calendar.day_of(e.ts)) for e in events if e.account in monitors]
        groups: dict[tuple[str, AlertStatus], list[tuple[AlertEvent, date]]] = {}
        for event, day in dated:
            if event.rule in BLINDNESS:
                groups.setdefault((event.rule, event.status), []).append((event, day))
        grouped = {id(e) for group in groups.values() if len(group) >= GROUP_AT for e, _ in group}
        for event, day in dated:
            if id(event) not in grouped:
                self._held.append(_Held((event,), (day,), now))
        for group in groups.values():
            if len(group) >= GROUP_AT:
                self._held.append(_Held(tuple(e for e, _ in group), tuple(d for _, d in group), now, grouped=True))
        self._write_held()

    def _queue(self, held: _Held) -> None:
        self._held.append(held)
        self._write_held()

    def _write_held(self) -> None:
        """Move alerts into the outbox, oldest first. A locked database never stalls monitoring: the alerts
        stay in memory, in order, and are written with the next snapshot (or at shutdown)."""
        try:
            while self._held:
                held = self._held[0]
                try:
                    with self.store.transaction():
                        for event, day in zip(held.events, held.days, strict=True):
                            self.journal.record((event,), day)
                        if held.grouped:
                            self._queue_group(held.events, held.at)
                        else:
                            for event in held.events:
                                self._queue_alert(event, held.at)
                except sqlite3.OperationalError:
                    raise  # locked or busy: worth another try
                except Exception:
                    log.exception("telegram: alert events could not be queued; dropped")  # never a poison head
                self._held.popleft()
        except sqlite3.OperationalError as exc:
            if self._held_since is None:
                self._held_since = time.monotonic()
                log.error("telegram: cannot queue alerts (%s); kept in memory and retried with each snapshot", exc)
            if not is_transient(exc) or time.monotonic() - self._held_since >= TRANSIENT_GRACE_S:
                self._send_held_directly()  # not a passing lock: the outbox may never take them
            return
        if self._held_since is not None:
            log.warning(
                "telegram: alerts held during a database outage queued after %.1f s",
                time.monotonic() - self._held_since,
            )
            self._held_since = None
        self.sender.wake()

    def _send_held_directly(self) -> None:
        """The outbox cannot be written (read-only or full disk): send what it cannot hold straight to the
        chats, once, with no retry. The held copy still goes through the outbox when the database is back
        (a second copy then, never a loss)."""
        fresh = [held for held in self._held if not held.sent_directly]
        if not fresh:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a synchronous caller): the held copy waits for the outbox
        for held in fresh:
            held.sent_directly = True
        task = loop.create_task(self._deliver_directly([text for held in fresh for text in held.texts()]))
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)

    async def _deliver_directly(self, texts: Sequence[str]) -> None:
        for text in texts:
            for chat_id in self.chat_ids:
                try:
                    await self._send(chat_id, text)
                except Exception as exc:
                    log.error(
                        "telegram: direct alert to chat %s failed (%s): %s",
                        chat_id, self.scrub(f"{type(exc).__name__}: {exc}"), text.split("\n", 1)[0],
                    )  # fmt: skip

    def _queue_group(self, events: Sequence[AlertEvent], now: datetime) -> None:
        first = events[0]
        delivery = self.policy.deliver(first, now, None)  # blindness is critical: mutes do not hold it
        if delivery.release_at is None:
            log.info("telegram: %d accounts %s %s not sent (%s)", len(events), first.rule, first.status.value,
                     delivery.reason)  # fmt: skip
            return
        self.outbox.enqueue(self.chat_ids, group_html(events), now, first.status.value, delivery.release_at, first)

    def _queue_alert(self, event: AlertEvent, now: datetime) -> None:
        who = event.label or event.account
        if event.status is not AlertStatus.RESOLVED:
            held = self.outbox.cancel_held_recovery(event.account, event.rule, now)
            if held is event.severity:
                log.info(
                    "telegram: %s %s flapped back to %s; recovery and repeat not sent", who, event.rule, held.value
                )
                return
        delivery = self.policy.deliver(event, now, self.journal.muted_until(event.account, now))
        if delivery.release_at is None:
            log.info("telegram: %s %s %s not sent (%s)", who, event.rule, event.status.value, delivery.reason)
            return
        self.outbox.enqueue(self.chat_ids, alert_html(event), now, event.status.value, delivery.release_at, event)

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
        with self.store.transaction():
            self.outbox.enqueue(self.chat_ids, text, now, "summary", self.policy.hold_quiet(now, urgent=False))
        self.sender.wake()
        log.info("telegram: daily summary of %s for %s queued", profile.name, day.isoformat())

    # -- background work, started by the service -------------------------------------------------------

    async def _send(self, chat_id: str, html: str) -> int:
        message = await self.bot.send_message(chat_id, html, parse_mode=ParseMode.HTML)
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
        if self._held:
            self._write_held()
        if self._held:
            log.error("telegram: %d alert event(s) could not be queued (database unavailable)", len(self._held))
            for held in self._held:
                for event in held.events:
                    log.error("telegram: unqueued alert: %s %s %s", event.label or event.account, event.rule,
                              event.message)  # fmt: skip
        try:
            await self.bot.initialize()
            if self._held:
                self._send_held_directly()
            await asyncio.gather(*self._direct, return_exceptions=True)
            while await self.sender.deliver_due() == 0.0:
                pass
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
) -> TelegramNotifier | None:
    """The Telegram notifier the settings describe, or None when no bot token is configured."""
    if settings.telegram_bot_token is None or not settings.telegram_enabled:
        return None
    quiet = settings.telegram_quiet()
    token = settings.telegram_bot_token.get_secret_value()
    return TelegramNotifier(
        make_bot(token, settings.telegram_api_base_url, timeout_s=settings.telegram_timeout),
        store,
        monitors,
        Access(frozenset(settings.telegram_chat_ids), frozenset(settings.telegram_admin_id_list)),
        clock or SystemClock(),
        Scrubber(token),
        policy=AlertPolicy(timedelta(seconds=settings.telegram_cooldown_s), quiet),
        flattener=flattener,
        confirm_s=settings.telegram_flatten_confirm_s,
        daily_summary=settings.telegram_daily_summary,
        on_failure=on_failure,
    )
