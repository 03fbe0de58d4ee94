"""Payload → model conversions against recorded-shape JSON payloads (tests/data/ctrader)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from riskmon.clock import TradingCalendar
from riskmon.errors import ProtocolError
from riskmon.models import Side
from riskmon.platforms.ctrader.book import AccountBook
from riskmon.platforms.ctrader.codec import Message, decode, encode, items
from riskmon.platforms.ctrader.equity import (
    ConversionStep,
    Quote,
    conversion_rate,
    conversion_steps,
    gross_pnl,
)
from riskmon.platforms.ctrader.parsing import (
    LightSymbol,
    ctrader_account_list,
    ctrader_deal_realized,
    ctrader_light_symbol,
    ctrader_order,
    ctrader_order_to_order,
    ctrader_position,
    ctrader_position_to_position,
    ctrader_spot_price,
    ctrader_symbol_spec,
    ctrader_trader_to_info,
    ctrader_unrealized_pnl,
)

DATA = Path(__file__).parents[2] / "data" / "ctrader"
EURUSD = LightSymbol(1, "EURUSD", base_asset_id=1, quote_asset_id=15)


def recorded(name: str) -> Message:
    return decode((DATA / name).read_text())


def test_trader_balance_and_info() -> None:
    trader = recorded("trader_res.json").payload["trader"]
    info = ctrader_trader_to_info(trader)
    assert info.balance == Decimal("100.53099944")
    assert (info.ctid, info.trader_login, info.deposit_asset_id) == (38475611, 3151874, 15)
    assert info.leverage == Decimal(100) and info.money_digits == 8


def test_account_list() -> None:
    refs = ctrader_account_list(recorded("account_list_res.json").payload)
    assert [(r.ctid, r.trader_login, r.is_live) for r in refs] == [
        (38475611, 3151874, False),
        (40000001, 5001002, True),
    ]


def test_positions_and_orders() -> None:
    payload = recorded("reconcile_res.json").payload
    spec = ctrader_symbol_spec(items(recorded("symbol_by_id_res.json").payload, "symbol")[0], EURUSD)
    assert spec is not None and (spec.lot_size, spec.digits, spec.name) == (10_000_000, 5, "EURUSD")
    first, second = (ctrader_position(p, 2) for p in items(payload, "position"))
    assert (first.id, first.side, first.volume, first.entry_price) == (
        81234567,
        Side.BUY,
        1_500_000,
        Decimal("1.08512"),
    )
    assert (first.swap, first.commission, first.used_margin) == (
        Decimal("-3.20"),
        Decimal("-4.50"),
        Decimal("162.77"),
    )
    assert first.opened_at == datetime(2025, 11, 21, 4, 40, tzinfo=UTC)
    assert (second.side, second.volume, second.is_open) == (Side.SELL, 70_000_000, True)  # numeric enums
    position = ctrader_position_to_position(first, spec, price=Decimal("1.08555"), unrealized=Decimal("6.45"))
    assert (position.id, position.symbol, position.volume, position.stop_loss) == (
        "81234567",
        "EURUSD",
        Decimal("0.15"),
        Decimal("1.079"),
    )
    limit, protection = (ctrader_order(o) for o in items(payload, "order"))
    assert limit.is_pending and not protection.is_pending  # SL/TP orders belong to their position
    order = ctrader_order_to_order(limit, spec)
    assert (order.id, order.side, order.volume, order.kind, order.price) == (
        "99000001",
        Side.SELL,
        Decimal("0.01"),
        "limit",
        Decimal("1.1"),
    )


def test_unrealized_pnl() -> None:
    pnl = ctrader_unrealized_pnl(recorded("unrealized_pnl_res.json").payload)
    assert pnl[81234567].gross == Decimal("43.05") and pnl[81234567].net == Decimal("35.35")
    assert pnl[81234568].net == Decimal("-123.45")


def test_deal_realized() -> None:
    opening, closing = items(recorded("deal_list_res.json").payload, "deal")
    assert ctrader_deal_realized(opening, 2) == 0  # its commission is unrealised until the close
    assert ctrader_deal_realized(closing, 2) == Decimal("95.80")  # 100.00 gross - 1.20 swap - 3.00 commission


@pytest.mark.parametrize(("digits", "expected"), [(0, Decimal("-450")), (2, Decimal("-4.50")), (8, Decimal("-4.5E-6"))])
def test_money_without_its_own_digits_takes_the_accounts(digits: int, expected: Decimal) -> None:
    """Position, deal, margin and cash payloads may omit moneyDigits: the account's own digits apply."""
    payload = dict(items(recorded("reconcile_res.json").payload, "position")[0])
    del payload["moneyDigits"]
    assert ctrader_position(payload, digits).commission == expected
    _, closing = items(recorded("deal_list_res.json").payload, "deal")
    detail = {k: v for k, v in closing["closePositionDetail"].items() if k != "moneyDigits"}
    bare = {k: v for k, v in closing.items() if k != "moneyDigits"} | {"closePositionDetail": detail}
    assert ctrader_deal_realized(bare, digits) == Decimal(9580).scaleb(-digits)


def test_optional_symbol_fields_may_be_missing() -> None:
    light = ctrader_light_symbol({"symbolId": "7", "symbolName": "XAUUSD.x"})
    assert (light.base_asset_id, light.quote_asset_id) == (None, None)
    assert ctrader_symbol_spec({"symbolId": 7, "digits": 2, "pipPosition": 1}, light) is None
    no_lot = ctrader_symbol_spec({"symbolId": 1, "digits": 5, "pipPosition": 4}, EURUSD)
    assert no_lot is not None and no_lot.lot_size is None
    state = ctrader_position(items(recorded("reconcile_res.json").payload, "position")[0], 2)
    assert ctrader_position_to_position(state, no_lot).volume == Decimal(15000)  # units, as for an unknown symbol


def test_spot_price() -> None:
    spot = recorded("spot_event.json").payload
    assert ctrader_spot_price(int(spot["bid"])) == Decimal("1.08555")


def test_execution_partial_close_applies_to_a_book() -> None:
    info = ctrader_trader_to_info(
        {**recorded("trader_res.json").payload["trader"], "moneyDigits": 2, "balance": 1009580}
    )
    book = AccountBook("3151874", info, "USD", TradingCalendar.of("UTC"))
    spec = ctrader_symbol_spec(items(recorded("symbol_by_id_res.json").payload, "symbol")[0], EURUSD)
    assert spec is not None
    positions = [ctrader_position(p, 2) for p in items(recorded("reconcile_res.json").payload, "position")[:1]]
    now = datetime(2025, 11, 21, 8, 0, tzinfo=UTC)
    book.load(info, positions, [], {}, Decimal(0), now.date(), now)
    book.add_symbol(spec, (ConversionStep(99, invert=False),))
    book.apply_spot(1, Decimal("1.0856"), Decimal("1.0857"), now)
    book.apply_execution(recorded("execution_partial_close.json").payload, now)
    snap = book.snapshot(now)
    assert snap.balance == Decimal("10115.73") and snap.realized_today == Decimal("19.93")
    assert snap.positions[0].volume == Decimal("0.1") and snap.margin == Decimal("108.51")
    assert snap.positions[0].notional is None  # the conversion symbol has no price yet


def test_conversion_chain_and_rates() -> None:
    usd, eur, gbp, jpy = 1, 2, 3, 4
    eurgbp, gbpusd, usdjpy = (
        LightSymbol(10, "EURGBP", eur, gbp),
        LightSymbol(11, "GBPUSD", gbp, usd),
        LightSymbol(12, "USDJPY", usd, jpy),
    )
    assert conversion_steps(gbp, usd, [gbpusd]) == (ConversionStep(11, invert=False),)
    assert conversion_steps(jpy, usd, [usdjpy]) == (ConversionStep(12, invert=True),)
    assert conversion_steps(jpy, eur, [usdjpy, gbpusd, eurgbp]) == (
        ConversionStep(12, True),
        ConversionStep(11, True),
        ConversionStep(10, True),
    )
    with pytest.raises(ProtocolError):
        conversion_steps(jpy, usd, [gbpusd])
    quotes = {11: Quote(Decimal("1.25"), Decimal("1.2502")), 12: Quote(Decimal("150"), Decimal("160"))}
    assert conversion_rate(conversion_steps(jpy, usd, [usdjpy]), quotes) == Decimal(1) / 160
    assert conversion_rate((ConversionStep(13, False),), quotes) is None
    # SELL 0.7 lot USDJPY from 151.25, closed at the ask 149.891, in USD: 70,000 × 1.359 / 149.891
    rate = Decimal(1) / Decimal("149.891")
    assert gross_pnl(Side.SELL, 7_000_000, Decimal("151.25"), Decimal("149.891"), rate, 2) == Decimal("634.66")


def test_quote_keeps_the_side_an_event_omits() -> None:
    assert Quote(Decimal(1), Decimal(2)).updated(None, Decimal(3)) == Quote(Decimal(1), Decimal(3))


@pytest.mark.parametrize(
    "frame",
    [
        "{",
        "[]",
        '{"payload": {}}',
        '{"payloadType": true}',
        '{"payloadType": 51, "payload": []}',
        '{"payloadType": 51, "clientMsgId": 7}',
    ],
)
def test_decode_rejects_malformed_frames(frame: str) -> None:
    with pytest.raises(ProtocolError):
        decode(frame)


def test_encode_decode_round_trip() -> None:
    message: Message = Message(2121, {"ctidTraderAccountId": 1}, "cm_1")
    assert decode(encode(message)) == message
    decoded: Any = decode('{"payloadType": "2131", "payload": {}}')
    assert decoded.payload_type == 2131 and decoded.client_msg_id is None
