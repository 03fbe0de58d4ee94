"""Pure text and JSON renderings of alert events, shared by the console, replay and notifiers."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from riskmon.models import AlertEvent, AlertStatus
from riskmon.rules.base import label

CENT = Decimal("0.01")
# Units shown to two decimals (money, percent, leverage; and figures raised without a unit). Lots, days and
# position counts are shown exactly as they are.
ROUNDED_UNITS = frozenset({"money", "%", "x", ""})


def shown(value: Decimal, unit: str) -> str:
    """A rule figure as people read it: rounded to its unit's precision, never in scientific notation."""
    if unit in ROUNDED_UNITS and value.is_finite():
        value = value.quantize(CENT, ROUND_HALF_EVEN)
    return f"{value:f}"


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
        "observed": shown(event.observed, event.unit),
        "limit": shown(event.limit, event.unit),
        "message": event.message,
    }


def event_line(event: AlertEvent) -> str:
    """One console line: when, which account, what happened."""
    who = event.label or event.account
    head = f"{event.ts:%Y-%m-%d %H:%M:%S}Z {event.severity.value.upper():8} {event.status.value:12} {who} {event.rule}"
    tail = f" | action: {event.action}" if event.action else ""
    return f"{head}: {event.message}{tail}"


def num(value: Decimal) -> str:
    """A figure with thousands separators and two decimals; a true minus sign for negatives."""
    if not value.is_finite():
        return "∞" if value > 0 else "−∞"
    text = f"{value:,.2f}"
    return "−" + text[1:] if text.startswith("-") else text


def share(value: Decimal) -> str:
    """A share of a limit (0.8) as a percentage ("80.0%")."""
    if not value.is_finite():
        return "over the limit (no allowance)"
    return f"{value * 100:.1f}%"


rule_name = label  # a rule name as words: underscores become spaces
