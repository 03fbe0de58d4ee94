"""Signals: SIGTERM stops the service cleanly, with exit 0, in bounded time."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.processes import RiskmonProcess, riskmon_env


def start(tmp_path: Path) -> RiskmonProcess:
    env = riskmon_env(tmp_path, SIM_INTERVAL="0.05", LOG_FORMAT="json")
    process = RiskmonProcess(["run", "--env-file", os.devnull], env, tmp_path)
    process.wait_for(lambda line: "watching 2 account(s)" in line)
    return process


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    process = start(tmp_path)
    started = time.monotonic()
    assert process.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert any('"message": "stopped"' in line for line in process.output())
