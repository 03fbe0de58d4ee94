"""MT5Feed against the fake MetaTrader5 module, in process."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from mt5_support import LOGIN, NOW, PASSWORD, UTC_DAY, no_wait, terminal_for, until

from riskmon.clock import ManualClock
from riskmon.errors import AuthenticationError, PlatformUnavailable
from riskmon.platforms.base import Feed
from riskmon.platforms.mt5 import MT5Feed


def feed_for(mt5: Any, clock: ManualClock, **kwargs: Any) -> MT5Feed:
    return MT5Feed(terminal_for(mt5), calendar=UTC_DAY, clock=clock, backoff=lambda _: 0.0, sleep=no_wait, **kwargs)


async def test_snapshot_matches_the_terminal(mt5: ModuleType, clock: ManualClock) -> None:
    feed = feed_for(mt5, clock, server_utc_offset=2)
    assert isinstance(feed, Feed)
    snap = await feed.snapshot()
    account = mt5.account_info()
    assert (snap.account, snap.platform, snap.currency) == (str(LOGIN), "mt5", "USD")
    assert snap.balance == Decimal(str(account.balance))
    assert snap.equity == Decimal(str(account.equity))
    assert snap.margin == Decimal(str(account.margin))
    assert snap.margin_level is not None and round(snap.margin_level, 2) == Decimal(str(account.margin_level))
    assert snap.leverage == Decimal(100)
    assert [p.id for p in snap.positions] == [str(p.ticket) for p in mt5.positions_get()]
    assert [(p.unrealized_pnl, p.swap) for p in snap.positions] == [
        (Decimal(str(p.profit)), Decimal(str(p.swap))) for p in mt5.positions_get()
    ]
    assert [o.id for o in snap.orders] == ["80001"]
    assert snap.received_at == NOW
    assert snap.ts == NOW - timedelta(seconds=4.75)  # the freshest quote, 02:29:55.250 server time


async def test_notional_is_converted_to_the_account_currency(mt5: ModuleType, clock: ManualClock) -> None:
    snap = await feed_for(mt5, clock, server_utc_offset=2).snapshot()
    notional = {p.symbol: p.notional for p in snap.positions}
    assert notional["EURGBP"] == Decimal("54078.75")  # via GBPUSD, which had to be selected first
    assert notional["USDJPY"] is not None and round(notional["USDJPY"], 2) == Decimal("100000.00")
    assert notional["EURUSD"] == Decimal("10850.0")


async def test_notional_from_tick_value_when_no_conversion_pair(mt5: ModuleType, clock: ManualClock) -> None:
    mt5._fake.symbols.pop("GBPUSD")
    snap = await feed_for(mt5, clock, server_utc_offset=2).snapshot()
    # 0.5 lot × 0.855 ÷ 0.00001 × the recorded tick value 1.0
    assert {p.symbol: p.notional for p in snap.positions}["EURGBP"] == Decimal("42750")


async def test_a_futures_position_has_a_notional(mt5: ModuleType, clock: ManualClock) -> None:
    """An index future quoted in HKD (no USD pair converts it): sized by its tick value, so leverage is known."""
    fake = mt5._fake
    fake.symbols["HK50"] = dict(
        fake.symbols["EURUSD"], name="HK50", description="Hang Seng future", trade_calc_mode=1,
        currency_base="HKD", currency_profit="HKD", currency_margin="HKD", trade_contract_size=50.0,
        trade_tick_size=1.0, trade_tick_value=6.4, volume_min=1.0, volume_step=1.0, volume_max=100.0,
    )  # fmt: skip
    fake.set_price("HK50", 17000.0, 17002.0)
    fake.open_position(symbol="HK50", volume=2.0, price_open=16990.0, price_current=17000.0, profit=128.0)
    snap = await feed_for(mt5, clock, server_utc_offset=2).snapshot()
    assert {p.symbol: p.notional for p in snap.positions}["HK50"] == Decimal("217600")  # 2 × 17000 × 6.4


@pytest.mark.parametrize("configured", [2, None], ids=["configured", "estimated"])
async def test_realized_today_across_server_midnight(
    mt5: ModuleType, clock: ManualClock, configured: int | None
) -> None:
    feed = feed_for(mt5, clock, server_utc_offset=configured)
    # 23:50 UTC on the 9th is already 01:50 on the 10th on the server: the 01:30 server-time loss
    # (23:30 UTC) still belongs to the 9th, with that morning's opening commission
    late = NOW - timedelta(minutes=40)
    clock.set(late)
    mt5._fake.set_time(late.timestamp())
    assert (await feed.snapshot()).realized_today == Decimal("-103.5")
    # after midnight UTC only today's close and opening commission count, not the deposit
    clock.set(NOW)
    mt5._fake.set_time(NOW.timestamp())
    assert (await feed.snapshot()).realized_today == Decimal("41.5")


async def test_deal_history_is_reread_only_when_a_new_deal_can_exist(mt5: ModuleType, clock: ManualClock) -> None:
    feed = feed_for(mt5, clock, server_utc_offset=2)
    await feed.snapshot()
    await feed.snapshot()
    assert mt5._fake.calls["history_deals_get"] == 1  # nothing moved: the day's P&L cannot have changed
    mt5._fake.add_deal(type=mt5.DEAL_TYPE_SELL, entry=mt5.DEAL_ENTRY_OUT, profit=-20.0)
    mt5._fake.account["balance"] -= 20.0  # every money deal moves the balance
    assert (await feed.snapshot()).realized_today == Decimal("21.5")
    assert mt5._fake.calls["history_deals_get"] == 2
    mt5._fake.add_deal(type=mt5.DEAL_TYPE_SELL, entry=mt5.DEAL_ENTRY_OUT, profit=-1.5)  # arrives late, somehow
    clock.advance(61)
    mt5._fake.set_time(clock.now().timestamp())
    assert (await feed.snapshot()).realized_today == Decimal("20.0")  # re-read at least once a minute


async def test_estimate_needs_fresh_quotes(mt5: ModuleType, clock: ManualClock, caplog: Any) -> None:
    clock.set(NOW + timedelta(hours=3, minutes=10))  # market quiet: the last quotes are 3 h old
    snap = await feed_for(mt5, clock).snapshot()
    assert snap.realized_today is None
    assert snap.ts == clock.now()
    assert "server time offset unknown" in caplog.text


async def test_wrong_estimate_is_not_possible_with_configured_offset(mt5: ModuleType, clock: ManualClock) -> None:
    clock.set(NOW + timedelta(hours=3, minutes=10))
    snap = await feed_for(mt5, clock, server_utc_offset=2).snapshot()
    assert snap.realized_today == Decimal("41.5")


async def test_feed_reconnects_after_the_terminal_goes(mt5: ModuleType, clock: ManualClock, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    feed = feed_for(mt5, clock, server_utc_offset=2)
    stream = feed.snapshots()
    await anext(stream)
    assert feed.connected
    mt5._fake.set_failure("terminal_gone")
    next_snap = asyncio.ensure_future(anext(stream))
    await until(lambda: mt5._fake.initialize_calls >= 4)  # it keeps trying to log in again
    assert not feed.connected and not next_snap.done()
    mt5._fake.set_failure(None)
    snap = await asyncio.wait_for(next_snap, 5)
    assert snap.equity == Decimal("100002.82") and feed.connected
    faults = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(faults) == 1 and "cannot connect to the terminal" in faults[0].getMessage()
    assert "resumed" in caplog.text
    await stream.aclose()


async def test_terminal_switched_to_another_account_yields_nothing_for_it(mt5: ModuleType, clock: ManualClock) -> None:
    feed = feed_for(mt5, clock, server_utc_offset=2)
    await feed.snapshot()
    mt5._fake.account["login"] = 777  # another session logged the shared terminal into its account
    with pytest.raises(PlatformUnavailable, match="logged into account 777, not 5012345"):
        await feed.snapshot()


async def test_bad_credentials_stop_the_feed(mt5: ModuleType, clock: ManualClock) -> None:
    mt5._fake.set_failure("auth_failed")
    with pytest.raises(AuthenticationError, match="authorization failed"):
        await anext(feed_for(mt5, clock).snapshots())


async def test_password_never_logged_or_shown(mt5: ModuleType, clock: ManualClock, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    terminal = terminal_for(mt5)
    feed = MT5Feed(terminal, calendar=UTC_DAY, clock=clock, backoff=lambda _: 0.0, sleep=no_wait)
    await feed.snapshot()
    mt5._fake.set_failure("auth_failed")
    mt5._fake.set_failure("terminal_gone")
    with pytest.raises(PlatformUnavailable) as unavailable:
        await feed.snapshot()
    mt5._fake.set_failure("auth_failed")
    with pytest.raises(AuthenticationError) as refused:
        await feed.snapshot()
    secret = PASSWORD.get_secret_value()
    shown = [caplog.text, repr(terminal), str(unavailable.value), str(refused.value)]
    assert all(secret not in text for text in shown)
    assert caplog.text  # something was logged, just not the secret


async def test_a_cancelled_poll_propagates(mt5: ModuleType, clock: ManualClock) -> None:
    mt5._fake.delay = 0.3
    task = asyncio.ensure_future(feed_for(mt5, clock, server_utc_offset=2).snapshot())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
