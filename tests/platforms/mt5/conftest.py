"""Fixtures for the MT5 platform: the fake MetaTrader5 module, in-process and behind a real rpyc bridge."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from mt5_support import FAKE_DIR, NOW, Bridge, load_scenario

from riskmon.clock import ManualClock


@pytest.fixture
def scenario() -> dict[str, Any]:
    return load_scenario()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def mt5(monkeypatch: pytest.MonkeyPatch, scenario: dict[str, Any]) -> ModuleType:
    """The fake MetaTrader5 module, freshly imported and loaded with the recorded scenario."""
    monkeypatch.syspath_prepend(str(FAKE_DIR))
    monkeypatch.delitem(sys.modules, "MetaTrader5", raising=False)
    module = importlib.import_module("MetaTrader5")
    module._fake.load(scenario)
    return module


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    server = Bridge()
    server.start()
    yield server
    server.stop()
