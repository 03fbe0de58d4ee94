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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock
from riskmon.config import AppConfig
from riskmon.models import AccountSnapshot, AlertEvent
from riskmon.monitor import REFRESH, AccountMonitor, Annotator, Observer
from riskmon.platforms.base import STREAM_SILENCE, Platform, Prioritised, Trader
from riskmon.platforms.registry import PLATFORMS
from riskmon.store import Store

log = logging.getLogger(__name__)

# The longest a burst of snapshots is evaluated before the loop lets other tasks run (seconds): one turn per
# snapshot would spend more on scheduling than on the fast path; a longer slice delays the enforcer and readers.
DISPATCH_BUDGET = 0.002

__all__ = ["STREAM_SILENCE", "Platform", "Service", "build_platforms", "serve"]

FEED_RESTART_BACKOFF = Backoff(1.0, 60.0, jitter=0.2)


class Component(Protocol):
    """A long-running part of the service (notifier, exporter, enforcer) with a clean shutdown."""

    async def run(self) -> None: ...

    async def aclose(self) -> None: ...


def build_platforms(config: AppConfig) -> list[Platform]:
    """Each platform's plug-in builds the connections for its accounts (one shared cTrader session,
    one terminal per MT5 account, one feed per replay file, ...)."""
    platforms = [
        p
        for name in dict.fromkeys(a.platform for a in config.accounts)
        for p in PLATFORMS[name].build(config, PLATFORMS[name].accounts(config))
    ]
    if config.settings.stale_after is not None:
        for platform in platforms:
            platform.stale_after = timedelta(seconds=config.settings.stale_after)
    return platforms


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
    tap: Callable[[AccountSnapshot], None] | None = None  # sees every snapshot before it is evaluated (--record)
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
        for platform in self.platforms:
            if isinstance(platform.feed, Prioritised):
                platform.feed.prioritise(self.room_left)

    def room_left(self, account: str) -> Decimal | None:
        """The account's share of its nearest loss allowance left, as far as riskmon knows (None: nothing)."""
        monitor = self.monitors.get(account)
        return None if monitor is None else monitor.room_left()

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
            causes = {account: cause for p in self.platforms if (cause := _blind_cause(p)) for account in p.accounts}
            events = [
                event
                for account, monitor in self.monitors.items()
                for event in monitor.check_staleness(publish=False, cause=causes.get(account, ""))
            ]
            if events:
                for observer in self.observers:
                    try:
                        observer.notify(events)
                    except Exception:
                        log.exception("observer %s failed", type(observer).__name__)

    async def _supervise(self, platform: Platform) -> None:
        while True:
            try:
                turn = time.monotonic()
                async for snap in platform.feed.snapshots():
                    self._dispatch(snap)
                    platform.failures = 0
                    if time.monotonic() - turn > DISPATCH_BUDGET:
                        await asyncio.sleep(0)  # let enforcement, notifiers and readers act within a burst
                        turn = time.monotonic()
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
            if self.tap is not None:
                self.tap(snap)
            monitor.process(snap)
        except Exception:
            log.exception("%s: snapshot could not be processed", monitor.profile.name)


def _blind_cause(platform: Platform) -> str:
    """Why a platform's accounts may have gone blind, as far as the service knows: what the alarm names."""
    if platform.failures:
        return f"the {platform.name} feed failed ({platform.last_error}); retrying with back-off"
    if not platform.feed.connected:
        return f"the {platform.name} feed is not connected; reconnecting"
    return ""


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
