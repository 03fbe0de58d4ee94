"""MT5Terminal: module loading, login, the dedicated worker thread, timeouts and error mapping."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from types import ModuleType
from typing import Any

import pytest
from mt5_support import terminal_for

from riskmon.errors import AuthenticationError, ConfigError, PlatformUnavailable
from riskmon.platforms.mt5 import load_mt5_module
from riskmon.platforms.mt5.terminal import TerminalTimeout, error_for, plain


def test_loads_the_official_module_when_installed(mt5: ModuleType) -> None:
    assert load_mt5_module() is mt5


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)  # as on a machine without it
    with pytest.raises(ConfigError, match=r"MT5_BRIDGE_HOST: not set, .*pip install 'riskmon\[mt5\]'"):
        load_mt5_module()  # a configuration error: waiting and reconnecting cannot install it


def test_unreachable_bridge_says_what_to_start() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PlatformUnavailable, match=rf"127.0.0.1:{port} unreachable.*mt5linux"):
        load_mt5_module("127.0.0.1", port)


def test_error_mapping() -> None:
    assert isinstance(error_for(-6, "Authorization failed", "login"), AuthenticationError)
    for code in (-10004, -10003, -10005, -8, -1):
        error = error_for(code, "x", "login")
        assert type(error) is PlatformUnavailable
    assert "MT5_PATH" in str(error_for(-10003, "IPC initialize failed", "login"))
    assert "Algo Trading" in str(error_for(-8, "Auto-trading disabled", "login"))


async def test_every_call_runs_on_one_dedicated_thread(mt5: ModuleType) -> None:
    terminal = terminal_for(mt5)
    names = {await terminal.run(lambda _: threading.current_thread().name) for _ in range(3)}
    assert len(names) == 1 and names != {threading.current_thread().name}
    assert terminal.connected and mt5._fake.initialize_calls == 1
    await terminal.close()
    assert not terminal.connected and not mt5._fake.initialized


async def test_a_hung_terminal_times_out_without_blocking_the_loop(mt5: ModuleType) -> None:
    terminal = terminal_for(mt5, call_timeout=0.2)
    await terminal.run(lambda m: m.account_info())
    mt5._fake.delay = 1.0
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beating = asyncio.ensure_future(heartbeat())
    with pytest.raises(TerminalTimeout, match=r"no answer within 0\.2 s"):
        await terminal.run(lambda m: m.account_info())
    beating.cancel()
    assert ticks >= 5  # the event loop kept running meanwhile
    mt5._fake.delay = 0.0
    info: Any = await terminal.run(lambda m: m.account_info())  # a fresh worker logs in again
    assert info.login == 5012345


async def test_logged_into_another_account_is_refused(mt5: ModuleType) -> None:
    mt5._fake.account["login"] = 42
    with pytest.raises(PlatformUnavailable, match="logged into account 42, not 5012345"):
        await terminal_for(mt5).run(lambda m: None)


def test_plain_copies_records_including_non_literal_values(mt5: ModuleType) -> None:
    tick = mt5.Tick(1, 1.1, 1.2, 0.0, 0, 1000, 6, 0.0)
    assert plain(tick) == tick._asdict()
    odd = tick._replace(last=float("nan"))  # not a literal: copied field by field
    copied = plain(odd)
    assert copied["bid"] == 1.1 and copied["last"] != copied["last"]
