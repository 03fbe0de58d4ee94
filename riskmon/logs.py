"""Logging set-up: plain or JSON lines on stderr, with every configured secret value redacted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def configure(fmt: str = "plain", level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "websockets", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
