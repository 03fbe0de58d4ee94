"""The optional faster event loop: used when installed, asyncio's own otherwise or when turned off."""

from __future__ import annotations

import asyncio

import pytest

from riskmon.cli import event_loop_factory


def test_uvloop_is_used_when_installed_and_can_be_turned_off() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(asyncio.sleep(0, "ran")) == "ran"
    assert event_loop_factory(wanted=False) is None
