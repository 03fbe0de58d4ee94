"""Close and cancel outcomes, over the feed's own session."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from riskmon.platforms.base import Outcome
from riskmon.platforms.ctrader import CTraderTrader
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, LOGIN, Running, make_session, next_snapshot

ACCOUNT = str(CTID)


@pytest.fixture
async def trader(server: FakeCTraderServer, running: Callable[..., Running]) -> CTraderTrader:
    run = running()
    await next_snapshot(run.snaps)
    return CTraderTrader(run.session, timeout=0.5)


async def test_full_close_is_done_and_recorded(server: FakeCTraderServer, trader: CTraderTrader) -> None:
    pid = await server.open_position(CTID, "EURUSD", "SELL", lots="0.35", price="1.1")
    result = await trader.close_position(ACCOUNT, str(pid))
    assert result.outcome is Outcome.DONE and result.closed_volume == Decimal("0.35")
    assert pid not in server.positions
    (received,) = server.close_requests
    assert (received.ctid, received.target_id, received.volume) == (CTID, pid, 3_500_000)
    assert received.received_at > 0


async def test_close_by_trader_login_and_oversized_volume_closes_all(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    run = running(make_session(server, accounts=[str(LOGIN)]))
    await next_snapshot(run.snaps)
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    result = await CTraderTrader(run.session).close_position(str(LOGIN), str(pid), Decimal(5))
    assert result.ok and result.closed_volume == Decimal(1)


async def test_market_closed(server: FakeCTraderServer, trader: CTraderTrader) -> None:
    pid = await server.open_position(CTID, "USDJPY", "BUY", lots="1", price="150")
    server.market_closed.add("USDJPY")
    result = await trader.close_position(ACCOUNT, str(pid))
    assert (result.outcome, result.code) == (Outcome.MARKET_CLOSED, "MARKET_CLOSED")
    assert pid in server.positions


async def test_a_holiday_is_market_closed(server: FakeCTraderServer, trader: CTraderTrader) -> None:
    pid = await server.open_position(CTID, "USDJPY", "BUY", lots="1", price="150")
    server.holidays.add("USDJPY")
    result = await trader.close_position(ACCOUNT, str(pid), Decimal("0.5"))
    assert (result.outcome, result.code) == (Outcome.MARKET_CLOSED, "SYMBOL_HAS_HOLIDAY")
    assert server.positions[pid].volume == 10_000_000


async def test_a_rate_limit_is_retried_after_the_servers_retry_after(
    server: FakeCTraderServer, trader: CTraderTrader
) -> None:
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    server.fail_next(2111, "BLOCKED_PAYLOAD_TYPE", retry_after=7)
    result = await trader.close_position(ACCOUNT, str(pid), Decimal("0.5"))
    assert (result.outcome, result.code, result.retry_after) == (Outcome.RETRY, "BLOCKED_PAYLOAD_TYPE", 7.0)
    assert server.positions[pid].volume == 10_000_000


async def test_position_not_found(server: FakeCTraderServer, trader: CTraderTrader) -> None:
    result = await trader.close_position(ACCOUNT, "424242")
    assert (result.outcome, result.code) == (Outcome.NOT_FOUND, "POSITION_NOT_FOUND")
    assert (await trader.close_position(ACCOUNT, "not-a-number")).outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize(
    ("code", "carrier", "outcome"),
    [
        ("POSITION_NOT_FOUND", "error_res", Outcome.NOT_FOUND),  # closed by someone else meanwhile
        ("POSITION_NOT_OPEN", "order_error", Outcome.NOT_FOUND),
        ("TRADING_DISABLED", "order_error", Outcome.TRADING_DISABLED),
        ("TRADING_NOT_ALLOWED", "error_res", Outcome.TRADING_DISABLED),
        ("MARKET_CLOSED", "common", Outcome.MARKET_CLOSED),
        ("NOT_ENOUGH_MONEY", "execution", Outcome.REJECTED),
        # another operation on the position is under way: a fresh snapshot decides before anything is resent
        ("POSITION_LOCKED", "error_res", Outcome.UNKNOWN),
        ("PENDING_EXECUTION", "order_error", Outcome.UNKNOWN),
        ("CONCURRENT_MODIFICATION", "common", Outcome.UNKNOWN),  # "Order is blocked (e.g. under execution)"
        ("SYMBOL_HAS_HOLIDAY", "order_error", Outcome.MARKET_CLOSED),
        ("CANT_ROUTE_REQUEST", "common", Outcome.RETRY),
        ("CHANNEL_IS_BLOCKED", "error_res", Outcome.TRADING_DISABLED),
        ("NO_QUOTES", "order_error", Outcome.RETRY),
        ("REQUEST_FREQUENCY_EXCEEDED", "error_res", Outcome.RETRY),
        ("BLOCKED_PAYLOAD_TYPE", "common", Outcome.RETRY),
        ("TIMEOUT_ERROR", "common", Outcome.RETRY),
        ("SOMETHING_NEW", "error_res", Outcome.UNKNOWN),  # undocumented: verified, never assumed
    ],
)
async def test_close_refusals_map_to_outcomes(
    server: FakeCTraderServer, trader: CTraderTrader, code: str, carrier: str, outcome: Outcome
) -> None:
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    server.fail_next(2111, code, carrier)
    result = await trader.close_position(ACCOUNT, str(pid))
    assert (result.outcome, result.code) == (outcome, code)


async def test_cancel_order(server: FakeCTraderServer, trader: CTraderTrader) -> None:
    oid = server.add_order(CTID, "EURUSD", "BUY", lots="0.1", price="1.0")
    assert (await trader.cancel_order(ACCOUNT, str(oid))).outcome is Outcome.DONE
    assert oid not in server.orders and server.cancel_requests[0].target_id == oid
    again = await trader.cancel_order(ACCOUNT, str(oid))
    assert (again.outcome, again.code) == (Outcome.NOT_FOUND, "ORDER_NOT_FOUND")


async def test_cancel_rejected(server: FakeCTraderServer, trader: CTraderTrader) -> None:
    oid = server.add_order(CTID, "EURUSD", "BUY", lots="0.1", price="1.0")
    server.fail_next(2108, "UNABLE_TO_CANCEL_ORDER", "execution")
    result = await trader.cancel_order(ACCOUNT, str(oid))
    assert (result.outcome, result.code) == (Outcome.REJECTED, "UNABLE_TO_CANCEL_ORDER")


async def test_timeout(server: FakeCTraderServer, running: Callable[..., Running]) -> None:
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    run = running()
    await next_snapshot(run.snaps)
    server.response_delay = 0.3  # slower than the trader waits, quicker than the silence timeout
    result = await CTraderTrader(run.session, timeout=0.2).close_position(ACCOUNT, str(pid))
    assert result.outcome is Outcome.UNKNOWN and run.session.connected


async def test_no_connection(server: FakeCTraderServer) -> None:
    session = make_session(server)  # never started
    result = await CTraderTrader(session).close_position(ACCOUNT, "1")
    assert result.outcome is Outcome.RETRY and "not connected" in result.message


async def test_partial_close_rounds_down_to_whole_volume_steps(
    server: FakeCTraderServer, trader: CTraderTrader
) -> None:
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    result = await trader.close_position(ACCOUNT, str(pid), Decimal("0.3337"))  # step is 0.01 lot
    assert result.ok and result.closed_volume == Decimal("0.33")
    assert server.close_requests[-1].volume == 3_300_000
    tiny = await trader.close_position(ACCOUNT, str(pid), Decimal("0.001"))
    assert (tiny.outcome, tiny.code) == (Outcome.REJECTED, "TRADING_BAD_VOLUME")


async def test_the_fill_without_the_requests_client_msg_id_is_recognised(
    server: FakeCTraderServer, trader: CTraderTrader
) -> None:
    """ORDER_ACCEPTED carries our clientMsgId, ORDER_FILLED need not: the accepted order id ties them."""
    server.fill_client_msg_id = False
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    slow = CTraderTrader(trader._session, timeout=30)  # a missed fill would show as UNKNOWN after 30 s
    result = await slow.close_position(ACCOUNT, str(pid), Decimal("0.25"))
    assert (result.outcome, result.closed_volume) == (Outcome.DONE, Decimal("0.25"))
    assert server.close_requests[-1].client_msg_id is not None


@pytest.mark.parametrize("with_client_msg_id", [True, False])
async def test_a_close_filled_in_several_deals_is_done_with_all_of_them(
    server: FakeCTraderServer, trader: CTraderTrader, with_client_msg_id: bool
) -> None:
    """ProtoOAOrder.executedVolume counts every fill; the last deal's filledVolume is only its own part."""
    server.fill_parts, server.fill_client_msg_id = 3, with_client_msg_id
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.1")
    result = await trader.close_position(ACCOUNT, str(pid))
    assert (result.outcome, result.closed_volume) == (Outcome.DONE, Decimal(1))
    assert pid not in server.positions and len(server.close_requests) == 1


async def twelve_lots_closed_five_at_a_time(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> tuple[int, Running]:
    """A 12-lot position on a symbol whose maxVolume is 5 lots: a close of it is split into 5, 5 and 2."""
    server.add_symbol("XAUUSD", "XAU", "USD", bid="2000.00", ask="2000.50", lot_size=10_000, digits=2, max_lots="5")
    pid = await server.open_position(CTID, "XAUUSD", "SELL", lots="12", price="2010")
    run = running()
    await next_snapshot(run.snaps)
    return pid, run


async def test_a_close_above_max_volume_is_split_into_allowed_closes(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    pid, run = await twelve_lots_closed_five_at_a_time(server, running)
    result = await CTraderTrader(run.session).close_position(ACCOUNT, str(pid))
    assert (result.outcome, result.closed_volume) == (Outcome.DONE, Decimal(12))
    assert [r.volume for r in server.close_requests] == [50_000, 50_000, 20_000]
    assert pid not in server.positions


async def test_a_split_close_rate_limited_midway_keeps_the_servers_retry_after(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    """What was closed is reported, and the wait the server asked for is not lost with the rest."""
    pid, run = await twelve_lots_closed_five_at_a_time(server, running)
    server.fail_next(2111, "BLOCKED_PAYLOAD_TYPE", retry_after=7, after=1)
    result = await CTraderTrader(run.session).close_position(ACCOUNT, str(pid))
    assert (result.outcome, result.closed_volume, result.retry_after) == (Outcome.PARTIAL, Decimal(5), 7.0)


async def test_a_split_close_refused_midway_is_partial(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    pid, run = await twelve_lots_closed_five_at_a_time(server, running)
    server.fail_next(2111, "SYMBOL_HAS_HOLIDAY", "order_error", after=1)  # the second part meets a holiday
    result = await CTraderTrader(run.session).close_position(ACCOUNT, str(pid), Decimal(11))
    assert (result.outcome, result.code, result.closed_volume) == (Outcome.PARTIAL, "SYMBOL_HAS_HOLIDAY", Decimal(5))
    assert server.positions[pid].volume == 70_000, "never more than was closed, never widened"
