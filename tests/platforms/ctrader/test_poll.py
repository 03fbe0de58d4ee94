"""Poll mode and one-shot snapshots: the server's own figures, account ids as configured."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from riskmon.clock import ManualClock
from riskmon.models import AccountSnapshot
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, LOGIN, Running, make_session, next_snapshot

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


async def test_poll_snapshot_equals_server_figures(server: FakeCTraderServer, running: Callable[..., Running]) -> None:
    clock = ManualClock(NOW)
    server.clock = clock
    eurgbp = await server.open_position(
        CTID, "EURGBP", "BUY", lots="1", price="0.85", swap="-1.5", commission="-3", margin="200"
    )
    usdjpy = await server.open_position(CTID, "USDJPY", "SELL", lots="0.25", price="149.5", margin="50.25")
    server.add_order(CTID, "EURUSD", "BUY", lots="0.1", kind="LIMIT", price="1.05")
    server.add_deal(CTID, when=NOW - timedelta(hours=2), gross="120.00", swap="-1.10", commission="-4.00")
    server.add_deal(CTID, when=NOW - timedelta(days=1), gross="999.00")  # yesterday: not today's
    run = running(mode="poll", poll_interval=0.05, clock=clock)
    snap = await next_snapshot(run.snaps)
    assert snap.balance == server.balance(CTID)
    assert snap.equity == server.equity(CTID)
    assert snap.margin == server.margin(CTID) == Decimal("250.25")
    assert snap.realized_today == Decimal("114.90")
    assert snap.received_at == NOW and snap.ts == NOW
    assert {p.symbol: p.unrealized_pnl for p in snap.positions} == {
        "EURGBP": server.unrealized(CTID)[eurgbp][0],
        "USDJPY": server.unrealized(CTID)[usdjpy][0],
    }
    (order,) = snap.orders
    assert (order.symbol, order.volume, order.kind, order.price) == (
        "EURUSD",
        Decimal("0.1"),
        "limit",
        Decimal("1.05"),
    )
    # polling follows the server without any SpotEvent reaching the account's valuation
    server.symbol("EURGBP").bid = Decimal("0.90000")
    snap = await next_snapshot(run.snaps, lambda s: s.equity == server.equity(CTID))
    assert snap.equity > Decimal("10000")


async def test_account_configured_by_trader_login(server: FakeCTraderServer, running: Callable[..., Running]) -> None:
    server.add_account(ctid=2002, login=8002, currency="EUR", balance="5000")
    run = running(make_session(server, accounts=[str(LOGIN), "2002"]))
    seen: dict[str, AccountSnapshot] = {}
    while len(seen) < 2:
        snap = await next_snapshot(run.snaps)
        seen[snap.account] = snap
    assert seen[str(LOGIN)].balance == Decimal("10000.00") and seen[str(LOGIN)].currency == "USD"
    assert seen["2002"].balance == Decimal("5000.00") and seen["2002"].currency == "EUR"


async def test_unknown_account_is_an_authentication_error(server: FakeCTraderServer) -> None:
    import pytest

    from riskmon.errors import AuthenticationError

    session = make_session(server, accounts=["999"])
    with pytest.raises(AuthenticationError, match="999"):
        await session.start()
    await session.close()


async def test_demo_account_on_the_live_host_is_refused_clearly(server: FakeCTraderServer) -> None:
    import pytest

    from riskmon.errors import AuthenticationError
    from riskmon.platforms.ctrader import LIVE_HOST, endpoint_url
    from riskmon.platforms.ctrader.transport import Connection, websocket_connect

    async def to_fake(url: str) -> Connection:  # the live address, answered by the fake on loopback
        return await websocket_connect(server.url)

    session = make_session(server, url=endpoint_url(LIVE_HOST), connect=to_fake)
    with pytest.raises(AuthenticationError, match=r"demo account: connect to demo\.ctraderapi\.com"):
        await session.start()
    await session.close()
