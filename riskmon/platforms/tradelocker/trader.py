"""TradeLockerTrader: close a position (``DELETE /trade/positions/{id}``, ``qty`` 0 for all of it) and cancel
an order (``DELETE /trade/orders/{id}``), each answer mapped onto the shared outcomes.

TradeLocker documents that a close "isn't guaranteed to close the position, or close it immediately" (an
IOC, then a GTC closing order): an accepted close is DONE for the request, and the enforcer confirms it
with a later snapshot, as it does everywhere.
"""

from __future__ import annotations

from decimal import Decimal

from riskmon.errors import PlatformUnavailable, ProtocolError
from riskmon.platforms.base import ActionResult, Outcome

from .api import NoAnswer, RateLimited, Refused
from .feed import TradeLockerFeed

# The server's words for a market that is not trading now (its messages are not enumerated in the docs).
CLOSED_MARKET = ("market closed", "market is closed", "session", "trading hours", "not tradable")
# ... and for a position or order another request is still acting on (locked, pending, under execution): it may
# yet close, so a fresh snapshot decides before anything is sent again (as cTrader's POSITION_LOCKED, MT5's LOCKED).
BUSY = ("locked", "pending", "under execution", "in progress", "being processed")


class TradeLockerTrader:
    def __init__(self, feed: TradeLockerFeed) -> None:
        self._feed = feed

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        body = {"qty": "0" if volume is None else str(volume)}
        result = await self._send(account, f"/trade/positions/{position_id}", body)
        if result.outcome is Outcome.DONE and volume is not None:
            return ActionResult(Outcome.DONE, closed_volume=volume)
        return result

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        return await self._send(account, f"/trade/orders/{order_id}", None)

    async def _send(self, account: str, path: str, body: dict[str, str] | None) -> ActionResult:
        link = self._feed.links.get(account)
        if link is None:
            return ActionResult(Outcome.RETRY, "not connected yet")
        try:
            await self._feed.api.delete(path, link.acc_num, body)
        except Refused as exc:
            return ActionResult(_refusal(exc), exc.message or f"HTTP {exc.status}", code=str(exc.status))
        except RateLimited as exc:
            return ActionResult(Outcome.RETRY, str(exc), code="429", retry_after=exc.retry_after)
        except (NoAnswer, ProtocolError) as exc:  # it may have reached the server and acted
            return ActionResult(Outcome.UNKNOWN, str(exc))
        except PlatformUnavailable as exc:  # not sent, or a 5xx: it did not act
            return ActionResult(Outcome.RETRY, str(exc))
        return ActionResult(Outcome.DONE)


def _refusal(exc: Refused) -> Outcome:
    text = exc.message.lower()
    if exc.status == 404 or "not found" in text:
        return Outcome.NOT_FOUND
    if any(words in text for words in CLOSED_MARKET):
        return Outcome.MARKET_CLOSED
    if any(words in text for words in BUSY):
        return Outcome.UNKNOWN
    return Outcome.REJECTED
