"""Tick → snapshot evaluated on ProjectX (SignalR market hub) and TradeLocker (REST polling), on loopback
against the fakes in riskmon's own process and loop.

    python -m benchmarks.platform_tick_latency                  # 1 and 100 accounts, 5 s each
    python -m benchmarks.platform_tick_latency --accounts 10 --seconds 3

ProjectX: every account holds one ES contract; the fake market hub sends ``rate`` GatewayQuotes a second,
each with a bid never sent before. Latency runs from just before the fake writes the quote to just after
``on_snapshot`` returns for each account's snapshot valued at that bid (one quote revalues every account
holding the contract). TradeLocker: the fake's price moves ``rate`` times a second and the feed polls at
the fastest interval the fake's published rate limits allow (0.1 s for one account); the latency is
dominated by where in the poll interval the price moved, which is the point of measuring it.
A price superseded before it was seen is counted as coalesced, not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from pydantic import SecretStr

from benchmarks.ctrader_tick_latency import HEADER, Result
from riskmon.backoff import Backoff
from riskmon.clock import TradingCalendar
from riskmon.models import AccountSnapshot
from riskmon.platforms.projectx.feed import ProjectXFeed
from riskmon.platforms.projectx.gateway import Gateway
from riskmon.platforms.tradelocker.api import TradeLockerApi
from riskmon.platforms.tradelocker.feed import TradeLockerFeed
from tests.fakes.projectx_server import API_KEY, USERNAME, FakeProjectX
from tests.fakes.tradelocker_server import EMAIL, PASSWORD, SERVER, FakeTradeLocker
from tests.platforms.mt5.mt5_support import until

ES = "CON.F.US.EP.Z26"
OnSnapshot = Callable[[AccountSnapshot], object]


async def _consume(
    stream_of: Callable[[], object], accounts: int, on_snapshot: OnSnapshot, sent: dict[Decimal, float]
) -> tuple[asyncio.Task[None], asyncio.Event, list[float], set[tuple[str, Decimal]]]:
    timed: list[float] = []
    seen: set[tuple[str, Decimal]] = set()
    ready: set[str] = set()
    all_ready = asyncio.Event()

    async def consume() -> None:
        async for snap in stream_of():  # type: ignore[attr-defined]
            on_snapshot(snap)
            done = time.perf_counter()
            price = snap.positions[0].price if snap.positions else None
            started = sent.get(price) if price is not None else None
            if started is not None and (snap.account, price) not in seen:
                seen.add((snap.account, price))
                timed.append(done - started)
            ready.add(snap.account)
            if len(ready) == accounts:
                all_ready.set()

    return asyncio.create_task(consume()), all_ready, timed, seen


async def projectx(accounts: int, seconds: float, rate: float = 10.0, on_snapshot: OnSnapshot = lambda s: None):
    async with FakeProjectX(ping_interval=5.0) as fake:
        fake.add_contract(ES, "ESZ6", "0.25", "12.5", "6000.00")
        for n in range(accounts):
            fake.add_account(5000 + n, f"BENCH-{n}", "50000")
            await fake.open_position(5000 + n, ES, long=True, size=1, price="6000.00")
        gateway = Gateway(fake.api_url, USERNAME, SecretStr(API_KEY))
        feed = ProjectXFeed(
            gateway,
            {str(5000 + n): TradingCalendar.of("America/Chicago", "17:00") for n in range(accounts)},
            user_hub_url=f"{fake.rtc_url}/hubs/user",
            market_hub_url=f"{fake.rtc_url}/hubs/market",
            keepalive_interval=60,
            reconcile_interval=3600,
        )
        sent: dict[Decimal, float] = {}
        task, ready, timed, _ = await _consume(feed.snapshots, accounts, on_snapshot, sent)
        try:
            await asyncio.wait_for(ready.wait(), 60)
            await until(lambda: ("SubscribeContractQuotes", ES) in fake.subscriptions("market"))
            ticks = int(seconds * rate)
            start = time.perf_counter()
            for n in range(ticks):
                bid = Decimal("6000.00") - Decimal("0.25") * (n + 1)
                sent[bid] = time.perf_counter()
                await fake.set_price(ES, bid=bid)
                await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.perf_counter()))
            await asyncio.sleep(0.3)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await feed.aclose()
    return Result(accounts, ticks * accounts, timed)


async def tradelocker(accounts: int, seconds: float, rate: float = 10.0, on_snapshot: OnSnapshot = lambda s: None):
    async with FakeTradeLocker() as fake:
        fake.add_instrument(11, "EURUSD", "1.10000", "1.10010")
        ids = [551000 + n for n in range(accounts)]
        for n, account in enumerate(ids):
            fake.add_account(account, n + 1, "100000")
            fake.open_position(account, 11, buy=True, qty="1", price="1.10000")
        api = TradeLockerApi(fake.base_url, EMAIL, SecretStr(PASSWORD), SERVER)
        feed = TradeLockerFeed(api, [str(a) for a in ids], poll_interval=0.0, backoff=Backoff(0.1, 1.0))
        sent: dict[Decimal, float] = {}
        # TradeLocker positions carry no price: the fake's unrealised P&L at each bid stands in for it
        task, ready, timed, _ = await _consume(lambda: _priced(feed, fake), accounts, on_snapshot, sent)
        try:
            await asyncio.wait_for(ready.wait(), 60)
            ticks = int(seconds * rate)
            start = time.perf_counter()
            for n in range(ticks):
                bid = Decimal("1.10000") - Decimal("0.00001") * (n + 1)
                fake.set_price(11, bid=bid, ask=bid + Decimal("0.0001"))
                sent[bid] = time.perf_counter()
                await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.perf_counter()))
            await asyncio.sleep(feed.poll_interval * 2 + 0.2)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await feed.aclose()
    return Result(accounts, ticks * accounts, timed), feed.poll_interval


async def _priced(feed: TradeLockerFeed, fake: FakeTradeLocker):  # type: ignore[no-untyped-def]
    """The feed's snapshots with each position's price read back from its unrealised P&L (1 lot long)."""
    from dataclasses import replace

    async for snap in feed.snapshots():
        positions = tuple(
            replace(p, price=(Decimal("1.10000") + p.unrealized_pnl / 100_000).quantize(Decimal("0.00001")))
            for p in snap.positions
        )
        yield replace(snap, positions=positions)


async def main(accounts: Sequence[int], seconds: float) -> None:
    print(f"ProjectX quote → snapshot, loopback, 10 quotes/s on one contract, {seconds:g} s per run\n")
    print(HEADER)
    for n in accounts:
        print((await projectx(n, seconds)).row())
    print(f"\nTradeLocker price move → polled snapshot, loopback, 10 moves/s, {seconds:g} s per run\n")
    print(HEADER)
    for n in accounts:
        result, interval = await tradelocker(n, seconds)
        print(result.row(), f"(poll every {interval:g} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.seconds))
