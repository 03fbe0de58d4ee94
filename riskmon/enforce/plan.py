"""Pure decisions: (evaluation, policy, trading status, open actions, now) → what to do next.

No I/O and no clock reads. Every figure comes from the engine's ``RuleResult``s (room left, share
used, observed leverage and margin level); nothing here recomputes a limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from riskmon.enforce.records import Action, Intent, Kind, Status, TradingStatus
from riskmon.enforce.spec import Mode, Policy
from riskmon.models import AccountSnapshot, Position, RuleResult, Severity, TradingState
from riskmon.monitor import Evaluation
from riskmon.rules.base import ALERT_ONLY, ANY_EQUITY, INFINITY, Band, Level, Response, label, money, pct
from riskmon.rules.leverage import LEVERAGE
from riskmon.rules.margin_level import MARGIN_LEVEL

FLATTEN = "flatten"
HALTING = frozenset({Response.FLATTEN, Response.FLATTEN_UNTIL, Response.HALT_NEW})


@dataclass(frozen=True, slots=True)
class Transition:
    before: TradingState
    status: TradingStatus  # the new status; its ``reason`` says why
    trigger: RuleResult | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    status: TradingStatus
    transitions: tuple[Transition, ...] = ()
    intents: tuple[Intent, ...] = ()
    retry: tuple[str, ...] = ()  # keys of refused or unconfirmed actions due to be sent again
    expire: tuple[str, ...] = ()  # keys of actions whose reason went away


def decide(
    ev: Evaluation,
    policy: Policy,
    status: TradingStatus,
    actions: Sequence[Action],
    now: datetime,
    manual: str | None = None,
    resume: str | None = None,
) -> Decision:
    """``actions`` are the account's unsettled records; ``manual`` names who asked for a flatten, ``resume``
    who asked to lift a halt, if anyone."""
    day = ev.state.trading_day
    if day is None:
        return Decision(status)
    transitions: list[Transition] = []

    def move(new: TradingStatus, trigger: RuleResult | None = None) -> None:
        nonlocal status
        transitions.append(Transition(status.state, new, trigger))
        status = new

    if status.state is TradingState.HALTED and status.until is not None and now >= status.until:
        lifted = f"halt lifted at {status.until:%Y-%m-%d %H:%M} UTC"
        move(TradingStatus(TradingState.ACTIVE, day, lifted, now, episode=status.episode))
    elif status.trading_day is not None and day > status.trading_day:
        # A halt lifts with the new day, unless what caused it still holds (a failed account stays failed):
        # lifting it would only halt it again at once, a transition and an alert every day.
        holds = policy.mode is not Mode.OFF and flatten_trigger(ev, policy) is not None
        if status.state is TradingState.HALTED and status.until is None and not holds:
            move(TradingStatus(TradingState.ACTIVE, day, f"new trading day {day}: halt lifted", now))
        else:
            status = replace(status, trading_day=day)

    if resume is not None and status.state is TradingState.HALTED:
        move(TradingStatus(TradingState.ACTIVE, day, f"halt lifted by {resume}", now, episode=status.episode))

    if manual is not None and not (status.state is TradingState.HALTED and status.live):
        move(_halt(status, day, now, f"manual flatten requested by {manual}", live=True))
    elif policy.mode is not Mode.OFF and status.state is not TradingState.HALTED:
        hit = flatten_trigger(ev, policy)
        if hit is not None:
            level = response_level(ev, hit[0].rule)
            halt = _halt(status, day, now, hit[1], live=policy.mode is Mode.LIVE)
            halt = replace(halt, until=lift_at(level, ev, now), new_only=level.kind is Response.HALT_NEW)
            move(halt, hit[0])

    intents: tuple[Intent, ...] = ()
    if status.state is TradingState.HALTED:
        intents = flatten_intents(ev.snapshot, status, _covered(actions, day, FLATTEN, status.live))
    elif policy.deleverage and policy.mode is not Mode.OFF:
        moves, intents = _deleverage(ev, policy, status, actions, day, now)
        for transition in moves:
            move(transition.status, transition.trigger)
    elif status.state is TradingState.REDUCING:
        move(TradingStatus(TradingState.ACTIVE, day, "deleveraging is no longer enabled", now, episode=status.episode))

    current = {TradingState.HALTED: FLATTEN, TradingState.REDUCING: deleverage_policy(status.episode)}.get(status.state)
    expire = tuple(
        a.key
        for a in actions
        if a.trading_day < day or a.intent.policy != current or (status.live and a.status is Status.SIMULATED)
    )
    retry = tuple(
        a.key
        for a in actions
        if a.key not in expire and a.status is Status.RETRY and (a.next_at is None or a.next_at <= now)
    )
    return Decision(status, tuple(transitions), intents, retry, expire)


def deleverage_policy(episode: int) -> str:
    return f"deleverage.{episode}"


def _halt(status: TradingStatus, day: date, now: datetime, reason: str, live: bool) -> TradingStatus:
    return TradingStatus(TradingState.HALTED, day, reason, now, live=live, episode=status.episode)


def _covered(actions: Sequence[Action], day: date, policy: str, live: bool) -> set[tuple[Kind, str]]:
    """Targets already dealt with; a dry run's plan does not cover a target once enforcement is live."""
    return {
        (a.intent.kind, a.intent.target)
        for a in actions
        if a.trading_day == day and a.intent.policy == policy and a.status.covers and (a.intent.live or not live)
    }


def flattening_rules(ev: Evaluation) -> frozenset[str]:
    """The account's rules whose response halts trading (flatten, flatten until, halt new risk); the money
    floors flatten by default."""
    return frozenset(rule.name for rule in ev.profile.rules if rule.response.kind in HALTING)


def response_level(ev: Evaluation, rule: str) -> Level:
    return next((r.response for r in ev.profile.rules if r.name == rule), ALERT_ONLY)


def lift_at(level: Level, ev: Evaluation, now: datetime) -> datetime | None:
    """For flatten_until: the next instant at the level's time of day in the account's zone; else None (the
    halt lifts at the next trading day)."""
    if level.kind is not Response.FLATTEN_UNTIL or level.until is None:
        return None
    zone = ev.profile.calendar.zone
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), level.until, tzinfo=zone)
    return (
        at if at > local else datetime.combine(local.date() + timedelta(days=1), level.until, tzinfo=zone)
    ).astimezone(UTC)


def flatten_trigger(ev: Evaluation, policy: Policy) -> tuple[RuleResult, str] | None:
    """The first halting rule that calls for it, with the reason in words: a money floor once its room
    left is inside the emergency buffer, any other rule once it fails at its critical level."""
    flattening = flattening_rules(ev)
    for result in ev.results:
        if result.rule not in flattening:
            continue
        name = label(result.rule)
        if result.room_left is None or result.floor is None:
            if result.severity is Severity.CRITICAL:
                return result, f"{name}: {result.message}"
            continue
        left = f"{money(result.room_left)} left before the floor {money(result.floor)}"
        at_used = policy.flatten_at_used
        if at_used is not None and result.used is not None and result.used >= at_used:
            return result, f"{name}: {pct(result.used)} of the allowance used (flatten at {pct(at_used)}); {left}"
        below = policy.flatten_room_below
        if below is not None and result.room_left < below:
            return result, f"{name}: {left} (flatten below {money(below)})"
    return None


def trigger_band(ev: Evaluation, policy: Policy) -> Band:
    """Equities strictly inside which ``flatten_trigger`` gives the answer it gives ``ev`` (the fast path's gate
    takes it in): the money floors' emergency buffers as equity levels. Other rules trigger at their critical
    level, which their own bands already hold."""
    band, equity, flattening = ANY_EQUITY, ev.snapshot.equity, flattening_rules(ev)
    for result in ev.results:
        if result.rule not in flattening or result.room_left is None or result.floor is None:
            continue
        edges = [] if policy.flatten_room_below is None else [result.floor + policy.flatten_room_below]
        if policy.flatten_at_used is not None and result.used is not None:
            edges.append(result.floor + (1 - policy.flatten_at_used) * result.limit)  # used >= at_used below it
        for edge in edges:
            band &= (edge, INFINITY) if equity > edge else (-INFINITY, edge)
    return band


def flatten_intents(snap: AccountSnapshot, status: TradingStatus, covered: set[tuple[Kind, str]]) -> tuple[Intent, ...]:
    """Close every position and cancel every order; under a halt of new risk, only positions opened since the
    halt (the ones held before it stay) and every pending order."""
    closes = tuple(
        Intent(FLATTEN, Kind.CLOSE, p.id, p.symbol, None, p.volume, status.live, status.reason)
        for p in snap.positions
        if (Kind.CLOSE, p.id) not in covered and (not status.new_only or _opened_since(p, status.since))
    )
    cancels = tuple(
        Intent(FLATTEN, Kind.CANCEL, o.id, o.symbol, None, None, status.live, status.reason)
        for o in snap.orders
        if (Kind.CANCEL, o.id) not in covered
    )
    return closes + cancels


def _opened_since(position: Position, since: datetime | None) -> bool:
    return since is not None and position.opened_at is not None and position.opened_at >= since


def deleverage_trigger(ev: Evaluation, policy: Policy) -> tuple[RuleResult, str] | None:
    leverage = ev.result(LEVERAGE)
    if leverage is not None and leverage.observed > policy.emergency_leverage:
        return leverage, f"leverage {leverage.observed:.2f}x above the emergency level {policy.emergency_leverage}x"
    margin = ev.result(MARGIN_LEVEL)
    below = policy.margin_level_below
    if margin is not None and below is not None and margin.observed < below:
        return margin, f"margin level {margin.observed:.1f}% below the emergency level {below}%"
    return None


def _deleverage(
    ev: Evaluation,
    policy: Policy,
    status: TradingStatus,
    actions: Sequence[Action],
    day: date,
    now: datetime,
) -> tuple[list[Transition], tuple[Intent, ...]]:
    """REDUCING from the emergency level until leverage is back at the target, closing a round at a time."""
    leverage = ev.result(LEVERAGE)
    if leverage is None:
        return [], ()
    moves: list[Transition] = []
    hit = deleverage_trigger(ev, policy)
    if status.state is TradingState.ACTIVE and hit is not None:
        reducing = TradingStatus(
            TradingState.REDUCING, day, hit[1], now, live=policy.mode is Mode.LIVE, episode=status.episode + 1
        )
        moves.append(Transition(status.state, reducing, hit[0]))
        status = reducing
    if status.state is not TradingState.REDUCING:
        return moves, ()
    name = deleverage_policy(status.episode)
    mine = [a for a in actions if a.trading_day == day and a.intent.policy == name]
    if hit is None and leverage.observed <= policy.target_leverage:
        if not any(a.status.in_flight for a in mine):
            reason = f"leverage {leverage.observed:.2f}x at or under the target {policy.target_leverage}x"
            active = TradingStatus(TradingState.ACTIVE, day, reason, now, episode=status.episode)
            moves.append(Transition(status.state, active, leverage))
        return moves, ()
    if any(a.status.covers and (a.intent.live or not status.live) for a in mine):
        return moves, ()  # the last round must be confirmed before the next one is sized
    margin_only = hit is not None and hit[0].rule == MARGIN_LEVEL
    return moves, deleverage_intents(ev.snapshot, leverage.observed, policy, name, status, margin_only)


def deleverage_intents(
    snap: AccountSnapshot,
    leverage: Decimal,
    policy: Policy,
    name: str,
    status: TradingStatus,
    margin_only: bool = False,
) -> tuple[Intent, ...]:
    """Close, largest loss first, enough notional to bring ``leverage`` (the engine's figure) to the target.

    With no equity left every position goes. When only the margin level triggered and leverage is
    already at the target, the position losing most is closed.
    """
    sized = sorted((p for p in snap.positions if p.notional and p.volume > 0), key=lambda p: (p.net_pnl, p.id))
    if snap.equity <= 0 or leverage == INFINITY:
        return tuple(_close(p, None, name, status) for p in sized)
    excess = (leverage - policy.target_leverage) * snap.equity
    if excess <= 0:
        return (_close(sized[0], None, name, status),) if margin_only and sized else ()
    intents = []
    for position in sized:
        if excess <= 0:
            break
        assert position.notional is not None
        per_lot = position.notional / position.volume
        lots = (excess / per_lot / policy.lot_step).to_integral_value(ROUND_CEILING) * policy.lot_step
        if lots >= position.volume:
            intents.append(_close(position, None, name, status))
            excess -= position.notional
        else:
            intents.append(_close(position, lots, name, status))
            excess -= lots * per_lot
    return tuple(intents)


def _close(position: Position, lots: Decimal | None, name: str, status: TradingStatus) -> Intent:
    return Intent(name, Kind.CLOSE, position.id, position.symbol, lots, position.volume, status.live, status.reason)
