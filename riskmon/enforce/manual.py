"""`riskmon flatten`, `riskmon resume` and `riskmon acknowledge` outside the service: a snapshot, the same
Enforcer, its answer (acknowledge needs no snapshot: it clears a remembered failure in the saved state).

The request goes through exactly the path the service's Enforcer uses (keyed records, audit,
verification); this only supplies the snapshots and waits for the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from riskmon.clock import Clock
from riskmon.enforce.enforcer import Enforcer, EventSink
from riskmon.enforce.journal import Entry, Journal
from riskmon.enforce.records import Status
from riskmon.enforce.spec import Policy
from riskmon.models import AccountSnapshot, TradingState
from riskmon.monitor import AccountMonitor
from riskmon.platforms.base import Feed, Trader
from riskmon.profile import AccountProfile
from riskmon.rules.base import acknowledge, label
from riskmon.store import Store


@asynccontextmanager
async def _session(
    profile: AccountProfile,
    feed: Feed,
    trader: Trader,
    store: Store,
    policy: Policy,
    clock: Clock | None,
    on_event: EventSink | None,
) -> AsyncIterator[tuple[Enforcer, AccountMonitor, AsyncIterator[AccountSnapshot]]]:
    """The account's enforcer lane running on the platform's snapshots, for as long as the block lasts."""
    account = profile.account
    enforcer = Enforcer(store, {account: policy}, lambda _: trader, clock, on_event)
    monitor = AccountMonitor(profile, store, [enforcer], annotators=[enforcer])
    stream = feed.snapshots()
    runner = asyncio.create_task(enforcer.run(), name=f"enforcer:{account}")
    try:
        yield enforcer, monitor, _only(stream, account)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await stream.aclose()  # type: ignore[attr-defined]


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
    line = f"{account}: no snapshot within {wait_s:.0f} s; nothing was sent"
    async with _session(profile, feed, trader, store, policy, clock, on_event) as (enforcer, monitor, mine):
        try:
            async with asyncio.timeout(wait_s):
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
        waiting = [a for a in enforcer.open_actions(account) if a.status is Status.RETRY]
    if waiting:
        return line + f"; {len(waiting)} still refused: `riskmon run` keeps retrying them"
    return line + "; confirmed by a fresh snapshot"


async def resume_once(
    profile: AccountProfile,
    feed: Feed,
    trader: Trader,
    store: Store,
    policy: Policy,
    requested_by: str,
    wait_s: float = 30.0,
    clock: Clock | None = None,
    on_event: EventSink | None = None,
) -> tuple[bool, str]:
    """Lift the account's halt through the enforcer (checked against one fresh snapshot): whether the
    account may trade now, and one line saying why."""
    account = profile.account
    async with _session(profile, feed, trader, store, policy, clock, on_event) as (enforcer, monitor, mine):
        try:
            async with asyncio.timeout(wait_s):
                monitor.process(await anext(mine))
                line = await enforcer.resume(account, requested_by)
        except TimeoutError:
            return False, f"{account}: no snapshot within {wait_s:.0f} s; the halt was not lifted"
        return enforcer.trading_state(account) is not TradingState.HALTED, line


async def _only(stream: AsyncIterator[AccountSnapshot], account: str) -> AsyncIterator[AccountSnapshot]:
    async for snap in stream:
        if snap.account == account:
            yield snap


def acknowledge_failure(profile: AccountProfile, store: Store, requested_by: str, now: datetime) -> tuple[bool, str]:
    """A person acknowledges a failed account: every hard breach riskmon keeps for it is cleared from the saved
    state (each floor is judged afresh from the next snapshot), audited like a resume. Whether anything was
    cleared, and one line saying what."""
    account = profile.account
    state = store.load_state(account)
    cleared: list[str] = []
    if state is not None:
        state, cleared = acknowledge(state, profile.rules, now)
    if state is None or not cleared:
        return False, f"{account}: no failed-account breach is kept for it; nothing to acknowledge"
    rules = ", ".join(label(name) for name in cleared)
    line = f"{account}: account failure acknowledged by {requested_by} ({rules}); judged afresh from the next snapshot"
    journal = Journal(store)
    with store.transaction():
        store.save_state(state)
        journal.audit(Entry(now, account, state.trading_day, "manual", line, detail={"by": requested_by}))
    return True, line
