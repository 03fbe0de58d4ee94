"""Telegram renderings: exact text, everything outside escaped."""

from __future__ import annotations

from datetime import date

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.notify.telegram_format import DayAlert, DayFigures, alert_html, fit, num, share, summary_html
from tests.builders import D, ts


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
