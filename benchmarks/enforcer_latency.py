"""Enforcer latency: from the tick that crosses the emergency buffer to the close request at the trader.

    python -m benchmarks.enforcer_latency [--runs 100] [--accounts 1,1000]

The clock starts when the crossing snapshot enters ``AccountMonitor.process`` and stops when the
trader receives the first close for that account: engine, enforcer hand-off, planning, the keyed
record written to SQLite (a real file) and the call. The trader is pluggable (``make_trader``): the
simulator by default; wrap any ``Trader`` (the fake cTrader server's, say) the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from riskmon.enforce import Enforcer, Mode, Policy
from riskmon.monitor import AccountMonitor
from riskmon.platforms.base import ActionResult, Trader
from riskmon.platforms.sim import SimMarket, SimTrader
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import Store

INITIAL = Decimal(100000)
PROFILE_BOOK = PRESETS["ftmo-2step"].rulebook()
POLICY = Policy(mode=Mode.LIVE, flatten_at_used=Decimal("0.9"))
WARM_EQUITY = INITIAL - Decimal(3800)  # start watching a little before 80% of the 5,000 allowance is used


class StampingTrader:
    """Notes when the first close for each account arrives, then passes the request on."""

    def __init__(self, inner: Trader) -> None:
        self.inner = inner
        self.first_close: dict[str, float] = {}

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        self.first_close.setdefault(account, time.perf_counter())
        return await self.inner.close_position(account, position_id, volume)

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        return await self.inner.cancel_order(account, order_id)


async def crossing_latencies(
    accounts: int, db: Path, make_trader: Callable[[SimMarket], Trader] = SimTrader, interleave: bool = False
) -> list[float]:
    """One sample per account: seconds from its crossing tick to its first close request.

    Every account ticks at once (a burst, as ``Service`` dispatches a simulator round); with
    ``interleave`` the dispatcher yields to the event loop after each snapshot, as a streaming feed does.
    """
    names = [f"acc-{n}" for n in range(accounts)]
    market = SimMarket(names)
    trader = StampingTrader(make_trader(market))
    store = Store(db)
    enforcer = Enforcer(store, {name: POLICY for name in names}, lambda _: trader)
    monitors = [
        AccountMonitor(AccountProfile(name, PROFILE_BOOK, initial_balance=INITIAL), store, [enforcer]) for name in names
    ]
    while min(market.snapshot(name).equity for name in names[:4]) > WARM_EQUITY:
        market.step()  # walk towards the buffer unobserved: the benchmark is about the crossing tick
    runner = asyncio.create_task(enforcer.run())
    crossed: dict[str, float] = {}
    try:
        while len(trader.first_close) < accounts:
            market.step()
            for monitor in monitors:
                started = time.perf_counter()
                evaluation = monitor.process(market.snapshot(monitor.profile.account))
                daily = evaluation.result("daily_loss")
                if daily and daily.used is not None and daily.used >= POLICY.flatten_at_used:
                    crossed.setdefault(monitor.profile.account, started)
                if interleave:
                    await asyncio.sleep(0)
            for name in names:
                await enforcer.settle(name)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        store.close()
    return [trader.first_close[name] - crossed[name] for name in names]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main(account_counts: list[int], runs: int) -> None:
    print("| accounts | dispatch | samples | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---:|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for count in account_counts:
            for interleave in (False, True) if count > 1 else (False,):
                samples: list[float] = []
                for run in range(max(1, runs // count)):
                    db = Path(tmp) / f"bench-{count}-{interleave}-{run}.db"
                    samples += await crossing_latencies(count, db, interleave=interleave)
                ms = [s * 1000 for s in samples]
                dispatch = "yield per snapshot" if interleave else "burst"
                print(
                    f"| {count:,} | {dispatch} | {len(ms)} | {statistics.median(ms):.2f} "
                    f"| {percentile(ms, 0.99):.2f} | {max(ms):.2f} |"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="1,1000", help="comma-separated account counts")
    parser.add_argument("--runs", type=int, default=100, help="samples wanted per row (1 account: repeated runs)")
    args = parser.parse_args()
    # The enforcer logs every decision as in production, to a sink that costs the formatting only.
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO)  # noqa: SIM115
    asyncio.run(main([int(n) for n in args.accounts.split(",")], args.runs))
