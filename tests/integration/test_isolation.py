"""The suite runs beside a live riskmon: the default port is busy and the user's data directory untouched."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from riskmon.store import default_db_path
from tests.conftest import DEFAULT_METRICS_PORT
from tests.processes import riskmon_env

pytestmark = pytest.mark.integration


@pytest.fixture
def busy_default_port(default_metrics_port_taken: bool) -> None:
    """Held by the session fixture in CI, or by a riskmon running on this machine; else nothing to check."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # only a listener makes the bind fail
        try:
            probe.bind(("127.0.0.1", DEFAULT_METRICS_PORT))
        except OSError:
            return
        pytest.skip("the default metrics port is free: held only in CI (RISKMON_CI) or by a live riskmon")


@pytest.mark.usefixtures("busy_default_port")
def test_the_default_metrics_port_is_busy_for_the_whole_suite() -> None:
    with socket.create_connection(("127.0.0.1", DEFAULT_METRICS_PORT), timeout=5):
        pass  # held by the session fixture, or by a riskmon running on this machine


@pytest.mark.usefixtures("busy_default_port")
def test_a_riskmon_started_on_the_default_port_fails_here_as_beside_a_live_service(tmp_path: Path) -> None:
    env = riskmon_env(tmp_path)
    del env["METRICS_PORT"]  # what a test that forgets port 0 does
    (tmp_path / ".env").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "riskmon", "run", "--no-table", "--env-file", ".env"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"METRICS_PORT: cannot listen on 127.0.0.1:{DEFAULT_METRICS_PORT}" in result.stderr


def test_the_default_state_database_is_in_the_tests_own_home(isolated_home: Path) -> None:
    assert default_db_path().is_relative_to(isolated_home)
