"""When an alert may go out, on every channel: quiet hours, mutes and the recovery cooldown. Pure: time comes in.

- Anything critical (a critical alert, or the recovery of one) is never held by quiet hours or mutes.
- During quiet hours warnings, info and their recoveries are held until the quiet hours end.
- A muted account's non-critical alerts are dropped (the daily summary still counts them).
- A recovery is held for the cooldown: if the rule fails again at the same severity meanwhile, neither
  the recovery nor the repeat is sent (the flap is merged; see ``Outbox.cancel_held_recovery``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from riskmon.errors import ConfigError
from riskmon.models import AlertEvent, AlertStatus, Severity


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily wall-clock window in a zone, e.g. 22:00-07:00 Europe/Prague (may span midnight)."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, window: str, zone: str) -> QuietHours:
        try:
            first, last = (part.strip() for part in window.split("-"))
            start, end = time.fromisoformat(first), time.fromisoformat(last)
        except ValueError:
            raise ConfigError("TELEGRAM_QUIET_HOURS", f"expected HH:MM-HH:MM, got {window!r}") from None
        if start == end:
            raise ConfigError("TELEGRAM_QUIET_HOURS", "start and end are the same time")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("TELEGRAM_QUIET_TZ", f"unknown time zone {zone!r}") from None
        return cls(start, end, tz)

    def contains(self, ts: datetime) -> bool:
        local = ts.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, ts: datetime) -> datetime:
        """The first end of the window after ``ts`` (UTC-aware, like ``ts``)."""
        local = ts.astimezone(self.zone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end.astimezone(ts.tzinfo)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an alert goes: sent at ``release_at`` (``None``: dropped, with the reason)."""

    release_at: datetime | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    cooldown: timedelta = timedelta(minutes=2)
    quiet: QuietHours | None = None

    def deliver(self, event: AlertEvent, now: datetime, muted_until: datetime | None) -> Delivery:
        urgent = event.severity is Severity.CRITICAL
        if muted_until is not None and not urgent:
            return Delivery(None, f"muted until {muted_until:%H:%M} UTC")
        release = now + self.cooldown if event.status is AlertStatus.RESOLVED else now
        return Delivery(self.hold_quiet(release, urgent))

    def hold_quiet(self, release: datetime, urgent: bool) -> datetime:
        if urgent or self.quiet is None or not self.quiet.contains(release):
            return release
        return self.quiet.ends_after(release)
