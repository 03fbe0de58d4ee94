"""MT5Trader against the fake MetaTrader5 module, in process; and its pure request/answer functions."""

from __future__ import annotations

import logging
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mt5_support import LOGIN, no_wait, terminal_for

from riskmon.platforms.base import Outcome, Trader
from riskmon.platforms.mt5 import MT5Trader
from riskmon.platforms.mt5.trader import close_volume, filling_for, outcome_of

ACCOUNT = str(LOGIN)
EURUSD_VOLUMES = {"volume_min": 0.01, "volume_max": 50.0, "volume_step": 0.01}


def trader_for(mt5: Any, **kwargs: Any) -> MT5Trader:
    return MT5Trader(terminal_for(mt5), backoff=lambda _: 0.0, sleep=no_wait, **kwargs)


@pytest.mark.parametrize(("bits", "filling"), [(1, 0), (3, 0), (2, 1), (0, 2), (4, 2)])
def test_filling_from_symbol_bits(bits: int, filling: int) -> None:
    assert filling_for(bits) == filling


@pytest.mark.parametrize(
    ("open_volume", "requested", "expected"),
    [
        ("0.5", None, "0.5"),
        ("0.5", "0.257", "0.25"),  # rounded down to the step
        ("0.5", "0.9", "0.5"),  # never more than is open
        ("0.5", "0.004", None),  # below the minimum
        ("80", None, "50"),  # capped at volume_max: the rest needs another close
    ],
)
def test_close_volume(open_volume: str, requested: str | None, expected: str | None) -> None:
    wanted = Decimal(requested) if requested is not None else None
    lots = close_volume(Decimal(open_volume), wanted, EURUSD_VOLUMES)
    assert lots == (Decimal(expected) if expected is not None else None)


@given(
    open_steps=st.integers(min_value=1, max_value=100_000),
    requested=st.none() | st.decimals(min_value=0, max_value=2000, places=4),
    step=st.sampled_from(["0.01", "0.1", "1"]),
)
def test_close_volume_is_always_a_valid_order_volume(open_steps: int, requested: Decimal | None, step: str) -> None:
    info = {"volume_min": step, "volume_max": "500", "volume_step": step}
    open_volume = open_steps * Decimal(step)
    lots = close_volume(open_volume, requested, info)
    if lots is None:
        assert requested is not None and requested < Decimal(step)
        return
    assert Decimal(step) <= lots <= min(open_volume, Decimal(500))
    assert lots % Decimal(step) == 0
    assert requested is None or lots <= requested


def test_outcome_mapping() -> None:
    assert outcome_of(10009, "Request executed", Decimal("0.5")).closed_volume == Decimal("0.5")
    assert outcome_of(10018, "Market closed").outcome is Outcome.MARKET_CLOSED
    no_money = outcome_of(10019, "No money")
    assert (no_money.outcome, no_money.code) == (Outcome.REJECTED, "10019")
    for code in (10017, 10026, 10027):
        assert outcome_of(code, "x").outcome is Outcome.TRADING_DISABLED
    assert "filling mode" in outcome_of(10030, "Unsupported filling mode").message
    assert outcome_of(10036, "Position closed").outcome is Outcome.NOT_FOUND


async def test_close_sends_the_opposite_deal_and_the_position_goes(mt5: ModuleType) -> None:
    trader: Trader = trader_for(mt5)
    result = await trader.close_position(ACCOUNT, "70001")
    assert (result.outcome, result.code, result.closed_volume) == (Outcome.DONE, "10009", Decimal("0.5"))
    [request] = mt5._fake.sent_requests
    assert request == {
        "action": mt5.TRADE_ACTION_DEAL,
        "position": 70001,
        "symbol": "EURGBP",
        "volume": 0.5,
        "type": mt5.ORDER_TYPE_SELL,  # closes a BUY
        "price": 0.855,  # at the bid
        "deviation": 20,
        "magic": 0,
        "comment": "riskmon",
        "type_time": mt5.ORDER_TIME_GTC,
        "type_filling": mt5.ORDER_FILLING_FOK,  # EURGBP allows FOK (bit 1)
    }
    assert [p.ticket for p in mt5.positions_get()] == [70002, 70003]
    assert mt5.account_info().balance == pytest.approx(100000 + 316.25 - 1.2)
    assert mt5.history_deals_get(position=70001)[-1].entry == mt5.DEAL_ENTRY_OUT


async def test_close_a_sell_at_the_ask_with_ioc(mt5: ModuleType) -> None:
    result = await trader_for(mt5).close_position(ACCOUNT, "70002")
    assert result.ok
    request = mt5._fake.sent_requests[0]
    assert (request["type"], request["price"]) == (mt5.ORDER_TYPE_BUY, 150.5)
    assert request["type_filling"] == mt5.ORDER_FILLING_IOC


async def test_a_close_capped_at_volume_max_is_partial(mt5: ModuleType) -> None:
    mt5._fake.symbols["EURGBP"]["volume_max"] = 0.2
    result = await trader_for(mt5).close_position(ACCOUNT, "70001")
    assert (result.outcome, result.closed_volume) == (Outcome.PARTIAL, Decimal("0.2"))
    assert "closed 0.2 of 0.5 lots" in result.message
    assert mt5.positions_get(ticket=70001)[0].volume == pytest.approx(0.3)


async def test_done_partial_is_partial_with_the_volume_done(mt5: ModuleType) -> None:
    mt5._fake.fill_at_most = 0.1
    result = await trader_for(mt5).close_position(ACCOUNT, "70001")
    assert (result.outcome, result.code, result.closed_volume) == (Outcome.PARTIAL, "10010", Decimal("0.1"))


async def test_fifo_accounts_close_the_oldest_position_of_a_symbol_first(mt5: ModuleType) -> None:
    mt5._fake.account["fifo_close"] = True
    newer = mt5._fake.open_position(symbol="EURGBP", volume=0.1, price_open=0.85, price_current=0.855)
    trader = trader_for(mt5)
    refused = await trader.close_position(ACCOUNT, str(newer))
    assert (refused.outcome, refused.code) == (Outcome.RETRY, "10045")
    assert (await trader.close_position(ACCOUNT, "70001")).ok
    assert (await trader.close_position(ACCOUNT, str(newer))).ok


async def test_partial_close(mt5: ModuleType) -> None:
    result = await trader_for(mt5).close_position(ACCOUNT, "70001", Decimal("0.207"))
    assert (result.outcome, result.closed_volume) == (Outcome.DONE, Decimal("0.20"))
    assert mt5._fake.sent_requests[0]["volume"] == 0.2
    assert mt5.positions_get(ticket=70001)[0].volume == pytest.approx(0.3)


async def test_requotes_are_retried_at_a_fresh_price(mt5: ModuleType, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    mt5._fake.reject_orders(mt5.TRADE_RETCODE_REQUOTE, times=2)
    result = await trader_for(mt5).close_position(ACCOUNT, "70003")
    assert result.ok
    assert len(mt5._fake.sent_requests) == 3
    assert caplog.text.count("retrying at a fresh price") == 2


async def test_requotes_give_up_after_max_attempts(mt5: ModuleType) -> None:
    mt5._fake.reject_orders(mt5.TRADE_RETCODE_PRICE_CHANGED, times=10)
    result = await trader_for(mt5, max_attempts=3).close_position(ACCOUNT, "70003")
    assert (result.outcome, result.code) == (Outcome.RETRY, "10020")
    assert len(mt5._fake.sent_requests) == 3
    assert mt5.positions_get(ticket=70003)


@pytest.mark.parametrize(
    ("retcode", "outcome"),
    [
        (10018, Outcome.MARKET_CLOSED),
        (10027, Outcome.TRADING_DISABLED),
        (10019, Outcome.REJECTED),
        (10030, Outcome.REJECTED),
        (10008, Outcome.UNKNOWN),  # PLACED: not executed yet, may still be
        (10012, Outcome.RETRY),  # TIMEOUT: cancelled by timeout
        (10031, Outcome.RETRY),  # CONNECTION: no connection with the trade server
        (10024, Outcome.RETRY),  # TOO_MANY_REQUESTS
        (10045, Outcome.RETRY),  # FIFO_CLOSE: an older position goes first
        (10039, Outcome.UNKNOWN),  # CLOSE_ORDER_EXIST
        (10028, Outcome.UNKNOWN),  # LOCKED: "request locked for processing", it may still execute
        (10099, Outcome.UNKNOWN),  # undocumented: verify, never assume
    ],
)
async def test_broker_refusals(mt5: ModuleType, retcode: int, outcome: Outcome) -> None:
    mt5._fake.reject_orders(retcode)
    result = await trader_for(mt5).close_position(ACCOUNT, "70001")
    assert (result.outcome, result.code) == (outcome, str(retcode))
    assert len(mt5._fake.sent_requests) == 1


async def test_wrong_filling_choice_is_reported(mt5: ModuleType) -> None:
    mt5._fake.symbols["EURGBP"]["filling_mode"] = 0  # market execution, no FOK/IOC: RETURN is refused
    result = await trader_for(mt5).close_position(ACCOUNT, "70001")
    assert (result.outcome, result.code) == (Outcome.REJECTED, "10030")


async def test_missing_position_and_foreign_account(mt5: ModuleType) -> None:
    trader = trader_for(mt5)
    assert (await trader.close_position(ACCOUNT, "123")).outcome is Outcome.NOT_FOUND
    assert (await trader.close_position(ACCOUNT, "abc")).outcome is Outcome.NOT_FOUND
    assert (await trader.close_position("999", "70001")).outcome is Outcome.REJECTED
    assert mt5._fake.sent_requests == []


async def test_never_closes_on_another_account(mt5: ModuleType) -> None:
    trader = trader_for(mt5)
    await trader.close_position(ACCOUNT, "123")  # logged in
    mt5._fake.account["login"] = 777
    result = await trader.close_position(ACCOUNT, "70001")
    assert result.outcome is Outcome.RETRY and "account 777" in result.message
    assert mt5._fake.sent_requests == []


async def test_terminal_gone_is_a_retry(mt5: ModuleType) -> None:
    trader = trader_for(mt5)
    await trader.close_position(ACCOUNT, "123")  # logged in
    mt5._fake.set_failure("terminal_gone")
    result = await trader.close_position(ACCOUNT, "70001")
    assert result.outcome is Outcome.RETRY
    assert "cannot connect to the terminal" in result.message


async def test_a_hung_terminal_is_a_timeout_that_may_have_executed(mt5: ModuleType) -> None:
    trader = MT5Trader(terminal_for(mt5, call_timeout=0.2), backoff=lambda _: 0.0, sleep=no_wait)
    await trader.close_position(ACCOUNT, "123")  # logged in
    mt5._fake.delay = 0.3
    result = await trader.close_position(ACCOUNT, "70001")
    assert result.outcome is Outcome.UNKNOWN and "may still have gone through" in result.message


async def test_order_send_none_is_unknown_with_last_error(mt5: ModuleType) -> None:  # it may have gone out
    mt5._fake.set_failure("send_lost")
    result = await trader_for(mt5).close_position(ACCOUNT, "70001")
    assert (result.outcome, result.code) == (Outcome.UNKNOWN, "-10004")
    assert "order_send failed: cannot connect to the terminal" in result.message


async def test_cancel_pending_order(mt5: ModuleType) -> None:
    trader = trader_for(mt5)
    result = await trader.cancel_order(ACCOUNT, "80001")
    assert result.ok
    assert mt5._fake.sent_requests == [{"action": mt5.TRADE_ACTION_REMOVE, "order": 80001}]
    assert mt5.orders_get() == ()
    assert (await trader.cancel_order(ACCOUNT, "80001")).outcome is Outcome.NOT_FOUND


def test_the_fake_terminal_holds_requests_to_the_documented_mql_trade_request(mt5: ModuleType) -> None:
    """What order_send accepts is what MqlTradeRequest defines; the trader's requests pass (above)."""
    assert mt5.initialize(login=LOGIN, password="s3cret-Pa55", server="Broker-Demo")
    close = {"action": mt5.TRADE_ACTION_DEAL, "position": 70001, "symbol": "EURGBP", "volume": 0.5,
             "type": mt5.ORDER_TYPE_SELL, "price": 0.855, "type_filling": mt5.ORDER_FILLING_FOK}  # fmt: skip
    assert mt5.order_send(dict(close, filling=0)) is None  # no such field
    assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS
    assert mt5.order_send(dict(close, volume="0.5")) is None  # volume is a double
    missing = {k: v for k, v in close.items() if k != "type_filling"}
    assert mt5.order_send(missing).retcode == mt5.TRADE_RETCODE_INVALID  # required for a market deal
    assert mt5.order_send({"action": mt5.TRADE_ACTION_REMOVE}).retcode == mt5.TRADE_RETCODE_INVALID
    assert mt5.order_send(close).retcode == mt5.TRADE_RETCODE_DONE
