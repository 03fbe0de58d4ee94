"""Typed account requests over a session: each sends one Open API request and parses the answer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from riskmon.errors import ProtocolError
from riskmon.models import ZERO

from .codec import PT, Payload, items, req_int
from .equity import ConversionStep, conversion_steps
from .parsing import (
    LightSymbol,
    OrderState,
    PositionState,
    SymbolSpec,
    TraderInfo,
    UnrealizedPnl,
    VolumeRules,
    ctrader_deal_realized,
    ctrader_light_symbol,
    ctrader_order,
    ctrader_position,
    ctrader_symbol_spec,
    ctrader_trader_to_info,
    ctrader_unrealized_pnl,
    ctrader_volume_rules,
)
from .session import CTraderSession

FILLED_DEALS = frozenset({2, 3, "FILLED", "PARTIALLY_FILLED"})
MAX_DEAL_ROWS = 1000


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


async def fetch_trader(session: CTraderSession, ctid: int) -> TraderInfo:
    res = await session.request(PT.TRADER_REQ, {"ctidTraderAccountId": ctid})
    return ctrader_trader_to_info(res.payload.get("trader", {}))


async def fetch_open(
    session: CTraderSession, ctid: int, money_digits: int
) -> tuple[list[PositionState], list[OrderState]]:
    """Open positions and pending orders (2124); ``money_digits`` are the account's, for positions that
    omit their own."""
    res = await session.request(PT.RECONCILE_REQ, {"ctidTraderAccountId": ctid})
    positions = [ctrader_position(p, money_digits) for p in items(res.payload, "position")]
    orders = [ctrader_order(o) for o in items(res.payload, "order")]
    return positions, orders


async def fetch_unrealized(session: CTraderSession, ctid: int) -> dict[int, UnrealizedPnl]:
    res = await session.request(PT.GET_POSITION_UNREALIZED_PNL_REQ, {"ctidTraderAccountId": ctid})
    return ctrader_unrealized_pnl(res.payload)


async def fetch_realized(
    session: CTraderSession, ctid: int, since: datetime, until: datetime, money_digits: int
) -> Decimal:
    """Σ money moved by filled deals executed in [since, until].

    DealListRes promises only that ``hasMore`` is set when more deals match than were returned
    (OpenApiMessages.proto, ProtoOADealListRes), not which ones came or in what order. So deals are
    kept by dealId, and while a window has more, the parts of it before and after the deals it
    returned are asked again (each bound inclusive, so deals sharing a millisecond are not lost). A
    window that has more but returns nothing new is a protocol error, not an endless loop.
    """
    deals: dict[int, Payload] = {}
    windows = [(_ms(since), _ms(until))]
    while windows:
        start, end = windows.pop()
        res = await session.request(
            PT.DEAL_LIST_REQ,
            {"ctidTraderAccountId": ctid, "fromTimestamp": start, "toTimestamp": end, "maxRows": MAX_DEAL_ROWS},
        )
        page = items(res.payload, "deal")
        new = {req_int(d, "dealId"): d for d in page if req_int(d, "dealId") not in deals}
        deals.update(new)
        if not res.payload.get("hasMore"):
            continue
        if not new:
            raise ProtocolError(f"DealListRes has more deals in [{start}, {end}] but returned no new one")
        stamps = [req_int(d, "executionTimestamp") for d in page]
        windows += [(start, min(stamps)), (max(stamps), end)]
    filled = (d for d in deals.values() if d.get("dealStatus", 2) in FILLED_DEALS)
    return sum((ctrader_deal_realized(d, money_digits) for d in filled), ZERO)


async def fetch_asset_names(session: CTraderSession, ctid: int) -> dict[int, str]:
    res = await session.request(PT.ASSET_LIST_REQ, {"ctidTraderAccountId": ctid})
    return {req_int(a, "assetId"): str(a.get("name", req_int(a, "assetId"))) for a in items(res.payload, "asset")}


async def fetch_light_symbols(session: CTraderSession, ctid: int) -> dict[int, LightSymbol]:
    res = await session.request(PT.SYMBOLS_LIST_REQ, {"ctidTraderAccountId": ctid})
    symbols = (ctrader_light_symbol(s) for s in items(res.payload, "symbol"))
    return {s.id: s for s in symbols}


async def fetch_symbol_specs(
    session: CTraderSession, ctid: int, ids: Iterable[int], light: dict[int, LightSymbol]
) -> list[SymbolSpec]:
    res = await session.request(PT.SYMBOL_BY_ID_REQ, {"ctidTraderAccountId": ctid, "symbolId": sorted(ids)})
    found = [s for s in items(res.payload, "symbol") if req_int(s, "symbolId") in light]
    specs = [ctrader_symbol_spec(s, light[req_int(s, "symbolId")]) for s in found]
    return [spec for spec in specs if spec is not None]


async def fetch_volume_rules(session: CTraderSession, ctid: int, symbol_id: int) -> VolumeRules:
    res = await session.request(PT.SYMBOL_BY_ID_REQ, {"ctidTraderAccountId": ctid, "symbolId": [symbol_id]})
    for symbol in items(res.payload, "symbol"):
        if req_int(symbol, "symbolId") == symbol_id:
            return ctrader_volume_rules(symbol)
    raise ProtocolError(f"SymbolByIdRes lacks symbol {symbol_id}")


async def fetch_conversion(
    session: CTraderSession, ctid: int, from_asset: int, to_asset: int
) -> tuple[ConversionStep, ...]:
    if from_asset == to_asset:
        return ()
    res = await session.request(
        PT.SYMBOLS_FOR_CONVERSION_REQ,
        {"ctidTraderAccountId": ctid, "firstAssetId": from_asset, "lastAssetId": to_asset},
    )
    chain = [ctrader_light_symbol(s) for s in items(res.payload, "symbol")]
    return conversion_steps(from_asset, to_asset, chain)


async def subscribe_spots(session: CTraderSession, ctid: int, ids: Iterable[int]) -> None:
    await session.request(
        PT.SUBSCRIBE_SPOTS_REQ,
        {"ctidTraderAccountId": ctid, "symbolId": sorted(ids), "subscribeToSpotTimestamp": True},
    )
