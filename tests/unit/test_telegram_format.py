"""Telegram renderings: exact text, everything outside escaped."""

from __future__ import annotations

from datetime import date, timedelta

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.telegram_format import (
    DayAlert,
    DayFigures,
    alert_html,
    fit,
    limits_html,
    num,
    share,
    summary_html,
)
from riskmon.rules.base import hours_minutes
from tests.builders import D, preset_monitor, snap, ts


def event(**changes: object) -> AlertEvent:
    base: dict[str, object] = {
        "account": "acc-1",
        "rule": "daily_loss",
        "severity": Severity.CRITICAL,
        "status": AlertStatus.FIRING,
        "observed": D("5200"),
        "limit": D("5000"),
        "message": "daily loss 5,200.00 of 5,000.00 (104.0% used); BREACHED by 200.00",
        "ts": ts("2026-03-02 10:01"),
        "room_left": D("-200"),
        "used": D("1.04"),
        "label": "FTMO <100k> & co",
    }
    base.update(changes)
    return AlertEvent(**base)  # type: ignore[arg-type]


def test_critical_firing_shows_figures_action_and_next_step() -> None:
    assert alert_html(event(action="closed 3 positions")) == (
        "🔴 <b>CRITICAL · daily loss</b> — FTMO &lt;100k&gt; &amp; co\n"
        "daily loss 5,200.00 of 5,000.00 (104.0% used); BREACHED by 200.00\n"
        "Observed 5,200.00 vs limit 5,000.00\n"
        "Room left before the floor: <b>−200.00</b> (below the floor)\n"
        "Limit used: 104.0%\n"
        "Action: closed 3 positions\n"
        "Next: riskmon has acted (above). Check the account; you get a message when it is back within the limit.\n"
        "<i>2026-03-02 10:01:00 UTC · acc-1</i>"
    )


def test_severity_change_and_resolution() -> None:
    warning = alert_html(
        event(severity=Severity.WARNING, status=AlertStatus.DEESCALATED, room_left=D("1000"), used=D("0.8"), label="")
    )
    assert warning.splitlines()[0] == "🟠 <b>WARNING (eased, still failing) · daily loss</b> — acc-1"
    assert "Room left before the floor: <b>1,000.00</b>\n" in warning
    assert "Next: No action taken yet. You are alerted again if it turns critical, and when it recovers." in warning
    resolved = alert_html(event(status=AlertStatus.RESOLVED, room_left=None, used=None, message="ok <now>"))
    assert resolved == (
        "✅ <b>RESOLVED · daily loss</b> — FTMO &lt;100k&gt; &amp; co\n"
        "ok &lt;now&gt;\n"
        "Observed 5,200.00 vs limit 5,000.00\n"
        "Next: Back within the limit; nothing to do. Monitoring continues.\n"
        "<i>2026-03-02 10:01:00 UTC · acc-1</i>"
    )


def test_critical_without_action_asks_to_act() -> None:
    text = alert_html(event(status=AlertStatus.ESCALATED))
    assert text.startswith("🔴 <b>CRITICAL (escalated) · daily loss</b>")
    assert "Next: Act now: reduce or close positions." in text


def test_numbers() -> None:
    assert num(D("-1234.5")) == "−1,234.50"
    assert num(D("Infinity")) == "∞"
    assert share(D("0.805")) == "80.5%"
    assert share(D("Infinity")) == "over the limit (no allowance)"


def test_daily_summary() -> None:
    figures = DayFigures(D("100000"), D("98765.43"), D("99000"), D("0.62"), ts("2026-03-02 14:05"), "daily_loss")
    alerts = [
        DayAlert("daily_loss", Severity.WARNING, AlertStatus.FIRING),
        DayAlert("daily_loss", Severity.CRITICAL, AlertStatus.ESCALATED),
        DayAlert("daily_loss", Severity.CRITICAL, AlertStatus.RESOLVED),
        DayAlert("max_positions", Severity.WARNING, AlertStatus.FIRING),
    ]
    text = summary_html("Prop <1>", date(2026, 3, 2), ts("2026-03-02 23:00"), figures, alerts, "acc-1")
    assert text == (
        "📊 <b>Daily summary</b> — Prop &lt;1&gt;\n"
        "Trading day 2026-03-02 (ended 2026-03-02 23:00:00 UTC)\n"
        "P&amp;L of the day: <b>−1,234.57</b> (equity 100,000.00 → 98,765.43; balance 99,000.00)\n"
        "Closest to a floor: daily loss 62.0% used at 14:05 UTC\n"
        "Alerts of the day: 3 (1 critical): daily loss ×2, max positions ×1\n"
        "<i>acc-1</i>"
    )


def test_daily_summary_without_data() -> None:
    text = summary_html("a", date(2026, 3, 2), ts("2026-03-02 23:00"), None, [], "a")
    assert "No account data was seen during this trading day.\nAlerts of the day: none" in text


def test_long_replies_are_cut_at_a_line() -> None:
    html = "\n".join(f"<b>line {n}</b>" for n in range(10))
    assert fit(html, 1000) == html
    assert fit(html, 60) == "<b>line 0</b>\n<b>line 1</b>\n<b>line 2</b>\n… 7 more line(s)"


def test_limits_shows_a_rule_that_is_not_a_money_floor_in_its_own_words() -> None:
    m = preset_monitor("basic", "100000", consistency={"enabled": True})
    first = m.process(snap("2026-03-02 10:00", "100000"))
    assert first is not None
    line = next(x for x in limits_html(first).splitlines() if "consistency" in x)
    assert "no total profit yet" in line and "0.00 of 0.00" not in line
    m.process(snap("2026-03-02 23:59", "101000"))  # day 1 closed 1,000.00
    today = m.process(snap("2026-03-03 00:01", "101200"))  # today 200.00 so far
    assert today is not None
    line = next(x for x in limits_html(today).splitlines() if "consistency" in x)
    assert "best day 1,000.00 is 83.3% of the total profit 1,200.00 (limit 50.0%)" in line
    assert " of 600.00" not in line and "room left" not in line
    daily = next(x for x in limits_html(today).splitlines() if "daily loss" in x)
    assert "room left" in daily  # a money floor keeps its figures


def test_time_left_reads_in_hours_and_minutes() -> None:
    assert hours_minutes(timedelta(minutes=850)) == "14 h 10 min"
    assert hours_minutes(timedelta(hours=1)) == "1 h 00 min"
    assert hours_minutes(timedelta(minutes=59, seconds=59)) == "59 min"
    assert hours_minutes(timedelta(seconds=59)) == "59 s"
