"""The delivery core every channel shares: alert events → the channel's outbox rows → its sender.

A channel (Telegram, Discord, a JSON webhook) says only how an alert looks (``render``, ``render_group``),
where it goes (``destinations``) and how to send one message (``send``, ``judge``). The rest is here, once:

- the policy (quiet hours, cooldown, mutes) decides when each alert may go; a recovery still held when the
  rule fails again at the same severity is merged away with the repeat (a flap);
- many accounts going blind together (a reconnect, a start-up of 1,000 accounts) make one message per kind
  of change, not a thousand;
- a locked database never stalls monitoring: alerts wait in memory, in order, and are written with the
  next snapshot; when the database cannot be written at all (read-only, full disk) they are sent straight
  to the destinations once, and still go through the outbox when it is back (a second copy, never a loss);
- the sender delivers the outbox with retries and backoff (``riskmon.notify.sender``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from riskmon.backoff import Backoff
from riskmon.clock import Clock
from riskmon.models import AlertEvent, AlertStatus
from riskmon.monitor import BLINDNESS
from riskmon.notify.outbox import Outbox
from riskmon.notify.policy import AlertPolicy
from riskmon.notify.sender import DEFAULT_BACKOFF, Judge, Scrub, Sender, SendFn
from riskmon.store import TRANSIENT_GRACE_S, Store, is_transient

log = logging.getLogger(__name__)

GROUP_AT = 3  # this many accounts going blind (or seeing again) at once make one message, not one each


class Channel(Protocol):
    """What a channel tells the core. ``name`` keys its outbox rows; a destination is a name, never a secret."""

    @property
    def name(self) -> str: ...

    @property
    def destinations(self) -> Sequence[str]: ...

    def render(self, event: AlertEvent) -> str: ...

    def render_group(self, events: Sequence[AlertEvent]) -> str: ...


@dataclass(slots=True)
class _Held:
    """Alerts not yet in the outbox (a database outage), in order, each with its account's trading day."""

    events: tuple[AlertEvent, ...]
    days: tuple[date, ...]
    at: datetime
    grouped: bool = False  # one message for them all (many accounts blind at once)
    sent_directly: bool = False


class Dispatcher:
    """One channel's queueing: ``queue`` and ``notify`` are quick (observers call them); the sender sends.

    ``day_of`` dates an alert raised outside an evaluation by its account's calendar (None: an account not
    watched, dropped); ``record`` journals each alert in the same transaction as its rows (Telegram's daily
    summary); ``muted_until`` holds a muted account's non-critical alerts back.
    """

    def __init__(
        self,
        store: Store,
        channel: Channel,
        send: SendFn,
        judge: Judge,
        clock: Clock,
        scrub: Scrub,
        policy: AlertPolicy,
        day_of: Callable[[AlertEvent], date | None],
        backoff: Backoff = DEFAULT_BACKOFF,
        on_failure: Callable[[], None] | None = None,
        record: Callable[[AlertEvent, date], None] | None = None,
        muted_until: Callable[[str, datetime], datetime | None] | None = None,
    ) -> None:
        self.store = store
        self.channel = channel
        self.send = send
        self.clock = clock
        self.scrub = scrub
        self.policy = policy
        self.day_of = day_of
        self.record = record
        self.muted_until = muted_until or (lambda account, now: None)
        self.outbox = Outbox(store, channel.name)
        self.sender = Sender(self.outbox, send, clock, scrub, judge, backoff, on_failure=on_failure)
        self.held: deque[_Held] = deque()  # not yet in the outbox
        self._held_since: float | None = None
        self._direct: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.channel.name

    def queue(self, events: Sequence[AlertEvent], day: date) -> None:
        """An evaluation's alerts (all of one account and trading day)."""
        self.held.append(_Held(tuple(events), (day,) * len(events), self.clock.now()))
        self.write_held()

    def notify(self, events: Sequence[AlertEvent]) -> None:
        """Alerts raised outside an evaluation (stale data, enforcement), dated by their account's calendar.
        The same change of many accounts' sight is one message; each account's alert is still journaled."""
        now = self.clock.now()
        dated = [(e, day) for e in events if (day := self.day_of(e)) is not None]
        groups: dict[tuple[str, AlertStatus], list[tuple[AlertEvent, date]]] = {}
        for event, day in dated:
            if event.rule in BLINDNESS:
                groups.setdefault((event.rule, event.status), []).append((event, day))
        grouped = {id(e) for group in groups.values() if len(group) >= GROUP_AT for e, _ in group}
        for event, day in dated:
            if id(event) not in grouped:
                self.held.append(_Held((event,), (day,), now))
        for group in groups.values():
            if len(group) >= GROUP_AT:
                self.held.append(_Held(tuple(e for e, _ in group), tuple(d for _, d in group), now, grouped=True))
        self.write_held()

    def write_held(self) -> None:
        """Move alerts into the outbox, oldest first. A locked database never stalls monitoring: the alerts
        stay in memory, in order, and are written with the next snapshot (or at shutdown)."""
        try:
            while self.held:
                held = self.held[0]
                try:
                    with self.store.transaction():
                        if self.record is not None:
                            for event, day in zip(held.events, held.days, strict=True):
                                self.record(event, day)
                        if held.grouped:
                            self._queue_group(held.events, held.at)
                        else:
                            for event in held.events:
                                self.queue_alert(event, held.at)
                except sqlite3.OperationalError:
                    raise  # locked or busy: worth another try
                except Exception:
                    log.exception("%s: alert events could not be queued; dropped", self.name)  # never a poison head
                self.held.popleft()
        except sqlite3.OperationalError as exc:
            if self._held_since is None:
                self._held_since = time.monotonic()
                log.error("%s: cannot queue alerts (%s); kept in memory and retried with each snapshot", self.name, exc)
            if not is_transient(exc) or time.monotonic() - self._held_since >= TRANSIENT_GRACE_S:
                self._send_held_directly()  # not a passing lock: the outbox may never take them
            return
        if self._held_since is not None:
            log.warning(
                "%s: alerts held during a database outage queued after %.1f s",
                self.name,
                time.monotonic() - self._held_since,
            )
            self._held_since = None
        self.sender.wake()

    def _texts(self, held: _Held) -> list[str]:
        if held.grouped:
            return [self.channel.render_group(held.events)]
        return [self.channel.render(e) for e in held.events]

    def _send_held_directly(self) -> None:
        """The outbox cannot be written (read-only or full disk): send what it cannot hold straight to the
        destinations, once, with no retry. The held copy still goes through the outbox when the database is
        back (a second copy then, never a loss)."""
        fresh = [held for held in self.held if not held.sent_directly]
        if not fresh:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a synchronous caller): the held copy waits for the outbox
        for held in fresh:
            held.sent_directly = True
        task = loop.create_task(self._deliver_directly([text for held in fresh for text in self._texts(held)]))
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)

    async def _deliver_directly(self, texts: Sequence[str]) -> None:
        for text in texts:
            for destination in self.channel.destinations:
                try:
                    await self.send(destination, text)
                except Exception as exc:
                    log.error(
                        "%s: direct alert to %s failed (%s): %s",
                        self.name, destination, self.scrub(f"{type(exc).__name__}: {exc}"), text.split("\n", 1)[0],
                    )  # fmt: skip

    def _queue_group(self, events: Sequence[AlertEvent], now: datetime) -> None:
        first = events[0]
        delivery = self.policy.deliver(first, now, None)  # blindness is critical: mutes do not hold it
        if delivery.release_at is None:
            log.info("%s: %d accounts %s %s not sent (%s)", self.name, len(events), first.rule, first.status.value,
                     delivery.reason)  # fmt: skip
            return
        text = self.channel.render_group(events)
        self.outbox.enqueue(self.channel.destinations, text, now, first.status.value, delivery.release_at, first)

    def queue_alert(self, event: AlertEvent, now: datetime) -> None:
        who = event.label or event.account
        if event.status is not AlertStatus.RESOLVED:
            held = self.outbox.cancel_held_recovery(event.account, event.rule, now)
            if held is event.severity:
                log.info(
                    "%s: %s %s flapped back to %s; recovery and repeat not sent", self.name, who, event.rule, held.value
                )
                return
        delivery = self.policy.deliver(event, now, self.muted_until(event.account, now))
        if delivery.release_at is None:
            log.info("%s: %s %s %s not sent (%s)", self.name, who, event.rule, event.status.value, delivery.reason)
            return
        text = self.channel.render(event)
        self.outbox.enqueue(self.channel.destinations, text, now, event.status.value, delivery.release_at, event)

    def settle(self) -> None:
        """Shutdown, first: queue what is held; log every alert the database still cannot take."""
        if self.held:
            self.write_held()
        if self.held:
            log.error("%s: %d alert event(s) could not be queued (database unavailable)", self.name, len(self.held))
            for held in self.held:
                for event in held.events:
                    log.error("%s: unqueued alert: %s %s %s", self.name, event.label or event.account, event.rule,
                              event.message)  # fmt: skip

    async def drain(self) -> None:
        """Shutdown, then: send directly what the database could not take, deliver what is due now (the
        service bounds how long); the rest stays queued on disk for the next start."""
        if self.held:
            self._send_held_directly()
        await asyncio.gather(*self._direct, return_exceptions=True)
        while await self.sender.deliver_due() == 0.0:
            pass
