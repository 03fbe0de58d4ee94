"""Which cTrader snapshots are fresh data: news, or a quiet book the live stream vouches for (issue 15)."""

from __future__ import annotations

from collections.abc import Callable

from riskmon.platforms.ctrader.codec import PT
from tests.fakes.ctrader_server import FakeCTraderServer

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
