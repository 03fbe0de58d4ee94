"""Running riskmon as a real process in tests: a clean environment and line-by-line output."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


def riskmon_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "RISKMON_DB": str(tmp_path / "riskmon.db"),
        "COLUMNS": "200",
        "METRICS_PORT": "0",
    }
    env.update(settings)
    return env


class RiskmonProcess:
    """`python -m riskmon.cli ...` with stdout and stderr collected as lines, as they come."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))

    def _drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            self._drain()
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.proc.poll() is not None:
                self._drain()
                break
            time.sleep(0.02)
        raise AssertionError(f"no matching line within {timeout}s; output:\n" + "\n".join(self.lines[-40:]))

    def output(self) -> list[str]:
        self._drain()
        return self.lines

    def stop(self, signal_number: int = 2, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal_number)
        code = self.proc.wait(timeout)
        time.sleep(0.05)
        self._drain()
        return code


def check_problems(env: dict[str, str], cwd: Path, timeout_s: int = 2) -> tuple[int, list[str]]:
    """`riskmon check` run to its end: its exit code and what it said on stderr but the INFO log lines."""
    args = [sys.executable, "-m", "riskmon.cli", "check", "--timeout", str(timeout_s), "--env-file", os.devnull]
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, [line for line in done.stderr.splitlines() if " INFO " not in line]
