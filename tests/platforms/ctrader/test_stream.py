"""Stream mode: equity from ticks against the server's own figures, across currencies."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from riskmon.models import Side
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, NUMERIC, Running, next_snapshot


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"))


@pytest.mark.parametrize("server", [{}, NUMERIC], ids=["names-and-strings", "numbers"], indirect=True)
async def test_equity_from_ticks_matches_server_across_currencies(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    await server.open_position(CTID, "EURGBP", "BUY", lots="1.5", price="0.85500", swap="-3.20", commission="-7.5")
    await server.open_position(CTID, "USDJPY", "SELL", lots="0.7", price="151.250", margin="140")
    await server.open_position(CTID, "EURUSD", "SELL", lots="0.3", price="1.09000")
    run = running()
    snap = await next_snapshot(run.snaps, lambda s: len(s.positions) == 3)
    assert snap.account == str(CTID) and snap.currency == "USD" and snap.platform == "ctrader"
    for bid, ask in [("0.86123", "0.86135"), ("0.85987", None), (None, "0.86001")]:
        await server.set_price("EURGBP", bid=bid, ask=ask)
        await server.set_price("GBPUSD", bid="1.2" + (bid or ask or "0")[-4:])
        await server.set_price("USDJPY", bid="149.873", ask="149.891")
        expected = server.equity(CTID)
        snap = await next_snapshot(run.snaps, lambda s, e=expected: cents(s.equity) == cents(e))  # type: ignore[misc]
    assert cents(snap.equity) == cents(server.equity(CTID))
    by_symbol = {p.symbol: p for p in snap.positions}
    eurgbp = by_symbol["EURGBP"]
    assert eurgbp.side is Side.BUY and eurgbp.volume == Decimal("1.5")
    assert eurgbp.price == server.symbol("EURGBP").bid  # a BUY is valued at the bid
    assert by_symbol["USDJPY"].price == server.symbol("USDJPY").ask  # a SELL at the ask
    assert eurgbp.swap == Decimal("-3.20") and eurgbp.commission == Decimal("-7.50")
    unrealized = server.unrealized(CTID)
    assert sorted(p.unrealized_pnl for p in snap.positions) == sorted(g for g, _ in unrealized.values())
    assert by_symbol["USDJPY"].notional == Decimal("70000.00")  # 70,000 USD base units
    assert snap.margin == Decimal("140.00")
    assert snap.leverage == Decimal(100)
    assert snap.balance == Decimal("10000.00")


async def test_events_apply_at_once(server: FakeCTraderServer, running: Callable[..., Running]) -> None:
    run = running()
    snap = await next_snapshot(run.snaps)
    assert snap.positions == ()
    pid = await server.open_position(CTID, "EURGBP", "SELL", lots="2", price="0.86100")
    snap = await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    assert snap.positions[0].id == str(pid) and snap.positions[0].volume == Decimal(2)
    # the new symbol and its conversion symbol get subscribed: ticks now move equity
    await server.set_price("GBPUSD", bid="1.30000", ask="1.30020")
    await server.set_price("EURGBP", bid="0.85000", ask="0.85010")
    expected = server.equity(CTID)
    snap = await next_snapshot(run.snaps, lambda s: s.equity == expected)
    await server.deposit(CTID, "250.50")
    snap = await next_snapshot(run.snaps, lambda s: s.balance == Decimal("10250.50"))
    assert snap.equity == server.equity(CTID)
    await server.set_margin(pid, "333.33")
    snap = await next_snapshot(run.snaps, lambda s: s.margin == Decimal("333.33"))


async def test_partial_and_full_close_update_balance_and_realized(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    from riskmon.platforms.ctrader import CTraderTrader

    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09000", commission="-6")
    run = running()
    await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    trader = CTraderTrader(run.session)
    result = await trader.close_position(str(CTID), str(pid), Decimal("0.4"))
    assert result.ok and result.closed_volume == Decimal("0.4")
    snap = await next_snapshot(run.snaps, lambda s: bool(s.positions) and s.positions[0].volume == Decimal("0.6"))
    # 0.4 lot × (1.10000 - 1.09000) = 400 USD gross; 40 % of the opening commission and as much to close
    assert snap.realized_today == Decimal("400.00") + Decimal("-2.40") * 2
    assert snap.balance == server.balance(CTID) == Decimal("10395.20")
    assert snap.equity == server.equity(CTID)
    result = await trader.close_position(str(CTID), str(pid))
    assert result.ok and result.closed_volume == Decimal("0.6")
    snap = await next_snapshot(run.snaps, lambda s: not s.positions)
    assert snap.balance == snap.equity == server.equity(CTID) == Decimal("10988.00")
    assert snap.realized_today == Decimal("988.00") == snap.balance - Decimal("10000.00")  # what the balance moved


async def test_reconcile_corrects_drift(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: object
) -> None:
    import logging

    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09000")
    run = running(reconcile_interval=0.1)
    await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    # the server's price moves without a SpotEvent reaching us (a missed tick)
    server.symbol("EURUSD").bid = Decimal("1.12000")
    with caplog.at_level(logging.INFO, logger="riskmon.platforms.ctrader"):  # type: ignore[attr-defined]
        snap = await next_snapshot(run.snaps, lambda s: s.equity == server.equity(CTID))
    assert snap.equity == Decimal("13000.00")
    assert any("drift 2000.00 USD corrected" in r.getMessage() for r in caplog.records)  # type: ignore[attr-defined]


@pytest.mark.parametrize("server", [{}, NUMERIC], ids=["names-and-strings", "numbers"], indirect=True)
async def test_swap_and_leverage_updates(server: FakeCTraderServer, running: Callable[..., Running]) -> None:
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running()
    await next_snapshot(run.snaps)
    await server.charge_swap(pid, "-12.34")
    snap = await next_snapshot(run.snaps, lambda s: s.positions[0].swap == Decimal("-12.34"))
    assert snap.equity == server.equity(CTID) == Decimal("10987.66")
    await server.set_leverage(CTID, 30)
    snap = await next_snapshot(run.snaps, lambda s: s.leverage == Decimal(30))
    assert snap.equity == server.equity(CTID)


async def test_execution_during_a_load_is_not_undone_by_it(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    import asyncio

    server.response_delay = 0.05
    run = running()
    first = asyncio.create_task(next_snapshot(run.snaps))
    await server.received(2124)  # the reconcile has been asked for …
    await asyncio.sleep(0.08)  # … and answered, without the position about to open
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    snap = await first
    assert [p.id for p in snap.positions] == [str(pid)]
    server.response_delay = 0


async def test_realized_today_restarts_at_the_trading_day_boundary(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    from datetime import UTC, datetime

    from riskmon.clock import ManualClock
    from riskmon.platforms.ctrader import CTraderTrader

    clock = ManualClock(datetime(2026, 11, 20, 23, 50, tzinfo=UTC))
    server.clock = clock
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running(clock=clock)
    await next_snapshot(run.snaps)
    assert (await CTraderTrader(run.session).close_position(str(CTID), str(pid), Decimal("0.5"))).ok
    snap = await next_snapshot(run.snaps, lambda s: s.realized_today == Decimal("500.00"))
    clock.advance(15 * 60)  # 00:05 the next day (UTC calendar)
    await server.set_price("EURUSD", bid="1.10500")
    snap = await next_snapshot(run.snaps, lambda s: s.positions[0].price == Decimal("1.105"))
    assert snap.realized_today == 0 and snap.balance == Decimal("10500.00")
