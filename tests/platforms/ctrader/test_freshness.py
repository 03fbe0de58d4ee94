"""Which cTrader snapshots are fresh data: news, or a quiet book the live stream vouches for (issue 15)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from riskmon.platforms.ctrader.codec import PT
from tests.fakes.ctrader_server import FakeCTraderServer
from tests.faults.harness import eventually

from .conftest import CALENDAR, CTID, Running, make_session, next_snapshot


async def test_a_quiet_book_on_a_live_stream_is_fresh(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    run = running(keepalive_interval=0.3)
    first = await next_snapshot(run.snaps)
    assert not first.keepalive  # the load is news
    for _ in range(3):  # nothing happens; the server's heartbeats flow on the connection the book is synced on
        assert not (await next_snapshot(run.snaps)).keepalive


async def test_a_book_frozen_since_a_reconnect_is_only_a_keepalive(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    run = running(keepalive_interval=0.2, reconcile_interval=3600)
    assert not (await next_snapshot(run.snaps)).keepalive
    server.fail_next(PT.TRADER_REQ, "INTERNAL_ERROR")  # the reload after the reconnect fails
    await server.drop_connections()
    await next_snapshot(run.snaps, lambda s: run.session.reconnects > 0 and run.session.connected)
    resent = await next_snapshot(run.snaps)
    assert resent.keepalive  # heartbeats flow, but the book missed what happened while the link was down
    assert (await next_snapshot(run.snaps)).keepalive


async def test_a_silent_server_makes_keepalives_not_fresh() -> None:
    from riskmon.platforms.ctrader import CTraderFeed

    from .conftest import build_server

    async with build_server(heartbeat_interval=None) as server:
        session = make_session(server)
        run = Running(session, CTraderFeed(session, calendar=CALENDAR, keepalive_interval=0.1))
        try:
            assert not (await next_snapshot(run.snaps)).keepalive
            assert (await next_snapshot(run.snaps, lambda s: s.keepalive)).account == str(CTID)
        finally:
            await run.aclose()


async def test_a_dip_and_its_recovery_between_two_takes_are_both_handed_over(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    """A consumer slower than the ticks gets the latest state, but never loses a fall: the dip (a loss
    crossing a floor for a moment) comes first, then the recovery (issue 15: 17 of 50 crossings were lost
    to coalescing while the event loop was held)."""
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
    run = running(keepalive_interval=3600, reconcile_interval=3600)
    loaded = await next_snapshot(run.snaps)
    book = run.feed.books[str(CTID)]

    async def applied(equity: Callable[[Decimal], bool]) -> None:
        await eventually(lambda: equity(book.equity), within=3, what="the tick applied to the book")

    await server.set_price("EURUSD", bid="1.09000", ask="1.09010")  # -1,000 on the lot, nobody takes it yet
    await applied(lambda e: e < loaded.equity)
    dip = book.equity
    await server.set_price("EURUSD", bid="1.09500", ask="1.09510")  # -500: a partial recovery
    await applied(lambda e: e > dip)
    await server.set_price("EURUSD", bid="1.08800", ask="1.08810")  # a deeper dip ...
    await applied(lambda e: e < dip)
    deeper = book.equity
    await server.set_price("EURUSD", bid="1.10500", ask="1.10510")  # ... and a full recovery
    await applied(lambda e: e > loaded.equity)
    handed = [await next_snapshot(run.snaps), await next_snapshot(run.snaps)]
    assert [s.equity for s in handed] == [deeper, book.equity]  # the lowest, then the latest
    assert not any(s.keepalive for s in handed) and handed[0].ts <= handed[1].ts
