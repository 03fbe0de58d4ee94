"""`riskmon flatten` outside the service: one snapshot, the same Enforcer, then confirmation.

The request goes through exactly the path the service's Enforcer uses (keyed records, audit,
verification); this only supplies the snapshots and waits for the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from riskmon.clock import Clock
from riskmon.enforce.enforcer import Enforcer, EventSink
from riskmon.enforce.records import Status
from riskmon.enforce.spec import Policy
from riskmon.models import AccountSnapshot
from riskmon.monitor import AccountMonitor, AccountProfile
from riskmon.platforms.base import Feed, Trader
from riskmon.store import Store


async def flatten_once(
    profile: AccountProfile,
    feed: Feed,
    trader: Trader,
    store: Store,
    policy: Policy,
    requested_by: str,
    dry_run: bool = False,
    wait_s: float = 30.0,
    clock: Clock | None = None,
    on_event: EventSink | None = None,
) -> str:
    account = profile.account
    enforcer = Enforcer(store, {account: policy}, lambda _: trader, clock, on_event)
    monitor = AccountMonitor(profile, store, [enforcer], annotators=[enforcer])
    stream = feed.snapshots()
    runner = asyncio.create_task(enforcer.run(), name=f"enforcer:{account}")
    line = f"{account}: no snapshot within {wait_s:.0f} s; nothing was sent"
    try:
        async with asyncio.timeout(wait_s):
            mine = _only(stream, account)
            monitor.process(await anext(mine))
            line = await enforcer.flatten(account, requested_by, dry_run)
            if dry_run:
                return line
            async for snap in mine:
                monitor.process(snap)
                await enforcer.settle(account)
                if enforcer.settled(account):
                    break
    except TimeoutError:
        return line + f"; not confirmed within {wait_s:.0f} s (see `riskmon audit`)"
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await stream.aclose()  # type: ignore[attr-defined]
    waiting = [a for a in enforcer.open_actions(account) if a.status is Status.RETRY]
    if waiting:
        return line + f"; {len(waiting)} still refused: `riskmon run` keeps retrying them"
    return line + "; confirmed by a fresh snapshot"


async def _only(stream: AsyncIterator[AccountSnapshot], account: str) -> AsyncIterator[AccountSnapshot]:
    async for snap in stream:
        if snap.account == account:
            yield snap
