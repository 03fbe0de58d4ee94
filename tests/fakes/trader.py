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
        self.refuse_partial = False  # REJECTED for any close with a volume
        self.fill_at_most: Decimal | None = None  # partial fills: close no more than this many lots
        self.hang_after_acting = False  # act, then never answer (a crash between request and answer)
        self.hang_before_acting = False  # never act, never answer (the request still queued at the broker)
        self.received = asyncio.Event()

    def refuse(self, outcome: Outcome) -> None:
        self.refusal = outcome

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
            return ActionResult(self.refusal, f"refused: {self.refusal.value}", code="FAKE")
        if self.refuse_partial and volume is not None:
            return ActionResult(Outcome.REJECTED, "invalid volume", code="TRADE_RETCODE_INVALID_VOLUME")
        if self.fill_at_most is not None:
            volume = self.fill_at_most if volume is None else min(volume, self.fill_at_most)
        result = (
            self.market.close_position(account, position_id, volume)
            if self.market
            else ActionResult(Outcome.DONE, "closed", closed_volume=volume)
        )
        if self.hang_after_acting:
            await asyncio.Event().wait()
        return result

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        self.calls.append(Call("cancel", account, order_id, None))
        self.received.set()
        if self.refusal is not None:
            return ActionResult(self.refusal, f"refused: {self.refusal.value}", code="FAKE")
        return ActionResult(Outcome.DONE, "cancelled")
