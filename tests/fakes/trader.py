"""A recording trader: every request is kept; refusals, partial fills and hangs happen on command.

Closes act on a ``SimMarket`` when one is given, so snapshots show their effect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from riskmon.platforms.base import ActionResult, Outcome
from riskmon.platforms.sim import SimMarket


@dataclass(frozen=True)
class Call:
    kind: str  # close | cancel
    account: str
    target: str
    volume: Decimal | None


class RecordingTrader:
    def __init__(self, market: SimMarket | None = None) -> None:
        self.market = market
        self.calls: list[Call] = []
        self.refusal: Outcome | None = None
        self.retry_after: float | None = None  # the broker's retry-after with a refusal
        self.refuse_partial: Outcome | None = None  # this refusal for any close with a volume
        self.fill_at_most: Decimal | None = None  # partial fills: close no more than this many lots
        self.claim_done = False  # with fill_at_most: answer DONE however little was closed
        self.hang_after_acting = False  # act, then never answer (a crash between request and answer)
        self.hang_before_acting = False  # never act, never answer (the request still queued at the broker)
        self.received = asyncio.Event()

    def refuse(self, outcome: Outcome, retry_after: float | None = None) -> None:
        self.refusal, self.retry_after = outcome, retry_after

    def reopen(self) -> None:
        self.refusal = None

    async def wait_for_calls(self, count: int) -> None:
        while len(self.calls) < count:
            self.received.clear()
            await self.received.wait()

    def closes(self, target: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.kind == "close" and (target is None or c.target == target)]

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        self.calls.append(Call("close", account, position_id, volume))
        self.received.set()
        if self.hang_before_acting:
            await asyncio.Event().wait()
        if self.refusal is not None:
            return ActionResult(self.refusal, f"refused: {self.refusal.value}", "FAKE", None, self.retry_after)
        if self.refuse_partial is not None and volume is not None:
            return ActionResult(self.refuse_partial, "refused", "FAKE", None, self.retry_after)
        asked = volume
        if self.fill_at_most is not None:
            volume = self.fill_at_most if volume is None else min(volume, self.fill_at_most)
        result = (
            self.market.close_position(account, position_id, volume)
            if self.market
            else ActionResult(Outcome.DONE, "closed", closed_volume=volume)
        )
        if result.ok and not self.claim_done and self._short(account, position_id, asked, result.closed_volume):
            # the rest refused, with the broker's retry-after when one is set (a split close meeting a rate limit)
            result = ActionResult(Outcome.PARTIAL, "partly filled", "", result.closed_volume, self.retry_after)
        if self.hang_after_acting:
            await asyncio.Event().wait()
        return result

    def _short(self, account: str, position_id: str, asked: Decimal | None, closed: Decimal | None) -> bool:
        """Less was closed than asked: part of the volume, or not the whole position."""
        if asked is not None:
            return closed is not None and closed < asked
        return self.market is not None and position_id in self.market.accounts[account].positions

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        self.calls.append(Call("cancel", account, order_id, None))
        self.received.set()
        if self.refusal is not None:
            return ActionResult(self.refusal, f"refused: {self.refusal.value}", code="FAKE")
        return ActionResult(Outcome.DONE, "cancelled")
