"""When alerts go out: quiet hours, mutes, recovery cooldown; and how send failures are judged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut

from riskmon.backoff import Backoff
from riskmon.errors import ConfigError
from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.policy import AlertPolicy, QuietHours
from riskmon.notify.telegram_sender import judge
from tests.builders import D, ts

NIGHT = QuietHours.parse("22:00-07:00", "Europe/Prague")  # CET = UTC+1 in March


def alert(severity: Severity, status: AlertStatus = AlertStatus.FIRING) -> AlertEvent:
    return AlertEvent("acc-1", "daily_loss", severity, status, D(1), D(2), "m", ts("2026-03-02 22:30"))


@pytest.mark.parametrize(
    ("at", "quiet"),
    [("2026-03-02 20:59", False), ("2026-03-02 21:00", True), ("2026-03-03 05:59", True), ("2026-03-03 06:00", False)],
)
def test_quiet_hours_span_midnight_in_the_zone(at: str, quiet: bool) -> None:
    assert NIGHT.contains(ts(at)) is quiet


def test_quiet_hours_end() -> None:
    assert NIGHT.ends_after(ts("2026-03-02 22:30")) == ts("2026-03-03 06:00")
    assert NIGHT.ends_after(ts("2026-03-03 05:00")) == ts("2026-03-03 06:00")


def test_quiet_hours_are_validated() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_QUIET_HOURS"):
        QuietHours.parse("22-7", "UTC")
    with pytest.raises(ConfigError, match="TELEGRAM_QUIET_TZ"):
        QuietHours.parse("22:00-07:00", "Mars/Olympus")


def test_quiet_hours_hold_warnings_not_criticals() -> None:
    policy = AlertPolicy(cooldown=timedelta(0), quiet=NIGHT)
    now = ts("2026-03-02 22:30")
    assert policy.deliver(alert(Severity.WARNING), now, None).release_at == ts("2026-03-03 06:00")
    assert policy.deliver(alert(Severity.CRITICAL), now, None).release_at == now
    resolved_critical = alert(Severity.CRITICAL, AlertStatus.RESOLVED)
    assert policy.deliver(resolved_critical, now, None).release_at == now


def test_recovery_waits_for_the_cooldown() -> None:
    policy = AlertPolicy(cooldown=timedelta(minutes=2))
    now = ts("2026-03-02 12:00")
    assert policy.deliver(alert(Severity.WARNING, AlertStatus.RESOLVED), now, None).release_at == now + timedelta(
        minutes=2
    )
    assert policy.deliver(alert(Severity.WARNING), now, None).release_at == now


def test_mute_drops_warnings_but_not_criticals() -> None:
    policy = AlertPolicy()
    now, until = ts("2026-03-02 12:00"), ts("2026-03-02 13:00")
    muted = policy.deliver(alert(Severity.WARNING), now, until)
    assert muted.release_at is None and muted.reason == "muted until 13:00 UTC"
    assert policy.deliver(alert(Severity.CRITICAL), now, until).release_at == now


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own constructor
def test_judging_send_failures() -> None:
    def scrub(text: str) -> str:
        return text.replace("SECRET", "***")

    assert judge(RetryAfter(7), scrub).wait_s == 7
    assert judge(TimedOut(), scrub).permanent is False
    assert judge(NetworkError("Bad Gateway"), scrub).wait_s is None
    assert judge(BadRequest("Chat not found"), scrub).permanent is True
    assert judge(Forbidden("bot was blocked by the user"), scrub).permanent is True
    assert judge(ChatMigrated(-100123), scrub).reason == "chat moved to -100123: update TELEGRAM_CHAT_ID"
    invalid = judge(InvalidToken("The token `SECRET` was rejected"), scrub)
    assert invalid.permanent is False and "SECRET" not in invalid.reason


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 10.0)
    assert [backoff.delay(n) for n in (0, 1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0, 10.0]
