"""Pure conversions from MetaTrader5 records (plain dicts copied off the terminal) to riskmon models.

Money becomes ``Decimal`` here, once (``Decimal(str(x))``); terminal times are broker server time and
become UTC here, given the server's offset from UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from riskmon.models import ZERO, Order, Position, Side
from riskmon.platforms.mt5 import constants as c

Record = Mapping[str, Any]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TRADE_DEALS = {c.DEAL_TYPE_BUY, c.DEAL_TYPE_SELL, c.DEAL_TYPE_BUY_CANCELED, c.DEAL_TYPE_SELL_CANCELED}
_FUNDING_DEALS = {c.DEAL_TYPE_BALANCE, c.DEAL_TYPE_CREDIT}
_CLOSING_ENTRIES = {c.DEAL_ENTRY_OUT, c.DEAL_ENTRY_INOUT, c.DEAL_ENTRY_OUT_BY}
_ORDER_KINDS: dict[int, tuple[Side, str]] = {
    0: (Side.BUY, "market"),
    1: (Side.SELL, "market"),
    2: (Side.BUY, "limit"),
    3: (Side.SELL, "limit"),
    4: (Side.BUY, "stop"),
    5: (Side.SELL, "stop"),
    6: (Side.BUY, "stop_limit"),
    7: (Side.SELL, "stop_limit"),
    8: (Side.BUY, "market"),  # CLOSE_BY: a market operation between two positions; side is moot
}


def money(value: float | int | str) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True, slots=True)
class AccountFigures:
    login: int
    balance: Decimal
    equity: Decimal
    margin: Decimal
    currency: str
    leverage: Decimal


def mt5_account_to_balance(info: Record) -> AccountFigures:
    return AccountFigures(
        login=int(info["login"]),
        balance=money(info["balance"]),
        equity=money(info["equity"]),
        margin=money(info["margin"]),
        currency=str(info["currency"]),
        leverage=Decimal(int(info["leverage"])),
    )


def server_ms_to_utc(server_ms: int, offset: timedelta) -> datetime:
    """A terminal timestamp (milliseconds, server clock) as a UTC instant."""
    return EPOCH + timedelta(milliseconds=int(server_ms)) - offset


def utc_to_server_seconds(ts: datetime, offset: timedelta) -> int:
    """A UTC instant as the terminal's epoch seconds (server clock), for history queries."""
    return int((ts + offset - EPOCH).total_seconds())


def mt5_position_to_position(pos: Record, *, notional: Decimal | None, offset: timedelta) -> Position:
    sl = money(pos["sl"])
    return Position(
        id=str(pos["ticket"]),
        symbol=str(pos["symbol"]),
        side=Side.BUY if pos["type"] == c.POSITION_TYPE_BUY else Side.SELL,
        volume=money(pos["volume"]),
        open_price=money(pos["price_open"]),
        price=money(pos["price_current"]),
        notional=notional,
        unrealized_pnl=money(pos["profit"]),
        swap=money(pos["swap"]),
        commission=money(pos.get("commission", 0)),  # absent from current builds' TradePosition
        stop_loss=sl if sl != 0 else None,
        opened_at=server_ms_to_utc(pos["time_msc"], offset),
    )


def mt5_order_to_order(order: Record) -> Order:
    side, kind = _ORDER_KINDS.get(int(order["type"]), (Side.BUY, "market"))
    price = money(order["price_open"])
    return Order(
        id=str(order["ticket"]),
        symbol=str(order["symbol"]),
        side=side,
        volume=money(order["volume_current"]),
        kind=kind,
        price=price if price != 0 else None,
    )


def deal_pnl(deal: Record) -> Decimal:
    """What one deal did to the trader's P&L: deposits, withdrawals and credit are not P&L."""
    deal_type = int(deal["type"])
    costs = money(deal["commission"]) + money(deal["fee"])
    if deal_type in _FUNDING_DEALS:
        return ZERO
    if deal_type in _TRADE_DEALS and deal["entry"] not in _CLOSING_ENTRIES:
        return costs  # opening a position realises only its costs
    return money(deal["profit"]) + money(deal["swap"]) + costs  # closes, and charges, interest, ...


def realized_pnl_from_deals(deals: Iterable[Record], *, start: datetime, end: datetime, offset: timedelta) -> Decimal:
    """Closed P&L of the deals executed in [start, end) (UTC), deal times being server time."""
    return sum(
        (deal_pnl(d) for d in deals if start <= server_ms_to_utc(d["time_msc"], offset) < end),
        ZERO,
    )


def conversion_symbols(currency: str, account_currency: str, suffix: str = "") -> list[tuple[str, bool]]:
    """Symbols that may quote ``currency`` against the account currency: (name, inverted)."""
    names = [(f"{currency}{account_currency}", False), (f"{account_currency}{currency}", True)]
    with_suffix = [(name + suffix, inverted) for name, inverted in names] if suffix else []
    return with_suffix + names


def rate_from_tick(tick: Record, *, inverted: bool) -> Decimal | None:
    """Account-currency units per unit of the other currency: sell it at the bid, or buy at the ask."""
    price = money(tick["ask"] if inverted else tick["bid"])
    if price <= 0:
        return None
    return 1 / price if inverted else price


def symbol_suffix(symbol: str, info: Record) -> str:
    """The broker's decoration after a six-letter FX name (``EURUSD.r`` → ``.r``), or ''."""
    core = f"{info.get('currency_base', '')}{info['currency_profit']}"
    return symbol[len(core) :] if len(core) == 6 and symbol.startswith(core) else ""


def position_notional(pos: Record, info: Record, *, account_currency: str, rate: Decimal | None) -> Decimal | None:
    """|volume × contract size × price| in the profit currency, converted into the account currency.

    ``rate`` converts the symbol's profit currency into the account currency (ignored when they match).
    Without one (futures, indices, CFDs quoted in a currency no pair converts), the symbol's own tick
    value does: ``trade_tick_value`` is the account-currency value of one ``trade_tick_size`` move for one
    lot, so one lot is worth price ÷ tick size × tick value. None only when neither is known.
    """
    try:
        volume, price = money(pos["volume"]), money(pos["price_current"])
        if info["currency_profit"] == account_currency:
            return abs(volume * money(info["trade_contract_size"]) * price)
        if rate is not None:
            return abs(volume * money(info["trade_contract_size"]) * price * rate)
        tick_value, tick_size = money(info.get("trade_tick_value", 0)), money(info.get("trade_tick_size", 0))
        if tick_value > 0 and tick_size > 0:
            return abs(volume * price / tick_size * tick_value)
        return None
    except ArithmeticError:  # a non-finite figure (0 × inf): unknown here, refused whole at the monitor's door
        return None


def rate_to_account(
    currency: str, account_currency: str, ticks: Mapping[str, Record], suffix: str = ""
) -> Decimal | None:
    """How many account-currency units one unit of ``currency`` is worth, from the first quoted pair."""
    for name, inverted in conversion_symbols(currency, account_currency, suffix):
        if name in ticks and (rate := rate_from_tick(ticks[name], inverted=inverted)) is not None:
            return rate
    return None
