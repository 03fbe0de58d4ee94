"""`riskmon run` in a real 80-column terminal (a pseudo-terminal): the table fits, logs print above it."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import riskmon_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX"),
]

MOVES = re.compile(r"\x1b\[[0-9;?]*[ABCDEFGHJKf]|\r")  # cursor moves and erases: a new screen line
WARNED = re.compile(r"WARNING +firing +.*daily_loss")  # the alert line (the table may skip a short-lived state)
STYLES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def screen_text(raw: bytes) -> str:
    return STYLES.sub("", MOVES.sub("\n", raw.decode("utf-8", "replace")))


def read_until(fd: int, buffer: bytearray, done: Callable[[str], bool], limit_s: float = 60.0) -> str:
    """Read the terminal until ``done(text)`` holds (or the process closed it, or ``limit_s`` passed)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        text = screen_text(bytes(buffer))
        if done(text):
            return text
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
    return screen_text(bytes(buffer))


def test_run_in_an_80_column_terminal(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = riskmon_env(tmp_path, SIM_INTERVAL="0.02", COLUMNS="80", LINES="40", TERM="xterm-256color")
    (tmp_path / ".env").write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "riskmon", "run", "--env-file", ".env"],
        env=env,
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    buffer = bytearray()
    try:
        read_until(master, buffer, lambda text: bool(WARNED.search(text)) and "watching 2 account(s)" in text)
    finally:
        proc.send_signal(signal.SIGINT)
        text = read_until(master, buffer, lambda text: "riskmon.service: stopped" in text)
        proc.wait(30)
        os.close(master)
    lines = text.splitlines()
    assert WARNED.search(text), text[-3000:]
    table = [line for line in lines if any(mark in line for mark in "┏┃┡│└")]
    assert len(table) > 7 and max(len(line) for line in table) <= 80  # (alert lines soft-wrap in the terminal)
    for line in table:  # whole numbers only, and no log or alert text inside a row
        assert not re.search(r"\d…|…\d", line), line
        assert "riskmon.service" not in line and " INFO " not in line and "firing" not in line, line
    assert any(re.search(r"Z INFO +riskmon\.service: watching 2 account\(s\)", line) for line in lines)
    assert proc.returncode == 0
