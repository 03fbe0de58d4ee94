"""Pure Telegram renderings (HTML parse mode): alerts, the daily summary and command replies.

Every value that comes from outside (labels, rule messages, symbols, actions) is escaped; the only
markup is the handful of tags written here. The figures are the engine's (``AlertEvent``,
``RuleResult``, the last ``Evaluation``): nothing is recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from html import escape

from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.notify.format import num, rule_name, share
from riskmon.view import AccountView

_ICON = {Severity.OK: "🟢", Severity.INFO: "🔵", Severity.WARNING: "🟠", Severity.CRITICAL: "🔴"}
RESOLVED_ICON = "✅"


def _when(ts: datetime) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC"


def _next_step(event: AlertEvent) -> str:
    if event.status is AlertStatus.RESOLVED:
        return "Back within the limit; nothing to do. Monitoring continues."
    if event.severity is Severity.CRITICAL:
        if event.action:
            return "riskmon has acted (above). Check the account; you get a message when it is back within the limit."
        return "Act now: reduce or close positions. You get a message when it is back within the limit."
    if event.severity is Severity.WARNING:
        return "No action taken yet. You are alerted again if it turns critical, and when it recovers."
    return "For information; nothing to do."


def _change(status: AlertStatus) -> str:
    return "eased, still failing" if status is AlertStatus.DEESCALATED else "escalated"


NAME_CHARS = 200  # a label or id in a message; longer ones are clipped, never the reason to drop a message
TEXT_CHARS = 1000  # a rule's message or an action


def clip(text: str, limit: int = NAME_CHARS) -> str:
    """``text`` cut to ``limit`` characters (before escaping), marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_html(event: AlertEvent) -> str:
    """One alert message: who, which rule, how bad, the figures, what was done and what comes next.

    Every outside text is clipped, so the message stays far below Telegram's 4,096 characters whatever
    the label: an alert is never refused as too long."""
    who = escape(clip(event.label or event.account))
    if event.status is AlertStatus.RESOLVED:
        head = f"{RESOLVED_ICON} <b>RESOLVED · {escape(rule_name(event.rule))}</b> — {who}"
    else:
        status = "" if event.status is AlertStatus.FIRING else f" ({_change(event.status)})"
        head = (
            f"{_ICON[event.severity]} <b>{escape(event.severity.value.upper())}{status} · "
            f"{escape(rule_name(event.rule))}</b> — {who}"
        )
    lines = [
        head,
        escape(clip(event.message, TEXT_CHARS)),
        f"Observed {num(event.observed)} vs limit {num(event.limit)}",
    ]
    if event.room_left is not None:
        below = " (below the floor)" if event.room_left < 0 else ""
        lines.append(f"Room left before the floor: <b>{num(event.room_left)}</b>{below}")
    if event.used is not None:
        lines.append(f"Limit used: {share(event.used)}")
    if event.action:
        lines.append(f"Action: {escape(clip(event.action, TEXT_CHARS))}")
    lines.append(f"Next: {escape(_next_step(event))}")
    lines.append(f"<i>{_when(event.ts)} · {escape(clip(event.account))}</i>")
    return "\n".join(lines)


GROUP_NAMES = 20  # accounts named in a grouped alert; the rest are counted


def group_html(events: Sequence[AlertEvent]) -> str:
    """One message for the same change on many accounts at once (e.g. 1,000 accounts blind after a
    reconnect): who (the first few by name), what, and the first account's message as an example."""
    first = events[0]
    rule = escape(rule_name(first.rule))
    count = f"{len(events):,} accounts"
    if first.status is AlertStatus.RESOLVED:
        head = f"{RESOLVED_ICON} <b>RESOLVED · {rule}</b> — {count}"
    else:
        head = f"{_ICON[first.severity]} <b>{escape(first.severity.value.upper())} · {rule}</b> — {count}"
    names = ", ".join(clip(e.label or e.account, 60) for e in events[:GROUP_NAMES])
    more = f" and {len(events) - GROUP_NAMES:,} more" if len(events) > GROUP_NAMES else ""
    lines = [
        head,
        f"{escape(names)}{more}",
        f"e.g. {escape(clip(first.label or first.account, 60))}: {escape(clip(first.message, TEXT_CHARS))}",
        f"<i>{_when(first.ts)}</i>",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """What the daily summary reports for one account and trading day (taken from evaluations)."""

    start_equity: Decimal
    end_equity: Decimal
    end_balance: Decimal
    worst_used: Decimal | None  # highest share of a money floor's allowance used that day
    worst_at: datetime | None
    worst_rule: str = ""  # the floor it was


@dataclass(frozen=True, slots=True)
class DayAlert:
    rule: str
    severity: Severity
    status: AlertStatus


def summary_html(
    name: str, day: date, ended: datetime, figures: DayFigures | None, alerts: Sequence[DayAlert], account: str
) -> str:
    lines = [f"📊 <b>Daily summary</b> — {escape(clip(name))}", f"Trading day {day.isoformat()} (ended {_when(ended)})"]
    if figures is None:
        lines.append("No account data was seen during this trading day.")
    else:
        pnl = figures.end_equity - figures.start_equity
        sign = "+" if pnl > 0 else ""
        lines.append(
            f"P&amp;L of the day: <b>{sign}{num(pnl)}</b> "
            f"(equity {num(figures.start_equity)} → {num(figures.end_equity)}; balance {num(figures.end_balance)})"
        )
        if figures.worst_used is None:
            lines.append("Closest to a floor: no loss floor")
        else:
            at = f" at {figures.worst_at:%H:%M} UTC" if figures.worst_at is not None else ""
            used = share(max(figures.worst_used, Decimal(0)))
            lines.append(f"Closest to a floor: {escape(rule_name(figures.worst_rule))} {used} used{at}")
    lines.append(f"Alerts of the day: {_alert_counts(alerts)}")
    lines.append(f"<i>{escape(clip(account))}</i>")
    return "\n".join(lines)


def _alert_counts(alerts: Sequence[DayAlert]) -> str:
    raised = [a for a in alerts if a.status is not AlertStatus.RESOLVED]
    if not raised:
        return "none"
    critical = sum(1 for a in raised if a.severity is Severity.CRITICAL)
    by_rule: dict[str, int] = {}
    for alert in raised:
        by_rule[alert.rule] = by_rule.get(alert.rule, 0) + 1
    rules = ", ".join(f"{escape(rule_name(rule))} ×{count}" for rule, count in sorted(by_rule.items()))
    return f"{len(raised)} ({critical} critical): {rules}"


# -- command replies ------------------------------------------------------------------------------

MAX_MESSAGE = 4096  # Telegram's limit, in characters after entity parsing; the HTML source is longer


def fit(html: str, limit: int = MAX_MESSAGE) -> str:
    """Cut a reply at a line boundary (every line closes its own tags) so Telegram accepts it."""
    if len(html) <= limit:
        return html
    lines = html.split("\n")
    kept: list[str] = []
    size = 0
    for number, line in enumerate(lines):
        tail = f"… {len(lines) - number} more line(s)"
        if size + len(line) + 1 + len(tail) > limit:
            return "\n".join([*kept, tail])
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


HELP_HTML = "\n".join(
    [
        "<b>riskmon commands</b>",
        "/status — every account: equity, daily loss used, room left",
        "/accounts — configured accounts",
        "/positions &lt;account&gt; — open positions",
        "/limits &lt;account&gt; — every rule with its figures",
        "/chart &lt;account&gt; — today's equity against the floors (a picture)",
        "/mute &lt;account&gt; &lt;minutes&gt; — hold back warnings (admins; critical alerts still come)",
        "/unmute [account] — end mutes",
        "/flatten &lt;account&gt; — close everything (admins; asks to confirm)",
        "/resume &lt;account&gt; — lift a halt so the account may trade again (admins; asks to confirm)",
        "/help — this list",
    ]
)


def status_html(accounts: Iterable[AccountView]) -> str:
    """Every account in one line each: state, equity, the nearest money floor's share used and room left."""
    lines = ["<b>Status</b>"]
    for a in accounts:
        name = escape(clip(a.name))
        ev = a.last
        if ev is None:
            lines.append(f"⏳ {name}: {'loading (no data yet)' if a.loading and a.stale else 'waiting for data'}")
            continue
        worst = a.worst
        icon = _ICON[a.severity]
        state = f"{escape(worst.severity.value.upper())} {escape(rule_name(worst.rule))}" if worst else "OK"
        if a.stale:
            state = f"STALE (no fresh data) · {state}"
        line = f"{icon} <b>{name}</b>: {state} · equity {num(ev.snapshot.equity)}"
        floor = a.nearest
        if floor is not None and floor.used is not None:
            line += f" · {escape(rule_name(floor.rule))} used {share(floor.used)}"
        if floor is not None and floor.room_left is not None:
            line += f" · room left {num(floor.room_left)}"
        lines.append(line)
    if len(lines) == 1:
        lines.append("No accounts configured.")
    return "\n".join(lines)


def accounts_html(monitors: Iterable[AccountMonitor]) -> str:
    lines = ["<b>Accounts</b>"]
    for monitor in monitors:
        profile = monitor.profile
        label = f" ({escape(clip(profile.label))})" if profile.label else ""
        lines.append(
            f"• <code>{escape(profile.account)}</code>{label} · {escape(profile.platform)} · "
            f"day resets {escape(profile.calendar.describe())}"
        )
    return "\n".join(lines)


def positions_html(ev: Evaluation) -> str:
    snap = ev.snapshot
    lines = [f"<b>Positions</b> — {escape(clip(ev.profile.name))} ({_when(snap.ts)})"]
    for p in snap.positions:
        price = f" @ {escape(str(p.open_price))}" if p.open_price is not None else ""
        stop = f" SL {escape(str(p.stop_loss))}" if p.stop_loss is not None else " no SL"
        lines.append(
            f"• {escape(p.symbol)} {escape(p.side.value)} {escape(str(p.volume))} lots{price}{stop} · "
            f"P&amp;L {num(p.net_pnl)}"
        )
    if not snap.positions:
        lines.append("No open positions.")
    lines.append(f"Equity {num(snap.equity)} · balance {num(snap.balance)} · floating {num(snap.floating_pnl)}")
    return "\n".join(lines)


def limits_html(ev: Evaluation) -> str:
    lines = [f"<b>Limits</b> — {escape(clip(ev.profile.name))} ({_when(ev.snapshot.ts)})"]
    for r in ev.results:
        head = f"{_ICON[r.severity]} {escape(rule_name(r.rule))}: "
        if r.floor is None or r.room_left is None:  # not a money floor: the rule's own words say what is left
            lines.append(head + escape(clip(r.message, 300)))
            continue
        line = head + f"{num(r.observed)} of {num(r.limit)}"
        if r.used is not None:
            line += f" ({share(r.used)} used)"
        if r.room_left is not None:
            line += f" · room left {num(r.room_left)}"
        lines.append(line)
    return "\n".join(lines)


def flatten_prompt_html(name: str, positions: int, seconds: int) -> str:
    return (
        f"⚠️ Flatten <b>{escape(clip(name))}</b>: close every open position ({positions} now)?\n"
        f"Press the button within {seconds} s to confirm."
    )


def resume_prompt_html(name: str, seconds: int) -> str:
    return (
        f"▶️ Resume <b>{escape(name)}</b>: lift its halt and allow trading again?\n"
        f"Press the button within {seconds} s to confirm."
    )
