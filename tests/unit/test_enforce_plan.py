"""The enforcer's pure decisions: triggers, trading-state transitions and what to close, from real evaluations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from riskmon.enforce import Mode, Policy, TradingStatus
from riskmon.enforce.events import with_actions
from riskmon.enforce.plan import decide
from riskmon.enforce.records import Action, Intent, Kind, Status
from riskmon.models import Order, Position, Side, TradingState
from riskmon.monitor import Evaluation
from tests.builders import D, preset_monitor, snap, ts

NOW = ts("2026-03-02 10:00")
LIVE = Policy(mode=Mode.LIVE)
DAY = date(2026, 3, 2)


def pos(pid: str, notional: str, volume: str, pnl: str = "0") -> Position:
    return Position(pid, "EURUSD", Side.BUY, D(volume), notional=D(notional), unrealized_pnl=D(pnl))


def evaluate(equity: str, at: str = "2026-03-02 10:00", **extra: Any) -> Evaluation:
    monitor = preset_monitor("ftmo-2step", "100000", leverage={"enabled": True})
    monitor.process(snap("2026-03-02 00:30", "100000"))
    return monitor.process(snap(at, "100000", equity, **extra))


def action(target: str, status: Status, day: date = DAY, policy: str = "flatten", live: bool = True) -> Action:
    intent = Intent(policy, Kind.CLOSE, target, "EURUSD", None, D(1), live, "why")
    return Action(f"acc-1|{day}|{policy}|close:{target}|1", "acc-1", day, intent, status)


def test_nothing_happens_inside_the_buffer_or_with_enforcement_off() -> None:
    ok = decide(evaluate("96000", positions=(pos("1", "50000", "0.5"),)), LIVE, TradingStatus(), [], NOW)
    assert ok.transitions == () and ok.intents == ()
    off = decide(evaluate("95400", positions=(pos("1", "50000", "0.5"),)), Policy(), TradingStatus(), [], NOW)
    assert off.transitions == () and off.intents == ()


def test_flatten_at_the_share_used_closes_positions_and_cancels_orders() -> None:
    ev = evaluate(
        "95500",  # 4,500 of 5,000 used: 90%
        positions=(pos("1", "50000", "0.5"), pos("2", "20000", "0.2")),
        orders=(Order("7", "EURUSD", Side.BUY, D(1)),),
    )
    decision = decide(ev, LIVE, TradingStatus(), [action("2", Status.AWAITING)], NOW)
    (transition,) = decision.transitions
    assert transition.status.state is TradingState.HALTED and transition.status.live
    assert transition.trigger is not None and transition.trigger.rule == "daily_loss"
    assert "daily loss: 90.0% of the allowance used (flatten at 90.0%)" in transition.status.reason
    assert [(i.kind, i.target) for i in decision.intents] == [(Kind.CLOSE, "1"), (Kind.CANCEL, "7")]


def test_flatten_by_money_left_and_dry_run_intents() -> None:
    policy = Policy(mode=Mode.DRY_RUN, flatten_at_used=None, flatten_room_below=D(1000))
    decision = decide(evaluate("95900", positions=(pos("1", "50000", "0.5"),)), policy, TradingStatus(), [], NOW)
    assert decision.status.state is TradingState.HALTED and not decision.status.live
    assert "900.00 left before the floor 95,000.00 (flatten below 1,000.00)" in decision.status.reason
    assert [i.live for i in decision.intents] == [False]


def test_a_new_trading_day_lifts_the_halt_and_expires_the_old_day() -> None:
    halted = TradingStatus(TradingState.HALTED, date(2026, 3, 1), "yesterday", live=True)
    stale = action("1", Status.RETRY, day=date(2026, 3, 1))
    decision = decide(evaluate("99000"), LIVE, halted, [stale], NOW)
    assert [t.status.state for t in decision.transitions] == [TradingState.ACTIVE]
    assert decision.expire == (stale.key,) and decision.retry == ()


def test_refused_actions_are_retried_when_due() -> None:
    halted = TradingStatus(TradingState.HALTED, DAY, "x", live=True)
    due = replace(action("1", Status.RETRY), next_at=ts("2026-03-02 09:59"))
    later = replace(action("2", Status.RETRY), next_at=ts("2026-03-02 10:01"))
    decision = decide(
        evaluate("99000", positions=(pos("1", "1", "1"), pos("2", "1", "1"))), LIVE, halted, [due, later], NOW
    )
    assert decision.retry == (due.key,) and decision.intents == ()


def test_manual_flatten_halts_live_whatever_the_mode() -> None:
    decision = decide(
        evaluate("99000", positions=(pos("1", "1", "1"),)), Policy(), TradingStatus(), [], NOW, manual="ops"
    )
    assert decision.status.state is TradingState.HALTED and decision.status.live
    assert decision.status.reason == "manual flatten requested by ops"
    assert [i.target for i in decision.intents] == ["1"]


DELEVERAGE = Policy(mode=Mode.LIVE, flatten_at_used=None, deleverage=True)


def test_deleverage_closes_largest_loss_first_and_sizes_the_last_cut() -> None:
    ev = evaluate("100000", positions=(pos("a", "200000", "2", pnl="-500"), pos("b", "150000", "1", pnl="-100")))
    decision = decide(ev, DELEVERAGE, TradingStatus(), [], NOW)
    assert [t.status.state for t in decision.transitions] == [TradingState.REDUCING]
    assert decision.status.episode == 1
    assert [(i.target, i.volume) for i in decision.intents] == [("a", None), ("b", Decimal("0.07"))]
    assert {i.policy for i in decision.intents} == {"deleverage.1"}


def test_reducing_waits_for_confirmation_then_returns_to_active() -> None:
    reducing = TradingStatus(TradingState.REDUCING, DAY, "x", live=True, episode=1)
    over = evaluate("100000", positions=(pos("b", "200000", "1"),))
    pending = action("a", Status.AWAITING, policy="deleverage.1")
    assert decide(over, DELEVERAGE, reducing, [pending], NOW).intents == ()
    under = evaluate("100000", positions=(pos("b", "139500", "1"),))
    back = decide(under, DELEVERAGE, reducing, [], NOW)
    assert [t.status.state for t in back.transitions] == [TradingState.ACTIVE]
    assert "at or under the target 1.4x" in back.status.reason


def test_margin_level_alone_closes_the_biggest_loser() -> None:
    policy = Policy(mode=Mode.LIVE, flatten_at_used=None, deleverage=True, margin_level_below=D(150))
    ev = evaluate("100000", margin="80000", positions=(pos("a", "50000", "1", "-10"), pos("b", "50000", "1", "-90")))
    decision = decide(ev, policy, TradingStatus(), [], NOW)
    assert "margin level 125.0% below the emergency level 150%" in decision.status.reason
    assert [(i.target, i.volume) for i in decision.intents] == [("b", None)]


def test_alert_events_carry_the_enforcers_action() -> None:
    until = ts("2026-03-02 23:00")
    breach = evaluate("94000")  # below the daily floor: a critical daily_loss event
    halted = TradingStatus(TradingState.HALTED, DAY, "x", live=True)
    (event,) = with_actions(breach, LIVE, halted, until)
    assert event.action == "enforcer flattened the account; trading halted until 2026-03-02 23:00 UTC"
    (event,) = with_actions(breach, Policy(mode=Mode.DRY_RUN), TradingStatus(), until)
    assert event.action == "dry run: enforcer flattening every position now; trading halted until 2026-03-02 23:00 UTC"
    assert with_actions(breach, Policy(), TradingStatus(), until)[0].action == ""
