"""The outbox's one consumer: delivers pending rows, in order per chat, until each is sent or refused.

- Network errors, timeouts and 5xx: retried with exponential backoff (nothing is dropped).
- 429: retried after Telegram's ``retry_after``, capped at ``MAX_RETRY_AFTER_S`` (a huge value would park
  the chat's alerts for years; retrying early only earns another 429).
- A critical alert never waits behind an older message of a chat that is waiting for its retry.
- A permanent refusal (400 chat not found, 403 blocked, chat migrated): the row is marked failed.
- An invalid token: every row waits (at the longest backoff) until the token is fixed and riskmon restarted.

A row is marked sent as soon as Telegram acknowledges it. If the process dies between Telegram's
HTTP 200 and that commit (or a send times out after Telegram accepted it), the message is sent once
more on the next attempt: at most one duplicate per message, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from riskmon.backoff import Backoff
from riskmon.clock import Clock
from riskmon.notify.telegram_store import Outbox, OutboxRow, epoch

log = logging.getLogger(__name__)

SendFn = Callable[[str, str], Awaitable[int]]  # (chat id, HTML text) → Telegram message id
Scrub = Callable[[str], str]


DEFAULT_BACKOFF = Backoff(1.0, 300.0)
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Verdict:
    permanent: bool
    wait_s: float | None  # None: use the backoff
    reason: str


def retry_seconds(exc: RetryAfter) -> float:
    """Telegram's ``retry_after`` in seconds (an int today, a timedelta in a future python-telegram-bot)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def judge(exc: Exception, scrub: Scrub) -> Verdict:
    """How a failed send is handled, from the exception python-telegram-bot raised."""
    reason = scrub(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, RetryAfter):
        return Verdict(False, retry_seconds(exc), reason)
    if isinstance(exc, ChatMigrated):
        return Verdict(True, None, f"chat moved to {exc.new_chat_id}: update TELEGRAM_CHAT_ID")
    if isinstance(exc, (BadRequest, Forbidden)):
        return Verdict(True, None, reason)
    if isinstance(exc, InvalidToken):
        return Verdict(False, float("inf"), "the bot token was rejected: fix TELEGRAM_BOT_TOKEN and restart")
    return Verdict(False, None, reason)


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        send: SendFn,
        clock: Clock,
        scrub: Scrub,
        backoff: Backoff = DEFAULT_BACKOFF,
        idle_s: float = 30.0,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.on_failure = on_failure  # each failed delivery attempt, e.g. for the notification-failures metric
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
                log.error("telegram outbox unavailable (%s); retrying in %.0f s", self.scrub(repr(exc)), wait)
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
            self._failed(row, judge(exc, self.scrub))
            return
        self.outbox.mark_sent(row.id, self.clock.now(), message_id)

    def _failed(self, row: OutboxRow, verdict: Verdict) -> None:
        if self.on_failure is not None:
            self.on_failure()
        if verdict.permanent:
            self.outbox.mark_failed(row.id, verdict.reason)
            log.error(
                "telegram: %s message %d to chat %s refused (%s); dropped",
                row.kind,
                row.id,
                row.chat_id,
                verdict.reason,
            )
            return
        attempts = row.attempts + 1
        if verdict.wait_s is None:
            wait = self.backoff.delay(attempts - 1)
        else:  # Telegram's retry_after, capped; "forever" (a rejected token) at the longest backoff
            wait = self.backoff.maximum if math.isinf(verdict.wait_s) else min(verdict.wait_s, MAX_RETRY_AFTER_S)
        now = self.clock.now()
        self.outbox.retry_at(row.id, now + timedelta(seconds=wait), verdict.reason)
        log.warning(
            "telegram: %s message %d to chat %s not delivered (%s); retry %d in %.1f s",
            row.kind,
            row.id,
            row.chat_id,
            verdict.reason,
            attempts,
            wait,
        )
