"""cTrader's request rate limits (50 a second per connection, 5 for history), served by need.

``aiolimiter`` paces the requests; in front of it requests wait their turn most urgent first (lowest
``need``; equal needs in arrival order), so the limit is spent on the account closest to a floor
before one with room to spare, whichever asked first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from aiolimiter import AsyncLimiter


class NeedLimiter:
    def __init__(self, rate: float, period: float = 1.0) -> None:
        self._limiter = AsyncLimiter(rate, period)
        self._waiting: list[tuple[float, int]] = []  # heap of (need, arrival)
        self._arrivals = itertools.count()
        self._turn = asyncio.Condition()
        self._pacing = False  # one waiter at a time is paced by the limiter

    async def acquire(self, need: float = float("-inf")) -> None:
        """Return when this request may be sent: after every more urgent one waiting, at the limit's pace."""
        entry = (need, next(self._arrivals))
        heapq.heappush(self._waiting, entry)
        async with self._turn:
            try:
                await self._turn.wait_for(lambda: not self._pacing and self._waiting[0] == entry)
            except BaseException:  # cancelled while waiting: leave the queue, let the next one through
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
                self._turn.notify_all()
                raise
            heapq.heappop(self._waiting)
            self._pacing = True
        try:
            await self._limiter.acquire()
        finally:
            async with self._turn:
                self._pacing = False
                self._turn.notify_all()
