"""The broker server's offset from UTC: configured, or estimated from a fresh quote.

Terminal tick and deal times are read as broker server time. With no configured offset, it is
estimated as (latest tick time − true UTC now) rounded to the nearest 30 minutes, and only accepted when
the quote is fresh (the difference lies close to such a step); otherwise the last estimate stands.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

STEP = timedelta(minutes=30)
MAX_OFFSET = timedelta(hours=14)


def estimate_offset(
    tick_server_ms: int, now: datetime, tolerance: timedelta = timedelta(seconds=90)
) -> timedelta | None:
    """The server's UTC offset implied by a tick stamped ``tick_server_ms`` seen at ``now``, or None
    when the tick is not fresh enough to tell (market closed, quotes stalled)."""
    diff = timedelta(milliseconds=tick_server_ms) - timedelta(seconds=now.timestamp())
    steps = round(diff / STEP)
    offset = steps * STEP
    if abs(diff - offset) > tolerance or abs(offset) > MAX_OFFSET:
        return None
    return offset


class ServerTime:
    """Knows the server offset: fixed when configured, else the latest trustworthy estimate."""

    def __init__(self, offset_hours: float | None = None) -> None:
        self._configured = timedelta(hours=offset_hours) if offset_hours is not None else None
        self._estimate: timedelta | None = None

    @property
    def offset(self) -> timedelta | None:
        return self._configured if self._configured is not None else self._estimate

    def observe(self, latest_tick_ms: int | None, now: datetime) -> timedelta | None:
        """Refine the estimate from the freshest tick seen now; return the offset to use (None: unknown)."""
        if self._configured is None and latest_tick_ms is not None:
            estimate = estimate_offset(latest_tick_ms, now)
            if estimate is not None and estimate != self._estimate:
                log.info("MT5 server time estimated at UTC%+.1f h", estimate / timedelta(hours=1))
                self._estimate = estimate
        return self.offset
