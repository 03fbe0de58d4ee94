"""Tick → snapshot latency of the cTrader feed, on loopback against the fake Open API server.

    python -m benchmarks.ctrader_tick_latency                 # 1 and 1,000 accounts, 10 s each
    python -m benchmarks.ctrader_tick_latency --accounts 50 --seconds 5

Every account holds one EURUSD position on one shared connection; the fake server sends each account one
SpotEvent per second, spread evenly over the second, each with a bid never used before by that account.
Latency runs from just before the server writes the frame to just after ``on_snapshot`` returns for the
snapshot valued at that bid: plug the rule engine in as ``on_snapshot`` to measure tick → evaluated.
A tick superseded before the consumer took its account's snapshot is counted as coalesced, not timed.
The server runs in the same process and event loop, and does not enforce cTrader's rate limits, so the
client's limits are raised for the set-up of 1,000 accounts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import SecretStr

from riskmon.clock import TradingCalendar
from riskmon.models import AccountSnapshot
from riskmon.platforms.ctrader import CTraderFeed, CTraderSession, Timings, Tokens
from tests.fakes.ctrader_server import FakeCTraderServer

FIRST_CTID = 100_000
BASE_BID = 110_000  # 1.10000 in spot units


@dataclass(frozen=True, slots=True)
class Result:
    accounts: int
    ticks: int
    timed: list[float]  # seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.timed)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    def row(self) -> str:
        coalesced = self.ticks - len(self.timed)
        mean = statistics.fmean(self.timed) * 1000
        return (
            f"| {self.accounts:,} | {self.ticks:,} | {coalesced:,} | {self.percentile(0.5):.3f} | "
            f"{self.percentile(0.99):.3f} | {mean:.3f} | {max(self.timed) * 1000:.3f} |"
        )


HEADER = "| accounts | ticks | coalesced | p50 ms | p99 ms | mean ms | max ms |\n|---:|---:|---:|---:|---:|---:|---:|"


async def measure(
    accounts: int, seconds: float, on_snapshot: Callable[[AccountSnapshot], object] = lambda snap: None
) -> Result:
    server = FakeCTraderServer(check_frames=False)  # the tests check every frame; here it would add to the latency
    server.add_symbol("EURUSD", "EUR", "USD", bid="1.10000", ask="1.10010")
    ctids = [FIRST_CTID + i for i in range(accounts)]
    for ctid in ctids:
        server.add_account(ctid=ctid, login=ctid + 1_000_000)
        await server.open_position(ctid, "EURUSD", "BUY", lots="1", price="1.09")
    async with server:
        session = CTraderSession(
            client_id=server.client_id,
            client_secret=SecretStr(server.client_secret),
            tokens=Tokens(SecretStr(server.access_token), SecretStr(server.refresh_token)),
            accounts=[str(c) for c in ctids],
            url=server.url,
            timings=Timings(request_timeout=60),
            rate_limit=100_000,
            history_rate_limit=100_000,
        )
        feed = CTraderFeed(session, calendar=TradingCalendar.of("UTC"))
        sent: dict[tuple[str, Decimal], float] = {}
        timed: list[float] = []
        ready: set[str] = set()
        all_ready = asyncio.Event()

        async def consume() -> None:
            async for snap in feed.snapshots():
                on_snapshot(snap)
                done = time.perf_counter()
                started = sent.pop((snap.account, snap.positions[0].price or Decimal(0)), None)
                if started is not None:
                    timed.append(done - started)
                ready.add(snap.account)
                if len(ready) == accounts:
                    all_ready.set()

        consumer = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(all_ready.wait(), timeout=120)
            ticks = await _send_ticks(server, ctids, seconds, sent)
            await asyncio.sleep(0.2)  # let the last ticks arrive
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            await session.close()
    return Result(accounts, ticks, timed)


async def _send_ticks(
    server: FakeCTraderServer, ctids: Sequence[int], seconds: float, sent: dict[tuple[str, Decimal], float]
) -> int:
    """One tick per account per second, evenly spread; returns the number sent."""
    interval = 1 / len(ctids)
    total = int(seconds * len(ctids))
    start = time.perf_counter()
    n = 0
    while n < total:
        due = min(total, int((time.perf_counter() - start) / interval) + 1)
        while n < due:
            ctid = ctids[n % len(ctids)]
            raw_bid = BASE_BID + 1 + n // len(ctids)
            bid = Decimal(raw_bid) / 100_000
            key = (str(ctid), bid)
            sent[key] = time.perf_counter()
            await server.send_spot(ctid, "EURUSD", bid=bid, ask=bid + Decimal("0.0001"))
            n += 1
        await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
    return total


async def main(accounts: Sequence[int], seconds: float) -> None:
    rows = [(await measure(n, seconds)).row() for n in accounts]
    print(f"cTrader tick → snapshot latency, loopback, 1 tick/s/account, {seconds:g} s per run\n")
    print(HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.seconds))
