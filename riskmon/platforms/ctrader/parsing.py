"""cTrader payloads → riskmon values: named pure functions, Decimal money, tz-aware UTC.

Scaling (PROTOCOLS.md A3): money ÷ 10^moneyDigits; volume in cents of a unit (lots = volume ÷ lotSize,
lotSize also in cents); spot prices ÷ 100000; leverageInCents ÷ 100; timestamps in Unix ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from riskmon.errors import ProtocolError
from riskmon.models import ZERO, Order, Position, Side

from .codec import (
    ORDER_STATUS,
    ORDER_TYPE,
    POSITION_STATUS,
    TRADE_SIDE,
    Payload,
    as_int,
    int_or,
    items,
    opt_float,
    opt_int,
    opt_str,
    req_enum,
    req_int,
    req_volume,
    sub,
)

SPOT_SCALE = Decimal(100000)
ORDER_KINDS = {2: "limit", 3: "stop", 6: "stop_limit", 1: "market", 5: "market"}
PENDING_STATUS = ORDER_STATUS["ORDER_STATUS_ACCEPTED"]
OPEN_STATUS = POSITION_STATUS["POSITION_STATUS_OPEN"]


@dataclass(frozen=True, slots=True)
class AccountRef:
    """One entry of the account list a token sees (2150)."""

    ctid: int
    trader_login: int | None
    is_live: bool


@dataclass(frozen=True, slots=True)
class TraderInfo:
    ctid: int
    balance: Decimal
    money_digits: int
    deposit_asset_id: int
    leverage: Decimal | None
    trader_login: int | None


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    id: int
    name: str
    lot_size: int | None  # cents of a unit; optional in ProtoOASymbol: lots unknown without it
    digits: int
    base_asset_id: int
    quote_asset_id: int


@dataclass(frozen=True, slots=True)
class VolumeRules:
    """ProtoOASymbol's volume fields, all in cents of a unit and all optional in the proto."""

    lot_size: int | None
    step: int = 0
    largest: int | None = None  # maxVolume: one request may close no more than this

    def round_down(self, volume: int) -> int:
        return volume - volume % self.step if self.step > 0 else volume

    def parts(self, volume: int) -> list[int]:
        """``volume`` as requests of at most ``largest`` each, in order (largest first)."""
        largest = self.round_down(self.largest) if self.largest else 0
        if largest <= 0 or volume <= largest:
            return [volume]
        whole, rest = divmod(volume, largest)
        return [largest] * whole + ([rest] if rest else [])


@dataclass(frozen=True, slots=True)
class LightSymbol:
    """ProtoOALightSymbol: every field but symbolId is optional; a symbol without its assets cannot be
    converted or valued, but it does not stop the others."""

    id: int
    name: str
    base_asset_id: int | None
    quote_asset_id: int | None


@dataclass(frozen=True, slots=True)
class PositionState:
    """An open position as the protocol states it, money already scaled."""

    id: int
    symbol_id: int
    side: Side
    volume: int  # cents of a unit
    entry_price: Decimal | None
    swap: Decimal
    commission: Decimal
    used_margin: Decimal
    stop_loss: Decimal | None
    opened_at: datetime | None
    is_open: bool


@dataclass(frozen=True, slots=True)
class OrderState:
    id: int
    symbol_id: int
    side: Side
    volume: int  # cents of a unit
    kind: str
    price: Decimal | None
    is_pending: bool


@dataclass(frozen=True, slots=True)
class UnrealizedPnl:
    gross: Decimal
    net: Decimal


def ctrader_money(raw: int, money_digits: int) -> Decimal:
    return Decimal(raw).scaleb(-money_digits)


def ctrader_timestamp(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ctrader_spot_price(raw: int) -> Decimal:
    return Decimal(raw) / SPOT_SCALE


def ctrader_price(value: float | None) -> Decimal | None:
    """Absolute prices travel as doubles: take their shortest decimal repr, never binary noise."""
    return None if value is None else Decimal(repr(value))


def ctrader_volume_to_lots(volume: int, lot_size: int) -> Decimal:
    return Decimal(volume) / Decimal(lot_size)


def ctrader_lots_to_volume(lots: Decimal, lot_size: int) -> int:
    return int((lots * lot_size).to_integral_value())


def ctrader_leverage(leverage_in_cents: int | None) -> Decimal | None:
    return None if leverage_in_cents is None else Decimal(leverage_in_cents) / 100


def ctrader_side(payload: Payload, key: str = "tradeSide") -> Side:
    return Side.BUY if req_enum(payload, key, TRADE_SIDE) == TRADE_SIDE["BUY"] else Side.SELL


def money_digits(payload: Payload, account_digits: int) -> int:
    """A payload's own moneyDigits; when it omits them (the field is optional), the account's."""
    value = payload.get("moneyDigits")
    return account_digits if value is None else as_int(value, "moneyDigits")


def ctrader_account_list(payload: Payload) -> list[AccountRef]:
    return [
        AccountRef(
            ctid=req_int(item, "ctidTraderAccountId"),
            trader_login=opt_int(item, "traderLogin"),
            is_live=bool(item.get("isLive", False)),
        )
        for item in items(payload, "ctidTraderAccount")
    ]


TRADER_MONEY_DIGITS = 2  # ProtoOATrader without moneyDigits: the only place no account figure can tell


def ctrader_trader_to_info(trader: Payload) -> TraderInfo:
    """ProtoOATrader; its moneyDigits are the account's, used wherever another payload omits its own."""
    digits = money_digits(trader, TRADER_MONEY_DIGITS)
    return TraderInfo(
        ctid=req_int(trader, "ctidTraderAccountId"),
        balance=ctrader_money(req_int(trader, "balance"), digits),
        money_digits=digits,
        deposit_asset_id=req_int(trader, "depositAssetId"),
        leverage=ctrader_leverage(opt_int(trader, "leverageInCents")),
        trader_login=opt_int(trader, "traderLogin"),
    )


def ctrader_light_symbol(payload: Payload) -> LightSymbol:
    return LightSymbol(
        id=req_int(payload, "symbolId"),
        name=opt_str(payload, "symbolName") or str(req_int(payload, "symbolId")),
        base_asset_id=opt_int(payload, "baseAssetId"),
        quote_asset_id=opt_int(payload, "quoteAssetId"),
    )


def ctrader_symbol_spec(full: Payload, light: LightSymbol) -> SymbolSpec | None:
    """Combine ProtoOASymbol (2117: lotSize, digits) with its ProtoOALightSymbol (2115: name, assets);
    None when the light symbol lacks its assets (nothing can be converted through it)."""
    if light.base_asset_id is None or light.quote_asset_id is None:
        return None
    return SymbolSpec(
        id=light.id,
        name=light.name,
        lot_size=opt_int(full, "lotSize"),
        digits=req_int(full, "digits"),
        base_asset_id=light.base_asset_id,
        quote_asset_id=light.quote_asset_id,
    )


def ctrader_volume_rules(symbol: Payload) -> VolumeRules:
    return VolumeRules(
        lot_size=opt_int(symbol, "lotSize"), step=int_or(symbol, "stepVolume", 0), largest=opt_int(symbol, "maxVolume")
    )


def ctrader_position(payload: Payload, account_digits: int) -> PositionState:
    trade = sub(payload, "tradeData")
    digits = money_digits(payload, account_digits)
    opened = opt_int(trade, "openTimestamp")
    status = payload.get("positionStatus")
    return PositionState(
        id=req_int(payload, "positionId"),
        symbol_id=req_int(trade, "symbolId"),
        side=ctrader_side(trade),
        volume=req_volume(trade),
        entry_price=ctrader_price(opt_float(payload, "price")),
        swap=ctrader_money(int_or(payload, "swap", 0), digits),
        commission=ctrader_money(int_or(payload, "commission", 0), digits),
        used_margin=ctrader_money(int_or(payload, "usedMargin", 0), digits),
        stop_loss=ctrader_price(opt_float(payload, "stopLoss")),
        opened_at=None if opened is None else ctrader_timestamp(opened),
        is_open=status is None or req_enum(payload, "positionStatus", POSITION_STATUS) == OPEN_STATUS,
    )


def ctrader_order(payload: Payload) -> OrderState:
    trade = sub(payload, "tradeData")
    kind = req_enum(payload, "orderType", ORDER_TYPE)
    status = req_enum(payload, "orderStatus", ORDER_STATUS) if "orderStatus" in payload else PENDING_STATUS
    price = opt_float(payload, "limitPrice")
    if price is None:
        price = opt_float(payload, "stopPrice")
    return OrderState(
        id=req_int(payload, "orderId"),
        symbol_id=req_int(trade, "symbolId"),
        side=ctrader_side(trade),
        volume=req_volume(trade),
        kind=ORDER_KINDS.get(kind, "other"),
        price=ctrader_price(price),
        is_pending=status == PENDING_STATUS and kind not in (1, 4, 5) and not payload.get("closingOrder"),
    )


def ctrader_unrealized_pnl(payload: Payload) -> dict[int, UnrealizedPnl]:
    """GetPositionUnrealizedPnLRes (2188): per-position gross and net P&L in the deposit currency."""
    digits = req_int(payload, "moneyDigits")  # required in this message
    return {
        req_int(item, "positionId"): UnrealizedPnl(
            gross=ctrader_money(req_int(item, "grossUnrealizedPnL"), digits),
            net=ctrader_money(req_int(item, "netUnrealizedPnL"), digits),
        )
        for item in items(payload, "positionUnrealizedPnL")
    }


def ctrader_deal_realized(deal: Payload, account_digits: int) -> Decimal:
    """Money a deal moved into the balance. Only closing deals move it: closePositionDetail's gross +
    swap + commission (+ conversion fee) for the closed volume, commission and fees signed (negative =
    charge). An opening deal's own commission stays unrealised with its position until the close,
    whose detail then carries it (OpenApiModelMessages.proto, ProtoOAClosePositionDetail)."""
    if "closePositionDetail" not in deal:
        return ZERO
    detail = sub(deal, "closePositionDetail")
    raw = sum(int_or(detail, key, 0) for key in ("grossProfit", "swap", "commission", "pnlConversionFee"))
    return ctrader_money(raw, money_digits(detail, money_digits(deal, account_digits)))


def ctrader_deal_balance(deal: Payload, account_digits: int) -> Decimal | None:
    """The balance after a closing deal, when the deal says it."""
    if "closePositionDetail" not in deal:
        return None
    detail = sub(deal, "closePositionDetail")
    balance = opt_int(detail, "balance")
    return None if balance is None else ctrader_money(balance, money_digits(detail, money_digits(deal, account_digits)))


def ctrader_deal_time(deal: Payload) -> datetime:
    return ctrader_timestamp(req_int(deal, "executionTimestamp"))


def ctrader_position_to_position(
    state: PositionState,
    symbol: SymbolSpec | None,
    *,
    price: Decimal | None = None,
    unrealized: Decimal = ZERO,
    notional: Decimal | None = None,
) -> Position:
    """A riskmon Position; lots need the symbol's lotSize (unknown symbol → volume left in units)."""
    name, lots = _name_and_lots(state.symbol_id, state.volume, symbol)
    return Position(
        id=str(state.id),
        symbol=name,
        side=state.side,
        volume=lots,
        open_price=state.entry_price,
        price=price,
        notional=notional,
        unrealized_pnl=unrealized,
        swap=state.swap,
        commission=state.commission,
        stop_loss=state.stop_loss,
        opened_at=state.opened_at,
    )


def _name_and_lots(symbol_id: int, volume: int, symbol: SymbolSpec | None) -> tuple[str, Decimal]:
    """A symbol's name and the volume in lots; without a spec or its lotSize, the volume stays in units."""
    name = str(symbol_id) if symbol is None else symbol.name
    if symbol is None or not symbol.lot_size:
        return name, Decimal(volume) / 100
    return name, ctrader_volume_to_lots(volume, symbol.lot_size)


def ctrader_order_to_order(state: OrderState, symbol: SymbolSpec | None) -> Order:
    name, lots = _name_and_lots(state.symbol_id, state.volume, symbol)
    return Order(id=str(state.id), symbol=name, side=state.side, volume=lots, kind=state.kind, price=state.price)


def ctrader_error(payload: Payload) -> tuple[str, str, float | None]:
    """(errorCode name, description, retryAfter seconds) from ErrorRes 50/2142 or OrderErrorEvent 2132.

    ``retryAfter`` (ProtoOAErrorRes field 6) is set with BLOCKED_PAYLOAD_TYPE: seconds until the
    payload type is unlocked."""
    code = payload.get("errorCode")
    if not isinstance(code, str | int) or isinstance(code, bool):
        raise ProtocolError("error without errorCode")
    retry_after = opt_int(payload, "retryAfter")
    return str(code), opt_str(payload, "description") or "", None if retry_after is None else float(retry_after)
