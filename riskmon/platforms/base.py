"""What every platform offers the rest of riskmon: a feed of snapshots and a trader for the enforcer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from riskmon.models import AccountSnapshot


@runtime_checkable
class Feed(Protocol):
    """Produces snapshots for the accounts it serves, polling or streaming: same shape either way.

    The iterator runs until cancelled; connection trouble is handled inside (reconnect with backoff)
    and shown through ``connected``. It raises only for errors that retrying cannot fix (bad credentials).
    """

    @property
    def connected(self) -> bool: ...

    def snapshots(self) -> AsyncIterator[AccountSnapshot]: ...

    async def aclose(self) -> None:
        """Release the connection (and whatever the feed's trader shares with it). Safe to call twice."""


# An account's share of its nearest loss allowance still left at the last known figures (1 untouched, 0 at
# the floor, below 0 beyond it), or None when riskmon knows nothing of it yet.
RoomLeft = Callable[[str], Decimal | None]


@runtime_checkable
class Prioritised(Protocol):
    """A feed whose loads wait for a rate limit (cTrader: 5 history requests a second per connection) loads
    the accounts that matter first: unknown ones, then the closest to a floor. The service tells it how."""

    def prioritise(self, room_left: RoomLeft) -> None: ...


class Outcome(StrEnum):
    """What became of one request to a broker: the one classification both traders and the enforcer use.

    Each platform maps its own codes onto these (cTrader error codes, MT5 retcodes), keeping the code
    verbatim in ``ActionResult.code``; the enforcer decides from the outcome alone.
    """

    DONE = "done"  # all that was asked was done
    PARTIAL = "partial"  # part of it was done (``closed_volume`` says how much), the rest was not
    RETRY = "retry"  # the broker asks to come back later: rate limit, busy, no quotes, no route, no connection
    MARKET_CLOSED = "market_closed"  # the market is closed or on holiday: retried until it opens
    TRADING_DISABLED = "trading_disabled"  # a person must act: auto-trading off, symbol disabled, read-only
    REJECTED = "rejected"  # refused for good: the same request will not succeed as it is
    NOT_FOUND = "not_found"  # the position or order is already gone
    UNKNOWN = "unknown"  # no clear answer (timeout, placed, link lost after sending): the request may have acted

    @property
    def verify(self) -> bool:
        """The broker may have acted: a snapshot taken after the answer decides what is left to do."""
        return self in {Outcome.DONE, Outcome.PARTIAL, Outcome.NOT_FOUND, Outcome.UNKNOWN}

    @property
    def standing(self) -> bool:
        """A refusal that lasts until the market opens or someone changes something: retried at a steady pace."""
        return self in {Outcome.MARKET_CLOSED, Outcome.TRADING_DISABLED, Outcome.REJECTED}


@dataclass(frozen=True, slots=True)
class ActionResult:
    outcome: Outcome
    message: str = ""
    code: str = ""  # the broker's own error/return code, verbatim
    closed_volume: Decimal | None = None  # lots actually closed, when known
    retry_after: float | None = None  # seconds the broker asked us to wait before trying again

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


class Trader(Protocol):
    """What the enforcer may ask a platform to do. Never raises for a broker refusal: returns it."""

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult: ...

    async def cancel_order(self, account: str, order_id: str) -> ActionResult: ...


STREAM_SILENCE = timedelta(seconds=30)


@dataclass
class Platform:
    """A feed and the trader that acts on the same connection, for the accounts they serve."""

    name: str
    feed: Feed
    trader: Trader
    accounts: tuple[str, ...]
    stale_after: timedelta = STREAM_SILENCE  # no data for this long = riskmon is blind
    failures: int = 0
    last_error: str = ""
