"""The edge that talks to the Bot API: the python-telegram-bot client, token scrubbing, long polling.

python-telegram-bot puts the token in every URL (``<base>/bot<token>/sendMessage``), and httpx logs
those URLs; ``InvalidToken`` even quotes the token. ``Scrubber`` removes it from any text riskmon
logs, and ``scrub_library_logs`` filters the records httpx and python-telegram-bot log themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpcore  # noqa: F401 - imported so that its loggers exist before they are filtered
from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from riskmon.backoff import Backoff
from riskmon.logs import REDACTED, RedactSecrets
from riskmon.notify.telegram_sender import retry_seconds

log = logging.getLogger(__name__)

_LIBRARY_LOGGERS = ("httpx", "httpcore", "telegram")


class Scrubber:
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, text: str) -> str:
        return text.replace(self.token, REDACTED) if self.token else text


def scrub_library_logs(token: str) -> None:
    """Redact the token from every record the HTTP and Telegram libraries log (filters are per logger)."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in _LIBRARY_LOGGERS]
    for name in {*names, *_LIBRARY_LOGGERS}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TokenFilter) and f.token == token for f in logger.filters):
            logger.addFilter(_TokenFilter(token))
    # riskmon handles 429 itself (one log line, persistent retry time); the limiter would log a traceback.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


class _TokenFilter(RedactSecrets):
    def __init__(self, token: str) -> None:
        super().__init__([token])
        self.token = token


def make_bot(
    token: str,
    api_base_url: str,
    timeout_s: float = 15.0,
) -> ExtBot[int]:
    """An ``ExtBot`` on ``api_base_url`` (official or self-hosted Bot API), throttled by ``AIORateLimiter``."""
    scrub_library_logs(token)
    requests = HTTPXRequest(
        connection_pool_size=4,
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        write_timeout=timeout_s,
        pool_timeout=timeout_s,
    )
    polling = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=timeout_s,
        read_timeout=timeout_s,  # getUpdates adds its long-poll timeout to this
        write_timeout=timeout_s,
        pool_timeout=timeout_s,
    )
    return ExtBot(
        token,
        base_url=api_base_url.rstrip("/") + "/bot",
        request=requests,
        get_updates_request=polling,
        rate_limiter=AIORateLimiter(max_retries=0),
    )


POLL_BACKOFF = Backoff(1.0, 60.0)


class Poller:
    """Long polling with getUpdates; each update is handed to ``handle`` one at a time, in order."""

    def __init__(
        self,
        bot: ExtBot[int],
        handle: Callable[[Update], Awaitable[None]],
        scrub: Scrubber,
        poll_timeout_s: int = 25,
        backoff: Backoff = POLL_BACKOFF,
    ) -> None:
        self.bot = bot
        self.handle = handle
        self.scrub = scrub
        self.poll_timeout_s = poll_timeout_s
        self.backoff = backoff

    async def run(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=self.poll_timeout_s, allowed_updates=["message", "callback_query"]
                )
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                log.warning("telegram: getUpdates rate-limited; polling again in %.0f s", seconds)
                await asyncio.sleep(seconds)
                continue
            except Exception as exc:
                failures += 1
                delay = self.backoff.delay(failures - 1)
                log.warning(
                    "telegram: getUpdates failed (%s); polling again in %.0f s",
                    self.scrub(f"{type(exc).__name__}: {exc}"),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in updates:
                offset = update.update_id + 1
                try:
                    await self.handle(update)
                except Exception as exc:
                    log.error(
                        "telegram: update %d not handled (%s)",
                        update.update_id,
                        self.scrub(f"{type(exc).__name__}: {exc}"),
                    )
