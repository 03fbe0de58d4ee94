"""Shared MT5 test support: scenario constants, and a real rpyc bridge serving the fake MetaTrader5."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rpyc
from pydantic import SecretStr

from riskmon.clock import TradingCalendar
from riskmon.platforms.mt5 import MT5Terminal, load_mt5_module

TESTS = Path(__file__).parents[2]
FAKE_DIR = TESTS / "fakes" / "mt5"
SCENARIO = TESTS / "data" / "mt5" / "usd_account.json"
NOW = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # the scenario's recording time (02:30 on the server)
LOGIN = 5012345
PASSWORD = SecretStr("s3cret-Pa55")
SERVER = "Broker-Demo"
UTC_DAY = TradingCalendar.of("UTC", "00:00")


async def no_wait(_: float) -> None:
    """A sleep that only yields: backoffs and poll intervals take no time in tests."""
    await asyncio.sleep(0)


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (polling) until ``condition()`` holds; fail the test after ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def load_scenario() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCENARIO.read_text())
    return data


def terminal_for(module: Any, **kwargs: Any) -> MT5Terminal:
    return MT5Terminal(module, login=LOGIN, password=PASSWORD, server=SERVER, **kwargs)


class Bridge:
    """A real rpyc classic server in a subprocess, serving the fake MetaTrader5 like mt5linux does."""

    def __init__(self, scenario: Path | None = SCENARIO) -> None:
        self._scenario = scenario
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._control: Any = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(FAKE_DIR / "serve.py"), str(self._scenario or "-"), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())  # printed once it listens

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    def _remote(self) -> Any:
        """The test's own classic connection to the server, for control and inspection."""
        if self._control is None:
            self._control = rpyc.classic.connect("127.0.0.1", self.port)
        return self._control

    @property
    def fake(self) -> Any:
        """The remote ``_fake`` control object (an rpyc netref)."""
        return self._remote().modules.MetaTrader5._fake

    @property
    def connections(self) -> int:
        """Client connections the server is serving (a thread each) besides the control one."""
        return int(self._remote().modules.threading.active_count()) - 2  # less main and control threads

    def module_factory(self) -> Any:
        """What the lead wires in production: a fresh mt5linux client per (re)connection."""
        return lambda: load_mt5_module("127.0.0.1", self.port)
