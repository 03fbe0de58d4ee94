"""Telegram's side of the delivery core (``riskmon.notify.sender``): what a Bot API failure means.

- 429: Telegram's ``retry_after`` (capped by the core); 400 chat not found, 403 blocked, chat migrated:
  permanent; an invalid token: wait at the longest backoff; anything else: the backoff.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import timedelta

from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from riskmon.backoff import Backoff
from riskmon.clock import Clock
from riskmon.notify import sender as core
from riskmon.notify.outbox import Outbox
from riskmon.notify.sender import DEFAULT_BACKOFF, MAX_RETRY_AFTER_S, Scrub, SendFn, Verdict

__all__ = ["DEFAULT_BACKOFF", "MAX_RETRY_AFTER_S", "Sender", "judge", "retry_seconds"]


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


class Sender(core.Sender):
    """The core sender with Telegram's judge."""

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
        super().__init__(outbox, send, clock, scrub, lambda exc: judge(exc, scrub), backoff, idle_s, on_failure)
