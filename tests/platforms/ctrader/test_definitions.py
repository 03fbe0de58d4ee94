"""The cTrader client as Spotware's definitions describe the server, one test per point of issue 13.

Every frame in these tests (and in every other test on the fake server) is checked against the official
message classes by the fake itself (tests/fakes/ctrader_schema.py): the test fails at teardown otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from riskmon.clock import ManualClock
from riskmon.errors import ProtocolError
from riskmon.platforms.ctrader import CTraderTrader
from riskmon.platforms.ctrader.api import fetch_realized
from tests.fakes.ctrader_schema import check_frame
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, LOGIN, Running, build_server, make_session, next_snapshot

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
DAY = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.mark.parametrize("fill_parts", [1, 2])
async def test_opening_commission_is_not_realised_until_the_close(
    server: FakeCTraderServer, running: Callable[..., Running], fill_parts: int
) -> None:
    """Open and close the same day at 3.50 per side on a 100.00 gain: the balance moves 93.00, and so
    does realized_today, rebuilt from the deal history after a restart as well as live (also when the
    close is filled in several deals, each with its own closePositionDetail)."""
    server.fill_parts = fill_parts
    clock = ManualClock(NOW)
    server.clock = clock
    await server.set_price("EURUSD", bid="1.10000", ask="1.10010")
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="0.1", price="1.09000", commission="-3.50")
    run = running(clock=clock)
    await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    result = await CTraderTrader(run.session).close_position(str(CTID), str(pid))
    assert result.ok
    live = await next_snapshot(run.snaps, lambda s: not s.positions)
    assert live.balance - Decimal("10000.00") == Decimal("93.00") == live.realized_today
    rebuilt = await next_snapshot(running(clock=clock).snaps)  # a new feed: from DealList alone
    assert rebuilt.realized_today == Decimal("93.00")


async def test_deal_history_with_only_an_opening_deal_realises_nothing(server: FakeCTraderServer) -> None:
    server.add_deal(CTID, when=NOW, gross=0, commission="-3.50", opening=True)
    session = make_session(server)
    await session.start()
    assert await fetch_realized(session, CTID, DAY, NOW + timedelta(hours=1), 2) == 0
    await session.close()


@pytest.mark.parametrize("order", ["oldest_first", "newest_first", "shuffled"])
async def test_deal_paging_finds_every_deal_whatever_the_page_order(server: FakeCTraderServer, order: str) -> None:
    """hasMore promises only that more deals match: not which came, nor their order."""
    for minute in range(23):
        when = NOW - timedelta(minutes=minute % 11)  # several deals share a millisecond
        server.add_deal(CTID, when=when, gross=Decimal(minute + 1))
    server.deal_order, server.max_deal_rows = order, 4
    session = make_session(server)
    await session.start()
    total = await fetch_realized(session, CTID, DAY, NOW + timedelta(hours=1), 2)
    assert total == sum(Decimal(n) for n in range(1, 24))  # 276, each deal once
    await session.close()


async def test_deal_paging_that_cannot_progress_is_an_error_not_a_loop(server: FakeCTraderServer) -> None:
    """More deals in one millisecond than a page holds: no window can split them. Said, not looped."""
    for _ in range(3):
        server.add_deal(CTID, when=NOW, gross=1)
    server.max_deal_rows = 2
    session = make_session(server)
    await session.start()
    with pytest.raises(ProtocolError, match="returned no new one"):
        await fetch_realized(session, CTID, DAY, NOW, 2)
    await session.close()


@pytest.mark.parametrize("digits", [0, 2, 8])
async def test_payloads_without_money_digits_use_the_accounts_own(running: Callable[..., Running], digits: int) -> None:
    async with build_server() as server:
        server.accounts.clear()
        server.add_account(ctid=CTID, login=LOGIN, currency="USD", balance="10000", money_digits=digits)
        server.omit_money_digits = True  # positions, deals, margin and cash events leave them out
        pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09", swap="-3", margin="100")
        run = running(make_session(server))
        snap = await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
        assert snap.positions[0].swap == Decimal(-3) and snap.margin == Decimal(100)
        await server.set_margin(pid, "150")
        snap = await next_snapshot(run.snaps, lambda s: s.margin == Decimal(150))
        await server.deposit(CTID, "25")
        snap = await next_snapshot(run.snaps, lambda s: s.balance == Decimal(10025))
        result = await CTraderTrader(run.session).close_position(str(CTID), str(pid))
        assert result.ok
        snap = await next_snapshot(run.snaps, lambda s: not s.positions)
        assert snap.balance == server.balance(CTID) == snap.equity
        assert snap.realized_today == server.balance(CTID) - Decimal(10025)
        await run.aclose()


async def test_a_symbol_without_its_optional_fields_does_not_stop_the_others(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    server.add_symbol("XAUUSD.x", "XAU", "USD", bid="2000", ask="2001", bare=True)  # no assets, no lotSize
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running()
    await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    await server.set_price("EURUSD", bid="1.12000")
    snap = await next_snapshot(run.snaps, lambda s: s.positions[0].price == Decimal("1.12"))
    assert snap.equity == server.equity(CTID)


async def test_a_position_in_a_symbol_without_lot_size_is_shown_in_units(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    server.add_symbol("WHEAT", "WHT", "USD", bid="5.5", ask="5.6", lot_size=100, bare=True)
    await server.open_position(CTID, "WHEAT", "BUY", lots="30", price="5.4")
    run = running()
    snap = await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    assert snap.positions[0].volume == Decimal(30)  # 3000 cents of a unit = 30 units
    assert snap.equity == server.equity(CTID)


async def test_account_not_authorized_during_reauthorisation_is_not_fatal(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    run = running()
    await next_snapshot(run.snaps)
    server.fail_next(2102, "ACCOUNT_NOT_AUTHORIZED")  # the re-auth after the event is refused once
    await server.invalidate_token([CTID])
    await server.deposit(CTID, "5")  # seen only once the account is authorised again
    snap = await next_snapshot(run.snaps, lambda s: s.balance == Decimal("10005.00"))
    assert snap.equity == server.equity(CTID) and run.session.connected


async def test_a_refreshed_token_ends_the_account_sessions_that_held_the_old_one(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    """Two accounts on one session. One re-authorises, meets the expired token and refreshes it: the
    server ends the other account's session, which held the old token (2147), and it re-authorises."""
    other = 1002
    server.add_account(ctid=other, login=7002, currency="USD", balance="500")
    run = running(make_session(server, accounts=[str(CTID), str(other)]))
    await next_snapshot(run.snaps, lambda s: s.account == str(other))
    server.expire_access_token()
    await server.disconnect_account(CTID)
    await server.deposit(CTID, "7")
    await next_snapshot(run.snaps, lambda s: s.account == str(CTID) and s.balance == Decimal("10007.00"))
    assert server.access_token == "access-2"
    await server.deposit(other, "1")  # seen only once the other account is authorised again, on the new token
    snap = await next_snapshot(run.snaps, lambda s: s.account == str(other) and s.balance == Decimal("501.00"))
    assert snap.equity == server.equity(other) and server.connections_opened == 1


def test_the_judge_refuses_what_the_definitions_refuse() -> None:
    assert check_frame('{"payloadType": 2111, "payload": {"ctidTraderAccountId": 1, "positionId": 2}}') == [
        "ProtoOAClosePositionReq: required fields missing: volume"
    ]
    [unknown] = check_frame('{"payloadType": 2124, "payload": {"ctidTraderAccountId": 1, "ctid": 1}}')
    assert 'no field named "ctid"' in unknown
    [enum] = check_frame('{"payloadType": 2126, "payload": {"ctidTraderAccountId": 1, "executionType": "FILLED"}}')
    assert "Invalid enum value FILLED" in enum
    assert check_frame('{"payloadType": 9999, "payload": {}}') == ["payloadType 9999 is not an Open API message"]
    assert check_frame('{"payloadType": 2142, "payload": {"errorCode": "BLOCKED_PAYLOAD_TYPE", "retryAfter": 5}}') == []
    assert check_frame('{"payloadType": 51, "payload": {}, "extra": 1}') != []


async def test_a_frame_that_breaks_the_definitions_fails_the_test(server: FakeCTraderServer) -> None:
    session = make_session(server)
    await session.start()
    await session.request(2121, {"ctidTraderAccountId": CTID, "unknownField": 1})
    await session.close()
    assert server.schema_errors and "unknownField" in server.schema_errors[0]
    server.schema_errors.clear()  # this one was on purpose
