"""Time: an injectable clock, and the firm's trading day computed from timestamps.

The trading day is always derived from an instant (a snapshot's timestamp), never from a scheduled job:
wall-clock comparison in the firm's zone makes it DST-correct by construction.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """``now`` is the wall clock (trading days, timestamps); ``monotonic`` measures elapsed time (freshness,
    back-off): it never jumps when the system clock is set."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return _time.monotonic()


class ManualClock:
    """A clock that only moves when told to (tests, replay, benchmarks)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._now.timestamp()

    def set(self, ts: datetime) -> None:
        self._now = ts

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """When a firm's trading day starts: a wall-clock reset time in an IANA zone.

    Days are labelled by the calendar date they mostly cover: with a reset at or after noon
    (e.g. 17:00 New York) the day that starts Monday evening is Tuesday's, as on the trading server.
    """

    zone: ZoneInfo
    reset: time = time(0, 0)

    @classmethod
    def of(cls, zone: str, reset: str | time = "00:00") -> TradingCalendar:
        reset_time = reset if isinstance(reset, time) else time.fromisoformat(reset)
        return cls(ZoneInfo(zone), reset_time)

    @property
    def _labels_next_date(self) -> bool:
        return self.reset >= time(12, 0)

    def day_of(self, ts: datetime) -> date:
        local = ts.astimezone(self.zone)
        day = local.date() if local.time() >= self.reset else local.date() - timedelta(days=1)
        return day + timedelta(days=1) if self._labels_next_date else day

    def start_of(self, day: date) -> datetime:
        """The UTC instant at which trading day ``day`` begins."""
        local_date = day - timedelta(days=1) if self._labels_next_date else day
        return datetime.combine(local_date, self.reset, tzinfo=self.zone).astimezone(UTC)

    def next_reset(self, ts: datetime) -> datetime:
        return self.start_of(self.day_of(ts) + timedelta(days=1))

    def describe(self) -> str:
        return f"{self.reset.strftime('%H:%M')} {self.zone.key}"
