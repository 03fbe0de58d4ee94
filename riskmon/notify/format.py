"""Pure text and JSON renderings of alert events, shared by the console, replay and notifiers."""

from __future__ import annotations

from typing import Any

from riskmon.models import AlertEvent, AlertStatus


def event_record(event: AlertEvent) -> dict[str, Any]:
    """The replay output contract: one JSON object per alert event.

    A severity change is reported as ``firing`` at the new severity (the contract has two statuses).
    """
    status = AlertStatus.RESOLVED if event.status is AlertStatus.RESOLVED else AlertStatus.FIRING
    return {
        "ts": event.ts.isoformat(),
        "account": event.account,
        "rule": event.rule,
        "severity": event.severity.value,
        "status": status.value,
        "observed": str(event.observed),
        "limit": str(event.limit),
        "message": event.message,
    }


def event_line(event: AlertEvent) -> str:
    """One console line: when, which account, what happened."""
    who = event.label or event.account
    head = f"{event.ts:%Y-%m-%d %H:%M:%S}Z {event.severity.value.upper():8} {event.status.value:9} {who} {event.rule}"
    tail = f" | action: {event.action}" if event.action else ""
    return f"{head}: {event.message}{tail}"
