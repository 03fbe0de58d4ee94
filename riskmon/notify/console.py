"""The terminal: alert lines as they happen, and a live table of every account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

from riskmon.models import AlertEvent, Severity
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.notify.format import event_line
from riskmon.rules.base import label, money, pct, tightest

_STYLE = {Severity.OK: "green", Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}


class ConsoleAlerts:
    """Observer: prints each alert event as one line."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def observe(self, evaluation: Evaluation) -> None:
        self.notify(evaluation.events)

    def notify(self, events: Sequence[AlertEvent]) -> None:
        for event in events:
            self.console.print(
                event_line(event), style=_STYLE[event.severity], markup=False, highlight=False, soft_wrap=True
            )


def worst(evaluation: Evaluation) -> tuple[Severity, str]:
    failing = [r for r in evaluation.results if r.failing]
    if not failing:
        return Severity.OK, "ok"
    top = max(failing, key=lambda r: r.severity.rank)
    return top.severity, top.rule


def account_table(monitors: Iterable[AccountMonitor]) -> Table:
    table = Table(title="riskmon", expand=False)
    for column in (
        "Account",
        "Platform",
        "Balance",
        "Equity",
        "Nearest floor: used / limit",
        "Room left",
        "Margin lvl",
    ):
        table.add_column(column, justify="left" if column in ("Account", "Platform") else "right")
    table.add_column("Status")
    for monitor in monitors:
        ev = monitor.last
        if ev is None:
            table.add_row(monitor.profile.name, monitor.profile.platform, "…", "…", "", "", "", "waiting for data")
            continue
        snap, floor = ev.snapshot, tightest(ev.results)
        used = f"{label(floor.rule)} {money(floor.observed)} / {money(floor.limit)}" if floor else "-"
        if floor and floor.used is not None:
            used += f" ({pct(floor.used)})"
        room = money(floor.room_left) if floor and floor.room_left is not None else "-"
        level = snap.margin_level
        severity, rule = worst(ev)
        table.add_row(
            monitor.profile.name,
            snap.platform,
            money(snap.balance),
            money(snap.equity),
            used,
            room,
            f"{level:.0f}%" if level is not None else "-",
            f"[{_STYLE[severity]}]{severity.value.upper()} {rule if severity is not Severity.OK else ''}",
        )
    return table
