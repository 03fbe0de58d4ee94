"""The pure core: ``advance`` the account state with a snapshot, ``evaluate`` the rules, ``track`` alerts.

No I/O and no clock reads: everything comes in as arguments, so replay, tests and the live service
run exactly the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter

from riskmon.clock import TradingCalendar
from riskmon.models import EARLIEST, LATEST, AccountSnapshot, AlertEvent, AlertStatus, RuleResult, Severity
from riskmon.rules.base import ANY_EQUITY, INFINITY, Band, Rule, StatefulRule, Watch, stateful, steady_until
from riskmon.state import AccountState, AnchorSource

log = logging.getLogger(__name__)

# Snapshots this close on both sides of a reset mean riskmon saw the reset happen.
RESET_WATCH_TOLERANCE = timedelta(minutes=5)


def advance(
    state: AccountState,
    snap: AccountSnapshot,
    calendar: TradingCalendar,
    tolerance: timedelta = RESET_WATCH_TOLERANCE,
    rules: Sequence[Rule] = (),
) -> AccountState:
    """Fold one snapshot into the state: day rollover and anchors, high-water marks, days traded, and each
    stateful rule's own slot."""
    before = state
    day = calendar.day_of(snap.ts)
    if state.trading_day is None or day > state.trading_day:
        state = _roll_over(state, snap, calendar, day, tolerance)
    elif state.anchor_source is AnchorSource.ESTIMATED and snap.realized_today is not None and day == state.trading_day:
        state = _exact_anchor(state, snap)
    # A snapshot older than the current day (out of order) updates nothing day-bound, and one older than
    # the newest seen leaves the latest balance as it is: its equity is still checked against the floors.
    same_day = day == state.trading_day
    newest = state.last_ts is None or snap.ts >= state.last_ts
    opened_days = {calendar.day_of(p.opened_at) for p in snap.positions if p.opened_at is not None}
    after = replace(
        state,
        balance_high=max(state.balance_high, snap.balance),
        equity_high=max(state.equity_high, snap.equity),
        day_low_equity=min(state.day_low_equity, snap.equity) if same_day else state.day_low_equity,
        last_balance=snap.balance if newest or state.last_balance is None else state.last_balance,
        last_ts=snap.ts if newest else state.last_ts,
        trading_days=state.trading_days | opened_days if opened_days else state.trading_days,
    )
    if not newest:
        return after  # a late snapshot is judged, but the rules' memory moves forward only
    slots = {rule.name: rule.advance(before.slots.get(rule.name), snap, before, after) for rule in _stateful(rules)}
    if not slots:
        return after
    merged = {**after.slots, **slots}  # a rule with nothing to remember (None) keeps no slot
    return replace(after, slots={name: slot for name, slot in merged.items() if slot is not None})


def _stateful(rules: Sequence[Rule]) -> Iterable[StatefulRule]:
    return (r for r in map(stateful, rules) if r is not None)


def _roll_over(
    state: AccountState,
    snap: AccountSnapshot,
    calendar: TradingCalendar,
    day: date,
    tolerance: timedelta,
) -> AccountState:
    start = calendar.start_of(day)
    watched = (
        state.last_ts is not None
        and state.last_balance is not None
        and start - state.last_ts <= tolerance
        and snap.ts - start <= tolerance
    )
    if watched and state.last_balance is not None:
        # The last balance before the reset is the balance at the reset (what the firm anchors to).
        balance, equity, source = state.last_balance, snap.equity, AnchorSource.OBSERVED
    elif snap.realized_today is not None:
        # Rebuilt from the platform's deals; the floating P&L at the reset is assumed unchanged.
        balance = snap.balance - snap.realized_today
        equity, source = balance + snap.floating_pnl, AnchorSource.REBUILT
    else:
        # Nothing better known: never lower than the evidence allows. The balance seen last before the gap
        # is a floor for the balance at the reset when no loss was seen since; take the larger of the two.
        balance = max(snap.balance, state.last_balance) if state.last_balance is not None else snap.balance
        equity, source = balance + snap.floating_pnl, AnchorSource.ESTIMATED
    if source is not AnchorSource.OBSERVED and state.trading_day is not None:
        log.warning(
            "%s: not watching at the %s reset; day anchor %s (balance %s)",
            state.account,
            start.isoformat(),
            source.value,
            balance,
        )
    return replace(
        state,
        trading_day=day,
        day_start=start,
        day_start_balance=balance,
        day_start_equity=equity,
        anchor_source=source,
        day_low_equity=snap.equity,
        eod_balance_high=max(state.eod_balance_high, balance)
        if state.trading_day is not None
        else state.eod_balance_high,
        eod_high_before=state.eod_balance_high if source is AnchorSource.ESTIMATED and state.trading_day else None,
    )


def _exact_anchor(state: AccountState, snap: AccountSnapshot) -> AccountState:
    """The platform's realised P&L arrived after an estimated anchor: the exact figure replaces the estimate,
    and the end-of-day balance high is taken again from the exact figure."""
    assert snap.realized_today is not None
    balance = snap.balance - snap.realized_today
    log.info(
        "%s: day anchor rebuilt from the platform's history: %s (estimated %s)",
        state.account,
        balance,
        state.day_start_balance,
    )
    eod = state.eod_balance_high if state.eod_high_before is None else max(state.eod_high_before, balance)
    return replace(
        state,
        day_start_balance=balance,
        day_start_equity=balance + snap.floating_pnl,
        anchor_source=AnchorSource.REBUILT,
        eod_balance_high=eod,
        eod_high_before=None,
    )


def evaluate(rules: Sequence[Rule], snap: AccountSnapshot, state: AccountState) -> tuple[RuleResult, ...]:
    """Run every rule. A rule that raises is a bug, but it must not blind the others."""
    results = []
    for rule in rules:
        try:
            results.append(rule.check(snap, state))
        except Exception as exc:
            log.exception("%s: rule %s failed", snap.account, rule.name)
            results.append(
                RuleResult(
                    rule=rule.name,
                    severity=Severity.CRITICAL,
                    observed=Decimal(0),
                    limit=Decimal(0),
                    describe=f"rule {rule.name} could not be evaluated: {type(exc).__name__}",
                )
            )
    return tuple(results)


def equity_band(rules: Sequence[Rule], snap: AccountSnapshot, state: AccountState) -> Band:
    """Equities strictly inside this band give every rule the verdict it gives ``snap``, with nothing else
    moving (see ``watched``): a tick inside it needs no full evaluation."""
    band = ANY_EQUITY
    for rule in rules:
        band &= rule.band(snap, state)
    return band


def watched(rules: Sequence[Rule]) -> frozenset[Watch]:
    """The inputs besides equity whose change can change some rule's verdict."""
    return frozenset().union(*(rule.watches for rule in rules))


_SHAPE = attrgetter("id", "symbol", "side", "volume", "opened_at")


def positions_key(snap: AccountSnapshot, prices: bool) -> object:
    """What of the positions the rules watch: all of it when a rule watches prices, else which positions are
    open (id, symbol, side, size, opening time) and not their prices."""
    return snap.positions if prices else tuple(map(_SHAPE, snap.positions))


@dataclass(slots=True)
class Gate:
    """What a snapshot must match for the verdicts of the last full evaluation to stand (the fast path).

    Equity strictly inside (``low``, ``high``), a time in [``since``, ``until``), and everything else the
    rules watch unchanged: then no rule's verdict, no alert and no rule's memory can differ from the last
    full evaluation, except the day's low and the equity high (the monitor keeps the extremes of the equities
    it let through) and the latest snapshot itself, all folded in before the next one.
    ``since`` moves to each snapshot let through (one older than that is late: a full evaluation).
    """

    low: Decimal  # the rules' band, open
    high: Decimal
    day_low: Decimal  # a new low for the day is evaluated in full when this is the day's low (else -Infinity)
    since: datetime
    until: datetime
    balance: Decimal
    margin: Decimal | None  # None: no rule watches the margin
    leverage: Decimal | None
    positions: object  # ``positions_key``
    orders: object
    prices: bool  # some rule watches position prices
    estimated: bool  # the day anchor is estimated: the platform's realised P&L replaces it (``advance``)

    def admits(self, snap: AccountSnapshot) -> bool:
        """Inside the gate (and ``since`` moved to it). Every figure compared is then as valid as the evaluated
        snapshot's, but for ``received_at`` (checked here) and a NaN equity (raises InvalidOperation)."""
        received = snap.received_at
        if not (
            self.low < snap.equity < self.high
            and self.day_low <= snap.equity
            and self.since <= snap.ts < self.until
            and snap.balance == self.balance
            and not snap.keepalive
            and (self.margin is None or snap.margin == self.margin)
            and snap.leverage == self.leverage
            and snap.orders == self.orders
            and (snap.realized_today is None or not self.estimated)
            and (received is None or EARLIEST <= received < LATEST)
            and positions_key(snap, self.prices) == self.positions
        ):
            return False
        self.since = snap.ts
        return True


def gate(
    rules: Sequence[Rule],
    snap: AccountSnapshot,
    state: AccountState,
    calendar: TradingCalendar,
    until: datetime,
    day_lows: bool = True,
) -> Gate | None:
    """The gate after a full evaluation of ``snap`` (the newest) into ``state``, or None when the next snapshot
    must be evaluated in full whatever it is (a rule watching the clock that cannot say until when its verdict
    holds, or an empty band). ``until`` bounds how long the gate stands (the monitor's refresh, so the table
    and metrics see fresh figures that often, and its clock's tolerance for stamps from the future). ``day_lows``:
    each new low of the day's equity is evaluated in full (the daily summary reports the closest approach to a
    floor); without it the monitor folds the lowest equity it let through into the state."""
    until = min(calendar.next_reset(snap.ts), until)
    for rule in rules:
        if Watch.TIME in rule.watches:
            steady = steady_until(rule, snap, state)
            if steady is None:
                return None
            until = min(until, steady)
    band = equity_band(rules, snap, state)
    if band.low >= band.high or until <= snap.ts:
        return None
    kinds = watched(rules)
    prices = Watch.PRICES in kinds
    return Gate(
        low=band.low,
        high=band.high,
        day_low=state.day_low_equity if day_lows else -INFINITY,
        since=snap.ts,
        until=until,
        balance=snap.balance,
        margin=snap.margin if Watch.MARGIN in kinds else None,
        leverage=snap.leverage,
        positions=positions_key(snap, prices),
        orders=snap.orders,
        prices=prices,
        estimated=state.anchor_source is AnchorSource.ESTIMATED,
    )


@dataclass(frozen=True, slots=True)
class Tracked:
    alerts: dict[str, Severity]
    events: tuple[AlertEvent, ...]


def track(
    open_alerts: Mapping[str, Severity],
    results: Iterable[RuleResult],
    account: str,
    ts: datetime,
    label: str = "",
) -> Tracked:
    """Alert lifecycle per rule: one event when it starts failing, one per severity change (escalated or
    de-escalated), one on recovery."""
    alerts = dict(open_alerts)
    events: list[AlertEvent] = []
    for result in results:
        before = alerts.get(result.rule)
        failing = result.failing
        if failing and before is None:
            status: AlertStatus | None = AlertStatus.FIRING
        elif failing and before is not None and before is not result.severity:
            status = AlertStatus.ESCALATED if result.severity > before else AlertStatus.DEESCALATED
        elif not failing and before is not None:
            status = AlertStatus.RESOLVED
        else:
            status = None
        if status is None:
            continue
        if failing:
            alerts[result.rule] = result.severity
        else:
            del alerts[result.rule]
        events.append(
            AlertEvent(
                account=account,
                rule=result.rule,
                severity=result.severity if failing else (before or Severity.OK),
                status=status,
                observed=result.observed,
                limit=result.limit,
                message=result.message,
                ts=ts,
                room_left=result.room_left,
                used=result.used,
                label=label,
                unit=result.unit,
            )
        )
    return Tracked(alerts, tuple(events))
