"""The engine: alert lifecycle, trading-day rollover (DST included), anchors and high-water marks."""

from __future__ import annotations

from datetime import date

import pytest

from riskmon.clock import TradingCalendar
from riskmon.engine import advance, track
from riskmon.models import AlertStatus, RuleResult, Severity
from riskmon.notify.format import event_line, event_record
from riskmon.state import AccountState, AnchorSource
from tests.builders import D, position, preset_monitor, snap, ts


def result(severity: Severity, rule: str = "daily_loss") -> RuleResult:
    return RuleResult(rule, severity, D(1), D(2), "msg")


def test_alert_lifecycle_fires_once_escalates_and_resolves() -> None:
    s = snap("2026-03-02 10:00", "100000")
    steps = [Severity.WARNING, Severity.WARNING, Severity.CRITICAL, Severity.CRITICAL, Severity.OK, Severity.OK]
    alerts: dict[str, Severity] = {}
    statuses = []
    for severity in steps:
        tracked = track(alerts, [result(severity)], s.account, s.ts)
        alerts = tracked.alerts
        statuses.append([(e.status, e.severity) for e in tracked.events])
    assert statuses == [
        [(AlertStatus.FIRING, Severity.WARNING)],
        [],
        [(AlertStatus.ESCALATED, Severity.CRITICAL)],
        [],
        [(AlertStatus.RESOLVED, Severity.CRITICAL)],
        [],
    ]


def test_de_escalation_is_a_change_too_and_says_so() -> None:
    tracked = track({"daily_loss": Severity.CRITICAL}, [result(Severity.WARNING)], "acc-1", ts("2026-03-02 10:00"))
    assert [(e.status, e.severity) for e in tracked.events] == [(AlertStatus.DEESCALATED, Severity.WARNING)]
    (event,) = tracked.events
    assert "de-escalated" in event_line(event)
    assert event_record(event)["status"] == "firing"  # the replay contract: firing at the new severity


PRAGUE = TradingCalendar.of("Europe/Prague", "00:00")
NEW_YORK = TradingCalendar.of("America/New_York", "17:00")


@pytest.mark.parametrize(
    ("calendar", "instant", "day"),
    [
        # Prague: CET (UTC+1) until 2026-03-29 01:00 UTC, then CEST (UTC+2).
        (PRAGUE, "2026-03-28T22:59:59+00:00", date(2026, 3, 28)),
        (PRAGUE, "2026-03-28T23:00:00+00:00", date(2026, 3, 29)),  # midnight CET
        (PRAGUE, "2026-03-29T21:59:59+00:00", date(2026, 3, 29)),
        (PRAGUE, "2026-03-29T22:00:00+00:00", date(2026, 3, 30)),  # midnight CEST: an hour earlier in UTC
        (PRAGUE, "2026-10-24T22:00:00+00:00", date(2026, 10, 25)),  # autumn change day starts at 22:00 UTC
        (PRAGUE, "2026-10-25T22:59:59+00:00", date(2026, 10, 25)),  # ... and lasts 25 hours
        (PRAGUE, "2026-10-25T23:00:00+00:00", date(2026, 10, 26)),
        # New York 17:00: EST (UTC-5) until 2026-03-08 07:00 UTC, then EDT (UTC-4).
        (NEW_YORK, "2026-03-06T21:59:59+00:00", date(2026, 3, 6)),
        (NEW_YORK, "2026-03-06T22:00:00+00:00", date(2026, 3, 7)),  # Friday 17:00 EST
        (NEW_YORK, "2026-03-08T20:59:59+00:00", date(2026, 3, 8)),
        (NEW_YORK, "2026-03-08T21:00:00+00:00", date(2026, 3, 9)),  # Sunday 17:00 EDT
        (NEW_YORK, "2026-11-01T21:59:59+00:00", date(2026, 11, 1)),
        (NEW_YORK, "2026-11-01T22:00:00+00:00", date(2026, 11, 2)),  # back on EST
    ],
)
def test_trading_day_across_dst(calendar: TradingCalendar, instant: str, day: date) -> None:
    assert calendar.day_of(ts(instant)) == day
    assert calendar.day_of(calendar.start_of(day)) == day


def test_ftmo_reset_on_a_us_dst_server_in_the_gap_weeks() -> None:
    # 2026-03-10: New York is on EDT, Prague still on CET. A GMT+3 server (NY+7) shows 02:00
    # at Prague midnight; a week before (both on winter time, server GMT+2) it showed 01:00.
    server_zone_offset = {"2026-03-10": 3, "2026-03-03": 2}
    for day, offset in server_zone_offset.items():
        start = PRAGUE.start_of(date.fromisoformat(day))
        server_hour = (start.hour + offset) % 24
        assert server_hour == (2 if day == "2026-03-10" else 1)


def test_rollover_takes_the_balance_at_the_reset() -> None:
    cal = TradingCalendar.of("UTC")
    state = AccountState.fresh("acc-1", D(100000))
    state = advance(state, snap("2026-03-02 23:59:59", "101000", "100500"), cal)
    state = advance(state, snap("2026-03-03 00:00:01", "101000", "99000"), cal)
    assert state.trading_day == date(2026, 3, 3)
    assert state.day_start_balance == D(101000)
    assert state.day_start_equity == D(99000)
    assert state.anchor_source is AnchorSource.OBSERVED
    assert state.eod_balance_high == D(101000)


def test_swap_booked_before_prague_midnight_counts_on_the_old_day() -> None:
    # FTMO: swap is charged at 00:00 server time = 23:00 Prague, an hour before the reset.
    m = preset_monitor("ftmo-2step", "100000")
    m.process(snap("2026-03-02T21:00:00+00:00", "100000"))  # 22:00 Prague, day 03-02
    m.process(snap("2026-03-02T22:00:01+00:00", "99950"))  # swap -50 at 23:00 Prague
    ev = m.process(snap("2026-03-02T23:00:00+00:00", "99950"))  # Prague midnight
    assert m.state is not None and m.state.trading_day == date(2026, 3, 3)
    assert m.state.day_start_balance == D(99950)
    daily = ev.result("daily_loss")
    assert daily is not None and daily.floor == D(94950) and daily.observed == 0


def test_missed_reset_rebuilds_anchor_from_platform_pnl() -> None:
    cal = TradingCalendar.of("UTC")
    state = advance(AccountState.fresh("acc-1", D(100000)), snap("2026-03-02 12:00", "100000"), cal)
    # Down all night; next snapshot at 09:00 with 1,500 realised since midnight.
    state = advance(state, snap("2026-03-03 09:00", "98500", "98000", realized_today=D(-1500)), cal)
    assert state.day_start_balance == D(100000)
    assert state.anchor_source is AnchorSource.REBUILT


def test_missed_reset_without_platform_pnl_is_estimated_never_lower_than_the_evidence() -> None:
    # 100,000 seen before the gap, 98,500 first seen after it: anchoring at 98,500 would let the trader
    # lose 1,500 more than the firm allows; the larger of the two is taken, and said to be an estimate.
    cal = TradingCalendar.of("UTC")
    state = advance(AccountState.fresh("acc-1", D(100000)), snap("2026-03-02 12:00", "100000"), cal)
    state = advance(state, snap("2026-03-03 09:00", "98500", "98400"), cal)
    assert state.anchor_source is AnchorSource.ESTIMATED
    assert state.day_start_balance == D(100000)
    assert state.day_start_equity == D(99900)  # the floating P&L seen is assumed to have been there at the reset


def test_estimate_takes_the_first_balance_after_the_gap_when_it_is_higher() -> None:
    cal = TradingCalendar.of("UTC")
    state = advance(AccountState.fresh("acc-1", D(100000)), snap("2026-03-02 12:00", "100000"), cal)
    state = advance(state, snap("2026-03-03 09:00", "101000"), cal)
    assert (state.anchor_source, state.day_start_balance) == (AnchorSource.ESTIMATED, D(101000))


def test_estimated_anchor_and_eod_high_replaced_by_the_exact_figure_when_history_arrives() -> None:
    cal = TradingCalendar.of("UTC")
    state = advance(AccountState.fresh("acc-1", D(100000)), snap("2026-03-02 12:00", "102000"), cal)
    assert state.eod_balance_high == D(100000)
    state = advance(state, snap("2026-03-03 09:00", "99000"), cal)  # the trader lost 3,000 before the reset
    assert (state.day_start_balance, state.eod_balance_high) == (D(102000), D(102000))
    # The platform's deals come in: 500 realised since the reset, so the reset balance was 99,500.
    state = advance(state, snap("2026-03-03 09:01", "99000", realized_today=D(-500)), cal)
    assert state.anchor_source is AnchorSource.REBUILT
    assert (state.day_start_balance, state.eod_balance_high) == (D(99500), D(100000))
    # Once exact, it stays: later snapshots within the day do not move it.
    state = advance(state, snap("2026-03-03 10:00", "98000", realized_today=D(-1500)), cal)
    assert state.day_start_balance == D(99500)


def test_anchor_does_not_move_within_the_day() -> None:
    cal = TradingCalendar.of("UTC")
    state = advance(AccountState.fresh("acc-1", D(100000)), snap("2026-03-02 00:00:05", "100000"), cal)
    for minute, balance in enumerate(["99000", "97000", "103000"], start=1):
        state = advance(state, snap(f"2026-03-02 0{minute}:00", balance), cal)
    assert state.day_start_balance == D(100000)
    assert state.balance_high == D(103000)


def test_trading_days_count_by_the_firms_date() -> None:
    # 23:30 UTC on 03-02 is already 03-03 in Prague.
    cal = PRAGUE
    state = AccountState.fresh("acc-1", D(100000))
    late = position(opened_at="2026-03-02T23:30:00+00:00")
    state = advance(state, snap("2026-03-02T23:31:00+00:00", "100000", positions=(late,)), cal)
    assert state.trading_days == frozenset({date(2026, 3, 3)})


def test_monitor_emits_firing_then_resolved_only_once() -> None:
    m = preset_monitor("basic")
    events = []
    for equity in ["100000", "95500", "95400", "94999.99", "94000", "99000", "99500"]:
        events += m.process(snap("2026-03-02 10:00", "100000", equity)).events
    assert [(e.status.value, e.severity.value) for e in events] == [
        ("firing", "warning"),
        ("escalated", "critical"),  # a hard breach: equity coming back does not resolve it (latched)
    ]
