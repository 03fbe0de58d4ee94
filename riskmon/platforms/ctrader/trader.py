"""CTraderTrader: closes positions and cancels orders over the feed's session, never raising for a refusal.

The request's own ExecutionEvents (same clientMsgId) carry the result; ORDER_ACCEPTED is only a step on
the way. Refusals arrive as ErrorRes (50/2142), OrderErrorEvent (2132) or an ExecutionEvent with an
errorCode; each maps to an ``Outcome`` with the broker's code kept verbatim.
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal

from riskmon.errors import PlatformUnavailable, ProtocolError
from riskmon.platforms.base import ActionResult, Outcome

from . import api
from .codec import EXECUTION_TYPE, PT, Message, int_or, opt_str, req_enum, sub
from .parsing import ctrader_lots_to_volume, ctrader_volume_to_lots
from .session import CTraderApiError, CTraderSession

FILLED = EXECUTION_TYPE["ORDER_FILLED"]
CANCELLED = EXECUTION_TYPE["ORDER_CANCELLED"]
FINAL_EXECUTIONS = frozenset(
    EXECUTION_TYPE[name]
    for name in (
        "ORDER_FILLED",
        "ORDER_CANCELLED",
        "ORDER_EXPIRED",
        "ORDER_REJECTED",
        "ORDER_CANCEL_REJECTED",
    )
)
OUTCOME_BY_CODE = {
    "MARKET_CLOSED": Outcome.MARKET_CLOSED,
    "TRADING_DISABLED": Outcome.TRADING_DISABLED,
    "TRADING_NOT_ALLOWED": Outcome.TRADING_DISABLED,
    "POSITION_NOT_FOUND": Outcome.NOT_FOUND,
    "ORDER_NOT_FOUND": Outcome.NOT_FOUND,
    "POSITION_NOT_OPEN": Outcome.NOT_FOUND,
    "TIMEOUT_ERROR": Outcome.TIMEOUT,
}


def outcome_for_code(code: str) -> Outcome:
    return OUTCOME_BY_CODE.get(code, Outcome.REJECTED)


def _is_final(msg: Message) -> bool:
    return (
        msg.payload_type == PT.EXECUTION_EVENT
        and req_enum(msg.payload, "executionType", EXECUTION_TYPE) in FINAL_EXECUTIONS
    )


def _refusal(msg: Message, fallback: str) -> ActionResult:
    code = opt_str(msg.payload, "errorCode") or fallback
    return ActionResult(outcome_for_code(code), f"cTrader refused: {code}", code)


class CTraderTrader:
    """Implements ``riskmon.platforms.base.Trader``; ``volume`` is in lots, as in ``Position.volume``."""

    def __init__(self, session: CTraderSession, *, timeout: float = 10.0) -> None:
        self._session = session
        self._timeout = timeout

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        if not position_id.isdigit():
            return ActionResult(Outcome.NOT_FOUND, f"no cTrader position {position_id!r}", "POSITION_NOT_FOUND")
        return await self._guarded(self._close(account, int(position_id), volume))

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        if not order_id.isdigit():
            return ActionResult(Outcome.NOT_FOUND, f"no cTrader order {order_id!r}", "ORDER_NOT_FOUND")
        return await self._guarded(self._cancel(account, int(order_id)))

    async def _guarded(self, action: Awaitable[ActionResult]) -> ActionResult:
        try:
            return await action
        except CTraderApiError as exc:
            return ActionResult(outcome_for_code(exc.code), exc.description or str(exc), exc.code)
        except TimeoutError:
            return ActionResult(Outcome.TIMEOUT, f"no answer from cTrader within {self._timeout:g} s")
        except PlatformUnavailable as exc:
            return ActionResult(Outcome.NO_CONNECTION, str(exc))
        except ProtocolError as exc:
            return ActionResult(Outcome.REJECTED, f"unreadable cTrader answer: {exc}")

    async def _close(self, account: str, position_id: int, lots: Decimal | None) -> ActionResult:
        session = self._session
        ctid = session.ctid(account)
        positions, _ = await api.fetch_open(session, ctid)
        position = next((p for p in positions if p.id == position_id), None)
        if position is None:
            return ActionResult(Outcome.NOT_FOUND, f"position {position_id} is not open", "POSITION_NOT_FOUND")
        rules = await api.fetch_volume_rules(session, ctid, position.symbol_id)
        lot_size = rules.lot_size
        volume = position.volume
        if lots is not None:  # a partial close: whole volume steps only, never more than is open
            volume = min(volume, rules.round_down(ctrader_lots_to_volume(lots, lot_size)))
        if volume <= 0:
            return ActionResult(Outcome.REJECTED, f"{lots} lots is less than one volume step", "TRADING_BAD_VOLUME")
        msg = await session.request(
            PT.CLOSE_POSITION_REQ,
            {"ctidTraderAccountId": ctid, "positionId": position_id, "volume": volume},
            until=_is_final,
            within=self._timeout,
        )
        kind = req_enum(msg.payload, "executionType", EXECUTION_TYPE)
        executed = int_or(sub(msg.payload, "order"), "executedVolume", 0)
        executed = int_or(sub(msg.payload, "deal"), "filledVolume", executed)
        if kind == FILLED or (kind == CANCELLED and executed > 0):
            closed = ctrader_volume_to_lots(executed or volume, lot_size)
            note = "" if kind == FILLED else " (partially filled)"
            return ActionResult(Outcome.DONE, f"closed {closed} lots of position {position_id}{note}", "", closed)
        return _refusal(msg, "ORDER_REJECTED")

    async def _cancel(self, account: str, order_id: int) -> ActionResult:
        session = self._session
        msg = await session.request(
            PT.CANCEL_ORDER_REQ,
            {"ctidTraderAccountId": session.ctid(account), "orderId": order_id},
            until=_is_final,
            within=self._timeout,
        )
        if req_enum(msg.payload, "executionType", EXECUTION_TYPE) == CANCELLED:
            return ActionResult(Outcome.DONE, f"order {order_id} cancelled")
        return _refusal(msg, "ORDER_CANCEL_REJECTED")
