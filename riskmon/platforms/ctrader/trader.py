"""CTraderTrader: closes positions and cancels orders over the feed's session, never raising for a refusal.

A close is answered by ExecutionEvents: ORDER_ACCEPTED (only a step on the way, it names the order),
then ORDER_FILLED with the deal and its closePositionDetail (or ORDER_CANCELLED / ORDER_REJECTED). The
request's clientMsgId may or may not be repeated on the fill, so the fill is also recognised by the
accepted order's id (or, before that is known, as a closing order of the same position). Refusals
arrive as ErrorRes (50/2142), OrderErrorEvent (2132) or an ExecutionEvent with an errorCode; each maps
to an ``Outcome`` (``outcome_for_code``) with the broker's code verbatim and its retryAfter, if any.

A close larger than the symbol's maxVolume is sent as several closes of at most maxVolume, one after
another; when one of them is refused, what was closed so far is reported as PARTIAL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from riskmon.errors import PlatformUnavailable, ProtocolError
from riskmon.platforms.base import ActionResult, Outcome

from . import api
from .codec import EXECUTION_TYPE, PT, Message, int_or, items, opt_int, opt_str, req_enum, req_int, sub
from .parsing import VolumeRules, ctrader_error, ctrader_lots_to_volume, ctrader_volume_to_lots
from .session import CTraderApiError, CTraderSession

ACCEPTED = EXECUTION_TYPE["ORDER_ACCEPTED"]
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
# ProtoOAErrorCode (OpenApiModelMessages.proto) and ProtoErrorCode (OpenApiCommonModelMessages.proto),
# classified. A code not listed is UNKNOWN: the request may have acted, a fresh snapshot decides.
OUTCOME_BY_CODE = {
    # "Position in the state that does not allow to perform an operation", "... has an order under execution",
    # "Order is blocked (e.g. under execution)": another close may be executing on it, so a fresh snapshot
    # decides before anything is sent again.
    **dict.fromkeys(("POSITION_LOCKED", "PENDING_EXECUTION", "CONCURRENT_MODIFICATION"), Outcome.UNKNOWN),
    **dict.fromkeys(("MARKET_CLOSED", "SYMBOL_HAS_HOLIDAY"), Outcome.MARKET_CLOSED),
    **dict.fromkeys(
        (
            "REQUEST_FREQUENCY_EXCEEDED",
            "BLOCKED_PAYLOAD_TYPE",
            "CANT_ROUTE_REQUEST",
            "NO_QUOTES",
            "SERVER_IS_UNDER_MAINTENANCE",
            "CH_SERVER_NOT_REACHABLE",
            "CONNECTIONS_LIMIT_EXCEEDED",
            "ACCOUNT_NOT_AUTHORIZED",  # the account's session is being re-authorised
            "TIMEOUT_ERROR",  # "deal execution is reached timeout and rejected"
        ),
        Outcome.RETRY,
    ),
    **dict.fromkeys(
        ("TRADING_DISABLED", "TRADING_NOT_ALLOWED", "CHANNEL_IS_BLOCKED", "RET_ACCOUNT_DISABLED"),
        Outcome.TRADING_DISABLED,
    ),
    **dict.fromkeys(
        ("POSITION_NOT_FOUND", "ORDER_NOT_FOUND", "POSITION_NOT_OPEN", "ENTITY_NOT_FOUND"), Outcome.NOT_FOUND
    ),
    **dict.fromkeys(
        (
            "NOT_ENOUGH_MONEY",
            "MAX_EXPOSURE_REACHED",
            "TOO_MANY_POSITIONS",
            "TRADING_BAD_VOLUME",
            "TRADING_BAD_STOPS",
            "TRADING_BAD_PRICES",
            "TRADING_BAD_STAKE",
            "UNABLE_TO_CANCEL_ORDER",
            "UNABLE_TO_AMEND_ORDER",
            "SHORT_SELLING_NOT_ALLOWED",
            "INVALID_REQUEST",
            "UNSUPPORTED_MESSAGE",
            "FRAME_TOO_LONG",
            "SYMBOL_NOT_FOUND",
            "UNKNOWN_SYMBOL",
            "ORDER_REJECTED",
            "ORDER_CANCEL_REJECTED",
        ),
        Outcome.REJECTED,
    ),
}


def outcome_for_code(code: str) -> Outcome:
    return OUTCOME_BY_CODE.get(code, Outcome.UNKNOWN)


def refusal(code: str, description: str = "", retry_after: float | None = None) -> ActionResult:
    text = f"cTrader refused: {code}" + (f" ({description})" if description else "")
    return ActionResult(outcome_for_code(code), text, code, None, retry_after)


@dataclass(slots=True)
class _Answer:
    """Recognises the answer to one close or cancel, with or without the request's clientMsgId."""

    position_id: int | None = None
    order_id: int | None = None

    def own(self, msg: Message) -> bool:
        """A message carrying our clientMsgId: ORDER_ACCEPTED names the order, a final execution ends it."""
        if msg.payload_type != PT.EXECUTION_EVENT:
            return False
        kind = req_enum(msg.payload, "executionType", EXECUTION_TYPE)
        if kind == ACCEPTED and self.order_id is None:
            self.order_id = opt_int(sub(msg.payload, "order"), "orderId")
        return kind in FINAL_EXECUTIONS

    def related(self, msg: Message) -> bool:
        """An event without our clientMsgId that is the end of our order."""
        if msg.payload_type == PT.EXECUTION_EVENT:
            if req_enum(msg.payload, "executionType", EXECUTION_TYPE) not in FINAL_EXECUTIONS:
                return False
            order = sub(msg.payload, "order")
            return self._ours(opt_int(order, "orderId"), opt_int(order, "positionId"), bool(order.get("closingOrder")))
        if msg.payload_type == PT.ORDER_ERROR_EVENT:
            payload = msg.payload
            return self._ours(opt_int(payload, "orderId"), opt_int(payload, "positionId"), True)
        return False

    def _ours(self, order_id: int | None, position_id: int | None, closing: bool) -> bool:
        if self.order_id is not None:
            return order_id == self.order_id
        return self.position_id is not None and closing and position_id == self.position_id


class CTraderTrader:
    """Implements ``riskmon.platforms.base.Trader``; ``volume`` is in lots, as in ``Position.volume``."""

    def __init__(self, session: CTraderSession, *, timeout: float = 10.0) -> None:
        self._session = session
        self._timeout = timeout

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        if not position_id.isdigit():
            return ActionResult(Outcome.NOT_FOUND, f"no cTrader position {position_id!r}", "POSITION_NOT_FOUND")
        return await self._guarded(lambda: self._close(account, int(position_id), volume))

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        if not order_id.isdigit():
            return ActionResult(Outcome.NOT_FOUND, f"no cTrader order {order_id!r}", "ORDER_NOT_FOUND")
        return await self._guarded(lambda: self._cancel(account, int(order_id)))

    async def _guarded(self, action: Callable[[], Awaitable[ActionResult]]) -> ActionResult:
        if not self._session.connected:
            return ActionResult(Outcome.RETRY, "not connected to cTrader: nothing was sent")
        try:
            return await action()
        except CTraderApiError as exc:
            return refusal(exc.code, exc.description, exc.retry_after)
        except TimeoutError:
            return ActionResult(Outcome.UNKNOWN, f"no answer from cTrader within {self._timeout:g} s")
        except PlatformUnavailable as exc:
            return ActionResult(Outcome.UNKNOWN, f"{exc}: the request may have reached cTrader")
        except ProtocolError as exc:
            return ActionResult(Outcome.UNKNOWN, f"unreadable cTrader answer: {exc}")

    async def _close(self, account: str, position_id: int, lots: Decimal | None) -> ActionResult:
        session = self._session
        ctid = session.ctid(account)
        res = await session.request(PT.RECONCILE_REQ, {"ctidTraderAccountId": ctid})
        found = next((p for p in items(res.payload, "position") if req_int(p, "positionId") == position_id), None)
        if found is None:
            return ActionResult(Outcome.NOT_FOUND, f"position {position_id} is not open", "POSITION_NOT_FOUND")
        trade = sub(found, "tradeData")
        rules = await api.fetch_volume_rules(session, ctid, req_int(trade, "symbolId"))
        volume = req_int(trade, "volume")
        if lots is not None:  # a partial close: whole volume steps only, never more than is open
            if rules.lot_size is None:
                return ActionResult(Outcome.REJECTED, "the symbol has no lotSize: lots cannot be converted")
            volume = min(volume, rules.round_down(ctrader_lots_to_volume(lots, rules.lot_size)))
        if volume <= 0:
            return ActionResult(Outcome.REJECTED, f"{lots} lots is less than one volume step", "TRADING_BAD_VOLUME")
        closed = 0
        for part in rules.parts(volume):
            executed, failed = await self._close_part(ctid, position_id, part)
            closed += executed
            if failed is not None or executed < part:
                return self._closed(position_id, closed, volume, rules, failed)
        return self._closed(position_id, closed, volume, rules, None)

    async def _close_part(self, ctid: int, position_id: int, volume: int) -> tuple[int, ActionResult | None]:
        """(volume executed, the refusal when there was one) for one ClosePositionReq."""
        answer = _Answer(position_id=position_id)
        try:
            msg = await self._session.request(
                PT.CLOSE_POSITION_REQ,
                {"ctidTraderAccountId": ctid, "positionId": position_id, "volume": volume},
                until=answer.own,
                related=answer.related,
                within=self._timeout,
            )
        except CTraderApiError as exc:
            return 0, refusal(exc.code, exc.description, exc.retry_after)
        if msg.payload_type == PT.ORDER_ERROR_EVENT:
            return 0, refusal(*ctrader_error(msg.payload))
        kind = req_enum(msg.payload, "executionType", EXECUTION_TYPE)
        # the order's executedVolume counts every fill; a deal's filledVolume only its own (the last of several)
        executed = max(
            int_or(sub(msg.payload, "order"), "executedVolume", 0), int_or(sub(msg.payload, "deal"), "filledVolume", 0)
        )
        if kind == FILLED:
            return executed or volume, None
        if kind == CANCELLED and executed > 0:
            return executed, None
        return executed, refusal(opt_str(msg.payload, "errorCode") or "ORDER_REJECTED")

    def _closed(
        self, position_id: int, closed: int, asked: int, rules: VolumeRules, failed: ActionResult | None
    ) -> ActionResult:
        lots = None if rules.lot_size is None else ctrader_volume_to_lots(closed, rules.lot_size)
        amount = f"{lots} lots" if lots is not None else f"{Decimal(closed) / 100} units"
        if closed >= asked:
            return ActionResult(Outcome.DONE, f"closed {amount} of position {position_id}", "", lots)
        if closed == 0 and failed is not None:
            return failed
        why = f": {failed.message}" if failed is not None else " (partially filled)"
        code, wait = (failed.code, failed.retry_after) if failed is not None else ("", None)
        return ActionResult(Outcome.PARTIAL, f"closed only {amount} of position {position_id}{why}", code, lots, wait)

    async def _cancel(self, account: str, order_id: int) -> ActionResult:
        session = self._session
        answer = _Answer(order_id=order_id)
        msg = await session.request(
            PT.CANCEL_ORDER_REQ,
            {"ctidTraderAccountId": session.ctid(account), "orderId": order_id},
            until=answer.own,
            related=answer.related,
            within=self._timeout,
        )
        if msg.payload_type == PT.ORDER_ERROR_EVENT:
            return refusal(*ctrader_error(msg.payload))
        if req_enum(msg.payload, "executionType", EXECUTION_TYPE) == CANCELLED:
            return ActionResult(Outcome.DONE, f"order {order_id} cancelled")
        return refusal(opt_str(msg.payload, "errorCode") or "ORDER_CANCEL_REJECTED")
