"""Logging set-up: plain or JSON lines on stderr, with every configured secret value redacted.

Timestamps are UTC with an explicit zone (``2026-03-02T10:00:00.123Z``), like alerts and the audit
trail. The handler writes to whatever ``sys.stderr`` is when a record is emitted: under the live
table that is rich's proxy, which prints the line above the table instead of through it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

REDACTED = "***"


class RedactSecrets(logging.Filter):
    """Last line of defence: no configured secret value leaves the process through a log record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            exc_text = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
            if any(s in message or s in exc_text for s in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, REDACTED)
                    exc_text = exc_text.replace(secret, REDACTED)
                record.msg, record.args = message, None
                if exc_text:
                    record.msg = f"{message}\n{exc_text}"
                    record.exc_info = None
                    record.exc_text = None
        return True


def utc_timestamp(created: float) -> str:
    """A record's time as ISO 8601 UTC with millisecond precision and a ``Z``."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


class StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler bound to the current ``sys.stderr``, not to the one there was at set-up."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """``StreamHandler.__init__`` sets it; the current ``sys.stderr`` is always used instead."""


def configure(fmt: str = "plain", level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = StderrHandler()
    handler.addFilter(RedactSecrets(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "websockets", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
