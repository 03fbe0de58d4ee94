"""`riskmon check --json` as a real process, reaching the fake terminal through a real rpyc bridge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from mt5_support import LOGIN, PASSWORD, SERVER, Bridge

from riskmon.errors import ExitCode
from tests.processes import riskmon_env

pytestmark = pytest.mark.integration


def check(bridge_port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = riskmon_env(
        tmp_path,
        PLATFORM="mt5",
        ACCOUNT_ID=str(LOGIN),
        MT5_PASSWORD=PASSWORD.get_secret_value(),
        MT5_SERVER=SERVER,
        MT5_BRIDGE_HOST="127.0.0.1",
        MT5_BRIDGE_PORT=str(bridge_port),
        MT5_SERVER_UTC_OFFSET="2",
    )
    args = [sys.executable, "-m", "riskmon.cli", "check", "--json", "--timeout", "15", "--env-file", os.devnull]
    return subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)


def test_check_json_over_the_bridge(bridge: Bridge, tmp_path: Path) -> None:
    done = check(bridge.port, tmp_path)
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    account = bridge.fake.account
    assert record["account"] == str(LOGIN) and record["platform"] == "mt5"
    assert Decimal(record["balance"]) == Decimal(str(account["balance"]))
    assert Decimal(record["equity"]) == Decimal(str(account["equity"]))
    assert [p["id"] for p in record["positions"]] == ["70001", "70002", "70003"]
    assert not bridge.fake.initialized  # the terminal session was shut down on the way out
    assert PASSWORD.get_secret_value() not in done.stdout + done.stderr


def test_check_says_which_bridge_to_start(tmp_path: Path) -> None:
    done = check(1, tmp_path)  # nothing listens on port 1
    assert done.returncode == ExitCode.UNREACHABLE
    assert "riskmon: mt5:5012345: no data for 5012345" in done.stderr
    (last,) = [line for line in done.stderr.splitlines() if " INFO " not in line]  # one line, saying why
    assert "(last error: MT5 account 5012345: MT5 bridge at 127.0.0.1:1 unreachable" in last
    assert "reconnecting" not in last, "check does not reconnect: the retry is the service's, not this line's"
    assert "Traceback" not in done.stderr
    assert PASSWORD.get_secret_value() not in done.stderr


def test_check_says_when_the_terminal_refuses_the_login(bridge: Bridge, tmp_path: Path) -> None:
    env = riskmon_env(
        tmp_path,
        PLATFORM="mt5",
        ACCOUNT_ID=str(LOGIN),
        MT5_PASSWORD="not-the-password",
        MT5_SERVER=SERVER,
        MT5_BRIDGE_HOST="127.0.0.1",
        MT5_BRIDGE_PORT=str(bridge.port),
    )
    args = [sys.executable, "-m", "riskmon.cli", "check", "--timeout", "5", "--env-file", os.devnull]
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("riskmon: ") and str(LOGIN) in last
    assert "authorization failed" in last, last  # the terminal's own reason, not just "no data"
    assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="the MetaTrader5 package exists on Windows")
def test_check_without_the_package_or_a_bridge_is_one_configuration_line(tmp_path: Path) -> None:
    """Nothing to wait for: no bridge is set and the MetaTrader5 package does not exist off Windows."""
    env = riskmon_env(tmp_path, PLATFORM="mt5", ACCOUNT_ID=str(LOGIN), MT5_PASSWORD="x", MT5_SERVER=SERVER)
    args = [sys.executable, "-m", "riskmon.cli", "check", "--timeout", "30", "--env-file", os.devnull]
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.CONFIG, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if " INFO " not in line]
    assert line.startswith("riskmon: configuration error: MT5_BRIDGE_HOST: not set, and the MetaTrader5 package")
