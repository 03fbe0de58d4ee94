"""One ProjectX account's state, kept from REST answers and hub events, valued as futures.

Pure: no I/O. Field names and enums are the gateway's (``PositionType`` 1 long / 2 short, ``OrderSide``
0 bid / 1 ask, ``OrderStatus``, ``OrderType``); a position's P&L is its move in ticks times the
contract's tick value (``Contract/searchById``: ``tickSize``, ``tickValue``), valued at the price it
would close at (bid for a long, ask for a short; the last trade when the book side is missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from riskmon.errors import ProtocolError
from riskmon.models import ZERO, AccountSnapshot, Order, Position, Side

CENT = Decimal("0.01")
LONG, SHORT = 1, 2
WORKING = {1, 6, 8}  # OrderStatus Open, Pending, Suspended (a bracket child waiting for its parent)
ORDER_KIND = {1: "limit", 2: "market", 3: "stop_limit", 4: "stop", 5: "stop", 6: "limit", 7: "limit"}


def number(data: Mapping[str, Any], key: str, required: bool = True) -> Decimal | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"ProjectX: {key} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProtocolError(f"ProjectX: {key} is not a number: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ProtocolError(f"ProjectX: {key} is not a number: {value!r}") from None


def timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"ProjectX: {key} is not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else None


def identifier(data: Mapping[str, Any], key: str = "id") -> str:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ProtocolError(f"ProjectX: {key} missing")
    return str(value)


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    name: str
    tick_size: Decimal
    tick_value: Decimal

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Contract:
        tick_size, tick_value = number(data, "tickSize"), number(data, "tickValue")
        assert tick_size is not None and tick_value is not None
        if tick_size <= 0 or tick_value <= 0:
            raise ProtocolError(f"ProjectX: contract {data.get('id')} has tick size {tick_size}, value {tick_value}")
        return cls(identifier(data), str(data.get("name") or data.get("id")), tick_size, tick_value)

    def value(self, price: Decimal, contracts: int) -> Decimal:
        """Money per ``contracts`` at ``price``: the price in ticks times the tick value."""
        return price / self.tick_size * self.tick_value * contracts


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None

    def merged(self, data: Mapping[str, Any]) -> Quote:
        """A GatewayQuote may carry only the fields that changed."""
        return Quote(
            number(data, "bestBid", False) or self.bid,
            number(data, "bestAsk", False) or self.ask,
            number(data, "lastPrice", False) or self.last,
        )

    def exit_price(self, long: bool) -> Decimal | None:
        return (self.bid if long else self.ask) or self.last


@dataclass(frozen=True, slots=True)
class FuturesPosition:
    id: str
    contract_id: str
    long: bool
    size: int
    average_price: Decimal
    opened_at: datetime | None


@dataclass(frozen=True, slots=True)
class Fill:
    at: datetime
    pnl: Decimal  # realised by this fill (zero for a half turn that opened)
    fees: Decimal
    voided: bool


@dataclass
class AccountBook:
    account: str
    balance: Decimal = ZERO
    can_trade: bool = True
    positions: dict[str, FuturesPosition] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    fills: dict[str, Fill] = field(default_factory=dict)

    def apply_account(self, data: Mapping[str, Any]) -> None:
        balance = number(data, "balance")
        assert balance is not None
        self.balance = balance
        self.can_trade = bool(data.get("canTrade", True))

    def apply_position(self, data: Mapping[str, Any]) -> None:
        """A position as the gateway has it now; size 0 (or type Undefined) means it is closed."""
        position_id = identifier(data)
        size = data.get("size")
        kind = data.get("type")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProtocolError(f"ProjectX: position {position_id} size is {size!r}")
        if size == 0 or kind not in (LONG, SHORT):
            self.positions.pop(position_id, None)
            return
        price = number(data, "averagePrice")
        assert price is not None
        self.positions[position_id] = FuturesPosition(
            position_id,
            identifier(data, "contractId"),
            kind == LONG,
            size,
            price,
            timestamp(data, "creationTimestamp"),
        )

    def set_positions(self, rows: list[Any]) -> None:
        self.positions.clear()
        for row in rows:
            self.apply_position(_mapping(row))

    def apply_order(self, data: Mapping[str, Any]) -> None:
        order_id = identifier(data)
        if data.get("status") not in WORKING:
            self.orders.pop(order_id, None)
            return
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise ProtocolError(f"ProjectX: order {order_id} size is {size!r}")
        self.orders[order_id] = Order(
            id=order_id,
            symbol=identifier(data, "contractId"),
            side=Side.BUY if data.get("side") == 0 else Side.SELL,
            volume=Decimal(size - int(data.get("fillVolume") or 0)),
            kind=ORDER_KIND.get(int(data.get("type") or 0), "limit"),
            price=number(data, "limitPrice", False) or number(data, "stopPrice", False),
        )

    def set_orders(self, rows: list[Any]) -> None:
        self.orders.clear()
        for row in rows:
            self.apply_order(_mapping(row))

    def apply_trade(self, data: Mapping[str, Any]) -> None:
        """A fill (a half turn): ``profitAndLoss`` null when it opened, the realised P&L when it closed."""
        at = timestamp(data, "creationTimestamp")
        if at is None:
            raise ProtocolError("ProjectX: trade without creationTimestamp")
        fees = (number(data, "fees", False) or ZERO) + (number(data, "commissions", False) or ZERO)
        self.fills[identifier(data)] = Fill(
            at, number(data, "profitAndLoss", False) or ZERO, fees, bool(data.get("voided", False))
        )

    def set_trades(self, rows: list[Any]) -> None:
        self.fills.clear()
        for row in rows:
            self.apply_trade(_mapping(row))

    def realized_since(self, start: datetime) -> Decimal:
        """Closed P&L less fees of every fill since ``start`` (voided fills do not count)."""
        return sum((f.pnl - f.fees for f in self.fills.values() if f.at >= start and not f.voided), ZERO)

    def contracts_held(self) -> set[str]:
        return {p.contract_id for p in self.positions.values()}

    def snapshot(
        self,
        contracts: Mapping[str, Contract],
        quotes: Mapping[str, Quote],
        *,
        now: datetime,
        day_start: datetime,
    ) -> AccountSnapshot:
        positions = []
        floating = ZERO
        for p in self.positions.values():
            contract = contracts.get(p.contract_id)
            quote = quotes.get(p.contract_id)
            price = quote.exit_price(p.long) if quote else None
            pnl, notional = ZERO, None
            if contract is not None and price is not None:
                sign = 1 if p.long else -1
                pnl = (contract.value(price - p.average_price, p.size) * sign).quantize(CENT)
                notional = contract.value(price, p.size).quantize(CENT)
            floating += pnl
            positions.append(
                Position(
                    id=p.id,
                    symbol=contract.name if contract else p.contract_id,
                    side=Side.BUY if p.long else Side.SELL,
                    volume=Decimal(p.size),
                    open_price=p.average_price,
                    price=price,
                    notional=notional,
                    unrealized_pnl=pnl,
                    opened_at=p.opened_at,
                )
            )
        return AccountSnapshot(
            account=self.account,
            balance=self.balance,
            equity=self.balance + floating,
            ts=now,
            platform="projectx",
            positions=tuple(positions),
            orders=tuple(self.orders.values()),
            received_at=now,
            realized_today=self.realized_since(day_start),
        )


def _mapping(row: Any) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise ProtocolError(f"ProjectX: expected an object, got {type(row).__name__}")
    return row
