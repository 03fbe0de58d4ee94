"""The replay format: exact numbers, clear errors with line numbers, and a lossless round trip."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.errors import ExitCode
from riskmon.platforms.replay import BadLine, RecordError, parse_line, read_records, snapshot_to_line

EXAMPLE = (
    '{"ts": "2026-03-02T09:30:00+00:00", "account": "acc-1", "currency": "USD", "balance": "100000.00",'
    ' "equity": "99650.25", "margin": "2150.00",'
    ' "positions": [{"id": "123", "symbol": "EURUSD", "side": "buy", "volume": "2.0", "open_price": "1.0850",'
    ' "price": "1.0832", "notional": "216640.00", "unrealized_pnl": "-360.00", "stop_loss": "1.0800"}]}'
)


def test_documented_example_parses_exactly() -> None:
    snap = parse_line(EXAMPLE)
    assert snap.equity == Decimal("99650.25")
    assert snap.margin == Decimal("2150.00")
    (position,) = snap.positions
    assert position.notional == Decimal("216640.00")
    assert position.stop_loss == Decimal("1.0800")


def test_json_numbers_are_read_exactly() -> None:
    snap = parse_line('{"ts": "2026-03-02T09:30:00Z", "account": "a", "balance": 100000.1, "equity": 0.1}')
    assert snap.balance == Decimal("100000.1")
    assert snap.equity == Decimal("0.1")  # not 0.1000000000000000055511151231257827


def test_optional_fields_default() -> None:
    snap = parse_line('{"ts": "2026-03-02T09:30:00+02:00", "account": "a", "balance": "1", "equity": "1"}')
    assert snap.currency == "USD" and snap.margin == 0 and snap.positions == ()
    assert snap.ts.utcoffset() is not None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"ts": "2026-03-02T09:30:00", "account": "a", "balance": "1", "equity": "1"}', "UTC offset"),
        ('{"ts": "2026-03-02T09:30:00Z", "account": "a", "equity": "1"}', "'balance'"),
        ('{"ts": "2026-03-02T09:30:00Z", "account": "a", "balance": "abc", "equity": "1"}', "not a number"),
        ('{"ts": "2026-03-02T09:30:00Z", "account": "a", "balance": "NaN", "equity": "1"}', "finite"),
        (
            '{"ts": "2026-03-02T09:30:00Z", "account": "a", "balance": "1", "equity": "1",'
            ' "positions": [{"id": "1", "symbol": "X", "side": "long", "volume": "1"}]}',
            "'side'",
        ),
        ("[1, 2]", "JSON object"),
    ],
)
def test_malformed_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_line(line)


def test_round_trip_is_lossless() -> None:
    snap = parse_line(EXAMPLE)
    assert parse_line(snapshot_to_line(snap)) == snap


def test_bad_lines_are_numbered_and_skipped() -> None:
    stream = io.StringIO(EXAMPLE + "\n\ngarbage\n" + EXAMPLE + "\n")
    items = list(read_records(stream))
    assert [type(i).__name__ for i in items] == ["AccountSnapshot", "BadLine", "AccountSnapshot"]
    assert isinstance(items[1], BadLine) and items[1].number == 3


def breach_day(path: Path) -> Path:
    lines = []
    for minute, equity in enumerate(["100000", "96100", "95900", "95000", "94999.99", "96000", "97000"]):
        lines.append(
            json.dumps(
                {
                    "ts": f"2026-03-02T10:{minute:02d}:00+00:00",
                    "account": "acc-1",
                    "balance": "100000",
                    "equity": equity,
                }
            )
        )
    lines.insert(3, "this line is broken")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_cli_prints_the_event_contract(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(breach_day(tmp_path / "day.jsonl"))])
    assert result.exit_code == ExitCode.INCOMPLETE, result.output  # the broken line was left out
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["status"], e["severity"], e["ts"][11:16]) for e in events] == [
        ("firing", "warning", "10:02"),  # 4,100 of 5,000 lost (10:01 was 3,900: 78 %, quiet)
        ("firing", "critical", "10:04"),  # 5,000.01: a severity change is reported as firing
    ]  # back to 4,000 lost at 10:05: the account failed at 10:04, and stays failed (latched)
    assert events[1]["observed"] == "5000.01" and events[1]["limit"] == "5000.00"
    assert set(events[0]) == {"ts", "account", "rule", "severity", "status", "observed", "limit", "message"}
    assert "line 4: not valid JSON" in result.stderr


def test_replay_with_preset_and_initial_balance(tmp_path: Path) -> None:
    day = breach_day(tmp_path / "day.jsonl")
    result = CliRunner().invoke(app, ["replay", str(day), "--preset", "ftmo-1step", "--initial-balance", "100000"])
    assert result.exit_code == ExitCode.INCOMPLETE, result.output  # the day's broken line
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # 3 % of initial: 3,900 lost at 10:01 is already beyond 3,000.
    first = events[0]
    assert (first["rule"], first["status"], first["severity"], first["ts"][11:16]) == (
        "daily_loss",
        "firing",
        "critical",
        "10:01",
    )
    assert first["limit"] == "3000.00"
    missing = CliRunner().invoke(app, ["replay", str(day), "--preset", "ftmo-1step"])
    assert missing.exit_code == ExitCode.CONFIG and "--initial-balance" in missing.output
