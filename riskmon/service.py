"""Composition root: builds each account's monitor and each platform's feed, and runs them.

Every feed runs in its own task under a supervisor loop: one platform failing (bad credentials,
dropped connection) is logged and retried with backoff, and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from riskmon.config import AppConfig
from riskmon.enforce import Enforcer
from riskmon.errors import ConfigError
from riskmon.models import AccountSnapshot
from riskmon.monitor import AccountMonitor, Observer
from riskmon.platforms.base import Feed, Trader
from riskmon.platforms.sim import SimFeed, SimMarket, SimTrader
from riskmon.store import Store

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """A feed and the trader that acts on the same connection, for the accounts they serve."""

    name: str
    feed: Feed
    trader: Trader
    accounts: tuple[str, ...]
    failures: int = 0
    last_error: str = ""


def build_platforms(config: AppConfig) -> list[Platform]:
    by_platform: dict[str, list[str]] = {}
    for account in config.accounts:
        by_platform.setdefault(account.platform, []).append(account.id)
    platforms = []
    for name, accounts in by_platform.items():
        if name == "sim":
            market = SimMarket(accounts, seed=config.settings.sim_seed)
            platforms.append(
                Platform("sim", SimFeed(market, config.settings.sim_interval), SimTrader(market), tuple(accounts))
            )
        else:
            raise ConfigError("PLATFORM", f"platform {name!r} is not available in this build")
    return platforms


@dataclass
class Service:
    config: AppConfig
    store: Store
    platforms: Sequence[Platform]
    observers: Sequence[Observer] = ()
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    enforcer: Enforcer | None = None  # also listed in observers, so it sees every evaluation
    monitors: dict[str, AccountMonitor] = field(init=False)

    def __post_init__(self) -> None:
        annotators = [self.enforcer] if self.enforcer is not None else []
        self.monitors = {
            p.account: AccountMonitor(p, self.store, self.observers, annotators=annotators)
            for p in self.config.profiles
        }

    def trader_for(self, account: str) -> Trader:
        for platform in self.platforms:
            if account in platform.accounts:
                return platform.trader
        raise KeyError(account)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            if self.enforcer is not None:
                group.create_task(self.enforcer.run(), name="enforcer")
            for platform in self.platforms:
                group.create_task(self._supervise(platform), name=f"feed:{platform.name}")

    async def _supervise(self, platform: Platform) -> None:
        delay = self.backoff_initial
        while True:
            try:
                async for snap in platform.feed.snapshots():
                    self._dispatch(snap)
                    platform.failures, delay = 0, self.backoff_initial
                log.warning("%s feed ended; restarting", platform.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                platform.failures += 1
                platform.last_error = f"{type(exc).__name__}: {exc}"
                log.error("%s feed failed (%s); retrying in %.0f s", platform.name, platform.last_error, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.backoff_max)

    def _dispatch(self, snap: AccountSnapshot) -> None:
        monitor = self.monitors.get(snap.account)
        if monitor is None:
            log.debug("snapshot for unconfigured account %s ignored", snap.account)
            return
        monitor.process(snap)
