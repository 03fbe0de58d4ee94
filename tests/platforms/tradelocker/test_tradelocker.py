"""The TradeLocker client against the fake backend on loopback (REST JSON as the public reference
documents it; the fake refuses and records anything else)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from riskmon.backoff import Backoff
from riskmon.errors import AuthenticationError, PlatformError
from riskmon.models import AccountSnapshot, Side
from riskmon.platforms.base import Outcome
from riskmon.platforms.tradelocker.api import TradeLockerApi
from riskmon.platforms.tradelocker.feed import TradeLockerFeed
from riskmon.platforms.tradelocker.trader import TradeLockerTrader
from tests.fakes.tradelocker_server import EMAIL, PASSWORD, SERVER, FakeTradeLocker

ACCOUNT, EURUSD, XAUUSD = 551201, 11, 12
FAST = Backoff(0.02, 0.1, jitter=0.0)


@pytest.fixture
async def backend() -> AsyncIterator[FakeTradeLocker]:
    async with FakeTradeLocker() as fake:
        fake.add_account(ACCOUNT, 2, "100000")
        fake.add_account(551202, 1, "5000")
        fake.add_instrument(EURUSD, "EURUSD", "1.10000", "1.10010")
        fake.add_instrument(XAUUSD, "XAUUSD", "2400.00", "2400.30", lot_size="100")
        yield fake
        assert fake.violations == []


def feed_for(fake: FakeTradeLocker, account: str = str(ACCOUNT), password: str = PASSWORD, **options: float):
    api = TradeLockerApi(fake.base_url, EMAIL, SecretStr(password), SERVER)
    return TradeLockerFeed(api, [account], backoff=FAST, **{"poll_interval": 0.05} | options)


async def first(feed: TradeLockerFeed, test=lambda s: True) -> AccountSnapshot:
    stream = feed.snapshots()
    try:
        async for snap in stream:
            if test(snap):
                return snap
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    raise AssertionError("stream ended")


async def test_state_positions_and_orders_are_read_in_the_published_column_order(backend: FakeTradeLocker) -> None:
    backend.open_position(ACCOUNT, EURUSD, buy=True, qty="2", price="1.10100")  # 0.00100 x 2 x 100,000 = -200
    backend.open_position(ACCOUNT, XAUUSD, buy=False, qty="0.5", price="2390.00")  # 10.30 x 0.5 x 100 = -515
    backend.add_order(ACCOUNT, EURUSD, buy=False, qty="1", kind="limit", price="1.12000")
    backend.accounts[ACCOUNT].today_net = Decimal("-120.50")
    feed = feed_for(backend)
    snap = await first(feed)
    assert (snap.platform, snap.account, snap.currency) == ("tradelocker", str(ACCOUNT), "USD")
    assert snap.balance == Decimal("100000") and snap.equity == Decimal("100000") - 200 - 515
    assert snap.realized_today == Decimal("-120.50")
    eur, xau = sorted(snap.positions, key=lambda p: p.symbol)
    assert (eur.symbol, eur.side, eur.volume, eur.unrealized_pnl) == ("EURUSD", Side.BUY, 2, Decimal("-200.00"))
    assert (xau.side, xau.volume, xau.open_price) == (Side.SELL, Decimal("0.5"), Decimal("2390.00"))
    ((order),) = snap.orders
    assert (order.symbol, order.side, order.volume, order.kind, order.price) == (
        "EURUSD", Side.SELL, 1, "limit", Decimal("1.12000")
    )  # fmt: skip
    await feed.aclose()


async def test_close_full_and_partial_cancel_and_each_refusal_maps_onto_an_outcome(backend: FakeTradeLocker) -> None:
    position = backend.open_position(ACCOUNT, EURUSD, buy=True, qty="2", price="1.10000")
    order = backend.add_order(ACCOUNT, EURUSD, buy=False, qty="1", kind="limit", price="1.12000")
    feed = feed_for(backend)
    await feed.load()
    trader = TradeLockerTrader(feed)
    partial = await trader.close_position(str(ACCOUNT), str(position), Decimal("0.5"))
    assert (partial.outcome, partial.closed_volume) == (Outcome.DONE, Decimal("0.5"))
    assert backend.positions[position].qty == Decimal("1.5")
    backend.market_closed.add(EURUSD)
    closed = await trader.close_position(str(ACCOUNT), str(position))
    assert (closed.outcome, closed.message) == (Outcome.MARKET_CLOSED, "Market is closed")
    backend.market_closed.clear()
    backend.busy.add(position)  # another close is under way: a fresh snapshot decides, nothing is resent blindly
    busy = await trader.close_position(str(ACCOUNT), str(position))
    assert (busy.outcome, busy.message) == (Outcome.UNKNOWN, "Position is locked: a closing order is pending execution")
    backend.busy.clear()
    backend.rate_limit(1)
    limited = await trader.close_position(str(ACCOUNT), str(position))
    assert (limited.outcome, limited.retry_after) == (Outcome.RETRY, 0.2)
    assert (await trader.close_position(str(ACCOUNT), str(position))).outcome is Outcome.DONE
    assert position not in backend.positions
    assert (await trader.close_position(str(ACCOUNT), str(position))).outcome is Outcome.NOT_FOUND
    assert (await trader.cancel_order(str(ACCOUNT), str(order))).outcome is Outcome.DONE
    assert (await trader.cancel_order(str(ACCOUNT), str(order))).outcome is Outcome.NOT_FOUND
    assert backend.close_requests[0] == (position, Decimal("0.5"))
    await feed.aclose()


async def test_an_expired_access_token_is_refreshed_and_a_revoked_login_logs_in_again(
    backend: FakeTradeLocker,
) -> None:
    feed = feed_for(backend)
    await feed.load()
    await feed.snapshot(str(ACCOUNT))
    backend.expire_access()
    await feed.snapshot(str(ACCOUNT))
    assert (feed.api.logins, feed.api.refreshes) == (1, 1)
    backend.revoke()
    await feed.snapshot(str(ACCOUNT))
    assert feed.api.logins == 2
    await feed.aclose()


async def test_a_malformed_answer_or_a_rate_limit_is_one_line_and_polling_goes_on(
    backend: FakeTradeLocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    feed = feed_for(backend)
    await feed.load()
    backend.malformed(1)
    backend.rate_limit(1)
    snap = await first(feed)
    assert snap.balance == Decimal("100000")
    assert "TradeLocker: /trade/accounts/551201/state: too many requests (HTTP 429)" in caplog.text
    assert "is not JSON; retrying" in caplog.text
    await feed.aclose()


async def test_the_poll_interval_never_beats_the_published_rate_limits(
    backend: FakeTradeLocker, caplog: pytest.LogCaptureFixture
) -> None:
    feed = feed_for(backend, poll_interval=0.01)
    await feed.load()
    assert feed.poll_interval == pytest.approx(0.1)  # 10 a second per route, one account
    assert "TRADELOCKER_POLL_INTERVAL 0.01 s is faster than" in caplog.text
    await feed.aclose()


async def test_a_wrong_password_and_an_unknown_account_are_each_one_clear_line(backend: FakeTradeLocker) -> None:
    wrong = feed_for(backend, password="not-it-991")
    with pytest.raises(AuthenticationError, match="TRADELOCKER_SERVER") as caught:
        await wrong.load()
    assert "not-it-991" not in str(caught.value)
    await wrong.aclose()
    unknown = feed_for(backend, account="42")
    with pytest.raises(PlatformError, match=r"42 is not one of this login's accounts: 551201 \(#551201\)"):
        await unknown.load()
    await unknown.aclose()
