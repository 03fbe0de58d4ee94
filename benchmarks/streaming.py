"""riskmon streaming many cTrader accounts, with the fake server in a separate process.

    python -m benchmarks.streaming [--accounts 1000 5000 10000] [--seconds 10]
    python -m benchmarks.streaming --enforcer

riskmon's side is what ``riskmon run`` builds for cTrader accounts, in this process: one
``CTraderSession`` (one WebSocket) and ``CTraderFeed`` for every account, an ``AccountMonitor`` per
account (ftmo-2step, state in a real SQLite file), and the service's dispatch loop (process each
snapshot, yield to the event loop). The fake server (``tests.fakes.ctrader_process``) runs in its
own process so it does not share riskmon's core; times on both sides are ``time.monotonic()``.

Tick latency: every account gets one SpotEvent a second (evenly spread), each a new lower bid (a
falling market: a rising one makes every tick a new equity high, which the monitor writes to SQLite at
once); a tick's latency runs from just before the server writes it to the end of ``monitor.process``
for the first snapshot valued at that bid or a later one (a feed that falls behind coalesces ticks:
the later snapshot carries them). That is also when any alert the tick raises exists
(``Evaluation.events``).

Enforcer latency: each account (daily loss allowance 5,000, enforce mode live, flatten at 90 % used)
gets one tick taking its loss from 0 to 4,600; the latency runs to the server's receipt of the close
request for that account.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from riskmon.enforce import Enforcer, Mode, Policy
from riskmon.monitor import REFRESH, AccountMonitor, Observer
from riskmon.platforms.ctrader import CTraderFeed, CTraderSession, CTraderTrader, Timings, Tokens
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.service import DISPATCH_BUDGET
from riskmon.store import Store
from tests.fakes.ctrader_process import FIRST_CTID, ServerProcess

OPEN_POINTS = 110_000  # 1.10000: the position's open price, in 10^-5
CROSSING_POINTS = 105_400  # loss 4,600 on 1 lot: 92 % of the 5,000 allowance
BOOK = PRESETS["ftmo-2step"].rulebook()
INITIAL = Decimal(100_000)
LIVE = Policy(mode=Mode.LIVE, flatten_at_used=Decimal("0.9"))


HEADER = "| accounts | ticks | unseen | p50 ms | p99 ms | riskmon CPU | RSS/account |\n" + "|---:" * 7 + "|"


def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@dataclass
class Riskmon:
    """riskmon's side: one session and feed, a monitor per account, the service's dispatch loop."""

    session: CTraderSession
    monitors: dict[str, AccountMonitor]
    evaluated: dict[str, tuple[array[int], array[float]]]  # account → bid points, monotonic time done
    ready: asyncio.Event

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls, server: ServerProcess, accounts: int, db: Path, enforce: bool = False, full: bool = False
    ) -> AsyncIterator[Riskmon]:
        names = [str(FIRST_CTID + i) for i in range(accounts)]
        hello = server.hello
        session = CTraderSession(
            client_id=hello["client_id"],
            client_secret=SecretStr(hello["client_secret"]),
            tokens=Tokens(SecretStr(hello["access_token"]), SecretStr(hello["refresh_token"])),
            accounts=names,
            url=hello["url"],
            timings=Timings(request_timeout=120),
            rate_limit=100_000,  # the fake does not enforce cTrader's limits; set-up would take minutes
            history_rate_limit=100_000,
        )
        store = Store(db)
        observers: list[Observer] = []
        enforcer = None
        if enforce:
            trader = CTraderTrader(session)
            enforcer = Enforcer(store, dict.fromkeys(names, LIVE), lambda _: trader)
            observers.append(enforcer)
        profiles = [AccountProfile(name, BOOK, platform="ctrader", initial_balance=INITIAL) for name in names]
        refresh = None if full else REFRESH  # full: every snapshot through the whole engine (no fast path)
        monitors = {p.account: AccountMonitor(p, store, observers, refresh=refresh) for p in profiles}
        riskmon = cls(session, monitors, {name: (array("q"), array("d")) for name in names}, asyncio.Event())
        feed = CTraderFeed(session, calendar=BOOK.calendar)
        tasks = [asyncio.create_task(riskmon._dispatch(feed))]
        if enforcer is not None:
            tasks.append(asyncio.create_task(enforcer.run()))
        try:
            async with asyncio.timeout(300):
                await riskmon.ready.wait()
            yield riskmon
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            await session.close()
            store.close()
        failed = [o for o in outcomes if isinstance(o, Exception)]  # a broken benchmark must not pass as fast
        if failed:
            raise failed[0]

    async def _dispatch(self, feed: CTraderFeed) -> None:
        waiting = set(self.monitors)
        turn = time.monotonic()
        async for snap in feed.snapshots():
            self.monitors[snap.account].process(snap)
            if snap.positions:  # the enforcer benchmark closes them
                points, done = self.evaluated[snap.account]
                points.append(round((snap.positions[0].price or Decimal(0)) * 100_000))
                done.append(time.monotonic())
            if waiting:
                waiting.discard(snap.account)
                if not waiting:
                    self.ready.set()
            if time.monotonic() - turn > DISPATCH_BUDGET:  # as Service._supervise
                await asyncio.sleep(0)
                turn = time.monotonic()


@dataclass(frozen=True)
class Ticking:
    accounts: int
    ticks: int
    latencies_ms: list[float]
    unseen: int  # ticks no evaluation ever reflected
    cpu_share: float  # riskmon's process CPU time / wall time while ticking
    rss_per_account: float  # bytes: RSS after the run minus before riskmon's side existed, per account

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


def tick_latencies(
    plan: Sequence[tuple[int, int]], sent: Sequence[float], evaluated: dict[str, tuple[array[int], array[float]]]
) -> tuple[list[float], int]:
    """Each tick → the first evaluation of its account valued at its bid or later (bids only fall)."""
    cursor = dict.fromkeys(evaluated, 0)
    latencies, unseen = [], 0
    for (ctid, points), at in zip(plan, sent, strict=True):
        account = str(ctid)
        seen_points, done = evaluated[account]
        i = cursor[account]
        while i < len(seen_points) and (seen_points[i] > points or done[i] < at):
            i += 1
        cursor[account] = i
        if i == len(seen_points):
            unseen += 1
        else:
            latencies.append((done[i] - at) * 1000)
    return latencies, unseen


async def ticking(accounts: int, seconds: float, full: bool = False) -> Ticking:
    """Every account one tick a second for ``seconds``; latencies tick written → snapshot evaluated."""
    async with ServerProcess.start(accounts, INITIAL, Decimal(OPEN_POINTS) / 100_000) as server:
        with tempfile.TemporaryDirectory() as tmp:
            before = rss_bytes()
            async with Riskmon.start(server, accounts, Path(tmp) / "riskmon.db", full=full) as riskmon:
                plan = [
                    (FIRST_CTID + k % accounts, OPEN_POINTS - 1 - k // accounts) for k in range(int(seconds * accounts))
                ]
                cpu, wall = time.process_time(), time.monotonic()
                sent = (await server.call({"cmd": "send", "ticks": plan, "rate": accounts}))["sent"]
                await asyncio.sleep(0.5)  # the last ticks arrive
                cpu_share = (time.process_time() - cpu) / (time.monotonic() - wall)
                rss = (rss_bytes() - before) / accounts
                latencies, unseen = tick_latencies(plan, sent, riskmon.evaluated)
    return Ticking(accounts, len(plan), latencies, unseen, cpu_share, rss)


async def enforcer_latencies(accounts: int, rate: float) -> list[float]:
    """Each account's crossing tick (``rate`` a second, in account order) → its close request at the server."""
    async with ServerProcess.start(accounts, INITIAL, Decimal(OPEN_POINTS) / 100_000) as server:
        with tempfile.TemporaryDirectory() as tmp:
            async with Riskmon.start(server, accounts, Path(tmp) / "riskmon.db", enforce=True):
                plan = [(FIRST_CTID + i, CROSSING_POINTS) for i in range(accounts)]
                sent = (await server.call({"cmd": "send", "ticks": plan, "rate": rate}))["sent"]
                for _ in range(100):  # up to 10 s for the last closes
                    closes = (await server.call({"cmd": "closes"}))["closes"]
                    if len({ctid for ctid, _ in closes}) == accounts:
                        break
                    await asyncio.sleep(0.1)
    first: dict[int, float] = {}
    for ctid, at in closes:
        first.setdefault(ctid, at)
    return [(first[ctid] - at) * 1000 for (ctid, _), at in zip(plan, sent, strict=True) if ctid in first]


async def main(account_counts: list[int], seconds: float, enforcer: bool, as_json: bool, full: bool = False) -> None:
    if enforcer:
        print("| accounts | crossings | closes seen | p50 ms | p99 ms | max ms |\n|---:|---|---:|---:|---:|---:|")
        for accounts, rate, what in ((20, 10.0, "one at a time, 100 ms apart"), (1000, 1000.0, "1,000 within 1 s")):
            ms = await enforcer_latencies(accounts, rate)
            print(
                f"| {accounts:,} | {what} | {len(ms)} | {percentile(ms, 0.5):.2f} | {percentile(ms, 0.99):.2f} "
                f"| {max(ms):.2f} |"
            )
        return
    if not as_json:
        print(HEADER)
    for accounts in account_counts:
        r = await ticking(accounts, seconds, full)
        if as_json:
            print(json.dumps({**asdict(r), "latencies_ms": None, "p50": r.p50, "p99": r.p99}))
            continue
        print(
            f"| {accounts:,} | {r.ticks:,} | {r.unseen} | {r.p50:.2f} | {r.p99:.2f} | {r.cpu_share:.0%} "
            f"| {r.rss_per_account / 1024:.1f} KB |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--enforcer", action="store_true", help="enforcer latency instead of tick latency")
    parser.add_argument("--json", action="store_true", help="one JSON line per account count (benchmarks.run)")
    parser.add_argument("--full", action="store_true", help="no fast path: every snapshot through the whole engine")
    args = parser.parse_args()
    # riskmon logs every enforcement decision as in production, to a sink that costs the formatting only.
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO)  # noqa: SIM115
    asyncio.run(main(args.accounts, args.seconds, args.enforcer, args.json, args.full))
