"""ProjectXTrader: closes and cancels through the gateway, each answer mapped onto the shared outcomes.

A position is closed by its contract (``Position/closeContract``, or ``partialCloseContract`` with a
whole number of contracts: a partial cut is rounded up to the next contract, so a deleverage lands
under its target); an order is cancelled with ``Order/cancel``. Each endpoint has its own error codes.
"""

from __future__ import annotations

import logging
from decimal import ROUND_CEILING, Decimal
from typing import Any

from riskmon.errors import PlatformUnavailable, ProtocolError
from riskmon.platforms.base import ActionResult, Outcome

from .book import AccountBook
from .feed import ProjectXFeed
from .gateway import GatewayRefusal, NoAnswer, RateLimited

log = logging.getLogger(__name__)

# ClosePositionErrorCode (Position/closeContract)
CLOSE = {
    1: (Outcome.REJECTED, "account not found"),
    2: (Outcome.NOT_FOUND, "no open position in that contract"),
    3: (Outcome.REJECTED, "contract not found"),
    4: (Outcome.REJECTED, "contract not active"),
    5: (Outcome.MARKET_CLOSED, "the closing order was rejected: market closed or no price"),
    6: (Outcome.UNKNOWN, "the closing order is pending"),
    7: (Outcome.UNKNOWN, "unknown error"),
    8: (Outcome.TRADING_DISABLED, "the account may not close positions"),
}
# PartialClosePositionErrorCode (Position/partialCloseContract): the codes from 5 on are shifted
PARTIAL = CLOSE | {
    5: (Outcome.REJECTED, "invalid close size"),
    6: (Outcome.MARKET_CLOSED, "the closing order was rejected: market closed or no price"),
    7: (Outcome.UNKNOWN, "the closing order is pending"),
    8: (Outcome.UNKNOWN, "unknown error"),
    9: (Outcome.TRADING_DISABLED, "the account may not close positions"),
}
# CancelOrderErrorCode (Order/cancel)
CANCEL = {
    1: (Outcome.REJECTED, "account not found"),
    2: (Outcome.NOT_FOUND, "order not found"),
    3: (Outcome.REJECTED, "the trading engine rejected the cancellation"),
    4: (Outcome.UNKNOWN, "the cancellation is pending"),
    5: (Outcome.UNKNOWN, "unknown error"),
    6: (Outcome.TRADING_DISABLED, "the account may not cancel orders"),
}


class ProjectXTrader:
    """Implements ``riskmon.platforms.base.Trader``; shares the feed's gateway session and book."""

    def __init__(self, feed: ProjectXFeed) -> None:
        self._feed = feed

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        account_id = self._feed.gateway_id(account)
        if account_id is None:
            return ActionResult(Outcome.RETRY, "not connected yet")
        position = self._feed.position(account, position_id)
        if position is None:  # the book may lag behind a position just opened: ask the gateway
            answer, failed = await self._call("/api/Position/searchOpen", {"accountId": account_id}, {})
            if failed is not None:
                return failed
            book = AccountBook(account)
            book.set_positions((answer or {}).get("positions") or [])
            position = book.positions.get(position_id)
            if position is None:
                return ActionResult(Outcome.NOT_FOUND, f"position {position_id} is not open")
        contracts = position.size
        if volume is not None:
            contracts = min(position.size, int(volume.to_integral_value(ROUND_CEILING)))
        body: dict[str, Any] = {"accountId": account_id, "contractId": position.contract_id}
        if contracts >= position.size:
            path, codes = "/api/Position/closeContract", CLOSE
        else:
            path, codes = "/api/Position/partialCloseContract", PARTIAL
            body["size"] = contracts
        _, failed = await self._call(path, body, codes)
        return failed or ActionResult(Outcome.DONE, closed_volume=Decimal(contracts))

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        account_id = self._feed.gateway_id(account)
        if account_id is None:
            return ActionResult(Outcome.RETRY, "not connected yet")
        try:
            body = {"accountId": account_id, "orderId": int(order_id)}
        except ValueError:
            return ActionResult(Outcome.REJECTED, f"order id {order_id!r} is not a ProjectX order id")
        _, failed = await self._call("/api/Order/cancel", body, CANCEL)
        return failed or ActionResult(Outcome.DONE)

    async def _call(
        self, path: str, body: dict[str, Any], codes: dict[int, tuple[Outcome, str]]
    ) -> tuple[dict[str, Any] | None, ActionResult | None]:
        """The gateway's answer, or what became of the request when it did not succeed."""
        try:
            return await self._feed.gateway.call(path, body), None
        except GatewayRefusal as exc:
            outcome, meaning = codes.get(exc.code, (Outcome.REJECTED, "refused"))
            text = meaning + (f": {exc.message}" if exc.message else "")
            return None, ActionResult(outcome, text, code=str(exc.code))
        except RateLimited as exc:
            return None, ActionResult(Outcome.RETRY, str(exc), code="429", retry_after=exc.retry_after)
        except (NoAnswer, ProtocolError) as exc:  # it may have reached the gateway and acted
            return None, ActionResult(Outcome.UNKNOWN, str(exc))
        except PlatformUnavailable as exc:  # NotSent, HTTP 5xx: it did not act
            return None, ActionResult(Outcome.RETRY, str(exc))
