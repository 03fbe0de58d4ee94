"""An account on the simulator, its monitor and an Enforcer over a recording trader, stepped by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from riskmon.clock import ManualClock
from riskmon.enforce import Enforcer, Policy
from riskmon.models import AlertEvent
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.platforms.sim import SimMarket
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import Store
from tests.fakes.trader import RecordingTrader

ACCOUNT = "acc-1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


class Rig:
    def __init__(self, db: Path, policy: Policy, rules: dict[str, Any] | None = None, **enforcer_args: Any) -> None:
        self.clock = ManualClock(START)
        self.market = SimMarket([ACCOUNT], clock=self.clock)
        self.trader = RecordingTrader(self.market)
        self.events: list[AlertEvent] = []
        self.db, self.policy, self.enforcer_args = db, policy, enforcer_args
        self.profile = AccountProfile(
            ACCOUNT, PRESETS["ftmo-2step"].rulebook(rules or {}), label="Test 100k", initial_balance=Decimal(100000)
        )
        self.store = Store(db)
        self.enforcer = self._enforcer()
        self.monitor = AccountMonitor(self.profile, self.store, [self.enforcer], annotators=[self.enforcer])

    def _enforcer(self) -> Enforcer:
        args = {"retry_initial_s": 0.01, "retry_max_s": 0.05, "refused_retry_s": 0.02} | self.enforcer_args
        return Enforcer(
            self.store, {ACCOUNT: self.policy}, lambda _: self.trader, self.clock, self.events.append, **args
        )

    def restart(self) -> None:
        """A new process: new Store, Enforcer and monitor on the same database file."""
        self.store.close()
        self.store = Store(self.db)
        self.enforcer = self._enforcer()
        self.monitor = AccountMonitor(self.profile, self.store, [self.enforcer], annotators=[self.enforcer])

    async def tick(self, steps: int = 1) -> Evaluation:
        """Move the market ``steps`` seconds, then one snapshot through the monitor; wait for the enforcer."""
        for _ in range(steps):
            self.clock.advance(1)
            self.market.step()
        evaluation = self.monitor.process(self.market.snapshot(ACCOUNT))
        await self.enforcer.settle(ACCOUNT)
        return evaluation

    async def walk_until(self, condition: Any, limit: int = 400) -> Evaluation:
        for _ in range(limit):
            evaluation = await self.tick()
            if condition(evaluation):
                return evaluation
        raise AssertionError("condition never met")

    def steps(self) -> list[str]:
        return [e.step for e in self.enforcer.journal.entries(ACCOUNT)]


@asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[Rig]:
    task = asyncio.create_task(rig.enforcer.run())
    try:
        yield rig
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        rig.store.close()
