"""A breach the firm treats as final stays failing: hard until a person acknowledges it, soft until the reset."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from riskmon.enforce import Mode, Policy, TradingStatus
from riskmon.enforce.journal import Journal
from riskmon.enforce.manual import acknowledge_failure
from riskmon.enforce.plan import decide
from riskmon.models import AlertStatus, Position, Severity, Side, TradingState
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.rules.base import ANY_EQUITY
from riskmon.rules.daily_loss import DAILY_LOSS
from riskmon.rules.max_loss import MAX_LOSS
from riskmon.store import Store
from tests.builders import D, preset_monitor, snap, ts

OK, WARN, CRIT = Severity.OK, Severity.WARNING, Severity.CRITICAL


def feed(monitor: AccountMonitor, at: str, balance: str, equity: str | None = None, **extra: Any) -> Evaluation:
    evaluation = monitor.process(snap(at, balance, equity, **extra))
    assert evaluation is not None
    return evaluation


def result(evaluation: Evaluation, rule: str) -> tuple[Severity, Decimal | None, Decimal | None, str]:
    found = evaluation.result(rule)
    assert found is not None
    return found.severity, found.room_left, found.used, found.message


def test_ftmo_a_hard_breach_one_cent_below_the_floor_stays_failed_when_equity_comes_back() -> None:
    m = preset_monitor("ftmo-2step", "100000")
    feed(m, "2026-03-02 08:00", "100000")
    at_floor = feed(m, "2026-03-02 09:00", "100000", "90000.00")  # FTMO: "below"; equal is not a breach
    assert result(at_floor, MAX_LOSS)[0] is WARN
    breach = feed(m, "2026-03-02 10:00", "100000", "89999.99")
    assert result(breach, MAX_LOSS)[0] is CRIT and "(account failed)" in result(breach, MAX_LOSS)[3]
    back = feed(m, "2026-03-02 10:01", "100000", "99000")
    severity, room, used, message = result(back, MAX_LOSS)
    assert severity is CRIT and room == 0 and used is not None and used >= 1
    assert message == (
        "max loss: account failed at 2026-03-02 10:00:00 UTC (equity 89,999.99 below floor 90,000.00); "
        "riskmon keeps this until you acknowledge it"
    )
    assert back.events == ()  # nothing resolved
    assert all(e.status is not AlertStatus.RESOLVED for e in breach.events)
    rule = next(r for r in m.profile.rules if r.name == MAX_LOSS)
    assert m.state is not None and rule.band(back.snapshot, m.state) == ANY_EQUITY  # no tick can skip or lift it
    next_day = feed(m, "2026-03-03 10:00", "100000", "99000")
    assert result(next_day, MAX_LOSS)[0] is CRIT and result(next_day, DAILY_LOSS)[0] is CRIT  # both hard


def test_the5ers_equity_exactly_on_the_floor_fails_the_account_and_stays_failed() -> None:
    m = preset_monitor("the5ers-highstakes", "100000")  # "reaching any of these limits": equal is a breach
    feed(m, "2026-03-02 15:00", "100000")
    assert result(feed(m, "2026-03-02 15:01", "100000", "90000.01"), MAX_LOSS)[0] is WARN
    assert result(feed(m, "2026-03-02 15:02", "100000", "90000.00"), MAX_LOSS)[0] is CRIT
    severity, room, _, message = result(feed(m, "2026-03-02 15:03", "100000", "99000"), MAX_LOSS)
    assert severity is CRIT and room == 0
    assert "account failed at 2026-03-02 15:02:00 UTC (equity 90,000.00 at floor 90,000.00)" in message


def test_a_hard_breach_survives_a_restart_and_clears_only_on_acknowledgement(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    m = preset_monitor("ftmo-2step", "100000", store=store)
    feed(m, "2026-03-02 08:00", "100000")
    feed(m, "2026-03-02 10:00", "100000", "89999.99")
    store.close()
    store = Store(tmp_path / "s.db")
    again = preset_monitor("ftmo-2step", "100000", store=store)
    assert result(feed(again, "2026-03-02 10:05", "100000", "99000"), MAX_LOSS)[0] is CRIT
    done, line = acknowledge_failure(again.profile, store, "cli:tester", ts("2026-03-02 10:06"))
    assert done and "account failure acknowledged by cli:tester (daily loss, max loss)" in line
    (entry,) = [e for e in Journal(store).entries("acc-1") if e.step == "manual"]
    assert entry.detail == {"by": "cli:tester"} and entry.message == line
    assert acknowledge_failure(again.profile, store, "cli:tester", ts("2026-03-02 10:07"))[0] is False
    fresh = preset_monitor("ftmo-2step", "100000", store=store)
    cleared = feed(fresh, "2026-03-02 10:08", "100000", "99000")
    assert result(cleared, MAX_LOSS)[0] is OK
    assert {(e.rule, e.status) for e in cleared.events} == {
        (MAX_LOSS, AlertStatus.RESOLVED),
        (DAILY_LOSS, AlertStatus.RESOLVED),
    }
    store.close()


def test_topstep_a_soft_breach_clears_at_the_reset_instant_and_not_a_second_before() -> None:
    m = preset_monitor("topstep-50k")  # daily loss 1,000, "hit or exceed": equal is a soft breach; reset 17:00 CT
    feed(m, "2026-03-05 15:00", "50000")
    assert result(feed(m, "2026-03-05 15:01", "50000", "49000.01"), DAILY_LOSS)[0] is WARN
    hit = feed(m, "2026-03-05 15:02", "50000", "49000.00")
    assert result(hit, DAILY_LOSS)[0] is CRIT
    back = feed(m, "2026-03-05 15:03", "50000", "50000")
    severity, room, used, message = result(back, DAILY_LOSS)
    assert severity is CRIT and room == 0 and used == 1
    assert "trading blocked at 2026-03-05 15:02:00 UTC (equity 49,000.00 at floor 49,000.00)" in message
    assert "until the next reset" in message
    before = feed(m, "2026-03-05 22:59:59", "50000")  # 16:59:59 CST
    assert result(before, DAILY_LOSS)[0] is CRIT and before.events == ()
    reset = feed(m, "2026-03-05 23:00:00", "50000")  # 17:00:00 CST: the reset lifts it
    assert result(reset, DAILY_LOSS)[0] is OK
    assert [(e.rule, e.status) for e in reset.events] == [(DAILY_LOSS, AlertStatus.RESOLVED)]


def test_a_latched_breach_keeps_the_halt_over_the_new_day_and_flattens_nothing_once_flat() -> None:
    m = preset_monitor("ftmo-2step", "100000")
    feed(m, "2026-03-02 08:00", "100000")
    open_pos = (Position("1", "EURUSD", Side.BUY, D(1), notional=D(100000)),)
    breach = feed(m, "2026-03-02 10:00", "100000", "89999.99", positions=open_pos)
    live = Policy(mode=Mode.LIVE)
    first = decide(breach, live, TradingStatus(), [], breach.snapshot.ts)
    assert first.status.state is TradingState.HALTED and len(first.intents) == 1
    flat = feed(m, "2026-03-02 10:05", "100000", "99000")
    again = decide(flat, live, first.status, [], flat.snapshot.ts)
    assert again.status.state is TradingState.HALTED and again.transitions == () and again.intents == ()
    tomorrow = feed(m, "2026-03-03 10:00", "100000", "99000")
    kept = decide(tomorrow, live, again.status, [], tomorrow.snapshot.ts)
    assert kept.status.state is TradingState.HALTED and kept.transitions == () and kept.intents == ()
    assert kept.status.trading_day == date(2026, 3, 3)
