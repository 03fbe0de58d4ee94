"""Stale data: riskmon has heard nothing from an account for longer than its platform's limit.

Raised by the account's monitor outside an evaluation (no snapshot comes to evaluate), so it is built from
the silence's length rather than checked against a snapshot; it resolves with the next snapshot.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from riskmon.models import RuleResult, Severity
from riskmon.rules.base import Response

STALE_DATA = "stale_data"
RESPONSE = Response.ALERT
DESCRIPTION = "no data for longer than the platform's silence limit (STALE_AFTER): riskmon is blind; alert only"


def freshness(severity: Severity, age: timedelta, limit: timedelta) -> RuleResult:
    """The verdict: CRITICAL after ``age`` of silence against ``limit``, OK once data flows again."""
    if severity is Severity.OK:
        message = "data is flowing again"
    else:
        message = f"no data for {age.total_seconds():.0f} s (limit {limit.total_seconds():.0f} s): "
        message += "riskmon cannot see this account"
    return RuleResult(
        STALE_DATA,
        severity,
        Decimal(str(round(age.total_seconds(), 3))),
        Decimal(str(limit.total_seconds())),
        message,
        unit="s",
    )
