"""Driving a real `riskmon run` process from an asyncio test while the fakes run in the test's loop.

``RiskmonProcess.wait_for`` sleeps the thread, which would freeze the fake servers riskmon talks to;
``Riskmon`` waits with ``asyncio.sleep`` instead, so the fakes keep answering while the test waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.processes import RiskmonProcess


class Riskmon:
    """`python -m riskmon.cli run --no-table --record <file>` with JSON logs, waited on without blocking."""

    def __init__(self, tmp_path: Path, env: dict[str, str], config: Path | None = None) -> None:
        self.record = tmp_path / "snapshots.jsonl"
        args = ["run", "--no-table", "--record", str(self.record), "--env-file", os.devnull]
        if config is not None:
            args += ["--config", str(config)]
        self.process = RiskmonProcess(args, {"LOG_FORMAT": "json", **env}, tmp_path)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def lines(self) -> list[str]:
        return self.process.output()

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log records written so far (stderr)."""
        records = []
        for line in self.lines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def alerts(self, since: int = 0) -> list[str]:
        """Console alert lines (stdout): ``<ts>Z SEVERITY status who rule: message``."""
        return [line for line in self.lines()[since:] if not line.startswith("{") and "Z " in line[:25]]

    def snapshots(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        complete = self.record.read_text().split("\n")[:-1]  # the last line may be half written
        return [json.loads(line) for line in complete if line.strip()]

    async def wait_line(self, predicate: Callable[[str], bool], within: float = 20.0, since: int = 0) -> str:
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self.lines()[since:] if predicate(line)][:1]
            return bool(found)

        await self.wait(seen, within, "a matching output line")
        return found[0]

    async def wait(self, condition: Callable[[], bool], within: float = 20.0, what: str = "condition") -> float:
        """Wait until ``condition()`` holds; return the monotonic time it was seen. Fails if riskmon exits."""
        deadline = time.monotonic() + within
        while not condition():
            if self.process.proc.poll() is not None and not condition():
                raise AssertionError(f"riskmon exited ({self.process.proc.returncode}) before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not met within {within} s; riskmon output:\n{self.tail()}")
            await asyncio.sleep(0.02)
        return time.monotonic()

    async def exit_code(self, within: float) -> int:
        deadline = time.monotonic() + within
        while self.process.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"riskmon still running after {within} s:\n{self.tail()}")
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # let the pump threads hand over the last lines
        self.process.output()
        return self.process.proc.returncode

    def signal(self, number: int) -> None:
        if self.process.proc.poll() is None:
            self.process.proc.send_signal(number)

    async def kill(self) -> int:
        self.signal(signal.SIGKILL)
        return await self.exit_code(10)

    def close(self) -> None:
        """Cleanup (also on failure): nothing outlives the test."""
        if self.process.proc.poll() is None:
            self.process.proc.kill()
        self.process.proc.wait(10)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines()[-n:])


async def eventually(condition: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    """Wait for something outside riskmon (a fake's state) without blocking the loop the fakes run in."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        await asyncio.sleep(0.02)


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, args).fetchall())


def account_state(db: Path, account: str) -> dict[str, Any]:
    (text,) = query(db, "SELECT state FROM account_state WHERE account = ?", account)[0]
    return dict(json.loads(text))
