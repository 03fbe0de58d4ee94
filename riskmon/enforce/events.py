"""The enforcer's alert events (rule ``enforcement``) and the words used for its actions. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from riskmon.enforce.plan import Transition
from riskmon.enforce.records import Action, Intent, Kind
from riskmon.models import AlertEvent, AlertStatus, Severity, TradingState
from riskmon.platforms.base import ActionResult

RULE = "enforcement"
ZERO = Decimal(0)


def describe(intent: Intent) -> str:
    if intent.kind is Kind.CANCEL:
        return f"cancel order {intent.target} ({intent.symbol})"
    if intent.volume is None:
        lots = f", {intent.volume_before} lots" if intent.volume_before is not None else ""
        return f"close position {intent.target} ({intent.symbol}{lots})"
    return f"close {intent.volume} of {intent.volume_before} lots of position {intent.target} ({intent.symbol})"


def plan_text(intents: Sequence[Intent]) -> str:
    closes = [i for i in intents if i.kind is Kind.CLOSE]
    cancels = len(intents) - len(closes)
    parts = []
    if closes:
        lots = sum((i.volume if i.volume is not None else i.volume_before or ZERO for i in closes), ZERO)
        parts.append(f"close {len(closes)} position{'s' if len(closes) != 1 else ''} ({lots} lots)")
    if cancels:
        parts.append(f"cancel {cancels} order{'s' if cancels != 1 else ''}")
    return " and ".join(parts) or "nothing open to close"


def transition_event(
    account: str,
    label: str,
    transition: Transition,
    intents: Sequence[Intent],
    ts: datetime,
    halt_until: datetime,
) -> AlertEvent:
    new = transition.status
    trigger = transition.trigger
    mode = "live" if new.live else "dry run"
    if new.state is TradingState.ACTIVE:
        severity, status, action = Severity.CRITICAL, AlertStatus.RESOLVED, "trading allowed again"
    else:
        severity = Severity.CRITICAL
        status = AlertStatus.FIRING if transition.before is TradingState.ACTIVE else AlertStatus.ESCALATED
        action = plan_text(intents)
        if not new.live:
            action = f"dry run, nothing sent: would {action}"
        if new.state is TradingState.HALTED:
            action += f"; trading halted until {halt_until:%Y-%m-%d %H:%M} UTC"
        else:
            action += "; reducing until leverage is back at the target"
    return AlertEvent(
        account=account,
        rule=RULE,
        severity=severity,
        status=status,
        observed=trigger.observed if trigger else ZERO,
        limit=trigger.limit if trigger else ZERO,
        message=f"trading {new.state.value}: {new.reason}",
        ts=ts,
        room_left=trigger.room_left if trigger else None,
        used=trigger.used if trigger else None,
        label=label,
        action=action,
        details={"state": new.state.value, "from": transition.before.value, "mode": mode},
    )


def refusal_event(action: Action, result: ActionResult, label: str, ts: datetime, retry_s: float) -> AlertEvent:
    code = f" [{result.code}]" if result.code else ""
    return AlertEvent(
        account=action.account,
        rule=RULE,
        severity=Severity.CRITICAL,
        status=AlertStatus.FIRING,
        observed=ZERO,
        limit=ZERO,
        message=f"could not {describe(action.intent)}: {result.outcome.value}{code} {result.message}".rstrip(),
        ts=ts,
        label=label,
        action=f"retrying every {retry_s:.0f} s until the broker accepts",
        details={"key": action.key, "outcome": result.outcome.value},
    )


def unconfirmed_event(action: Action, message: str, label: str, ts: datetime) -> AlertEvent:
    return AlertEvent(
        account=action.account,
        rule=RULE,
        severity=Severity.CRITICAL,
        status=AlertStatus.FIRING,
        observed=ZERO,
        limit=ZERO,
        message=message,
        ts=ts,
        label=label,
        action="sending again with backoff until a snapshot confirms it",
        details={"key": action.key, "outcome": "unconfirmed"},
    )


def recovered_event(action: Action, label: str, ts: datetime) -> AlertEvent:
    return AlertEvent(
        account=action.account,
        rule=RULE,
        severity=Severity.CRITICAL,
        status=AlertStatus.RESOLVED,
        observed=ZERO,
        limit=ZERO,
        message=f"done after {action.attempts} attempts: {describe(action.intent)}",
        ts=ts,
        label=label,
        action="confirmed by a fresh snapshot",
        details={"key": action.key},
    )
