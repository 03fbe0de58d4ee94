"""The service runs the enforcer beside the feeds, wired as `riskmon run` wires it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from riskmon.config import load_config
from riskmon.enforce import Enforcer
from riskmon.models import AlertEvent, TradingState
from riskmon.monitor import Evaluation
from riskmon.service import Service, build_platforms
from riskmon.store import Store

CONFIG = """
[[accounts]]
id = "sim-ftmo"
platform = "sim"
preset = "ftmo-2step"
initial_balance = 100000
[accounts.enforce]
mode = "live"
"""


class Flat:
    """Observer: set once a snapshot shows no open position."""

    def __init__(self) -> None:
        self.seen = asyncio.Event()

    def observe(self, evaluation: Evaluation) -> None:
        if not evaluation.snapshot.positions:
            self.seen.set()

    def notify(self, events: Sequence[AlertEvent]) -> None:
        pass


async def test_the_service_flattens_a_simulated_account_through_the_enforcer(tmp_path: Path) -> None:
    (tmp_path / "riskmon.toml").write_text(CONFIG)
    (tmp_path / ".env").write_text("DRY_RUN=false\nSIM_INTERVAL=0.001\n")
    config = load_config(tmp_path / ".env", tmp_path / "riskmon.toml")
    store = Store(tmp_path / "riskmon.db")
    platforms = build_platforms(config)
    traders = {account: p.trader for p in platforms for account in p.accounts}
    events: list[AlertEvent] = []
    enforcer = Enforcer(store, config.enforcement(), traders.__getitem__, on_event=events.append)
    flat = Flat()
    service = Service(config, store, platforms, [enforcer, flat], components=[enforcer], annotators=[enforcer])
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(flat.seen.wait(), timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    assert enforcer.trading_state("sim-ftmo") is TradingState.HALTED
    assert events[0].rule == "enforcement" and "close 3 positions" in events[0].action
