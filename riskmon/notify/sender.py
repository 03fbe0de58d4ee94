"""The outbox's one consumer per channel: delivers pending rows, in order per destination, until each is sent
or refused. The channel (Telegram, Discord, a webhook) only sends one message and ``judge``s its failures.

- Network errors, timeouts and 5xx: retried with exponential backoff (nothing is dropped).
- Rate limited (429): retried after the service's retry-after, capped at ``MAX_RETRY_AFTER_S`` (a huge value
  would park the destination's alerts for years; retrying early only earns another 429).
- A critical alert never waits behind an older message of a destination that is waiting for its retry.
- A permanent refusal (a chat or webhook that no longer exists, a malformed request): the row is marked failed.
- Rejected credentials: every row waits (at the longest backoff) until they are fixed and riskmon restarted.

A row is marked sent as soon as the service acknowledges it. If the process dies between the service's
answer and that commit (or a send times out after it was accepted), the message is sent once more on the
next attempt: at most one duplicate per message, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from riskmon.backoff import Backoff
from riskmon.clock import Clock
from riskmon.notify.outbox import Outbox, OutboxRow, epoch

log = logging.getLogger(__name__)

SendFn = Callable[[str, str], Awaitable[int | None]]  # (destination, text) → the service's message id, if any
Scrub = Callable[[str], str]

DEFAULT_BACKOFF = Backoff(1.0, 300.0)
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Verdict:
    permanent: bool
    wait_s: float | None  # None: use the backoff
    reason: str


Judge = Callable[[Exception], Verdict]


class Sender:
    """Delivers one channel's outbox rows through ``send``; ``judge`` says what a failure means."""

    def __init__(
        self,
        outbox: Outbox,
        send: SendFn,
        clock: Clock,
        scrub: Scrub,
        judge: Judge,
        backoff: Backoff = DEFAULT_BACKOFF,
        idle_s: float = 30.0,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.on_failure = on_failure  # each failed delivery attempt, e.g. for the notification-failures metric
        self.judge = judge
        self.channel = outbox.channel
        self.outbox = outbox
        self.send = send
        self.clock = clock
        self.scrub = scrub
        self.backoff = backoff
        self.idle_s = idle_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: look at the outbox now instead of at the next planned time."""
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                wait = await self.deliver_due()
                failures = 0
            except Exception as exc:  # the store failing: keep the task alive, try again later
                failures += 1
                wait = self.backoff.delay(failures - 1)
                log.error("%s outbox unavailable (%s); retrying in %.0f s", self.channel, self.scrub(repr(exc)), wait)
            if wait > 0:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives
                # just as the event is set, and the sender would outlive shutdown.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def deliver_due(self) -> float:
        """Send every chat's next due row once; return how long to wait before looking again (0: now)."""
        now = self.clock.now()
        heads = self.outbox.heads(now)
        due = [row for row in heads if row.next_attempt_at <= epoch(now)]
        for row in due:
            await self._deliver(row)
        if due:
            return 0.0
        upcoming = [row.next_attempt_at for row in heads]
        release = self.outbox.next_release(now)
        if release is not None:
            upcoming.append(epoch(release))
        if not upcoming:
            return self.idle_s
        return min(max(min(upcoming) - epoch(self.clock.now()), 0.0), self.idle_s)

    async def _deliver(self, row: OutboxRow) -> None:
        try:
            message_id = await self.send(row.chat_id, row.text)
        except Exception as exc:  # CancelledError is not an Exception: shutdown goes through
            self._failed(row, self.judge(exc))
            return
        self.outbox.mark_sent(row.id, self.clock.now(), message_id)

    def _failed(self, row: OutboxRow, verdict: Verdict) -> None:
        if self.on_failure is not None:
            self.on_failure()
        if verdict.permanent:
            self.outbox.mark_failed(row.id, verdict.reason)
            log.error(
                "%s: %s message %d to %s refused (%s); dropped",
                self.channel,
                row.kind,
                row.id,
                row.chat_id,
                verdict.reason,
            )
            return
        attempts = row.attempts + 1
        if verdict.wait_s is None:
            wait = self.backoff.delay(attempts - 1)
        else:  # the service's retry-after, capped; "forever" (rejected credentials) at the longest backoff
            wait = self.backoff.maximum if math.isinf(verdict.wait_s) else min(verdict.wait_s, MAX_RETRY_AFTER_S)
        now = self.clock.now()
        self.outbox.retry_at(row.id, now + timedelta(seconds=wait), verdict.reason)
        log.warning(
            "%s: %s message %d to %s not delivered (%s); retry %d in %.1f s",
            self.channel,
            row.kind,
            row.id,
            row.chat_id,
            verdict.reason,
            attempts,
            wait,
        )
