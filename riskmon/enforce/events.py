"""The enforcer's alert events (rule ``enforcement``) and the words used for its actions. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from riskmon.enforce.plan import Transition, deleverage_trigger, flatten_trigger, flattening_rules
from riskmon.enforce.records import Action, Intent, Kind, TradingStatus
from riskmon.enforce.spec import Mode, Policy
from riskmon.models import AlertEvent, AlertStatus, Severity, TradingState
from riskmon.monitor import Evaluation
from riskmon.platforms.base import ActionResult
from riskmon.rules.base import money, pct
from riskmon.rules.enforcement import ENFORCEMENT
from riskmon.rules.leverage import LEVERAGE
from riskmon.rules.margin_level import MARGIN_LEVEL

RULE = ENFORCEMENT
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
        if new.state is TradingState.HALTED and new.new_only:
            action += f"; new risk halted until {new.until or halt_until:%Y-%m-%d %H:%M} UTC (positions opened "
            action += "meanwhile are closed, those held stay)"
        elif new.state is TradingState.HALTED:
            action += f"; trading halted until {new.until or halt_until:%Y-%m-%d %H:%M} UTC"
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


def refusal_event(action: Action, result: ActionResult, label: str, ts: datetime, retry_s: float | None) -> AlertEvent:
    """A refused (or only partly done, ``retry_s`` None) request, raised once per outcome."""
    code = f" [{result.code}]" if result.code else ""
    if retry_s is None:
        then = "the rest is planned again from the next snapshot"
    else:
        then = f"retrying every {retry_s:.0f} s until the broker accepts"
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
        action=then,
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


def with_actions(ev: Evaluation, policy: Policy, status: TradingStatus, halt_until: datetime) -> tuple[AlertEvent, ...]:
    """The evaluation's alert events, each saying what the enforcer does or will do about it."""
    events = []
    for event in ev.events:
        text = (
            ""
            if event.status is AlertStatus.RESOLVED or event.action
            else _action(event, ev, policy, status, halt_until)
        )
        events.append(replace(event, action=text) if text else event)
    return tuple(events)


def _action(event: AlertEvent, ev: Evaluation, policy: Policy, status: TradingStatus, halt_until: datetime) -> str:
    until = f"trading halted until {status.until or halt_until:%Y-%m-%d %H:%M} UTC"
    enforcing = policy.mode is not Mode.OFF
    dry = "" if policy.mode is Mode.LIVE else "dry run: "
    if event.rule in flattening_rules(ev):
        if status.state is TradingState.HALTED:
            return f"{'' if status.live else 'dry run: '}enforcer flattened the account; {until}"
        hit = flatten_trigger(ev, policy) if enforcing else None
        if hit is not None and hit[0].rule == event.rule:
            return f"{dry}enforcer flattening every position now; {until}"
        result = ev.result(event.rule)
        if enforcing and (result is None or result.floor is None):
            return f"{dry}enforcer flattens when this rule fails at its critical level"
        if enforcing and policy.flatten_at_used is not None:
            return f"{dry}enforcer flattens at {pct(policy.flatten_at_used)} used"
        if enforcing and policy.flatten_room_below is not None:
            return f"{dry}enforcer flattens below {money(policy.flatten_room_below)} left"
        return ""
    if event.rule not in (LEVERAGE, MARGIN_LEVEL) or not (enforcing and policy.deleverage):
        return ""
    target = f"{policy.target_leverage}x leverage"
    if status.state is TradingState.REDUCING:
        return f"{dry}enforcer reducing positions to {target}"
    hit = deleverage_trigger(ev, policy)
    if hit is not None and hit[0].rule == event.rule:
        return f"{dry}enforcer deleveraging to {target} now, largest loss first"
    if event.rule == LEVERAGE:
        return f"{dry}enforcer deleverages above {policy.emergency_leverage}x"
    below = policy.margin_level_below
    return f"{dry}enforcer deleverages below {below}% margin level" if below is not None else ""
