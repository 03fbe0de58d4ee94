"""Pure conversions, checked against the recorded terminal payloads in tests/data/mt5."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from mt5_support import NOW, load_scenario

from riskmon.models import Side
from riskmon.platforms.mt5.parsing import (
    deal_pnl,
    mt5_account_to_balance,
    mt5_order_to_order,
    mt5_position_to_position,
    position_notional,
    rate_to_account,
    realized_pnl_from_deals,
    server_ms_to_utc,
    symbol_suffix,
    utc_to_server_seconds,
)
from riskmon.platforms.mt5.servertime import ServerTime, estimate_offset

RECORDED = load_scenario()
TWO_HOURS = timedelta(hours=2)


def record(kind: str, key: str, value: Any) -> dict[str, Any]:
    return next(r for r in RECORDED[kind] if r[key] == value)


def test_account_figures_are_exact_decimals() -> None:
    figures = mt5_account_to_balance(RECORDED["account_info"])
    assert figures.login == 5012345
    assert figures.balance == Decimal("100000.0")
    assert figures.equity == Decimal("100002.82")
    assert figures.margin == Decimal("3000.0")
    assert (figures.currency, figures.leverage) == ("USD", Decimal(100))


def test_position_from_recorded_payload() -> None:
    pos = mt5_position_to_position(record("positions", "ticket", 70001), notional=Decimal("54078.75"), offset=TWO_HOURS)
    assert (pos.id, pos.symbol, pos.side, pos.volume) == ("70001", "EURGBP", Side.BUY, Decimal("0.5"))
    assert (pos.open_price, pos.price, pos.stop_loss) == (Decimal("0.85"), Decimal("0.855"), Decimal("0.84"))
    assert (pos.unrealized_pnl, pos.swap, pos.commission) == (Decimal("316.25"), Decimal("-1.2"), 0)
    assert pos.notional == Decimal("54078.75")
    # opened 16:00:01.123 server time = 14:00:01.123 UTC
    assert pos.opened_at == datetime(2026, 3, 9, 14, 0, 1, 123000, tzinfo=UTC)


def test_position_without_stop_loss_and_sell_side() -> None:
    pos = mt5_position_to_position(record("positions", "ticket", 70002), notional=None, offset=TWO_HOURS)
    assert pos.side is Side.SELL
    assert pos.stop_loss is None


def test_order_from_recorded_payload() -> None:
    order = mt5_order_to_order(RECORDED["orders"][0])
    assert (order.id, order.symbol, order.side, order.kind) == ("80001", "EURUSD", Side.BUY, "limit")
    assert (order.volume, order.price) == (Decimal("0.2"), Decimal("1.07"))


def test_deal_pnl_counts_closes_and_opening_costs_but_not_deposits() -> None:
    by_ticket = {d["ticket"]: d for d in RECORDED["deals"]}
    assert deal_pnl(by_ticket[60003]) == Decimal("45.0")  # OUT: profit + swap + commission
    assert deal_pnl(by_ticket[60004]) == Decimal("-3.5")  # IN: its commission only
    assert deal_pnl(by_ticket[60005]) == 0  # deposit
    assert deal_pnl({**by_ticket[60003], "type": 3}) == 0  # credit
    assert deal_pnl({**by_ticket[60003], "entry": 2, "fee": -0.5}) == Decimal("44.5")  # reversal
    assert deal_pnl({**by_ticket[60003], "entry": 3}) == Decimal("45.0")  # closed by an opposite position
    assert deal_pnl({**by_ticket[60003], "type": 7, "entry": 0}) == Decimal("45.0")  # commission charge


@pytest.mark.parametrize(
    ("offset_hours", "expected"),
    [(2, Decimal("41.5")), (0, Decimal("-58.5"))],  # with the wrong offset, 01:30 server time leaks in
)
def test_realized_today_uses_server_offset(offset_hours: int, expected: Decimal) -> None:
    start = datetime(2026, 3, 10, tzinfo=UTC)
    realized = realized_pnl_from_deals(
        RECORDED["deals"], start=start, end=start + timedelta(days=1), offset=timedelta(hours=offset_hours)
    )
    assert realized == expected


def test_server_time_round_trip() -> None:
    assert utc_to_server_seconds(NOW, TWO_HOURS) == int(NOW.timestamp()) + 7200
    assert server_ms_to_utc(utc_to_server_seconds(NOW, TWO_HOURS) * 1000, TWO_HOURS) == NOW


def notional_of(ticket: int) -> Decimal | None:
    pos = record("positions", "ticket", ticket)
    info = record("symbols", "name", pos["symbol"])
    rate = rate_to_account(info["currency_profit"], "USD", RECORDED["ticks"])
    return position_notional(pos, info, account_currency="USD", rate=rate)


def test_notional_in_account_currency() -> None:
    assert notional_of(70001) == Decimal("54078.75")  # 0.5 × 100k × 0.855 GBP at GBPUSD bid 1.265
    assert notional_of(70003) == Decimal("10850.0")  # EURUSD: already in USD
    jpy = notional_of(70002)  # 15,050,000 JPY at 1 / USDJPY ask 150.5
    assert jpy is not None and jpy.quantize(Decimal("0.01")) == Decimal("100000.00")


def test_notional_falls_back_to_the_tick_value_without_a_conversion_quote() -> None:
    pos, info = record("positions", "ticket", 70001), record("symbols", "name", "EURGBP")
    assert rate_to_account("GBP", "USD", {}) is None
    # 0.5 lot × 0.855 ÷ 0.00001 tick × 1.0 USD per tick and lot
    assert position_notional(pos, info, account_currency="USD", rate=None) == Decimal("42750")
    no_tick = dict(info, trade_tick_value=0.0)
    assert position_notional(pos, no_tick, account_currency="USD", rate=None) is None


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        # an index CFD quoted in HKD, no USDHKD pair: 2 lots × 17000 ÷ 1 point × 0.128 USD per point and lot
        ({"currency_profit": "HKD", "trade_calc_mode": 3, "trade_contract_size": 1.0, "trade_tick_size": 1.0,
          "trade_tick_value": 0.128}, Decimal("4352")),
        # an exchange future quoted in EUR with no EURUSD quote: 2 lots × 17000 ÷ 0.5 × 5.4 USD per tick
        ({"currency_profit": "EUR", "trade_calc_mode": 33, "trade_contract_size": 25.0, "trade_tick_size": 0.5,
          "trade_tick_value": 5.4}, Decimal("367200")),
    ],
)  # fmt: skip
def test_notional_of_futures_and_cfds_from_tick_value(symbol: dict[str, object], expected: Decimal) -> None:
    pos = {"volume": 2.0, "price_current": 17000.0}
    assert position_notional(pos, symbol, account_currency="USD", rate=None) == expected


def test_broker_suffix_carries_to_conversion_pairs() -> None:
    info = record("symbols", "name", "EURGBP")
    assert symbol_suffix("EURGBP.r", info) == ".r"
    assert symbol_suffix("EURGBP", info) == ""
    ticks = {"GBPUSD.r": RECORDED["ticks"]["GBPUSD"]}
    assert rate_to_account("GBP", "USD", ticks, ".r") == Decimal("1.265")


@pytest.mark.parametrize(
    ("tick_lag_s", "server_hours", "expected"),
    [
        (-5, 2, TWO_HOURS),
        (-80, 3, timedelta(hours=3)),
        (30, -5, timedelta(hours=-5)),
        (-5, 5.5, timedelta(hours=5, minutes=30)),
        (-600, 2, None),  # ten-minute-old quote: not fresh
        (-5, 15, None),  # beyond any real zone
    ],
)
def test_estimate_offset(tick_lag_s: int, server_hours: float, expected: timedelta | None) -> None:
    tick_ms = int((NOW.timestamp() + server_hours * 3600 + tick_lag_s) * 1000)
    assert estimate_offset(tick_ms, NOW) == expected


def test_server_time_keeps_last_estimate_while_quotes_stall() -> None:
    server_time = ServerTime()
    fresh = int((NOW.timestamp() + 7200) * 1000)
    assert server_time.observe(None, NOW) is None
    assert server_time.observe(fresh, NOW) == TWO_HOURS
    assert server_time.observe(fresh, NOW + timedelta(hours=3, minutes=10)) == TWO_HOURS  # stale tick


def test_configured_offset_wins() -> None:
    server_time = ServerTime(offset_hours=3)
    assert server_time.observe(int((NOW.timestamp() + 7200) * 1000), NOW) == timedelta(hours=3)
