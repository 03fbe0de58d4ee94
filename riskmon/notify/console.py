"""The terminal: alert lines as they happen, and a live table of every account."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from riskmon.models import AlertEvent, Severity
from riskmon.monitor import Evaluation
from riskmon.notify.format import event_line
from riskmon.rules.base import label, money, pct
from riskmon.view import AccountView

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


# Column sets from the fullest to the narrowest: the first that fits the terminal is shown. Numbers are
# never wrapped or cut; columns are dropped (or shortened) instead, and only names may be abbreviated.
_LAYOUTS: tuple[tuple[str, ...], ...] = (
    ("Account", "Platform", "Balance", "Equity", "Nearest floor: used / limit", "Room left", "Margin lvl", "Status"),
    ("Account", "Balance", "Equity", "Nearest floor: used / limit", "Room left", "Margin", "Status"),
    ("Account", "Equity", "Floor used", "Room left", "Margin", "Status"),
    ("Account", "Equity", "Floor used", "Room left", "Status"),
    ("Account", "Room left", "Status"),
)
_TEXT_COLUMNS = ("Account", "Platform", "Status")
TABLE_LINES = 6  # the title, the header and the borders: lines of a table that are not accounts


def _cells(a: AccountView) -> dict[str, str | Text]:
    ev = a.last
    if ev is None:
        status = "loading" if a.loading and a.stale else "waiting for data"
        return {"Account": a.name, "Platform": a.platform, "Status": status}
    snap, floor = ev.snapshot, a.nearest  # the money floor with the least room left
    share = f"{pct(floor.used)}" if floor and floor.used is not None else "-"
    level = snap.margin_level
    worst = a.worst
    status = f"{worst.severity.value.upper()} {worst.rule}" if worst is not None else "OK"
    if a.stale:
        status = f"STALE · {status}"
    return {
        "Account": a.name,
        "Platform": snap.platform,
        "Balance": money(snap.balance),
        "Equity": money(snap.equity),
        "Nearest floor: used / limit": (
            f"{label(floor.rule)} {money(floor.observed)} / {money(floor.limit)} ({share})" if floor else "-"
        ),
        "Floor used": share,
        "Room left": money(floor.room_left) if floor and floor.room_left is not None else "-",
        "Margin lvl": f"{level:.0f}%" if level is not None else "-",
        "Margin": f"{level:.0f}%" if level is not None else "-",
        "Status": Text(status, style=_STYLE[Severity.CRITICAL if a.stale else a.severity]),
    }


def _table(columns: Sequence[str], rows: Sequence[dict[str, str | Text]]) -> Table:
    table = Table(title="riskmon", expand=False)
    for column in columns:
        if column in _TEXT_COLUMNS:
            table.add_column(column, overflow="ellipsis", no_wrap=True, min_width=min(len(column), 8))
        else:
            table.add_column(column, justify="right", no_wrap=True, min_width=max(len(column), 1))
    for row in rows:  # a str cell would be read as Rich markup: a label "[phase 1]" vanishes, "[/bold]" crashes
        table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in (row.get(c, "") for c in columns)))
    return table


def account_table(accounts: Sequence[AccountView], width: int | None = None, height: int | None = None) -> Table:
    """Every account in one table that fits ``width`` columns (the terminal's) without cutting a number. When
    they are more than ``height`` lines can show, the most urgent ones, and a last line counting the rest."""
    room = None if height is None else max(height - TABLE_LINES, 1)
    if room is not None and len(accounts) > room:
        shown = sorted(accounts, key=lambda a: a.urgency)[: room - 1]
        rows = [_cells(a) for a in shown]
        rows.append({"Account": f"… {len(accounts) - len(shown):,} more", "Status": "less urgent"})
    else:
        rows = [_cells(a) for a in accounts]
    if width is None:
        return _table(_LAYOUTS[0], rows)
    for columns in _LAYOUTS:
        wanted = sum(max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) + 3 for c in columns) + 1
        if wanted <= width:
            return _table(columns, rows)
    return _table(_LAYOUTS[-1], rows)  # names and the status are shortened; the one number still shows whole
