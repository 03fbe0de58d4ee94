"""The terminal a trader watches: a live table that fits the window, logs above it, readable help."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
from rich.console import Console
from rich.live import Live
from typer.testing import CliRunner

from riskmon import logs
from riskmon.cli import app
from riskmon.monitor import AccountMonitor
from riskmon.notify.console import ConsoleAlerts, account_table
from riskmon.view import ReadModel
from tests.builders import preset_monitor, snap

runner = CliRunner()
STYLES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07(?:[^\x1b]*\x1b\]8;;\x07)?")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def monitors() -> list[AccountMonitor]:
    big = preset_monitor("ftmo-2step", "100000", account="ftmo-challenge-100k")
    big.process(snap("2026-03-02 10:00", "100000.00", "97512.34", account="ftmo-challenge-100k", margin="1500"))
    small = preset_monitor("ftmo-2step", "10000", account="acc-2")
    small.process(snap("2026-03-02 10:00", "10000", "9950", account="acc-2"))
    waiting = preset_monitor("basic", account="not-yet")
    return [big, small, waiting]


def render(width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(account_table(ReadModel(monitors()).capture().accounts, width))
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [80, 100, 60])
def test_the_live_table_fits_the_terminal_and_never_cuts_a_number(width: int) -> None:
    lines = render(width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    numbers = re.findall(r"[\d,]+\.\d\d", text)
    assert numbers, text
    assert "…" not in "".join(n for n in re.findall(r"\S*…\S*", text) if any(ch.isdigit() for ch in n))
    assert "2,512.34" in text  # the room left on the 100k account, whole (5,000 − 2,487.66 lost)


def test_the_table_shows_everything_when_there_is_room() -> None:
    text = "\n".join(render(160))
    for header in ("Platform", "Balance", "Equity", "Nearest floor: used / limit", "Room left", "Margin lvl", "Status"):
        assert header in text
    assert "100,000.00" in text and "97,512.34" in text and "daily loss 2,487.66 / 5,000.00 (49.8%)" in text


def test_at_80_columns_the_widest_figures_are_dropped_not_cut() -> None:
    text = "\n".join(render(80))
    assert "100,00…" not in text
    assert "97,512.34" in text and "2,512.34" in text  # equity and room left stay


def test_log_lines_print_above_the_live_table_not_through_it(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    logs.configure("plain", "INFO")
    with Live(
        account_table(ReadModel(monitors()).capture().accounts, 80),
        console=console,
        auto_refresh=False,
        redirect_stderr=True,
    ) as live:
        logging.getLogger("riskmon.test").warning("feed failed (connection refused)")
        live.refresh()
    assert "feed failed (connection refused)" in out.getvalue()  # went through the table's console
    assert "feed failed" not in capsys.readouterr().err  # and not straight to the terminal under it


HOSTILE_LABELS = ("Prop [/bold] account", "[phase 1]", "[red]x[/red] [link=http://x]y[/link]", "a\\[b]")


def test_labels_reach_the_terminal_as_written_never_as_markup() -> None:
    """A label is the user's text: "[phase 1]" used to vanish from the table and "Prop [/bold] account"
    crashed `run` in a terminal. Rendered by a real colour console: the table, alert lines and log lines."""
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system="truecolor")
    logs.configure("plain", "INFO")
    watched = []
    for index, label in enumerate(HOSTILE_LABELS):
        monitor = preset_monitor("basic", account=f"acc-{index}", label=label, observers=[ConsoleAlerts(console)])
        monitor.process(snap("2026-03-02 10:00", "100000", "100000", account=f"acc-{index}"))
        monitor.process(snap("2026-03-02 10:01", "100000", "94000", account=f"acc-{index}"))  # a breach: a line
        watched.append(monitor)
    watched.append(preset_monitor("basic", account="waiting", label="[phase 2]"))  # no data yet
    table = account_table(ReadModel(watched).capture().accounts, 200)
    with Live(table, console=console, auto_refresh=False, redirect_stderr=True) as live:
        for label in HOSTILE_LABELS:
            logging.getLogger("riskmon.test").warning("limits %s", label)
        live.refresh()
    text = STYLES.sub("", out.getvalue())
    for label in (*HOSTILE_LABELS, "[phase 2]"):
        table_rows = [line for line in text.splitlines() if line.startswith("│") and label in line]
        alert_lines = [line for line in text.splitlines() if "CRITICAL" in line and label in line]
        log_lines = [line for line in text.splitlines() if f"limits {label}" in line]
        assert table_rows, (label, text)
        assert (log_lines and alert_lines) or label == "[phase 2]", (label, text)


def test_log_timestamps_are_utc_with_a_zone(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("plain", "INFO")
    logging.getLogger("riskmon.test").info("hello")
    line = capsys.readouterr().err.strip()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO    riskmon\.test: hello$", line), line
    logs.configure("json", "INFO")
    logging.getLogger("riskmon.test").info("hello")
    doc = capsys.readouterr().err.strip()
    assert re.search(r'"ts": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"', doc), doc


def test_utc_timestamp_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert logs.utc_timestamp(0.0) == "1970-01-01T00:00:00.000Z"
        assert logs.utc_timestamp(1772445600.5) == "2026-03-02T10:00:00.500Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_help_keeps_square_brackets() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0
    assert "[[accounts]]" in result.stdout


def test_presets_fit_80_columns_in_plain_words() -> None:
    result = runner.invoke(app, ["presets"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = " ".join(" ".join(lines).split())
    for internal in ("eod_balance", "intraday_balance", "max_balance_equity", "anchor_pct", "initial_pct"):
        assert internal not in text
    assert "3% of the initial balance below the balance at the day's start (00:00 Europe/Prague)" in text
    assert "10% of the initial balance below the highest end-of-day balance, rising with it" in text
    assert "stops rising at the initial balance" in text  # topstep / e8 lock
    assert "1,000.00 below the balance" in text and "blocks trading for the day" in text  # topstep soft limit


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and re.fullmatch(r"riskmon \d+\.\d+\.\d+\S*\n", result.stdout)


def test_more_accounts_than_the_terminal_shows_keep_the_most_urgent_and_count_the_rest() -> None:
    calm = [preset_monitor("ftmo-2step", "100000", account=f"calm-{n:02}") for n in range(30)]
    for monitor in calm:
        monitor.process(snap("2026-03-02 10:00", "100000", "100000", account=monitor.profile.account))
    urgent = preset_monitor("ftmo-2step", "100000", account="zz-breached")
    urgent.process(snap("2026-03-02 10:00", "100000", "94000", account="zz-breached"))
    console = Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)
    console.print(account_table(ReadModel([*calm, urgent]).capture().accounts, 160, height=12))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) <= 12
    body = [line for line in lines if "│" in line]  # the accounts' rows
    assert "zz-breached" in body[0] and "CRITICAL" in body[0]  # the breached account first, though last by name
    assert "… 26 more" in body[-1] and len(body) == 6
