"""Loads after a (re)connect spend the rate limits on what matters first (issue 15, finding 4).

Every load waits for cTrader's limits (5 history requests a second), so with many accounts the order is
the difference between watching the account about to breach now or minutes later. The feed loads the
accounts riskmon knows nothing of first, then the closest to a floor; a book reloaded after a reconnect
comes back without its deal history, which is read again only once every book is back. Accounts are
authorised in the same order, each ready to load as soon as it is: at 50 requests a second, authorising
1,000 accounts alone takes 20 s.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from riskmon.platforms.base import Prioritised
from riskmon.platforms.ctrader import CTraderFeed
from riskmon.platforms.ctrader.codec import PT
from riskmon.platforms.ctrader.limits import NeedLimiter
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CALENDAR, Running, build_server, make_session, next_snapshot

FIRST = 5000
# Room left per account, in configuration order: the order the loads must NOT follow.
ROOM: dict[int, Decimal | None] = {
    FIRST + 0: Decimal("0.9"),
    FIRST + 1: Decimal("0.5"),
    FIRST + 2: None,  # nothing known: first
    FIRST + 3: Decimal("0.05"),
    FIRST + 4: Decimal("1"),
    FIRST + 5: Decimal("-0.1"),  # beyond the floor already
    FIRST + 6: Decimal("0.3"),
    FIRST + 7: Decimal("0.7"),
    FIRST + 8: Decimal("0.2"),
    FIRST + 9: Decimal("0.6"),
}
BY_NEED = [FIRST + 2, FIRST + 5, FIRST + 3, FIRST + 8, FIRST + 6, FIRST + 1, FIRST + 9, FIRST + 7, FIRST + 0, FIRST + 4]


async def many_accounts() -> FakeCTraderServer:
    server = build_server()
    for ctid in ROOM:
        server.add_account(ctid=ctid, login=ctid + 10_000, balance="10000")
        await server.open_position(ctid, "EURUSD", "BUY", lots="0.1", price="1.1")
    return server


def loads_since(server: FakeCTraderServer, start: int, payload_type: int) -> list[int]:
    return [ctid for pt, ctid in server.account_requests[start:] if pt == payload_type]


async def test_loads_go_by_need_at_start_up_and_after_a_reconnect() -> None:
    async with await many_accounts() as server:
        session = make_session(server, [str(c) for c in ROOM])
        feed = CTraderFeed(session, calendar=CALENDAR, reconcile_interval=3600)
        assert isinstance(feed, Prioritised)
        feed.prioritise(lambda account: ROOM[int(account)])
        run = Running(session, feed)
        try:
            seen: set[str] = set()
            while len(seen) < len(ROOM):
                seen.add((await next_snapshot(run.snaps, lambda s: not s.keepalive)).account)
            assert loads_since(server, 0, PT.ACCOUNT_AUTH_REQ) == BY_NEED  # authorised by need ...
            assert loads_since(server, 0, PT.TRADER_REQ) == BY_NEED  # ... and loaded by need

            mark = len(server.account_requests)
            reloaded = server.connections_opened
            await server.drop_connections()
            await next_snapshot(run.snaps, lambda s: server.connections_opened > reloaded and session.connected)
            seen.clear()
            while len(seen) < len(ROOM):
                seen.add((await next_snapshot(run.snaps, lambda s: not s.keepalive)).account)
            assert loads_since(server, mark, PT.ACCOUNT_AUTH_REQ) == BY_NEED
            book_loads = list(dict.fromkeys(loads_since(server, mark, PT.TRADER_REQ)))  # each account's first
            assert book_loads == BY_NEED  # every book back by need ...
            while len(loads_since(server, mark, PT.DEAL_LIST_REQ)) < len(ROOM):
                await next_snapshot(run.snaps)
            assert loads_since(server, mark, PT.DEAL_LIST_REQ) == BY_NEED  # then the history, by need too
        finally:
            await run.aclose()


async def test_the_rate_limit_serves_the_most_urgent_waiting_request_first() -> None:
    """Whoever asked first: at the limit, the request of the account closest to its floor goes next; equal
    needs keep their order; a waiter that gives up (cancelled) never blocks the others."""
    limiter = NeedLimiter(rate=1, period=0.05)
    await limiter.acquire()  # the bucket is full: the next ones wait for the pace
    served: list[str] = []

    async def ask(name: str, need: float) -> None:
        await limiter.acquire(need)
        served.append(name)

    paced = asyncio.create_task(ask("paced", 5.0))  # alone when it came: it is the one the limiter paces
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(ask(name, need)) for name, need in (("a", 0.9), ("b", 0.1), ("c", 0.5), ("d", 0.1))]
    quitter = asyncio.create_task(ask("quitter", -1.0))
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.gather(paced, *waiting)
    assert served == ["paced", "b", "d", "c", "a"]
