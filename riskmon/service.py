"""Composition root: builds each account's monitor and each platform's feed, and runs them.

Every feed runs in its own task under a supervisor loop: one platform failing (bad credentials,
dropped connection) is logged and retried with backoff, and never stops the others. A watchdog
raises ``stale_data`` for any account riskmon has stopped hearing from.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock
from riskmon.config import AccountConfig, AppConfig
from riskmon.models import AccountSnapshot, AlertEvent
from riskmon.monitor import REFRESH, AccountMonitor, Annotator, Observer
from riskmon.platforms.base import ActionResult, Feed, Outcome, Trader
from riskmon.platforms.replay import ReplayFeed
from riskmon.platforms.sim import SimFeed, SimMarket, SimTrader
from riskmon.store import Store

log = logging.getLogger(__name__)

STREAM_SILENCE = timedelta(seconds=30)
FEED_RESTART_BACKOFF = Backoff(1.0, 60.0, jitter=0.2)


@dataclass
class Platform:
    """A feed and the trader that acts on the same connection, for the accounts they serve."""

    name: str
    feed: Feed
    trader: Trader
    accounts: tuple[str, ...]
    stale_after: timedelta = STREAM_SILENCE  # no data for this long = riskmon is blind
    close: Callable[[], Awaitable[None]] | None = None  # releases the connection at shutdown
    failures: int = 0
    last_error: str = ""


class Component(Protocol):
    """A long-running part of the service (notifier, exporter, enforcer) with a clean shutdown."""

    async def run(self) -> None: ...

    async def aclose(self) -> None: ...


def build_platforms(config: AppConfig) -> list[Platform]:
    """One Platform per connection: all sim accounts share a market, all cTrader accounts one session,
    each replay file is one feed, and each MT5 account has its own terminal."""
    builders = {
        "sim": _sim_platforms,
        "replay": _replay_platforms,
        "ctrader": _ctrader_platforms,
        "mt5": _mt5_platforms,
    }
    platforms = [p for name in dict.fromkeys(a.platform for a in config.accounts) for p in builders[name](config)]
    if config.settings.stale_after is not None:
        for platform in platforms:
            platform.stale_after = timedelta(seconds=config.settings.stale_after)
    return platforms


def _accounts_on(config: AppConfig, platform: str) -> list[AccountConfig]:
    return [a for a in config.accounts if a.platform == platform]


def _sim_platforms(config: AppConfig) -> list[Platform]:
    settings = config.settings
    accounts = tuple(a.id for a in _accounts_on(config, "sim"))
    market = SimMarket(accounts, seed=settings.sim_seed)
    stale = timedelta(seconds=3 * settings.sim_interval)
    return [Platform("sim", SimFeed(market, settings.sim_interval), SimTrader(market), accounts, stale)]


def _ctrader_platforms(config: AppConfig) -> list[Platform]:
    from riskmon.platforms.ctrader.configure import ctrader_platform

    settings = config.settings
    calendars = {a.id: config.profile(a.id).calendar for a in _accounts_on(config, "ctrader")}
    feed, trader = ctrader_platform(settings, calendars)
    poll = timedelta(seconds=3 * settings.ctrader_poll_interval)
    stale = STREAM_SILENCE if settings.ctrader_mode == "stream" else poll
    return [Platform("ctrader", feed, trader, tuple(calendars), stale, feed.close)]


def _mt5_platforms(config: AppConfig) -> list[Platform]:
    from riskmon.platforms.mt5.configure import mt5_platform

    stale = timedelta(seconds=3 * config.settings.mt5_poll_interval)
    platforms = []
    for account in _accounts_on(config, "mt5"):
        feed, trader, terminal = mt5_platform(config.settings, account, config.profile(account.id).calendar)
        platforms.append(Platform(f"mt5:{account.id}", feed, trader, (account.id,), stale, terminal.close))
    return platforms


class _NoTrading:
    """Recorded data cannot be traded: every action is refused, plainly."""

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        return ActionResult(Outcome.TRADING_DISABLED, "replay data cannot be traded")

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        return ActionResult(Outcome.TRADING_DISABLED, "replay data cannot be traded")


def _replay_platforms(config: AppConfig) -> list[Platform]:
    by_file: dict[Path, list[str]] = {}
    for account in _accounts_on(config, "replay"):
        if account.replay_file is not None:
            by_file.setdefault(account.replay_file, []).append(account.id)
    return [
        Platform(f"replay:{path.name}", ReplayFeed(path), _NoTrading(), tuple(accounts))
        for path, accounts in by_file.items()
    ]


BUILDERS: dict[str, Callable[[AppConfig], list[Platform]]] = {
    "sim": _sim_platforms,
    "replay": _replay_platforms,
    "ctrader": _ctrader_platforms,
    "mt5": _mt5_platforms,
}


@dataclass
class Service:
    config: AppConfig
    store: Store
    platforms: Sequence[Platform]
    observers: Sequence[Observer] = ()
    components: Sequence[Component] = ()
    clock: Clock = field(default_factory=SystemClock)
    backoff: Backoff = FEED_RESTART_BACKOFF
    watch_interval: float = 1.0
    annotators: Sequence[Annotator] = ()
    monitors: dict[str, AccountMonitor] = field(init=False)

    def __post_init__(self) -> None:
        stale_after = {a: p.stale_after for p in self.platforms for a in p.accounts}
        self.monitors = {
            p.account: AccountMonitor(
                p,
                self.store,
                self.observers,
                clock=self.clock,
                stale_after=stale_after.get(p.account),
                annotators=self.annotators,
                refresh=REFRESH,
            )
            for p in self.config.profiles
        }

    def publish(self, event: AlertEvent) -> None:
        """An alert raised outside the engine (the enforcer's) goes to the same observers as any other."""
        monitor = self.monitors.get(event.account)
        if monitor is not None:
            monitor.publish_events((event,))

    def trader_for(self, account: str) -> Trader:
        for platform in self.platforms:
            if account in platform.accounts:
                return platform.trader
        raise KeyError(account)

    async def run(self) -> None:
        log.info(
            "watching %d account(s): %s",
            len(self.monitors),
            ", ".join(f"{m.profile.name} [{m.profile.platform}]" for m in self.monitors.values()),
        )
        async with asyncio.TaskGroup() as group:
            for platform in self.platforms:
                group.create_task(self._supervise(platform), name=f"feed:{platform.name}")
            for component in self.components:
                group.create_task(component.run(), name=f"component:{type(component).__name__}")
            group.create_task(self._watch(), name="watchdog")

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Flush what the components hold (outbox, in-flight enforcement) within ``grace_s`` seconds each."""
        for component in self.components:
            try:
                async with asyncio.timeout(grace_s):
                    await component.aclose()
            except TimeoutError:
                log.error("%s did not finish within %.0f s", type(component).__name__, grace_s)
            except Exception:
                log.exception("%s failed while closing", type(component).__name__)

    async def _watch(self) -> None:
        """Every account's blind-spot check, published as one batch: observers may then say "1,000 accounts
        stale" once (Telegram does) rather than a thousand times."""
        while True:
            await asyncio.sleep(self.watch_interval)
            events = [e for monitor in self.monitors.values() for e in monitor.check_staleness(publish=False)]
            if events:
                for observer in self.observers:
                    try:
                        observer.notify(events)
                    except Exception:
                        log.exception("observer %s failed", type(observer).__name__)

    async def _supervise(self, platform: Platform) -> None:
        while True:
            try:
                async for snap in platform.feed.snapshots():
                    self._dispatch(snap)
                    platform.failures = 0
                    await asyncio.sleep(0)  # let enforcement and notifiers act between the snapshots of a burst
                log.warning("%s feed ended; restarting", platform.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                platform.last_error = f"{type(exc).__name__}: {exc}"
                log.error("%s feed failed (%s)", platform.name, platform.last_error)
            delay = self.backoff.delay(platform.failures)
            platform.failures += 1
            log.info("%s feed restarts in %.1f s", platform.name, delay)
            await asyncio.sleep(delay)

    def _dispatch(self, snap: AccountSnapshot) -> None:
        monitor = self.monitors.get(snap.account)
        if monitor is None:
            log.debug("snapshot for unconfigured account %s ignored", snap.account)
            return
        try:
            monitor.process(snap)
        except Exception:
            log.exception("%s: snapshot could not be processed", monitor.profile.name)


SignalHandler = Callable[[int], None]
# Installs ``handler`` for the stop signals on the running loop; returns the function that removes it.
SignalHook = Callable[[asyncio.AbstractEventLoop, SignalHandler], Callable[[], None]]
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGBREAK") if hasattr(signal, name)
)  # SIGBREAK: Ctrl+Break on Windows, what service managers send


def loop_signals(loop: asyncio.AbstractEventLoop, handler: SignalHandler) -> Callable[[], None]:
    """POSIX: the event loop's own signal handlers (``add_signal_handler`` does not exist on Windows)."""
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, handler, number)

    def remove() -> None:
        for number in STOP_SIGNALS:
            loop.remove_signal_handler(number)

    return remove


def portable_signals(loop: asyncio.AbstractEventLoop, handler: SignalHandler) -> Callable[[], None]:
    """Anywhere (Windows): ``signal.signal`` in the main thread, handed over to the loop thread-safely."""
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, lambda received, _frame: loop.call_soon_threadsafe(handler, received))

    def remove() -> None:
        for number, before in previous.items():
            signal.signal(number, before)

    return remove


def default_signals() -> SignalHook:
    return portable_signals if sys.platform == "win32" else loop_signals


async def serve(service: Service, shutdown_timeout: float = 10.0, signals: SignalHook | None = None) -> None:
    """Run until SIGTERM/SIGINT (Ctrl+C, or Ctrl+Break on Windows), then stop feeds and flush components;
    a second signal exits at once. ``signals`` installs the handlers (default: the platform's way)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(number: int) -> None:
        received.append(number)
        if len(received) == 1:
            log.info("%s received: stopping (send it again to exit at once)", signal.Signals(number).name)
            stop.set()
        else:
            log.warning("second signal: exiting now")
            os._exit(1)

    remove_handlers = (signals or default_signals())(loop, on_signal)
    running = asyncio.create_task(service.run())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        running.cancel()
        stopping.cancel()
        await asyncio.gather(running, return_exceptions=True)  # our own cancellation still propagates
        await service.aclose(shutdown_timeout)
        remove_handlers()
    log.info("stopped")
