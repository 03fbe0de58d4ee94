"""`riskmon run --record` as a real process, then `riskmon replay` of what it recorded: same events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from riskmon.errors import ExitCode
from tests.processes import RiskmonProcess, riskmon_env

TABLE = ("--format", "table")


def test_replay_of_a_recorded_run_gives_the_same_alerts(tmp_path: Path) -> None:
    record = tmp_path / "run.jsonl"
    env = riskmon_env(tmp_path, SIM_INTERVAL="0.02")
    run = RiskmonProcess(["run", "--record", str(record), "--env-file", os.devnull], env, tmp_path)
    run.wait_for(lambda line: "CRITICAL" in line and "daily_loss" in line, timeout=30)
    assert run.stop(signal.SIGINT) == 0
    live_events = [line for line in run.output() if line[:4].isdigit() and ("firing" in line or "escalated" in line)]
    assert any("WARNING" in line for line in live_events), live_events

    replayed = subprocess.run(
        [sys.executable, "-m", "riskmon.cli", "replay", str(record), "--config", str(tmp_path / "sim.toml")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    # The simulator's accounts and rulebooks, written as a riskmon.toml for the replay.
    assert replayed.returncode == ExitCode.CONFIG and "does not exist" in replayed.stderr
    (tmp_path / "sim.toml").write_text(
        '[[accounts]]\nid = "sim-ftmo"\nplatform = "replay"\nreplay_file = "x"\nlabel = "FTMO 100k (sim)"\n'
        'preset = "ftmo-2step"\ninitial_balance = 100000\n\n'
        '[[accounts]]\nid = "sim-basic"\nplatform = "replay"\nreplay_file = "x"\nlabel = "Basic (sim)"\n'
        '[accounts.rules.position_size]\nbasis = "risk"\n'
    )
    replayed = subprocess.run(
        [sys.executable, "-m", "riskmon.cli", "replay", str(record), "--config", str(tmp_path / "sim.toml"), *TABLE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    replay_events = [line for line in replayed.stdout.splitlines() if "firing" in line or "escalated" in line]
    assert replay_events[: len(live_events)] == live_events
