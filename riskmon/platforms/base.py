"""What every platform offers the rest of riskmon: a feed of snapshots and a trader for the enforcer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
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


class Outcome(StrEnum):
    DONE = "done"
    REJECTED = "rejected"  # broker said no for another reason: see code/message
    MARKET_CLOSED = "market_closed"
    TRADING_DISABLED = "trading_disabled"  # auto-trading off, symbol disabled, account read-only
    NOT_FOUND = "not_found"  # position/order already gone
    NO_CONNECTION = "no_connection"
    TIMEOUT = "timeout"

    @property
    def retry_later(self) -> bool:
        """Refusals that may succeed later without anyone changing anything."""
        return self in {Outcome.MARKET_CLOSED, Outcome.NO_CONNECTION, Outcome.TIMEOUT, Outcome.REJECTED}


@dataclass(frozen=True, slots=True)
class ActionResult:
    outcome: Outcome
    message: str = ""
    code: str = ""  # the broker's own error/return code, verbatim
    closed_volume: Decimal | None = None  # lots actually closed, when known

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


class Trader(Protocol):
    """What the enforcer may ask a platform to do. Never raises for a broker refusal: returns it."""

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult: ...

    async def cancel_order(self, account: str, order_id: str) -> ActionResult: ...
