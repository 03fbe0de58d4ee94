"""Windows' start path, run on Linux: no POSIX-only module for riskmon, no loop signal handlers.

A ``sitecustomize`` in the child process refuses riskmon (and the lock library it uses) every POSIX-only
module, and makes ``loop.add_signal_handler`` raise as it does on Windows. The standard library keeps
its own platform branches. The child records what it refused, so the test proves the blocker acted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import RiskmonProcess, riskmon_env

pytestmark = pytest.mark.integration

POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "resource", "pwd", "grp", "syslog", "crypt", "posix")

SITECUSTOMIZE = f"""
import builtins, json, os

_BLOCKED = {POSIX_ONLY!r}
_WATCHED = ("riskmon", "filelock")
_real_import = builtins.__import__
_log = os.environ["BLOCKED_LOG"]


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {{}}).get("__name__", "") or ""
    if level == 0 and name.split(".")[0] in _BLOCKED and importer.split(".")[0] in _WATCHED:
        with open(_log, "a") as out:
            out.write(json.dumps([importer, name]) + "\\n")
        raise ImportError(f"No module named {{name!r}} (blocked: POSIX-only)")
    return _real_import(name, globals, locals, fromlist, level)


builtins.__import__ = _import

import asyncio.unix_events


def _no_signal_handlers(self, *args, **kwargs):
    raise NotImplementedError("add_signal_handler: not on Windows")


asyncio.unix_events._UnixSelectorEventLoop.add_signal_handler = _no_signal_handlers
"""


@pytest.fixture
def windows_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    root = Path(__file__).resolve().parents[2]
    env = riskmon_env(
        tmp_path,
        PYTHONPATH=os.pathsep.join((str(site), str(root))),
        BLOCKED_LOG=str(tmp_path / "blocked.jsonl"),
        SIM_INTERVAL="0.05",
        COLUMNS="80",
        RISKMON_UVLOOP="false",  # uvloop does not exist on Windows (the fast extra leaves it out there)
    )
    (tmp_path / ".env").write_text("")
    return env


def blocked(env: dict[str, str]) -> list[tuple[str, str]]:
    path = Path(env["BLOCKED_LOG"])
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()] if path.exists() else []


def riskmon(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskmon", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_version_and_presets_without_posix_modules(windows_env: dict[str, str], tmp_path: Path) -> None:
    version = riskmon(windows_env, tmp_path, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("riskmon ")
    presets = riskmon(windows_env, tmp_path, "presets")
    assert presets.returncode == 0, presets.stderr
    assert "ftmo-2step" in presets.stdout and "Traceback" not in presets.stderr


def test_run_stops_on_ctrl_c_the_windows_way(windows_env: dict[str, str], tmp_path: Path) -> None:
    proc = RiskmonProcess(["run", "--no-table", "--signals", "portable", "--env-file", ".env"], windows_env, tmp_path)
    try:
        proc.wait_for(lambda line: "watching 2 account(s)" in line)
        # The lock library wanted fcntl and was refused: the guard ran on its portable path.
        assert any(importer.startswith("filelock") and name == "fcntl" for importer, name in blocked(windows_env))
        assert all(not importer.startswith("riskmon") for importer, _ in blocked(windows_env))
        assert (tmp_path / "riskmon.db").exists()
    finally:
        code = proc.stop(signal.SIGINT)
    output = "\n".join(proc.output())
    assert code == 0, output
    assert "SIGINT received: stopping" in output and "stopped" in output
    assert "Traceback" not in output


def test_the_blocker_would_catch_the_posix_signal_path(windows_env: dict[str, str], tmp_path: Path) -> None:
    """The loop's signal handlers are unavailable in the child, as on Windows: the portable path is what ran."""
    proc = RiskmonProcess(["run", "--no-table", "--signals", "loop", "--env-file", ".env"], windows_env, tmp_path)
    try:
        code = proc.proc.wait(60)
    finally:
        if proc.proc.poll() is None:
            proc.stop(signal.SIGKILL)
    assert code != 0
    assert "add_signal_handler: not on Windows" in "\n".join(proc.output())


IMPORT_ALL = """
import importlib, pkgutil, riskmon
names = [m.name for m in pkgutil.walk_packages(riskmon.__path__, "riskmon.") if m.name != "riskmon.__main__"]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_riskmon_module_imports_without_posix_modules(windows_env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], env=windows_env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50  # every module, the cTrader and MT5 ones included
    assert all(not importer.startswith("riskmon") for importer, _ in blocked(windows_env))
