"""The ProjectX client against the fake gateway on loopback: REST JSON and SignalR's JSON hub protocol
over a real WebSocket, as the gateway documents them (the fake refuses and records anything else)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from riskmon.backoff import Backoff
from riskmon.clock import TradingCalendar
from riskmon.errors import AuthenticationError
from riskmon.models import AccountSnapshot, Side
from riskmon.platforms.base import Outcome
from riskmon.platforms.projectx.feed import ProjectXFeed
from riskmon.platforms.projectx.gateway import Gateway
from riskmon.platforms.projectx.signalr import RS, hub_socket_url, records
from riskmon.platforms.projectx.trader import ProjectXTrader
from tests.fakes.projectx_server import API_KEY, USERNAME, FakeProjectX
from tests.platforms.mt5.mt5_support import until

ACCOUNT, NAME = 4101, "50KTC-V2-4101"
ES = "CON.F.US.EP.Z26"  # E-mini S&P 500: tick 0.25, tick value 12.50
MNQ = "CON.F.US.MNQ.Z26"  # Micro E-mini Nasdaq-100: tick 0.25, tick value 0.50
FAST = Backoff(0.05, 0.2, jitter=0.0)


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def gateway_fake() -> AsyncIterator[FakeProjectX]:
    async with FakeProjectX(fee_per_contract=Decimal("1.40")) as fake:
        fake.add_account(ACCOUNT, NAME, "50000")
        fake.add_account(4102, "PRAC-4102", "150000")  # another account of the same user, not configured
        fake.add_contract(ES, "ESZ6", "0.25", "12.5", "6000.00")
        fake.add_contract(MNQ, "MNQZ6", "0.25", "0.5", "21000.00")
        yield fake
        assert fake.violations == []


def feed_for(fake: FakeProjectX, account: str = str(ACCOUNT), clock: Clock | None = None, **options: object):
    settings = fake.settings()
    gateway = Gateway(settings["PROJECTX_API_URL"], USERNAME, SecretStr(API_KEY), clock=clock)
    defaults: dict[str, object] = {"server_timeout": 1.0, "keepalive_interval": 0.5, "backoff": FAST}
    return ProjectXFeed(
        gateway,
        {account: TradingCalendar.of("America/Chicago", "17:00")},
        user_hub_url=settings["PROJECTX_USER_HUB_URL"],
        market_hub_url=settings["PROJECTX_MARKET_HUB_URL"],
        clock=clock,
        **defaults | options,  # type: ignore[arg-type]
    )


async def next_where(stream: AsyncIterator[AccountSnapshot], test, within: float = 5.0) -> AccountSnapshot:
    async with asyncio.timeout(within):
        async for snap in stream:
            if test(snap):
                return snap
    raise AssertionError("stream ended")


async def test_futures_are_valued_by_tick_size_and_tick_value_and_every_quote_revalues(
    gateway_fake: FakeProjectX,
) -> None:
    fake = gateway_fake
    await fake.open_position(ACCOUNT, ES, long=True, size=2, price="6000.00")
    await fake.open_position(ACCOUNT, MNQ, long=False, size=3, price="21000.00")
    await fake.add_order(ACCOUNT, ES, side=1, size=2, price="6100.00")
    feed = feed_for(fake)
    stream = feed.snapshots()
    try:
        first = await next_where(stream, lambda s: True)
        assert first.platform == "projectx" and first.account == str(ACCOUNT)
        assert first.balance == Decimal("49993.00")  # two opening fills of 2 and 3 contracts at 1.40
        es, mnq = sorted(first.positions, key=lambda p: p.symbol)
        assert (es.symbol, es.side, es.volume, es.price) == ("ESZ6", Side.BUY, Decimal(2), Decimal("6000.00"))
        assert es.notional == Decimal("600000.00")  # 6000 / 0.25 ticks x 12.50 x 2 contracts
        assert (mnq.side, mnq.price, mnq.unrealized_pnl) == (Side.SELL, Decimal("21000.00"), 0)  # the last bar
        await next_where(stream, lambda s: len(fake.subscriptions("market")) == 2)  # the hubs are up
        await fake.set_price(MNQ, bid="21000.00", ask="21000.25")
        quoted = await next_where(stream, lambda s: any(p.unrealized_pnl for p in s.positions))
        (mnq,) = [p for p in quoted.positions if p.side is Side.SELL]
        assert (mnq.price, mnq.unrealized_pnl) == (Decimal("21000.25"), Decimal("-1.50"))  # a short at the ask
        assert [(o.symbol, o.side, o.volume, o.price) for o in first.orders] == [
            (ES, Side.SELL, Decimal(2), Decimal("6100.00"))
        ]
        await fake.set_price(ES, bid="5990.00")  # 40 ticks x 12.50 x 2 = 1000.00 lost on the long
        moved = await next_where(stream, lambda s: s.positions and min(p.unrealized_pnl for p in s.positions) < -100)
        assert moved.equity == Decimal("49993.00") - Decimal("1000.00") - Decimal("1.50")
        assert sorted(fake.subscriptions("market")) == [
            ("SubscribeContractQuotes", ES),
            ("SubscribeContractQuotes", MNQ),
        ]
        assert ("SubscribePositions", ACCOUNT) in fake.subscriptions("user")
        assert ("SubscribePositions", 4102) not in fake.subscriptions("user")
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await feed.aclose()


async def test_the_account_name_works_as_account_id_and_an_unknown_account_names_the_known_ones(
    gateway_fake: FakeProjectX, caplog: pytest.LogCaptureFixture
) -> None:
    feed = feed_for(gateway_fake, account=NAME)
    stream = feed.snapshots()
    try:
        snap = await next_where(stream, lambda s: True)
        assert snap.account == NAME and feed.gateway_id(NAME) == ACCOUNT
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await feed.aclose()
    wrong = feed_for(gateway_fake, account="12345")
    with pytest.raises(Exception, match=r"12345 is not one of this user's accounts: 4101 \(50KTC-V2-4101\)"):
        await wrong.load()
    await wrong.aclose()


async def test_a_closed_position_leaves_the_book_and_realised_pnl_counts_fees_per_round_turn(
    gateway_fake: FakeProjectX,
) -> None:
    fake = gateway_fake
    await fake.open_position(ACCOUNT, ES, long=True, size=1, price="6000.00")
    feed = feed_for(fake)
    trader = ProjectXTrader(feed)
    stream = feed.snapshots()
    try:
        first = await next_where(stream, lambda s: True)
        await next_where(stream, lambda s: len(fake.subscriptions("market")) == 1)
        await fake.set_price(ES, bid="6010.00")  # +40 ticks x 12.50 = 500.00
        result = await trader.close_position(str(ACCOUNT), first.positions[0].id)
        assert result.outcome is Outcome.DONE and result.closed_volume == Decimal(1)
        flat = await next_where(stream, lambda s: not s.positions and s.balance > Decimal("50000"))
        assert flat.balance == Decimal("50000") + Decimal("500.00") - Decimal("2.80")
        assert flat.realized_today == Decimal("500.00") - Decimal("2.80")  # both half turns pay their fee
        assert flat.equity == flat.balance
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await feed.aclose()


async def test_trader_partial_close_rounds_up_to_whole_contracts_and_maps_each_endpoints_codes(
    gateway_fake: FakeProjectX,
) -> None:
    fake = gateway_fake
    position = await fake.open_position(ACCOUNT, ES, long=True, size=5, price="6000.00")
    order = await fake.add_order(ACCOUNT, ES, side=1, size=1, price="6100.00")
    feed = feed_for(fake)
    await feed.load()
    trader = ProjectXTrader(feed)
    partial = await trader.close_position(str(ACCOUNT), str(position), Decimal("1.2"))
    assert (partial.outcome, partial.closed_volume) == (Outcome.DONE, Decimal(2))
    assert fake.closes()[-1] == (
        "/api/Position/partialCloseContract",
        {"accountId": ACCOUNT, "contractId": ES, "size": 2},
    )
    assert fake.positions[position].size == 3
    fake.market_closed.add(ES)
    refused = await trader.close_position(str(ACCOUNT), str(position), Decimal(1))
    assert (refused.outcome, refused.code) == (Outcome.MARKET_CLOSED, "6")  # partialCloseContract's code 6
    full = await trader.close_position(str(ACCOUNT), str(position))
    assert (full.outcome, full.code) == (Outcome.MARKET_CLOSED, "5")  # closeContract's code 5
    fake.market_closed.clear()
    assert (await trader.close_position(str(ACCOUNT), str(position))).outcome is Outcome.DONE
    gone = await trader.close_position(str(ACCOUNT), str(position))
    assert gone.outcome is Outcome.NOT_FOUND
    assert (await trader.cancel_order(str(ACCOUNT), str(order))).outcome is Outcome.DONE
    again = await trader.cancel_order(str(ACCOUNT), str(order))
    assert (again.outcome, again.code) == (Outcome.NOT_FOUND, "2")
    fake.rate_limit(1, retry_after=3)
    limited = await trader.cancel_order(str(ACCOUNT), str(order))
    assert (limited.outcome, limited.retry_after) == (Outcome.RETRY, 3.0)
    await feed.aclose()


async def test_the_token_is_renewed_before_it_expires_and_an_expired_one_logs_in_again(
    gateway_fake: FakeProjectX,
) -> None:
    clock = Clock()
    feed = feed_for(gateway_fake, clock=clock)
    await feed.load()
    assert (feed.gateway.logins, feed.gateway.renewals) == (1, 0)
    clock.at += timedelta(hours=22, minutes=59)
    await feed.load()
    assert feed.gateway.renewals == 0
    clock.at += timedelta(minutes=2)  # 23 h 01: within the hour before the 24 h expiry
    await feed.load()
    assert (feed.gateway.logins, feed.gateway.renewals) == (1, 1)
    gateway_fake.expire_tokens()  # the gateway forgets every token: HTTP 401
    await feed.load()
    assert feed.gateway.logins == 2
    await feed.aclose()


async def test_a_wrong_api_key_is_one_clear_authentication_error(gateway_fake: FakeProjectX) -> None:
    gateway = Gateway(gateway_fake.api_url, USERNAME, SecretStr("not-the-key"))
    with pytest.raises(AuthenticationError, match="do not match an active key") as caught:
        await gateway.call("/api/Account/search", {"onlyActiveAccounts": False})
    assert "not-the-key" not in str(caught.value)
    await gateway.aclose()


async def test_hubs_reconnect_resubscribe_and_survive_a_malformed_frame_and_rate_limits(
    gateway_fake: FakeProjectX, caplog: pytest.LogCaptureFixture
) -> None:
    fake = gateway_fake
    await fake.open_position(ACCOUNT, ES, long=True, size=1, price="6000.00")
    feed = feed_for(fake)
    stream = feed.snapshots()
    try:
        await next_where(stream, lambda s: True)
        await next_where(stream, lambda s: len(fake.hubs) == 2)
        searches = sum(1 for p, _ in fake.calls if p == "/api/Position/searchOpen")
        await fake.send_malformed()
        await next_where(stream, lambda s: sum(1 for p, _ in fake.calls if p == "/api/Position/searchOpen") > searches)
        assert fake.hub_connections == 2  # the connection survived the bad frame; the state was re-read
        assert "not a SignalR JSON record was skipped" in caplog.text

        fake.rate_limit(2)
        await fake.drop_hubs()  # both hubs lost: reconnect (through two 429s), re-read, subscribe again
        await next_where(stream, lambda s: fake.hub_connections >= 4 and len(fake.subscriptions("market")) == 1)
        await fake.set_price(ES, bid="5996.00")
        snap = await next_where(stream, lambda s: s.positions and s.positions[0].price == Decimal("5996.00"))
        assert snap.equity == snap.balance - Decimal("200.00")
        assert ("SubscribePositions", ACCOUNT) in fake.subscriptions("user")

        fake.expire_tokens()
        await fake.drop_hubs()  # the hub refuses the old token: log in again and reconnect
        await next_where(stream, lambda s: feed.gateway.logins >= 2 and len(fake.hubs) == 2, within=10)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await feed.aclose()


async def test_a_silent_hub_is_dropped_after_the_server_timeout(
    gateway_fake: FakeProjectX, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    feed = feed_for(gateway_fake, server_timeout=0.6, keepalive_interval=5.0)
    seen: list[AccountSnapshot] = []

    async def consume() -> None:
        async for snap in feed.snapshots():
            seen.append(snap)

    consumer = asyncio.create_task(consume())
    try:
        await until(lambda: len(gateway_fake.hubs) == 2, within=30.0)
        gateway_fake.go_silent()
        await until(lambda: "nothing from the" in caplog.text, within=30.0)
        assert "hub for 0.6 s; reconnecting" in caplog.text
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await feed.aclose()


async def test_poll_mode_reads_state_and_prices_by_rest(gateway_fake: FakeProjectX) -> None:
    fake = gateway_fake
    await fake.open_position(ACCOUNT, ES, long=False, size=1, price="6000.00")
    feed = feed_for(fake, mode="poll", poll_interval=0.05)
    stream = feed.snapshots()
    try:
        first = await next_where(stream, lambda s: True)
        assert first.positions[0].price == Decimal("6000.00")  # the last one-minute bar's close
        await fake.set_price(ES, bid="6002.00")
        later = await next_where(stream, lambda s: s.positions[0].price == Decimal("6002.00"))
        assert later.positions[0].unrealized_pnl == Decimal("-100.00")  # a short, 8 ticks x 12.50
        assert not fake.hubs
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await feed.aclose()


def test_hub_urls_and_records_follow_the_hub_protocol() -> None:
    assert (
        hub_socket_url("https://rtc.topstepx.com/hubs/user", "t/k")
        == "wss://rtc.topstepx.com/hubs/user?access_token=t%2Fk"
    )
    assert records('{"type":6}' + RS + '{"type":1,"target":"x","arguments":[]}' + RS) == [
        '{"type":6}',
        '{"type":1,"target":"x","arguments":[]}',
    ]
