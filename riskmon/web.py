"""The status page and the JSON API: pure renderings of a captured ``View`` (safe in any thread).

``/api/accounts`` and ``/api/accounts/{id}`` answer JSON documents carrying ``"version": API_VERSION``:
fields may be added within a version, never renamed, removed or changed in meaning (that takes a new
version). Money and rule figures are decimal strings (exact, as the engine has them); chart points are
numbers. ``/`` is one self-contained HTML page (inline CSS and SVG, no script, no build step) that
reloads itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

from riskmon.chart import day_chart, svg
from riskmon.models import RuleResult, Severity
from riskmon.notify.format import num, rule_name, share
from riskmon.view import AccountView, View

API_VERSION = 1
REFRESH_S = 10  # the page reloads itself this often


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def rule_document(r: RuleResult) -> dict[str, Any]:
    return {
        "rule": r.rule,
        "severity": r.severity.value,
        "observed": _dec(r.observed),
        "limit": _dec(r.limit),
        "unit": r.unit,
        "room_left": _dec(r.room_left),
        "used": _dec(r.used),
        "floor": _dec(r.floor),
        "message": r.message,
    }


def account_document(a: AccountView, with_history: bool = False) -> dict[str, Any]:
    """One account as the API shows it (the history of the day only for ``/api/accounts/{id}``)."""
    snap = None if a.last is None else a.last.snapshot
    worst, nearest = a.worst, a.nearest
    doc: dict[str, Any] = {
        "id": a.account,
        "name": a.name,
        "label": a.profile.label,
        "platform": a.platform,
        "currency": a.currency,
        "freshness": a.freshness.value,
        "seconds_since_data": round(a.silence_s, 3),
        "state_saved": not a.unsaved,
        "trading_state": None if a.trading is None else a.trading.value,
        "last_evaluation": None if snap is None else snap.ts.isoformat(),
        "balance": None if snap is None else _dec(snap.balance),
        "equity": None if snap is None else _dec(snap.equity),
        "daily_pnl": _dec(a.daily_pnl),
        "trading_day": None if a.trading_day is None else a.trading_day.isoformat(),
        "day_start": _iso(a.day_start),
        "severity": a.severity.value,
        "worst_rule": None if worst is None else worst.rule,
        "nearest_floor": None
        if nearest is None
        else {"rule": nearest.rule, "room_left": _dec(nearest.room_left), "used": _dec(nearest.used)},
        "rules": [rule_document(r) for r in a.rules],
    }
    if with_history:
        doc["equity_today"] = [
            {"ts": datetime.fromtimestamp(p.ts, UTC).isoformat(), "low": p.low, "close": p.close,
             "floors": dict(p.floors)}
            for p in a.equity_today
        ]  # fmt: skip
    return doc


def accounts_json(view: View) -> Iterator[str]:
    """``{"version": 1, "taken_at": …, "accounts": [...]}`` in pieces of one account each: encoded piece by
    piece, 10,000 accounts never hold the interpreter (and with it the event loop) in one long call."""
    yield f'{{"version": {API_VERSION}, "taken_at": {json.dumps(view.taken_at.isoformat())}, "accounts": ['
    for n, a in enumerate(view.accounts):
        yield (", " if n else "") + json.dumps(account_document(a), ensure_ascii=False)
    yield "]}"


def account_json(view: View, a: AccountView) -> Iterator[str]:
    doc = {"version": API_VERSION, "taken_at": view.taken_at.isoformat(), "account": account_document(a, True)}
    yield json.dumps(doc, ensure_ascii=False)


# -- the page ---------------------------------------------------------------------------------------

_COLOUR = {Severity.OK: "#2e7d32", Severity.INFO: "#1565c0", Severity.WARNING: "#ef6c00", Severity.CRITICAL: "#c62828"}

CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d1d1f}
header{padding:12px 20px;background:#1d1d1f;color:#fff;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:20px;margin:0}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px;padding:12px}
.card{background:#fff;border-radius:8px;padding:12px;border-left:6px solid var(--c);box-shadow:0 1px 2px #0002}
.card h2{font-size:17px;margin:0 0 4px}
.meta,.fig{font-size:13px;color:#555}
.badge{display:inline-block;padding:1px 6px;border-radius:4px;color:#fff;font-size:12px;margin-right:4px}
.rule{font-size:13px;margin:6px 0 0}
.bar{height:8px;background:#e0e0e0;border-radius:4px;overflow:hidden}
.bar span{display:block;height:100%}
.num{font-variant-numeric:tabular-nums}
svg{width:100%;height:auto;margin-top:8px}
"""


def _money(value: Decimal | None) -> str:
    return "–" if value is None else num(value)


def _share(value: Decimal | None) -> str:
    return "–" if value is None else share(value)


def _rule_row(r: RuleResult) -> str:
    """A rule's room left as a bar (full while none of the allowance is used, empty at the limit); a rule
    without a share of a limit (a count, an objective) shows its message instead."""
    name = escape(rule_name(r.rule))
    head = f'<div class="rule" data-rule="{escape(r.rule)}" data-severity="{r.severity.value}">'
    if r.used is None:
        return f'{head}<div>{name} <span class="fig">{escape(r.message)}</span></div></div>'
    used = r.used
    left = max(0.0, min(1.0, 1.0 - float(used))) if used.is_finite() else 0.0
    room = f" · room left {_money(r.room_left)}" if r.room_left is not None else ""
    return (
        f'{head}<div>{name} <span class="num fig">{_share(used)} used{room}</span></div>'
        f'<div class="bar" role="meter" aria-label="{name} room left" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{left * 100:.0f}"><span style="width:{left * 100:.1f}%;background:{_COLOUR[r.severity]}">'
        f"</span></div></div>"
    )


def chart_svg(a: AccountView) -> str:
    """Today's equity against every money floor, as inline SVG (``riskmon.chart``)."""
    chart = None if a.day_start is None else day_chart(a.equity_today, a.day_start)
    if chart is None:
        return '<p class="meta chart-empty">No equity history for today yet.</p>'
    return svg(chart, a.account)


def _card(a: AccountView) -> str:
    severity = a.severity
    worst = a.worst
    status = "OK" if worst is None else f"{severity.value.upper()} {rule_name(worst.rule)}"
    if a.last is None:
        status = "waiting for data"
    trading = "monitoring only" if a.trading is None else a.trading.value
    fresh = a.freshness.value
    badges = (
        f'<span class="badge" style="background:{_COLOUR[severity]}">{escape(status)}</span>'
        f'<span class="badge trading" style="background:#455a64">{escape(trading)}</span>'
        f'<span class="badge freshness" style="background:{"#2e7d32" if fresh == "fresh" else "#c62828"}">'
        f"{escape(fresh)}</span>"
    )
    if a.unsaved:
        badges += '<span class="badge" style="background:#c62828">state not saved</span>'
    figures = ""
    if a.last is not None:
        snap = a.last.snapshot
        figures = (
            f'<div class="fig num">equity {_money(snap.equity)} {escape(snap.currency)} · '
            f"balance {_money(snap.balance)} · today {_money(a.daily_pnl)}</div>"
        )
    rules = "".join(_rule_row(r) for r in a.rules)
    return (
        f'<section class="card" data-account="{escape(a.account)}" data-severity="{severity.value}" '
        f'data-trading="{escape(trading)}" style="--c:{_COLOUR[severity]}">'
        f"<h2>{escape(a.name)}</h2>"
        f'<div class="meta">{escape(a.account)} · {escape(a.platform)}</div>{badges}{figures}{rules}{chart_svg(a)}'
        "</section>"
    )


def page_html(view: View) -> Iterator[str]:
    """Every account, the most urgent first, in pieces of one account each (encoded piece by piece)."""
    accounts = sorted(view.accounts, key=lambda a: a.urgency)
    counts = {s: sum(1 for a in view.accounts if a.severity is s) for s in Severity}
    blind = sum(1 for a in view.accounts if a.stale)
    summary = (
        f"{len(view.accounts)} accounts · {counts[Severity.CRITICAL]} critical · {counts[Severity.WARNING]} warning"
        f" · {blind} blind · {view.taken_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    yield (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>riskmon</title><style>{CSS}</style></head><body>"
        f'<header><h1>riskmon</h1><span id="summary">{escape(summary)}</span></header><main>'
    )
    yield from (_card(a) for a in accounts)
    if not accounts:
        yield '<p class="meta">No accounts configured.</p>'
    yield "</main></body></html>"
