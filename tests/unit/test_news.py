"""News windows against a calendar fixture in the common JSON export format: exact window edges (inclusive),
which symbols a release moves, trades opened or closed inside, warnings ahead, and the calendar's errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from riskmon.config import load_config
from riskmon.errors import ConfigError
from riskmon.models import Severity
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.rules.news import NEWS, parse_calendar
from tests.builders import position, preset_monitor, snap

CALENDAR = Path(__file__).resolve().parents[1] / "data" / "news" / "calendar.json"
OK, WARN, CRIT = Severity.OK, Severity.WARNING, Severity.CRITICAL
# US NFP at 08:30 New York = 13:30 UTC on 2026-03-06: FTMO's window is 13:28:00 to 13:32:00, both included.


def monitor(**extra: object) -> AccountMonitor:
    return preset_monitor("ftmo-2step-funded", "100000", news={"enabled": True, "calendar": str(CALENDAR), **extra})


def at(m: AccountMonitor, when: str, *held: tuple[str, str]) -> Evaluation:
    ev = m.process(snap(f"2026-03-06 {when}", "100000", positions=tuple(position(pid, sym) for pid, sym in held)))
    assert ev is not None
    return ev


def verdict(ev: Evaluation) -> Severity:
    result = ev.result(NEWS)
    assert result is not None
    return result.severity


def test_the_fixture_parses_high_impact_only_in_time_order() -> None:
    events = parse_calendar(CALENDAR.read_text(), ("High",))
    assert [(e.currency, e.title) for e in events] == [
        ("EUR", "Main Refinancing Rate"),
        ("USD", "Non-Farm Employment Change"),
        ("USD", "Unemployment Rate"),
    ]


def test_opening_a_trade_at_the_window_edges() -> None:
    m = monitor()
    at(m, "13:00")
    assert verdict(at(m, "13:27:59", ("1", "EURUSD"))) is WARN  # held within the 15-minute lead
    m = monitor()
    at(m, "13:00")
    assert verdict(at(m, "13:28:00", ("1", "EURUSD"))) is CRIT  # opened at the window's first second
    assert verdict(at(m, "13:32:00", ("1", "EURUSD"))) is CRIT  # until the window ends
    assert verdict(at(m, "13:32:01", ("1", "EURUSD"))) is OK


def test_closing_inside_counts_and_just_after_does_not() -> None:
    m = monitor()
    at(m, "13:00", ("1", "USDJPY"))
    assert verdict(at(m, "13:31", ("1", "USDJPY"))) is WARN  # held through the window: allowed, but watched
    assert verdict(at(m, "13:32:00")) is CRIT  # closed at the last second of the window
    m = monitor()
    at(m, "13:00", ("1", "USDJPY"))
    at(m, "13:31", ("1", "USDJPY"))
    assert verdict(at(m, "13:32:01")) is OK


def test_only_the_symbols_a_release_moves() -> None:
    m = monitor()
    at(m, "13:00")
    assert verdict(at(m, "13:29", ("1", "EURGBP"))) is OK  # USD news: EURGBP may trade
    assert verdict(at(m, "13:30", ("1", "EURGBP"), ("2", "XAUUSD"))) is CRIT
    m = monitor(symbols={"USD": ["US30"]})
    at(m, "13:00")
    assert verdict(at(m, "13:29", ("1", "US30.cash"))) is CRIT


def test_warning_ahead_starts_at_the_lead() -> None:
    m = monitor()
    assert verdict(at(m, "13:12:59", ("1", "EURUSD"))) is OK
    assert verdict(at(m, "13:13:00", ("1", "EURUSD"))) is WARN
    assert verdict(at(m, "13:13:00")) is OK  # nothing held: nothing to warn about


@pytest.fixture
def served() -> Iterator[str]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(CALENDAR.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{CALENDAR.name}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_calendar_can_come_from_a_url(served: str) -> None:
    m = preset_monitor("ftmo-2step-funded", "100000", news={"enabled": True, "calendar": served})
    at(m, "13:00")
    assert verdict(at(m, "13:29", ("1", "EURUSD"))) is CRIT


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "No such file"),
        ("{not json", "not JSON"),
        ('{"events": []}', "expected a JSON list"),
        ('[{"country": "USD", "date": "2026-03-06T08:30:00", "impact": "High"}]', "has no UTC offset"),
        ('[{"country": "USD", "impact": "High"}]', "event 1: needs 'date'"),
    ],
)
def test_a_bad_calendar_is_one_clear_config_line(tmp_path: Path, content: str | None, needle: str) -> None:
    calendar = tmp_path / "calendar.json"
    if content is not None:
        calendar.write_text(content)
    table = f'[accounts.rules.news]\nenabled = true\ncalendar = "{calendar}"\n'
    toml = tmp_path / "riskmon.toml"
    toml.write_text('[[accounts]]\nid = "a"\nplatform = "sim"\n' + table)
    with pytest.raises(ConfigError) as caught:
        load_config(None, toml)
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_turned_on_without_a_calendar_says_what_is_missing(tmp_path: Path) -> None:
    toml = tmp_path / "riskmon.toml"
    toml.write_text('[[accounts]]\nid = "a"\nplatform = "sim"\n[accounts.rules.news]\nenabled = true\n')
    with pytest.raises(ConfigError, match="calendar: a file or an http"):
        load_config(None, toml)
