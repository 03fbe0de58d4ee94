"""`riskmon replay` and `riskmon run --record` at their edges: bad files, rounding, severity changes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.errors import ConfigError, ExitCode
from riskmon.platforms.replay import Recorder, parse_line
from tests.builders import snap

runner = CliRunner()

SNAPSHOT = {"ts": "2026-03-02T09:30:00+00:00", "account": "acc-1", "balance": "100000", "equity": "100000"}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def replay(path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["replay", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def line(**fields: object) -> str:
    return json.dumps({**SNAPSHOT, **fields})


def test_a_pretty_printed_file_is_an_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_text(json.dumps(SNAPSHOT, indent=2) + "\n")
    code, out, err = replay(path)
    assert code != 0 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"riskmon: {path}: none of its 6 lines is a valid snapshot")
    assert "pretty-printed JSON" in last and "one snapshot per line" in last
    assert "Traceback" not in err


def test_a_json_array_on_one_line_gets_the_hint_too(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_text(json.dumps([SNAPSHOT, SNAPSHOT]) + "\n")
    code, _, err = replay(path)
    assert code != 0 and "none of its 1 lines is a valid snapshot; it looks like pretty-printed JSON" in err


def test_an_empty_file_and_garbage_are_errors_without_the_hint(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = replay(empty)
    assert code != 0 and "no snapshot to replay (the file is empty)" in err
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("hello\nworld\n")
    code, _, err = replay(garbage)
    assert code != 0 and "none of its 2 lines is a valid snapshot" in err and "pretty-printed" not in err


def test_one_valid_line_is_enough_and_bad_ones_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    path.write_text(line() + "\nnot json\n" + line(ts="2026-03-02T09:31:00+00:00", equity="94000") + "\n")
    code, out, err = replay(path, "--initial-balance", "100000")
    assert code == ExitCode.INCOMPLETE, err  # it ran to the end, but a line was left out: not a clean run
    assert "line 2: not valid JSON" in err
    assert f"{path}: 2 snapshot(s) evaluated, 1 malformed line(s) skipped, 0 snapshot(s) refused" in err
    assert [json.loads(x)["rule"] for x in out.splitlines()] == ["daily_loss"]


def test_a_clean_replay_exits_0_and_says_it_was_complete(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    path.write_text(line() + "\n" + line(ts="2026-03-02T09:31:00+00:00", equity="94000") + "\n")
    code, out, err = replay(path, "--initial-balance", "100000")
    assert code == 0, err
    assert err.strip().splitlines()[-1] == (
        f"{path}: 2 snapshot(s) evaluated, 0 malformed line(s) skipped, 0 snapshot(s) refused: complete"
    )
    assert len(out.splitlines()) == 1


def test_snapshots_the_monitor_refuses_make_the_replay_incomplete(tmp_path: Path) -> None:
    """Out of order by more than the late window, ten years ahead, at year 9999: refused by the monitor (never
    evaluated); the breach after them still fires, and the exit code and the summary say data was left out."""
    path = tmp_path / "day.jsonl"
    lines = [
        line(ts="2026-03-02T10:00:00+00:00"),
        line(ts="2026-03-02T09:00:00+00:00", equity="90000"),  # an hour older than the newest: history
        line(ts="2036-03-02T10:00:00+00:00"),  # ten years ahead
        line(ts="9999-12-31T23:59:59+00:00"),
        line(ts="2026-03-02T10:01:00+00:00", equity="94000"),
    ]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = replay(path, "--initial-balance", "100000")
    assert code == ExitCode.INCOMPLETE, err
    counts = "2 snapshot(s) evaluated, 0 malformed line(s) skipped, 3 snapshot(s) refused (1 future, 1 invalid, 1 old)"
    assert f"{path}: {counts}" in err
    assert [json.loads(x)["ts"] for x in out.splitlines()] == ["2026-03-02T10:01:00+00:00"]


def test_observed_is_rounded_to_its_unit(tmp_path: Path) -> None:
    position = {
        "id": "1",
        "symbol": "EURUSD",
        "side": "buy",
        "volume": "2",
        "notional": "217400.3577512349442174003578",
        "price": "1.0870",
    }
    path = tmp_path / "day.jsonl"
    path.write_text(
        line(equity="99999.999", positions=[position])
        + "\n"
        # a loss with a long tail: 5,000.005 of a 5,000 daily allowance
        + line(ts="2026-03-02T09:31:00+00:00", equity="94999.99499999", positions=[position])
        + "\n"
    )
    code, out, err = replay(path, "--initial-balance", "100000")
    assert code == 0, err
    events = {e["rule"]: e for e in map(json.loads, out.splitlines())}
    assert events["position_size"]["observed"] == "217.40"  # % of equity, not 217.4003577512349442174003578
    assert events["position_size"]["limit"] == "10.00"
    assert events["daily_loss"]["observed"] == "5000.01" and events["daily_loss"]["limit"] == "5000.00"
    code, table, _ = replay(path, "--initial-balance", "100000", "--format", "table")
    assert code == 0 and "217.4003" not in table


def test_a_hard_breach_stays_failed_in_the_table_and_jsonl_when_equity_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    rows = [("09:30", "100000"), ("09:31", "95500"), ("09:32", "94000"), ("09:33", "95500"), ("09:34", "99000")]
    path.write_text("".join(line(ts=f"2026-03-02T{t}:00+00:00", equity=e) + "\n" for t, e in rows))
    code, out, _ = replay(path, "--initial-balance", "100000", "--format", "table")
    assert code == 0
    changes = [x.split()[2:4] for x in out.splitlines()]
    assert changes == [["WARNING", "firing"], ["CRITICAL", "escalated"]]  # never resolved: the account failed
    code, out, _ = replay(path, "--initial-balance", "100000")
    records = [(e["severity"], e["status"]) for e in map(json.loads, out.splitlines())]
    assert records == [("warning", "firing"), ("critical", "firing")]


def test_record_creates_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "recordings" / "2026" / "day.jsonl"
    recorder = Recorder(target)
    recorder.write(snap("2026-03-02 09:30", "100000"))
    recorder.close()
    assert parse_line(target.read_text()).balance == 100000


def test_record_onto_a_folder_or_under_a_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--record: .* is a folder; give a file, e.g\. .*snapshots\.jsonl"):
        Recorder(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(
        ConfigError, match=r"--record: cannot write to .*file/day\.jsonl: .*/file is a file, not a folder$"
    ):
        Recorder(tmp_path / "file" / "day.jsonl")
    with pytest.raises(
        ConfigError, match=r"cannot write to .*file/deeper/day\.jsonl: .*/file is a file, not a folder$"
    ):
        Recorder(tmp_path / "file" / "deeper" / "day.jsonl")
    env_file = tmp_path / ".env"
    env_file.write_text("METRICS_PORT=0\n")
    for target in (tmp_path, tmp_path / "file" / "day.jsonl"):
        result = runner.invoke(
            app,
            ["run", "--no-table", "--record", str(target), "--env-file", str(env_file)],
            env={"RISKMON_DB": str(tmp_path / "riskmon.db")},
        )
        assert result.exit_code != 0
        (message,) = result.stderr.strip().splitlines()
        assert message.startswith("riskmon: configuration error: --record: ")
